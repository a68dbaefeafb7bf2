"""Seeing autograd: the `graph` and `plot` commands, and the views of `--explain`.

`gradcli graph` shows the recorded graph (`gradcli.graph`) as a rich tree, Graphviz text,
a mermaid flowchart or JSON; `gradcli plot` draws a function and its derivatives
(`gradcli.plot`). The commands are declared here and registered on the one typer app of
`app.py` with its common options; both run through its runner, so errors and exit codes are
the same as everywhere. Nothing heavy is imported at module level: rich, plotext and
matplotlib are imported inside the functions that draw.
"""

import shutil
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EvalError, UsageError, printable, shortened
from .app import _command
from .run import _compile, _names, _point

#: The tree shows this many levels; deeper parts are counted (the other formats show all).
MAX_DEPTH = 60
#: The tree and --explain show a node's text in at most this many columns.
SNIPPET = 40
#: What `--output FILE` renders with Graphviz's dot, by suffix.
RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


class MissingProgram(UsageError):
    """An optional program or package the asked-for output needs is not installed."""


class GraphFormat(str, Enum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


# -- gradcli graph -----------------------------------------------------------------------------

def _graph(command: str, options: dict, out) -> int:
    from ..graph import describe

    if options["points"] is not None:
        raise UsageError("graph shows one point: --points is for the other commands",
                         hint="give the point with --at")
    fmt = GraphFormat.json if options["json"] else options["fmt"]
    target = options["output"]
    rendered = RENDERED.get(Path(target).suffix.lower()) if target else None
    if rendered:
        if fmt not in (GraphFormat.tree, GraphFormat.dot):
            raise UsageError(f"--output {target} draws the graph with Graphviz; it takes "
                             f"--format dot (or no --format), not {fmt.value}",
                             hint="write text formats to a .txt, .mmd or .json file")
        fmt = GraphFormat.dot
        _require_dot(target)
    prog = _compile(options)
    v = _point(options, [f"v={options['v']}"])["v"] if options["v"] is not None else None
    graph = describe(prog, _point(options), _names(options["wrt"]), v=v)
    out.warnings(graph.warnings)
    if fmt is GraphFormat.json:
        from .output import dumps
        text = dumps(graph.to_json()) + "\n"
    elif fmt is GraphFormat.dot:
        text = graph.dot()
    elif fmt is GraphFormat.mermaid:
        text = graph.mermaid()
    else:
        text = None
    if target is None:
        if text is not None:
            sys.stdout.write(text)
        else:
            from .output import console, emit
            emit(console(), graph_tree(graph, fold=options["fold"]))
        return 0
    if rendered:
        _render_dot(text, target, rendered)
    else:
        if text is None:
            text = tree_text(graph, fold=options["fold"])
        _write(target, text)
    if not options["json"]:
        print(f"wrote {printable(target)}", file=sys.stderr)
    return 0


def _require_dot(target: str) -> None:
    if shutil.which("dot") is None:
        raise MissingProgram(
            f"drawing {target} needs Graphviz's `dot` program, which is not installed",
            hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
                 "install graphviz), or write the DOT text: --format dot --output graph.dot")


def _render_dot(text: str, target: str, fmt: str) -> None:
    try:
        done = subprocess.run(["dot", f"-T{fmt}", "-o", target], input=text.encode(),
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EvalError(f"Graphviz's dot failed: {e}") from None
    if done.returncode != 0:
        raise EvalError(f"Graphviz's dot could not draw {target}: "
                        f"{done.stderr.decode(errors='replace').strip()}")


def _write(target: str, text: str) -> None:
    try:
        Path(target).expanduser().write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror}") from None


def _label(graph, n, count: int = 1):
    """One node as a line of the tree: name, place in the text, shape, value, gradient."""
    from rich.text import Text

    from ..graph import summary

    t = Text()
    if n.kind == "operation":
        t.append(n.name, style="bold")
        if count > 1:
            t.append(f" × {count}", style="bold magenta")
    elif n.kind == "variable":
        t.append(printable(n.name), style="bold blue")
        t.append("  leaf" + (", requires_grad" if n.requires_grad else " (not in --wrt)"),
                 style="blue")
    else:
        t.append("constant", style="dim")
    t.append(f"  #{n.id}", style="dim")
    if n.names:
        t.append(f"  = {printable(', '.join(n.names))}", style="bold yellow")
    if n.text is not None:
        t.append(f"  {shortened(n.text, SNIPPET)}", style="cyan")
        if n.position:
            t.append(f" @{n.position['line']}:{n.position['col']}", style="dim cyan")
    t.append("  " + ("scalar" if n.shape == () else "×".join(map(str, n.shape))), style="dim")
    t.append(f"  value {summary(n.value)}")
    if n.grad is not None:
        t.append(f"  {'.grad' if n.kind == 'variable' else 'grad'} {summary(n.grad)}",
                 style="green")
    return t


def _chain(graph, start, uses: dict, fold: bool) -> list:
    """The nodes folded with `start`: a run of the same operation, each taking the next as
    its only non-constant input, none used elsewhere."""
    from ..graph import FOLD
    run = [start]
    if not fold or start.kind != "operation":
        return run
    node = start
    while True:
        inner = [graph.nodes[i] for i in node.inputs if graph.nodes[i].kind != "constant"]
        if len(inner) != 1:
            break
        nxt = inner[0]
        if nxt.kind != "operation" or nxt.name != start.name or uses[nxt.id] != 1:
            break
        run.append(nxt)
        node = nxt
    return run if len(run) >= FOLD else [start]


def graph_tree(graph, fold: bool = True):
    """The graph as a rich Tree, from the output down to the leaves; a subgraph used twice
    is shown once and then referred to by its #id (leaves are repeated: one line each);
    chains fold into one line."""
    from rich.text import Text
    from rich.tree import Tree

    from ..graph import summary

    uses = {n.id: 0 for n in graph.nodes}
    for e in graph.edges:
        uses[e.source] += 1
    shown: set = set()
    root = None
    stack = [(None, graph.output, 0)]  # (parent tree, node, depth)
    while stack:
        parent, n, depth = stack.pop()
        if n.id in shown and n.kind == "operation":  # leaves are shown again: one line
            label = Text(f"↑ #{n.id} {n.name}", style="dim")
            label.append(" (shown above)", style="dim italic")
            parent.add(label)
            continue
        if depth >= MAX_DEPTH:
            below = _count_below(graph, n, shown)
            parent.add(Text(f"… {below} more nodes below (--format json or dot shows "
                            "every one)", style="dim italic"))
            continue
        run = _chain(graph, n, uses, fold)
        last = run[-1]
        label = _label(graph, n, count=len(run))
        if len(run) > 1:
            shown.update(m.id for m in run)
            texts = list(dict.fromkeys(shortened(m.text, SNIPPET) for m in run if m.text))
            label.append(f"\n  a chain of {len(run)} {n.name}: #{n.id} … #{last.id}",
                         style="magenta")
            if texts:
                label.append(f" ({', '.join(texts)})", style="cyan")
            if last.grad is not None:
                label.append(f"; grad at its input end {summary(last.grad)}", style="green")
            consts = [graph.nodes[i] for m in run[:-1] for i in m.inputs
                      if graph.nodes[i].kind == "constant"]
            if consts:
                values = {summary(c.value) for c in consts}
                label.append(f"; other inputs: {len(consts)} constants"
                             + (f", each {values.pop()}" if len(values) == 1 else ""),
                             style="dim")
                shown.update(c.id for c in consts)
        shown.add(n.id)
        branch = Tree(label) if parent is None else parent.add(label)
        if root is None:
            root = branch
        for i in reversed(last.inputs):
            stack.append((branch, graph.nodes[i], depth + 1))
    return root


def _count_below(graph, n, shown: set) -> int:
    seen, stack = set(), [n.id]
    while stack:
        i = stack.pop()
        if i in seen or i in shown:
            continue
        seen.add(i)
        stack.extend(graph.nodes[i].inputs)
    shown.update(seen)
    return len(seen)


def tree_text(graph, fold: bool = True, width: int = 120) -> str:
    """The tree as plain text (for --output FILE.txt)."""
    import io

    from rich.console import Console

    from .output import emit

    buf = io.StringIO()
    emit(Console(file=buf, width=width, color_system=None, highlight=False),
         graph_tree(graph, fold=fold))
    return buf.getvalue()


@_command(runner=_graph)
def graph(
        fmt: Annotated[GraphFormat, typer.Option(
            "--format", help="tree (rich, in the terminal), dot (Graphviz), mermaid, or json "
                             "(nodes and edges; --json too).")] = GraphFormat.tree,
        output: Annotated[Optional[str], typer.Option(
            "--output", "-o", metavar="FILE",
            help="Write to FILE; [bold].svg[/], [bold].png[/] and [bold].pdf[/] are drawn "
                 "with Graphviz's dot program.")] = None,
        v: Annotated[Optional[str], typer.Option(
            "--v", metavar="VALUE", show_default=False,
            help="The cotangent backward starts from, shaped like the output "
                 "[dim](default: ones, the gradient of the sum)[/].")] = None,
        fold: Annotated[bool, typer.Option(
            "--fold/--no-fold", help="Fold chains of one operation into one line of the "
                                     "tree.")] = True):
    """The recorded autograd graph, with every tensor's value and gradient.

    Runs the forward pass recording the graph and the backward pass keeping it, then shows
    each node: its grad_fn ([bold]AddBackward0[/], [bold]MulBackward0[/] …), shape, value,
    where it comes from in the expression, and the gradient that reached it; the variables
    are the leaves, with their .grad; constants are marked.

    Examples:
    gradcli graph "3*(x+2)**2 | mean" --at "x=ones(2,2)"

    gradcli graph -f samples/doubling.grad --at "x=[-0.9618, -3.3220, -0.6637]"

    gradcli graph "w*x + b" --at "x=1, w=2, b=3" --format dot --output graph.svg

    gradcli graph "sin(x)*y" --at "x=1, y=2" --format mermaid
    """


# -- --explain ---------------------------------------------------------------------------------

def explain_table(steps: list[dict]):
    """The backward pass step by step (the Result's `explain`) as a rich table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="backward pass, step by step (in the order it runs)",
                  title_justify="left", title_style="bold", box=None, padding=(0, 1),
                  show_edge=False)
    for name, style in [("#", "dim"), ("node", "bold"), ("in the text", "cyan"),
                        ("incoming g", ""), ("rule", "magenta"), ("passes", "green")]:
        table.add_column(name, style=style)
    for s in steps:
        node = Text(s["node"])
        if s["count"] > 1:
            node.append(f" × {s['count']}", style="bold magenta")
        if s["node"] == "AccumulateGrad":
            table.add_row(str(s["step"]), node, Text(printable(s["variable"])), "",
                          Text(printable(s["rule"])),
                          Text(printable(f".grad = {s['gradient']}")))
            continue
        place = shortened(s["text"] or s["operation"] or "", SNIPPET)
        if s["position"] and s["count"] == 1:
            place += f" @{s['position']['line']}:{s['position']['col']}"
        passes = "\n".join(f"→ {o['to']}: {o['gradient']}" for o in s["outputs"])
        if s.get("scale"):
            passes += f"\n(all together: g × {s['scale']})"
        table.add_row(str(s["step"]), node, *(Text(printable(t)) for t in (
            place, s["incoming"], s["rule"] or "", passes)))
    return table


# -- gradcli plot --------------------------------------------------------------------------------

def _plot(command: str, options: dict, out) -> int:
    import os

    from .. import plot as P

    if options["at_json"] == "-" and options["file"] == "-":
        raise UsageError("-f - and --at-json - cannot both read standard input")
    target = options["output"]
    if target and Path(target).suffix.lower() not in P.FORMATS:
        raise UsageError(f"--output {target}: plots are written as "
                         f"{', '.join(P.FORMATS)}", hint="e.g. --output plot.png")
    if target:
        P.check_output(target)
    prog = _compile(options)
    wrt = _names(options["wrt"])
    if wrt is None:
        if len(prog.free_vars) != 1:
            raise UsageError("name the variable(s) to plot against: --wrt x (or --wrt x,y)",
                             hint="its variables are: " + (", ".join(prog.free_vars)
                                                           or "none"))
        wrt = prog.free_vars
    ranges = P.parse_ranges(options["range_"], len(wrt))
    data = P.sample(prog, _point(options), tuple(wrt), ranges, options["points"],
                    options["order"])
    out.warnings(data.warnings)
    if target:
        P.save(data, target)
    if options["json"]:
        from .output import dumps
        print(dumps(data.to_json()))
    elif target:
        print(f"wrote {printable(target)}", file=sys.stderr)
    else:
        size = shutil.get_terminal_size((100, 30))
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(P.terminal(data, width=max(40, min(size.columns, 160)),
                                    color=color) + "\n")
    return 0


@_command(runner=_plot)
def plot(
        range_: Annotated[str, typer.Option(
            "--range", metavar="LO:HI[,LO:HI]",
            help="The interval of each variable ([bold]-3:3[/], [bold]-pi:pi[/]); one "
                 "for all, or one per variable.")] = "-3:3",
        order: Annotated[int, typer.Option(
            min=1, max=2, help="Also the second derivative (one variable).")] = 1,
        output: Annotated[Optional[str], typer.Option(
            "--output", "-o", metavar="FILE",
            help="Write a [bold].png[/], [bold].svg[/] or [bold].pdf[/] with matplotlib "
                 "(pip install 'gradcli\\[plot]') instead of drawing in the terminal.")]
        = None,
        points: Annotated[Optional[int], typer.Option(
            "--points", metavar="N", min=2, max=100_000, show_default=False,
            help="Grid points per variable [dim](default 201; 41 per axis for two)[/].")]
        = None):
    """The function and its derivatives over a range, in the terminal or to a file.

    One variable: f, f' (and f'' with [bold]--order 2[/]) stacked. Two variables
    ([bold]--wrt x,y[/]): a heat map in the terminal; with [bold]--output[/], contours
    with the gradient field as arrows. Other variables take their values from --at.
    Elementwise expressions are evaluated over the whole grid in one pass.

    Examples:
    gradcli plot "sin(x) * exp(-x^2/4)" --wrt x --range -6:6 --order 2

    gradcli plot "x^2 + 3*y^2" --wrt x,y --range -2:2 --output bowl.png

    gradcli plot "w*x + b" --wrt x --at "w=2, b=1" --json
    """
