"""The bodies of the `graph` and `plot` commands (declared in `app.py`, run by `run.run`).

`gradcli graph` shows the recorded graph (`gradcli.graph`) as a rich tree, Graphviz text,
a mermaid flowchart or JSON; `gradcli plot` draws a function and its derivatives
(`gradcli.plot`). Both hand what they show to the output layer, as every command does.
Nothing heavy is imported at module level: plotext and matplotlib are imported by the
functions that draw.
"""

import shutil
import subprocess
from enum import Enum
from pathlib import Path

from ..errors import EvalError, UsageError
from .output import graph_text
from .run import compile_program, read_point, wrt_names

#: What `--output FILE` renders with Graphviz's dot, by suffix.
RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


class MissingProgram(UsageError):
    """An optional program or package the asked-for output needs is not installed."""


class GraphFormat(str, Enum):
    """The choices of graph's --format."""

    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


# -- gradcli graph -----------------------------------------------------------------------------


def graph_command(command: str, options: dict, out) -> int:
    """`gradcli graph`: describe the recorded graph at the point, and show it (on stdout, or
    in the --output file)."""
    from ..graph import describe

    if options["points"] is not None:
        raise UsageError(
            "graph shows one point: --points is for the other commands",
            hint="give the point with --at",
        )
    fmt = GraphFormat.json if options["json"] else options["fmt"]
    target = options["output"]
    rendered = RENDERED.get(Path(target).suffix.lower()) if target else None
    if rendered:
        if fmt not in (GraphFormat.tree, GraphFormat.dot):
            raise UsageError(
                f"--output {target} draws the graph with Graphviz; it takes "
                f"--format dot (or no --format), not {fmt.value}",
                hint="write text formats to a .txt, .mmd or .json file",
            )
        fmt = GraphFormat.dot
        _require_dot(target)
    prog = compile_program(options)
    v = read_point(options, [f"v={options['v']}"])["v"] if options["v"] is not None else None
    graph = describe(prog, read_point(options), wrt_names(options["wrt"]), v=v)
    out.warnings(graph.warnings)
    if target is None:
        out.graph(graph, fmt.value, fold=options["fold"])
        return 0
    text = graph_text(graph, fmt.value, fold=options["fold"])
    if rendered:
        _render_dot(text, target, rendered)
    else:
        _write(target, text)
    out.wrote(target)
    return 0


def _require_dot(target: str) -> None:
    if shutil.which("dot") is None:
        raise MissingProgram(
            f"drawing {target} needs Graphviz's `dot` program, which is not installed",
            hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
            "install graphviz), or write the DOT text: --format dot --output graph.dot",
        )


def _render_dot(text: str, target: str, fmt: str) -> None:
    try:
        done = subprocess.run(
            ["dot", f"-T{fmt}", "-o", target], input=text.encode(), capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EvalError(f"Graphviz's dot failed: {e}") from None
    if done.returncode != 0:
        raise EvalError(
            f"Graphviz's dot could not draw {target}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )


def _write(target: str, text: str) -> None:
    try:
        Path(target).expanduser().write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror}") from None


# -- gradcli plot --------------------------------------------------------------------------------


def plot_command(command: str, options: dict, out) -> int:
    """`gradcli plot`: sample the function and its derivatives over the range, and show them
    (drawn in the terminal, or saved to the --output file)."""
    from .. import plot as P

    if options["at_json"] == "-" and options["file"] == "-":
        raise UsageError("-f - and --at-json - cannot both read standard input")
    target = options["output"]
    if target and Path(target).suffix.lower() not in P.FORMATS:
        raise UsageError(
            f"--output {target}: plots are written as {', '.join(P.FORMATS)}",
            hint="e.g. --output plot.png",
        )
    if target:
        P.check_output(target)
    prog = compile_program(options)
    wrt = wrt_names(options["wrt"])
    if wrt is None:
        if len(prog.free_vars) != 1:
            raise UsageError(
                "name the variable(s) to plot against: --wrt x (or --wrt x,y)",
                hint="its variables are: " + (", ".join(prog.free_vars) or "none"),
            )
        wrt = prog.free_vars
    ranges = P.parse_ranges(options["range_"], len(wrt))
    data = P.sample(
        prog, read_point(options), tuple(wrt), ranges, options["points"], options["order"]
    )
    out.warnings(data.warnings)
    if target:
        P.save(data, target)
    out.plot(data, saved=target)
    return 0
