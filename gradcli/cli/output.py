"""The one output layer: the same Result objects rendered as strict JSON or with rich.

Commands never format. They hand a `Result` (or a `GradcliError`) to the renderer chosen
once from `--json`; warnings and errors always go to stderr. rich is imported only by the
rich renderer, so `--json` runs never load it.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import numpy as np

from ..errors import GradcliError
from ..result import Result

#: The Result field (and JSON key) holding each command's derivative.
DERIVATIVE = {"grad": "gradient", "vjp": "vjp", "jvp": "jvp", "jacobian": "jacobian",
              "hessian": "hessian"}
#: Arrays with more elements are summarised (NumPy's own default threshold).
THRESHOLD = 1000
#: Batch runs with at least this many points show a progress bar on a terminal.
LONG_BATCH = 1000


# -- JSON -----------------------------------------------------------------------------------

def jsonable(a) -> object:
    """An array as nested lists, a scalar as a number; NaN and ±inf as strings.

    >>> jsonable(np.array([1.5, np.nan, -np.inf]))
    [1.5, 'NaN', '-Infinity']
    """
    a = np.asarray(a)
    if a.dtype == np.float32:
        # The shortest text that round-trips in float32, read back as a float64 number.
        a = a.astype(str).astype(np.float64)
    if a.dtype.kind != "f" or np.isfinite(a).all():
        return a.tolist()
    out = a.astype(object)
    out[np.isnan(a)] = "NaN"
    out[np.isposinf(a)] = "Infinity"
    out[np.isneginf(a)] = "-Infinity"
    return out.tolist()


def plain(x) -> object:
    """Any nesting of dicts, lists, arrays and numbers as JSON-ready values."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if x is None or isinstance(x, str):
        return x
    return jsonable(x)


def result_doc(r: Result) -> dict:
    """The JSON document of one result, keys in the documented order."""
    doc = {
        "command": r.command,
        "expression": r.expression,
        "point": plain(r.point),
        "value": jsonable(r.value),
        "shapes": {"value": list(np.shape(r.value)),
                   **{name: list(np.shape(a)) for name, a in r.point.items()}},
    }
    if r.command in DERIVATIVE:
        key = DERIVATIVE[r.command]
        doc[key] = plain(getattr(r, key))
    if r.intermediates is not None:
        doc["intermediates"] = plain(r.intermediates)
    doc["warnings"] = [{k: v for k, v in w.to_json().items() if k != "type"}
                       for w in r.warnings]
    doc["check"] = check_doc(r)
    return doc


def check_doc(r: Result) -> dict | None:
    """The cross-check: its findings, {"skipped": why}, or None when it did not run."""
    if r.check is not None:
        return plain(r.check)
    return None if r.check_skipped is None else {"skipped": r.check_skipped}


def error_doc(err: GradcliError) -> dict:
    return {"error": err.to_json()}


def dumps(doc: dict) -> str:
    """Strict JSON on one line (raises if a NaN or inf slipped through)."""
    return json.dumps(doc, allow_nan=False, ensure_ascii=False)


def disagrees(r: Result) -> bool:
    """Whether the cross-check ran and found autograd wrong (exit code 3)."""
    return bool(r.check) and r.check.get("agree") is False


class JsonOutput:
    """One strict JSON document on stdout; messages as plain text on stderr."""

    def result(self, r: Result) -> None:
        self.warnings(r.warnings)
        print(dumps(result_doc(r)))

    def error(self, err: GradcliError) -> None:
        print(dumps(error_doc(err)))
        print(err.render(), file=sys.stderr)

    def warnings(self, warnings: list[GradcliError]) -> None:
        for w in warnings:
            print(w.render("warning"), file=sys.stderr)

    def batch_item(self, index: int, item: Result | GradcliError) -> None:
        """One NDJSON line of a batch run: {"index": i, ...result} or {"index": i, "error"}."""
        if isinstance(item, GradcliError):
            print(f"point {index}: {item.render()}", file=sys.stderr)
            doc = error_doc(item)
        else:
            doc = result_doc(item)
        print(dumps({"index": index, **doc}))


@contextmanager
def batch_progress(total: int):
    """Yield `tick(done)`; on a terminal, long runs show a transient bar on stderr."""
    if total < LONG_BATCH or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import Progress

    # stdout carries the results: rich must not redirect it into the live display.
    with Progress(console=Console(stderr=True), transient=True, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        task = bar.add_task(f"{total} points", total=None)  # pulses while evaluating
        step = max(1, total // 100)

        def tick(done: int) -> None:
            if done % step == 0 or done == total:
                bar.update(task, total=total, completed=done)
        yield tick


# -- rich -----------------------------------------------------------------------------------

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
    derivative = getattr(r, key) if key else None
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
    """The cross-check in brief: skipped, or its verdict and largest errors."""
    if r.check_skipped is not None:
        yield "check", "", f"skipped: {r.check_skipped}"
    if r.check:
        c = r.check
        yield "check", "", c.get("verdict") or ("agree" if c.get("agree") else "DISAGREE")
        yield "check", "", f"max abs err {c.get('max_abs_err')}, max rel err " \
                           f"{c.get('max_rel_err')}"


class RichOutput:
    """Aligned, coloured output for people (colour off under NO_COLOR or off a terminal)."""

    def __init__(self):
        from rich.console import Console

        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def result(self, r: Result) -> None:
        self.warnings(r.warnings)
        self.out.print(self.table(r))

    def table(self, r: Result):
        from rich.table import Table
        from rich.text import Text

        lines = list(rows(r))
        used = sum(max(len(s) for s in col) for col in (
            [s for s, _, _ in lines], [n for _, n, _ in lines],
            [shape_text(v) for _, _, v in lines if not isinstance(v, str)] or [""]))
        width = max(40, self.out.width - used - 6)
        grid = Table.grid(padding=(0, 2))
        for style in ("bold cyan", "bold", "dim", ""):
            grid.add_column(style=style)
        previous = None
        for section, name, v in lines:
            label = "" if section == previous else section
            shape = "" if isinstance(v, str) else shape_text(v)
            text = v if isinstance(v, str) else array_text(v, width)
            grid.add_row(label, Text(name), shape, Text(text))
            previous = section
        return grid

    def error(self, err: GradcliError) -> None:
        self.err.print(self.styled(err.render()), soft_wrap=True)

    def warnings(self, warnings: list[GradcliError]) -> None:
        for w in warnings:
            self.err.print(self.styled(w.render("warning")), soft_wrap=True)

    @staticmethod
    def styled(message: str):
        from rich.text import Text

        text = Text(message)
        text.highlight_regex(r"^error:", "bold red")
        text.highlight_regex(r"^warning:", "bold yellow")
        text.highlight_regex(r"(?m)^ *\^+$", "bold red")
        text.highlight_regex(r"(?m)^hint:", "bold green")
        return text
