"""Points (SPEC §2): the bindings of `--at` and `--at-json`, and the point files."""

from __future__ import annotations

import io
import json
import keyword
import math
import os
import re
import stat
import sys
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from typing import TextIO

import numpy as np

from ..errors import GradcliError, LimitError, Span, UsageError
from . import syntax as S
from .parse import CONSTANTS, parse

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_KINDS = {
    "b": "boolean",
    "c": "complex",
    "O": "object",
    "U": "string",
    "S": "bytes",
    "M": "datetime",
    "m": "timedelta",
    "V": "structured",
}
#: The most a text file (`@x.json`, `@x.csv`, `--at-json`, `-f`), standard input read as
#: one of them, or one line of `--points` may hold; larger arrays go in `.npy` files.
MAX_TEXT_BYTES = 64 * 2**20
_AT_HINT = 'bind names to values: --at "x=ones(2,2), w=2"'
_VALUE_HINT = (
    "a value is a number, a constant expression (pi/4), a nested list, a "
    "constructor such as ones(2, 2) or randn(3), or a file @path.npy|.json|.csv"
)


def split_bindings(text: str) -> list[tuple[str, str, Span]]:
    """Split `"x=ones(2,2), w=2"` at top-level commas into (name, value text, value span)."""
    return [(name, value, span) for name, _, value, span in _split(text)]


def _span(text: str, start: int, end: int) -> Span:
    def at(offset):
        line = text.count("\n", 0, offset) + 1
        return line, offset - (text.rfind("\n", 0, offset) + 1)

    return Span(*at(start), *at(end))


def _split(text: str) -> list[tuple[str, Span, str, Span]]:
    """(name, name span, value text, value span) for each binding of one `--at`."""
    cuts, depth, quote = [], 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            cuts.append(i)
    out = []
    for start, end in zip([0] + [c + 1 for c in cuts], [*cuts, len(text)], strict=True):
        segment = text[start:end]
        if not segment.strip():
            where = _span(text, start, max(end, start + 1))
            raise UsageError("empty binding in --at", span=where, source=text, hint=_AT_HINT)
        a = start + len(segment) - len(segment.lstrip())
        b = start + len(segment.rstrip())
        eq = text.find("=", a, b)
        name = text[a:eq].strip() if eq >= 0 else ""
        if not name.isidentifier():
            raise UsageError(
                f"expected NAME=VALUE, got {text[a:b]!r}",
                span=_span(text, a, b),
                source=text,
                hint=_AT_HINT,
            )
        v = eq + 1 + len(text[eq + 1 : b]) - len(text[eq + 1 : b].lstrip())
        if v >= b:
            raise UsageError(
                f"{name} has no value", span=_span(text, eq, eq + 1), source=text, hint=_AT_HINT
            )
        if text[v] == "=":  # x==1
            raise UsageError(
                f"{name} is bound with one =, not two",
                span=_span(text, eq, v + 1),
                source=text,
                hint=f"--at {name}={text[v + 1 : b].strip()}",
            )
        out.append(
            (
                unicodedata.normalize("NFKC", name),
                _span(text, a, a + len(name)),
                text[v:b],
                _span(text, v, b),
            )
        )
    return out


def _functions(functions: Mapping[str, Callable] | None) -> Mapping[str, Callable]:
    if functions is None:
        from ..engine.functions import FUNCTIONS

        functions = FUNCTIONS
    return functions


def check_name(
    name: str,
    functions: Mapping[str, Callable] | None = None,
    *,
    span: Span | None = None,
    source: str | None = None,
) -> None:
    """Refuse a name that cannot be a variable."""
    problem = None
    if not name.isidentifier() or keyword.iskeyword(name):
        problem = f"{name!r} is not a valid variable name"
    elif name.startswith("__") or name.endswith("__"):
        problem = f"{name} is not allowed: names may not start or end with __"
    elif name in CONSTANTS:
        problem = f"{name} is a constant and cannot be bound"
    elif name in _functions(functions) or name == "range":
        problem = f"{name} is a function and cannot be bound"
    if problem:
        raise UsageError(
            problem,
            span=span,
            source=source,
            hint="use a name such as x, w1 or theta that is not a function or "
            "a constant (pi, e, inf, nan)",
        )


def parse_value(value_text: str, *, functions: Mapping[str, Callable] | None = None) -> S.Program:
    """Parse one point value: a single expression without free variables."""
    program = parse(value_text, functions=functions)
    if len(program.body) != 1 or not isinstance(program.body[0], S.ExprStmt):
        raise UsageError(
            "a value must be a single expression",
            source=value_text,
            span=program.body[-1].span,
            hint=_VALUE_HINT,
        )
    if program.free_vars:
        names = ", ".join(program.free_vars)
        raise UsageError(
            f"a value cannot use variables: {names}",
            source=value_text,
            span=_first_use(program.body[0], program.free_vars[0]),
            hint=_VALUE_HINT,
        )
    return program


def _first_use(node: S.Node, name: str) -> Span | None:
    spans, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Name) and n.id == name:
            spans.append(n.span)
        for f in n.fields:
            v = getattr(n, f)
            items = v if isinstance(v, tuple) else (v,)
            for item in items:
                item = item[1] if isinstance(item, tuple) else item  # kwargs
                if isinstance(item, S.Node):
                    stack.append(item)
    return min(spans, key=lambda s: (s.line, s.col), default=None)


def _dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype("float64"), np.dtype("float32")):
        raise UsageError(f"unsupported dtype {dtype!r}", hint="use float64 or float32")
    return dt


def _as_array(value, dtype: np.dtype, what: str, max_elements: int | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        kind = _KINDS.get(arr.dtype.kind, str(arr.dtype))
        raise UsageError(
            f"{what} holds {kind} values, not real numbers", hint="a point holds real numbers only"
        )
    if max_elements is not None and arr.size > max_elements:
        raise LimitError(
            f"{what} has {arr.size} elements, more than the limit of {max_elements}",
            hint="raise the limit with --max-elements",
        )
    with np.errstate(over="ignore"):
        return arr.astype(dtype)


def _reject_constant(name: str):
    raise ValueError(f'{name} is not strict JSON; write it as the string "{name}"')


def _json_numbers(value):
    """A JSON value (number, the strings NaN/Infinity/-Infinity, nested lists) as floats."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{json.dumps(value)} is not a number")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.copysign(math.inf, value)
    if isinstance(value, str):
        if value in _NONFINITE:
            return _NONFINITE[value]
        raise ValueError(
            f'the string {value!r} is not a number (only "NaN", "Infinity" and "-Infinity" are)'
        )
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    raise ValueError("an object is not a number")


def _json_array(value) -> np.ndarray:
    try:
        return np.array(_json_numbers(value), dtype=np.float64)
    except RecursionError:
        raise ValueError("the nested list is too deep") from None
    except ValueError as err:
        if "maximum" in str(err):  # NumPy: "would exceed the maximum number of dimension"
            raise ValueError(
                f"the nested lists are more than {S.MAX_DIMS} levels deep (an "
                f"array has at most {S.MAX_DIMS} dimensions)"
            ) from None
        if "inhomogeneous" in str(err) or "sequence" in str(err):
            raise ValueError("the nested lists are ragged (rows of different lengths)") from None
        raise


def _kind(mode: int) -> str | None:
    """What a file that is not regular is (None for a regular file)."""
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return (
        None
        if stat.S_ISREG(mode)
        else next((name for test, name in kinds if test(mode)), "not a regular file")
    )


def open_regular(path: str, what: str, hint: str | None = None, cap: int | None = None):
    """A regular file opened for reading in binary; anything else (a FIFO, a device, a
    directory) is refused without waiting on it, and so is a file over `cap` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO: no wait
    except FileNotFoundError:
        raise UsageError(
            f"no such file: {path}",
            hint=hint or "check the path; a relative path is read from the current directory",
        ) from None
    except OSError as err:
        raise UsageError(
            f"cannot read {path}: {err.strerror or err}",
            hint=hint or "check that it is a readable file",
        ) from None
    info = os.fstat(fd)
    problem = _kind(info.st_mode)
    if problem is None and cap is not None and info.st_size > cap:
        problem = f"larger than {cap // 2**20} MiB, the cap for {what}s"
    if problem:
        os.close(fd)
        raise UsageError(
            f"cannot read {path}: {problem}",
            hint="give a regular file (- reads standard input)"
            + ("; save large arrays as .npy" if "MiB" in problem else ""),
        )
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_text(path: str, what: str, stdin: TextIO | None = None, hint: str | None = None) -> str:
    """The UTF-8 text of a regular file, or of standard input for "-", at most
    MAX_TEXT_BYTES: anything longer is refused when the cap is passed, not read to its
    end (a device such as /dev/zero never ends; a FIFO is refused unread)."""
    cap = MAX_TEXT_BYTES
    try:
        if path == "-":
            text = (stdin or sys.stdin).read(cap + 1)
            where = "standard input"
        else:
            with open_regular(path, what, hint, cap) as f:
                text = f.read(cap + 1).decode("utf-8")
            where = path
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(
            f"cannot read the {what} {path}: {getattr(err, 'strerror', None) or err}",
            hint=hint or "check the file",
        ) from None
    if len(text) > cap:
        raise UsageError(
            f"the {what} ({where}) is larger than {cap // 2**20} MiB, the cap for {what}s",
            hint=None
            if what == "program file"
            else "save large arrays as .npy and bind them with @",
        )
    return text


def load_file(path: str, *, dtype="float64", max_elements: int | None = None) -> np.ndarray:
    """Read a point file: `.npy` as saved, `.json` the array itself, `.csv` a 2-D array."""
    dt = _dtype(dtype)
    path = os.path.expanduser(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".json", ".csv"):
        raise UsageError(
            f"cannot read {path}: unknown file type {ext or '(none)'}",
            hint="point files end in .npy, .json or .csv",
        )
    try:
        if ext == ".npy":
            open_regular(path, "point file").close()  # (--max-elements bounds its size)
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if max_elements is not None and arr.size > max_elements:
                return _as_array(arr, dt, path, max_elements)
            arr = np.array(arr)
        elif ext == ".json":
            text = read_text(path, "point file")
            arr = _json_array(json.loads(text, parse_constant=_reject_constant))
        else:
            text = read_text(path, "point file")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64)
            if arr.size == 0:
                raise ValueError("the file is empty")
    except FileNotFoundError:
        raise UsageError(
            f"no such file: {path}",
            hint="check the path; a relative path is read from the current directory",
        ) from None
    except OSError as err:
        raise UsageError(
            f"cannot read {path}: {err.strerror or err}", hint="check that it is a readable file"
        ) from None
    except (ValueError, EOFError, UnicodeDecodeError, RecursionError) as err:
        hints = {
            ".npy": "save it with numpy.save (no object arrays)",
            ".json": "write the array as nested lists, e.g. [[1, 2], [3, 4]]",
            ".csv": "write numbers separated by commas, no header, the same number "
            "of columns on every row",
        }
        raise UsageError(
            f"{path} is not a valid {ext[1:]} point file: {_problem(err, ext)}", hint=hints[ext]
        ) from None
    return _as_array(arr, dt, path, max_elements)


def _problem(err: Exception, ext: str) -> str:
    """What is wrong with a point file, in words that never quote its content (which could
    be anything: a secret read through a symlink)."""
    msg = str(err).split("\n")[0]
    if isinstance(err, RecursionError):
        return "nested too deeply"
    if "pickle" in msg:
        return "it holds pickled Python objects, which are never loaded (or it is not .npy)"
    if ext == ".json" or msg == "the file is empty" or msg.startswith("the nested lists"):
        return msg  # (json's messages give a line and column, never the text)
    if ext == ".csv":
        cell = re.search(r"at row (\d+), column (\d+)", msg)
        if cell:
            return f"row {int(cell[1]) + 1}, column {cell[2]} is not a number"
        rows = re.search(r"changed from (\d+) to (\d+) at row (\d+)", msg)
        if rows:
            return f"row {rows[3]} has {rows[2]} columns where the rows before it have {rows[1]}"
        return "it is not a table of numbers separated by commas"
    return "it is not an array saved by numpy.save"


def _relocate(err: GradcliError, value: str, span: Span, item: str) -> GradcliError:
    """Move an error found in a value into the position of that value in its `--at`."""
    if err.span is None:
        err.span = span
    elif err.source in (None, value):
        s = err.span
        err.span = Span(
            span.line + s.line - 1,
            s.col + (span.col if s.line == 1 else 0),
            span.line + s.end_line - 1,
            s.end_col + (span.col if s.end_line == 1 else 0),
        )
    else:
        return err
    err.source = item
    return err


def bound_twice(name: str, by: str = "", **where) -> UsageError:
    """The one refusal of a name bound twice, also by two spellings that Python reads as
    one name (x and the fullwidth x: identifiers are compared after NFKC normalisation)."""
    return UsageError(
        f"{name} is bound twice{by}",
        hint="give each name one value (names are compared as Python reads them: "
        "\N{FULLWIDTH LATIN SMALL LETTER X} and \N{MATHEMATICAL BOLD SMALL X} are x)",
        **where,
    )


def _read_json_bindings(
    at_json: str, stdin: TextIO | None, label: str | None = None
) -> tuple[dict, str]:
    """The JSON object of bindings, and how messages name it (`label`, or --at-json's)."""
    where = "standard input" if at_json == "-" else at_json
    label = label or f"--at-json {where}"
    text = read_text(
        at_json,
        "--at-json file",
        stdin,
        hint="--at-json takes a file of one JSON object, or - for standard input",
    )

    def pairs(items):
        seen = {}
        for k, v in items:
            name = unicodedata.normalize("NFKC", k)  # as Python reads identifiers
            if name in seen:
                raise bound_twice(name)
            seen[name] = v
        return seen

    hint = 'write one JSON object of bindings, e.g. {"x": [1, 2], "w": 2}'
    try:
        obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=pairs)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{label} is not valid JSON: {err.msg}",
            hint=hint,
            span=Span(err.lineno, err.colno - 1, err.lineno, err.colno),
            source=text,
        ) from None
    except (ValueError, RecursionError) as err:
        raise UsageError(f"{label}: {err or 'nested too deeply'}", hint=hint) from None
    if not isinstance(obj, dict):
        raise UsageError(f"{label} must hold one JSON object", hint=hint)
    return obj, label


def seed_value(seed) -> int | None:
    """A seed as NumPy takes it: None or an integer from 0 up."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(
            f"the seed must be a whole number from 0 up, not {seed!r}",
            hint="e.g. seed=0 (--seed 0)",
        )
    return int(seed)


def load_point(
    at: list[str],
    at_json: str | None,
    *,
    dtype="float64",
    seed=None,
    max_elements: int | None = 10**8,
    stdin: TextIO | None = None,
    functions: Mapping[str, Callable] | None = None,
    json_label: str | None = None,
) -> dict[str, np.ndarray]:
    """Merge every `--at` and the `--at-json` object into name → array, in order
    (`json_label`: how messages name that object, when it is not --at-json's).

    Everything is parsed and checked before any value is evaluated."""
    dt = _dtype(dtype)
    todo: dict[str, tuple] = {}  # name → (value text, value span, --at item, program or None)
    for item in at:
        for name, name_span, value, span in _split(item):
            check_name(name, functions, span=name_span, source=item)
            if name in todo:
                raise bound_twice(name, span=name_span, source=item)
            try:
                program = None if value.startswith("@") else parse_value(value, functions=functions)
            except GradcliError as err:
                raise _relocate(err, value, span, item) from None
            todo[name] = (value, span, item, program)
    loaded: dict[str, np.ndarray] = {}
    if at_json is not None:
        obj, label = _read_json_bindings(at_json, stdin, json_label)
        for name, value in obj.items():  # (names NFKC-normalised, as Python reads them)
            check_name(name, functions)
            if name in todo:
                raise bound_twice(name, " (by --at and by --at-json)")
            try:
                arr = _json_array(value)
            except ValueError as err:
                raise UsageError(
                    f"{label}: the value of {name} is not an array: {err}",
                    hint="a value is a number or nested lists of "
                    'numbers; non-finite numbers are "NaN", "Infinity", '
                    '"-Infinity"',
                ) from None
            loaded[name] = _as_array(arr, dt, f"the value of {name}", max_elements)
    # one generator for every binding, so --seed makes randn/rand reproducible; made only
    # when a value can draw from it (importing numpy.random costs start-up time)
    seed = seed_value(seed)
    rng = np.random.default_rng(seed) if any("rand" in v[0] for v in todo.values()) else None
    point: dict[str, np.ndarray] = {}
    for name, (value, span, item, program) in todo.items():
        try:
            if program is None:
                point[name] = load_file(value[1:].strip(), dtype=dt, max_elements=max_elements)
            else:
                from .interpret import evaluate_constant

                arr = evaluate_constant(program, dtype=dt.name, rng=rng, max_elements=max_elements)
                point[name] = _as_array(arr, dt, f"the value of {name}", max_elements)
        except GradcliError as err:
            if err.exit_code == 1 and not isinstance(err, LimitError):  # a malformed value,
                err = UsageError(
                    f"the value of {name}: {err.message}",
                    hint=err.hint,
                    span=err.span,
                    source=err.source,
                )  # found before the run
            raise _relocate(err, value, span, item) from None
    point.update(loaded)
    return point
