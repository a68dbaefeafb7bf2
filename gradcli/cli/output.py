"""The one output layer: the same Result objects rendered as strict JSON or with rich.

Commands never format. They hand a `Result` (or a `GradcliError`, or what `graph` and
`plot` describe: `gradcli.graph.Graph`, `gradcli.plot.PlotData`) to the renderer chosen
once from `--json`; warnings and errors always go to stderr. Nothing below cli/ prints.
rich (and `views.py`, what graph, plot and --explain show) are imported only when used, so
the plain `--json` runs never load them.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GradcliError, cells, echoed, printable
from ..result import DERIVATIVE, Result, jsonable, plain, warning_docs

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..graph import Graph
    from ..plot import PlotData

#: Arrays with more elements are summarised (NumPy's own default threshold).
THRESHOLD = 1000
#: Batch runs with at least this many points show a progress bar on a terminal.
LONG_BATCH = 1000
#: Human output is laid out within these widths, whatever COLUMNS says.
WIDTHS = (40, 1000)
#: Failed writes of the output that end the run (a closed pipe, a full disk) rather than
#: count as a bug.
WRITE_ERRORS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
#: The exit code after a closed pipe: as a shell reports `cat` killed by SIGPIPE (128 + 13).
CLOSED_PIPE = 141
#: The exit code after Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


# -- the streams -----------------------------------------------------------------------------


def width(stream=None) -> int:
    """The columns to lay out for: COLUMNS when it is a positive number, else the width of
    the terminal of `stream` (stdout), else 80; kept within `WIDTHS`."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size((stream or sys.stdout).fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            columns = 80
    return min(max(columns, WIDTHS[0]), WIDTHS[1])


def sane_columns() -> None:
    """Make COLUMNS a number that rich (and typer's help) can lay out with: a value that
    is not a positive number goes, one outside `WIDTHS` is brought within."""
    if "COLUMNS" in os.environ:
        os.environ["COLUMNS"] = str(width())


def write_failed(e: BaseException) -> bool:
    """Whether `e` is a failed write of the output (see `WRITE_ERRORS`)."""
    return isinstance(e, OSError) and e.errno in WRITE_ERRORS


def ended(e: OSError) -> int:
    """The exit code after the output could not be written: a closed pipe ends quietly, as
    `cat` does (141); anything else (a full disk) is one line on stderr, exit 1. What is
    still buffered for stdout is dropped, so the exit does not fail again."""
    with suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    if isinstance(e, BrokenPipeError):
        return CLOSED_PIPE
    with suppress(OSError, ValueError):
        print(f"error: cannot write the output: {e.strerror or e}", file=sys.stderr, flush=True)
    return 1


def interrupted() -> int:
    """The exit code after Ctrl-C: one line on stderr, no traceback, 130 (128 + SIGINT) as
    a shell reports it; what was written stays written (a batch's records, in order)."""
    with suppress(OSError, ValueError):
        print("interrupted", file=sys.stderr, flush=True)
    return INTERRUPTED


# -- JSON -----------------------------------------------------------------------------------


def result_doc(r: Result, command: str | None = None) -> dict:
    """The JSON document of one result, keys in the documented order."""
    doc = {
        "command": command or r.command,
        "expression": r.expression,
        "point": plain(r.point),
        "value": jsonable(r.value),
        "shapes": {
            "value": [] if r.value is None else list(np.shape(r.value)),
            **{name: list(np.shape(a)) for name, a in r.point.items()},
        },
    }
    if r.command in DERIVATIVE:
        key = DERIVATIVE[r.command]
        doc[key] = plain(getattr(r, key))
    if r.intermediates is not None:
        doc["intermediates"] = plain(r.intermediates)
    if r.explain is not None:  # --explain: the backward pass step by step (gradcli/explain.py)
        doc["explain"] = r.explain
    doc["warnings"] = warning_docs(r.warnings)
    doc["check"] = check_doc(r)
    return doc


def check_doc(r: Result) -> dict | None:
    """The cross-check: its findings, {"skipped": why, …the verdict}, or None when it was
    not asked for."""
    if r.check is not None:
        return plain(r.check)
    if r.check_skipped is None:
        return None
    from ..check.compare import verdict

    return {"skipped": r.check_skipped, **verdict(skipped=r.check_skipped).fields()}


def error_doc(err: GradcliError) -> dict:
    return {"error": err.to_json()}


def dumps(doc: dict) -> str:
    """Strict JSON on one line (raises if a NaN or inf slipped through)."""
    return json.dumps(doc, allow_nan=False, ensure_ascii=False)


def check_exit(r: Result) -> int:
    """The cross-check's part of the exit code: 3 where it found autograd wrong (a kink
    included), 1 under --strict where it could not compare (not finite), else 0."""
    c = r.check or {}
    return int(c.get("exit_code", 3 if c.get("agree") is False else 0))


def symbolic_doc(doc: dict) -> dict:
    """The JSON document of `gradcli diff`."""
    return plain(doc)


def line(doc: dict) -> str:
    """One NDJSON line of a batch, compact (orjson: batches are where JSON speed counts;
    its numbers are the shortest that round-trip, as json's, in its own notation)."""
    import orjson

    return orjson.dumps(doc).decode()


def _numbers(column):
    """The JSON text of each number of a column, as `line` writes them, as a pyarrow string
    array: orjson formats the whole column in one call, and the positions of its commas
    become the array's offsets (no Python object a number)."""
    import orjson
    import pyarrow as pa

    column = np.ascontiguousarray(column)
    text = orjson.dumps(column, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    commas = np.flatnonzero(np.frombuffer(text, np.uint8) == ord(","))
    offsets = np.empty(len(column) + 1, np.int32)  # where each number starts, commas cut out
    offsets[0], offsets[-1] = 0, len(text) - len(commas)
    offsets[1:-1] = commas - np.arange(len(commas))
    data = pa.py_buffer(text.translate(None, b","))
    return pa.StringArray.from_buffers(len(column), pa.py_buffer(offsets), data)


def record(index: int, line: int, doc: dict) -> dict:
    """One record of a batch: `index` counts the points (0-based, blank lines skipped),
    `line` is the line of --points that held it (1-based, every line counted)."""
    return {"index": index, "line": line, **doc}


def column_lines(cols, command: str, first: int, lines: np.ndarray) -> memoryview:
    """The NDJSON text, in UTF-8, of a column-wise batch (scalar points, the first one the
    point of index `first`, read from the given lines), each line exactly as `batch_item`
    writes it: one line is rendered through `result_doc` with stand-in numbers, and its text, cut at
    them, becomes the template whose gaps the columns' numbers fill (pyarrow joins the
    pieces row by row in C: no Python loop over lines or numbers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stand_in = iter(range(10**6, 10**7))
    slots: list[tuple[str, np.ndarray]] = []

    def mark(column):
        number = np.float64(f"1.{next(stand_in)}e+300")
        slots.append((_numbers([number])[0].as_py(), column))
        return number

    sample = Result(
        cols.command,
        cols.expression,
        {k: mark(v) for k, v in cols.point.items()},
        mark(cols.value),
        cols.wrt,
    )
    if cols.gradient is not None:
        sample.gradient = {k: mark(g) for k, g in cols.gradient.items()}
    index, number = str(10**17 + 12345), str(10**17 + 54321)
    text = line(record(int(index), int(number), result_doc(sample, command))) + "\n"
    n = len(cols.value)
    pieces, fills = [], [np.arange(first, first + n), lines]
    for key in (index, number):
        head, _, text = text.partition(key)
        pieces.append(head)
    for number, column in sorted(slots, key=lambda s: text.find(s[0])):
        head, _, text = text.partition(number)
        pieces.append(head)
        fills.append(column)
    pieces.append(text)
    parts = []
    for piece, fill in zip(pieces[:-1], fills, strict=True):
        parts += [pa.scalar(piece), _numbers(fill)]
    joined = pc.binary_join_element_wise(*parts, pa.scalar(pieces[-1]), "")
    finite = np.all([np.isfinite(c) for _, c in slots], axis=0)
    if not finite.all():  # NaN and infinity: those lines as the one-point path writes them
        docs = [
            line(record(first + i, int(lines[i]), result_doc(cols.result(i), command))) + "\n"
            for i in np.flatnonzero(~finite).tolist()
        ]
        joined = pc.replace_with_mask(joined, pa.array(~finite), pa.array(docs, pa.string()))
    start, end = np.frombuffer(joined.buffers()[1], np.int32)[joined.offset :][[0, n]]
    return memoryview(joined.buffers()[2])[start:end]


# -- the graph's text formats ---------------------------------------------------------------


def graph_text(g: Graph, fmt: str, fold: bool = True) -> str:
    """The graph as text in a format of `gradcli graph --format`: json (`graph_doc`), dot,
    mermaid, or tree (plain text, as --output FILE.txt writes it)."""
    if fmt == "json":
        from .views import graph_doc

        return dumps(graph_doc(g)) + "\n"
    if fmt == "dot":
        return g.dot()
    if fmt == "mermaid":
        return g.mermaid()
    return tree_text(g, fold=fold)


def tree_text(g: Graph, fold: bool = True, width: int = 120) -> str:
    """The tree (`views.graph_tree`) as plain text (for --output FILE.txt)."""
    import io

    from rich.console import Console

    from .views import graph_tree

    buf = io.StringIO()
    emit(
        Console(file=buf, width=width, color_system=None, highlight=False), graph_tree(g, fold=fold)
    )
    return buf.getvalue()


class JsonOutput:
    """One strict JSON document on stdout; messages as plain text on stderr."""

    def batch_columns(self, cols, command: str, first: int, lines: np.ndarray) -> None:
        """A column-wise chunk of a batch (see `column_lines`), written as bytes."""
        text = column_lines(cols, command, first, lines)
        stream = getattr(sys.stdout, "buffer", None)
        if stream is None:  # a text stream (a test's stand-in for stdout)
            sys.stdout.write(str(text, "utf-8"))
            return
        sys.stdout.flush()
        stream.write(text)

    def result(self, r: Result, command: str | None = None) -> None:
        self.warnings(r.warnings)
        print(dumps(result_doc(r, command)))

    def symbolic(self, doc: dict) -> None:
        print(dumps(symbolic_doc(doc)))

    def error(self, err: GradcliError) -> None:
        print(dumps(error_doc(err)))
        print(err.render(width=width(sys.stderr)), file=sys.stderr)

    def warnings(self, warnings: Sequence[GradcliError]) -> None:
        for w in warnings:
            print(w.render("warning", width=width(sys.stderr)), file=sys.stderr)

    def functions(self, rows: list[dict]) -> None:
        """`gradcli functions`: {"command": "functions", "functions": [...]}."""
        print(dumps({"command": "functions", "functions": rows}))

    def graph(self, g: Graph, fmt: str = "json", fold: bool = True) -> None:
        """`gradcli graph`: the graph's text in `fmt` (the JSON document under --json)."""
        sys.stdout.write(graph_text(g, fmt, fold=fold))

    def plot(self, data: PlotData, saved: str | None = None) -> None:
        """`gradcli plot`: its JSON document, also when the plot was `saved` to a file."""
        from .views import plot_doc

        print(dumps(plot_doc(data)))

    def wrote(self, target: str) -> None:
        """A file written: stdout holds the JSON alone, and stderr says nothing."""

    def batch_item(
        self, index: int, number: int, item: Result | GradcliError, command: str | None = None
    ) -> None:
        """One NDJSON line of a batch run, the record of point `index` read from line
        `number` of --points: {"index", "line", ...result} or {"index", "line", "error"}.
        An error's position is in the text it quotes: the expression, or (with no quote)
        the points file itself."""
        if isinstance(item, GradcliError):
            report_point(index, number, item)
            doc = error_doc(item)
        else:
            doc = result_doc(item, command)
        print(line(record(index, number, doc)))


def write_captured(text: bytes | memoryview, messages: str) -> None:
    """What a batch's worker process wrote: its messages to stderr, then its records to
    stdout, as bytes."""
    if messages:
        sys.stderr.write(messages)
    if not text:
        return
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a text stream (a test's stand-in for stdout)
        sys.stdout.write(str(text, sys.stdout.encoding or "utf-8"))
        return
    sys.stdout.flush()
    stream.write(text)


def report_point(index: int, number: int, err: GradcliError) -> None:
    """The message on stderr of a point of a batch that failed."""
    where = "the expression" if err.source else ""
    print(
        f"--points line {number} (index {index}): {err.render(of=where, width=width(sys.stderr))}",
        file=sys.stderr,
    )


@contextmanager
def batch_progress(size: int | None, show: bool | None = None):
    """Yield `tick(points, read)`: once LONG_BATCH points are done, a transient bar on
    stderr of what is read out of `size` (bytes of NDJSON, rows of the other formats; a
    pulse when the size is unknown: standard input, a pipe), with points/s and the time
    left. Shown on a terminal (`show` None), always (True: --progress) or never (False)."""
    if not (sys.stderr.isatty() if show is None else show):
        yield lambda points, read: None
        return
    with ExitStack() as stack:
        shown: list = []  # [the bar, its task], once shown

        def tick(points: int, read: int) -> None:
            if not shown and points >= LONG_BATCH:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                # stdout carries the results: rich must not redirect it into the display
                bar = stack.enter_context(
                    Progress(
                        TextColumn("{task.description}"),
                        BarColumn(),
                        TimeElapsedColumn(),
                        TextColumn("left"),
                        TimeRemainingColumn(),
                        console=Console(stderr=True, force_terminal=show or None),
                        transient=True,
                        redirect_stdout=False,
                        redirect_stderr=False,
                    )
                )
                shown.extend([bar, bar.add_task("", total=size), time.monotonic(), points])
            if shown:
                bar, task, start, first = shown
                rate = (points - first) / max(time.monotonic() - start, 1e-9)
                bar.update(
                    task,
                    description=f"{points} points · {rate:,.0f} points/s",
                    completed=read if size else None,
                )

        yield tick


# -- rich -----------------------------------------------------------------------------------


def console(stderr: bool = False):
    """A rich console for people, `width()` columns wide."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """Raise for a closed pipe (rich's own exits 1): the runner ends as `ended` says."""
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console(
        stderr=stderr, highlight=False, width=width(sys.stderr if stderr else sys.stdout)
    )


def emit(out, renderable) -> None:
    """Print `renderable` on the console `out` as rich lays it out, without the spaces
    that pad lines to their table's width, and with any control character left in its
    text escaped."""
    from rich.segment import Segment, Segments

    segments = []
    for line in out.render_lines(renderable, pad=False):
        line = [s if s.control else Segment(printable(s.text), s.style) for s in line]
        while line and not line[-1].control and not line[-1].text.rstrip(" "):
            line.pop()
        if line and not line[-1].control:
            line[-1] = Segment(line[-1].text.rstrip(" "), line[-1].style)
        segments += [*line, Segment.line()]
    out.print(Segments(segments), end="")


def natural_width(out, renderable) -> int:
    """The width `renderable` takes when nothing limits it (its widest line)."""
    from rich.cells import cell_len

    lines = out.render_lines(renderable, out.options.update_width(10_000), pad=False)
    return max(
        (cell_len("".join(s.text for s in line if not s.control).rstrip(" ")) for line in lines),
        default=0,
    )


def fit(out, table, keys: int = 1, titled: bool = False):
    """`table` as it is when its columns fit the console `out` unwrapped; otherwise each
    row as a block: its first `keys` cells as a heading (after the first column's header
    when `titled`), then a `header  value` line for each other cell that is not empty.
    Numbers and entries are never cut or broken mid-way."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    for column in table.columns:
        column.no_wrap = True
    if natural_width(out, table) <= out.width:
        return table
    columns = [list(c.cells) for c in table.columns]
    blocks: list[RenderableType] = (
        [Text(str(table.title), style=table.title_style)] if table.title else []
    )
    for r in range(table.row_count):
        row = [Text(c) if isinstance(c, str) else c for c in (col[r] for col in columns)]
        heading = Text("  ").join(row[:keys])
        if titled:
            heading = Text.assemble((f"{table.columns[0].header} ", "dim"), heading)
        heading.stylize("bold")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for column, cell in zip(table.columns[keys:], row[keys:], strict=True):
            if cell.plain:
                grid.add_row(str(column.header), cell)
        blocks += [heading, Padding(grid, (0, 0, 0, 2))]
    return Group(*blocks)


def shape_text(a) -> str:
    shape = np.shape(a)
    return "scalar" if shape == () else str(shape)


def array_text(a, width: int) -> str:
    """An array laid out as an aligned matrix, summarised like NumPy when large."""
    a = np.asarray(a)
    if a.ndim == 0:
        return str(a[()])
    return np.array2string(a, max_line_width=width, threshold=THRESHOLD, edgeitems=3)


def rows(r: Result):
    """(section, name, array-or-text) for each line of the human view."""
    yield "expression", "", r.expression
    for name, a in r.point.items():
        yield "point", name, a
    yield "value", "", r.value
    key = DERIVATIVE.get(r.command)
    derivative: Any = getattr(r, key) if key else None  # (its type depends on the command)
    if key == "hessian":
        for a, row in derivative.items():
            for b, h in row.items():
                yield key, f"{a}, {b}", h
    elif isinstance(derivative, dict):
        for name, g in derivative.items():
            yield key, name, g
    elif derivative is not None:
        yield key, "", derivative
    for name, g in (r.intermediates or {}).items():
        yield "intermediates", name, g
    yield from check_rows(r)


def check_rows(r: Result):
    """The cross-check in the grid: skipped and why, or the derivative as formulas (the
    comparison itself follows as a table, `check_table`)."""
    if r.check_skipped is not None:
        yield "check", "", f"skipped: {r.check_skipped}"
    if r.check:
        formulas = (r.check.get("symbolic") or {}).get("formulas") or {}
        lines = list(formula_lines(r, formulas))
        for line in lines:
            yield "check", "", line


def output_name(r: Result) -> str:
    """What the formulas call the output: f, or out (as the PyTorch tutorial) when a
    variable is an array."""
    return "out" if any(np.ndim(r.point[n]) for n in r.wrt if n in r.point) else "f"


def partial(f: str, x: str, order: int = 1, latex: bool = False) -> str:
    """∂f/∂x, ∂²f/∂x², or their LaTeX."""
    if latex:
        n = "" if order == 1 else f"^{{{order}}}"
        f = f if len(f) == 1 else rf"\mathrm{{{f}}}"
        return rf"\frac{{\partial{n} {f}}}{{\partial {x}{n}}}"
    if order == 1:
        return f"∂{f}/∂{x}"
    sup = str(order).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"∂{sup}{f}/∂{x}{sup}"


def formula_lines(r: Result, formulas: dict, latex: bool | None = None):
    """`∂f/∂x = 2*x + 3` for each formula of the check (the value's own for eval)."""
    f = output_name(r)
    for name, form in formulas.items():
        tex = form.get("latex", False) if latex is None else latex
        if name == "value" and r.command == "eval":
            yield f"{f} = {form['formula']}"
            continue
        yield from derivative_lines(f, name, form, tex)


def derivative_lines(f: str, name: str, form: dict, latex: bool = False, order: int = 1):
    """The lines of one formula: scalar, generic element, elements, or too many to list."""
    kind = form.get("kind")
    if kind == "scalar":
        yield f"{partial(f, name, order, latex)} = {form['formula']}"
    elif kind == "generic":
        element = form["element"]
        if latex:
            element = element.replace("[", "_{").replace("]", "}")
        yield f"{partial(f, element, order, latex)} = {form['formula']}"
    elif kind == "elements":
        for element, text in form["elements"].items():
            if latex:
                element = element.replace("[", "_{").replace("]", "}")
            yield f"{partial(f, element, order, latex)} = {text}"
    else:
        yield (
            f"{partial(f, name, order, latex)}: no formula common to its elements, too many to list"
        )


def number_text(x) -> str:
    """A difference or tolerance, briefly."""
    if x is None:
        return "—"
    x = float(x)
    return "0" if x == 0 else f"{x:.2g}" if np.isfinite(x) else str(x)


#: The check's verdict: (style, mark) by status.
VERDICT_STYLE = {
    "agree": ("bold green", "✓"),
    "disagree": ("bold red", "✗"),
    "kink": ("bold yellow", "!"),
    "not-checked": ("bold yellow", "!"),
    "skipped": ("bold yellow", "!"),
}
VERDICT_LABEL = {
    "agree": "agree",
    "disagree": "disagree",
    "kink": "not differentiable here",
    "not-checked": "not checked",
    "skipped": "not checked",
}


def verdict_line(c: dict) -> tuple[str, str]:
    """(style, text) of the check's verdict line: its status and reason, as decided by
    `check.compare.verdict`."""
    agreed: dict[object, str] = {True: "agree", False: "disagree"}
    status = c.get("status") or agreed.get(c.get("agree"), "skipped")
    style, mark = VERDICT_STYLE[status]
    return style, f"{mark} {VERDICT_LABEL[status]}: {c.get('reason', '')}"


def nonfinite_error(r: Result) -> GradcliError | None:
    """The check's explanation of a NaN or infinite derivative, as a message with a caret
    (a value that is not finite has had its warning already)."""
    bad = (r.check or {}).get("nonfinite")
    if not bad or bad.get("in") == "value":
        return None
    from ..errors import Span

    pos = bad.get("position")
    span = Span(pos["line"], pos["col"] - 1, pos["end_line"], pos["end_col"] - 1) if pos else None
    return GradcliError(bad["message"], hint=bad.get("hint"), span=span, source=r.expression)


def check_table(c: dict):
    """autograd against sympy and finite differences: whether each agrees, the largest
    difference, and the figure the verdict used: the largest |a−b| / tolerance (≤ 1
    agrees), the tolerance being atol + rtol·|ref| (for finite differences, at least 10
    times their error estimate)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for title in ("autograd vs", "agrees", "max |a−b|", "|a−b|/tol", "tolerance"):
        table.add_column(title, no_wrap=title != "tolerance")
    tol = c.get("tolerance") or {}
    for name, key in (("sympy", "symbolic"), ("finite differences", "finite_differences")):
        part = c.get(key)
        if part is None:
            continue
        if "skipped" in part:
            table.add_row(name, Text("skipped", style="yellow"), "—", "—", "—")
            continue
        t = tol.get(key if key == "finite_differences" else "sympy") or {}
        ok = part.get("agree")
        bound = f"{number_text(t.get('atol'))} + {number_text(t.get('rtol'))}·|ref|" if t else "—"
        if t and key == "finite_differences":
            bound = f"{bound} or 10·est"
        table.add_row(
            name,
            Text("yes" if ok else "no", style="green" if ok else "red"),
            number_text(part.get("max_abs_err")),
            number_text(part.get("max_ratio")),
            bound,
        )
    return table


class RichOutput:
    """Aligned, coloured output for people (colour off under NO_COLOR or off a terminal)."""

    def __init__(self):
        self.out = console()
        self.err = console(stderr=True)

    def result(self, r: Result, command: str | None = None) -> None:
        self.warnings(r.warnings)
        emit(self.out, self.table(r))
        if r.check:
            self.check(r)
        if r.explain:
            from .views import explain_table

            emit(self.out, fit(self.out, explain_table(r.explain), keys=3))

    def check(self, r: Result) -> None:
        """The comparison table, the verdict line, and why a derivative is not finite."""
        from rich.text import Text

        c = r.check
        assert c is not None  # (called for a checked result)
        if c.get("symbolic") or c.get("finite_differences"):
            emit(self.out, fit(self.out, check_table(c), titled=True))
        for name, key in (("sympy", "symbolic"), ("finite differences", "finite_differences")):
            why = (c.get(key) or {}).get("skipped")
            if why:
                emit(self.out, Text(f"{name} skipped: {why}", style="yellow"))
        style, text = verdict_line(c)
        emit(self.out, Text(text, style=style))
        bad = nonfinite_error(r)
        if bad is not None:
            label = "NaN" if "NaN" in bad.message else "infinity"
            emit(
                self.out,
                self.styled(bad.render(f"{label} in the derivative", width=self.out.width)),
            )

    def symbolic(self, doc: dict) -> None:
        """`gradcli diff`: the expression as sympy reads it and each derivative."""
        from rich.table import Table
        from rich.text import Text

        latex, order = doc["latex"], doc["order"]
        f = "out" if any(np.ndim(v) for v in (doc.get("point") or {}).values()) else "f"
        lines = [f"{f} = {doc['symbolic']}"]
        values = []
        for name, d in doc["derivatives"].items():
            lines += derivative_lines(f, name, d["derivative"], latex, order)
            if "value" in d:
                values.append((partial(f, name, order), d["value"]))
        if latex:  # the LaTeX, one formula a line (wrapped at spaces, which TeX ignores)
            for line in lines:
                emit(self.out, Text(line))
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan")
        grid.add_column()
        room = max(20, self.out.width - 24)
        grid.add_row("expression", Text(echoed(doc["expression"], room)))
        for line in lines:
            lhs, _, rhs = line.partition(" = ")
            grid.add_row(Text(lhs), Text(rhs))
        for lhs, value in values:
            grid.add_row(Text(f"{lhs} at the point"), Text(array_text(value, room)))
        emit(self.out, grid)

    def functions(self, rows: list[dict]) -> None:
        """`gradcli functions`: a line each, the call and what it does (aliases name what
        they stand for), then the rule its gradient follows; on a narrow terminal each
        call over its description."""
        from rich.console import Group
        from rich.padding import Padding
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column()
        stacked: list[RenderableType] = []
        for row in rows:
            what = Text(
                f"another name for {row['alias_of']}" if row["alias_of"] else row["description"]
            )
            if row["derivative"] and not row["alias_of"]:
                what.append(f"  gradient: {row['derivative']}", style="dim")
            grid.add_row(Text(row["call"]), what)
            stacked += [Text(row["call"], style="bold cyan"), Padding(what, (0, 0, 0, 4))]
        narrow = max(len(row["call"]) for row in rows) > 0.4 * self.out.width
        emit(self.out, Group(*stacked) if narrow else grid)

    def graph(self, g: Graph, fmt: str = "tree", fold: bool = True) -> None:
        """`gradcli graph`: the rich tree (`views.graph_tree`), or the text of `fmt`."""
        if fmt == "tree":
            from .views import graph_tree

            emit(self.out, graph_tree(g, fold=fold))
        else:
            sys.stdout.write(graph_text(g, fmt, fold=fold))

    def plot(self, data: PlotData, saved: str | None = None) -> None:
        """`gradcli plot`: drawn in the terminal (plotext), or the file it was `saved` to."""
        if saved:
            self.wrote(saved)
            return
        import shutil

        from ..plot import terminal

        size = shutil.get_terminal_size((100, 30))
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(terminal(data, width=max(40, min(size.columns, 160)), color=color) + "\n")

    def wrote(self, target: str) -> None:
        """A file written: its name on stderr."""
        print(f"wrote {printable(target)}", file=sys.stderr)

    def table(self, r: Result):
        from rich.table import Table
        from rich.text import Text

        lines = list(rows(r))
        used = sum(
            max(cells(s) for s in col)
            for col in (
                [s for s, _, _ in lines],
                [printable(n) for _, n, _ in lines],
                [shape_text(v) for _, _, v in lines if not isinstance(v, str)] or [""],
            )
        )
        room = max(20, self.out.width - used - 6)
        grid = Table.grid(padding=(0, 2))
        for style in ("bold cyan", "bold", "dim", ""):
            grid.add_column(style=style)
        grid.columns[-1].overflow = "fold"
        previous = None
        for section, name, v in lines:
            label = "" if section == previous else section
            shape = "" if isinstance(v, str) else shape_text(v)
            text = (
                echoed(v, room)
                if section == "expression"
                else v
                if isinstance(v, str)
                else array_text(v, room)
            )
            grid.add_row(label, Text(printable(name)), shape, Text(text))
            previous = section
        return grid

    def error(self, err: GradcliError) -> None:
        emit(self.err, self.styled(err.render(width=self.err.width)))

    def warnings(self, warnings: Sequence[GradcliError]) -> None:
        for w in warnings:
            emit(self.err, self.styled(w.render("warning", width=self.err.width)))

    @staticmethod
    def styled(message: str):
        """Colours for a rendered message: its label, the caret line, the hint."""
        from rich.text import Text

        text = Text(message)
        text.highlight_regex(r"^error:", "bold red")
        text.highlight_regex(r"^warning:", "bold yellow")
        text.highlight_regex(r"^(NaN|infinity) in the derivative:", "bold red")
        text.highlight_regex(r"(?m)^ *\^+$", "bold red")
        text.highlight_regex(r"(?m)^hint:", "bold green")
        return text
