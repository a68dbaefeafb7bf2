"""The one runner behind every command: load the program and the point, call the library,
hand the result to the output layer, and turn every outcome into an exit code.

It knows nothing of typer: `app.py` declares the commands over it, and `quick` runs the
plainest one-shot command lines (`gradcli grad EXPR --at … --json`) without loading typer.
"""

import io
import os
import stat
import sys
import traceback
import warnings
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from enum import Enum
from functools import partial
from typing import Any

import numpy as np

from ..engine import clock
from ..errors import GradcliError, InternalError, UsageError
from ..result import Result
from . import ndjson, output


class DType(str, Enum):
    """The choices of --dtype."""

    float64 = "float64"
    float32 = "float32"


class Mode(str, Enum):
    """The choices of jacobian's --mode."""

    auto = "auto"
    rev = "rev"
    fwd = "fwd"


class Engine(str, Enum):
    local = "local"
    dask = "dask"


class ExplainLevel(str, Enum):
    """The levels of --explain (the bare flag: brief)."""

    brief = "brief"
    full = "full"


# -- the one runner --------------------------------------------------------------------------


def run(command: str, options: dict, runner=None) -> int:
    """Run one command; every outcome ends here as an exit code (a closed pipe or a full
    disk under the output too: see `output.ended`)."""
    try:
        code = _outcome(command, options, runner)
        sys.stdout.flush()
    except OSError as e:
        if not output.write_failed(e):
            raise
        return output.ended(e)
    except KeyboardInterrupt:
        return output.interrupted()
    return code


def _outcome(command: str, options: dict, runner=None) -> int:
    # NumPy's own RuntimeWarnings ("Mean of empty slice") would reach the user with a path
    # into site-packages; gradcli's domain warnings say what happened, and where
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    batch = runner is None and options["points"] is not None
    out = output.JsonOutput() if options["json"] or batch else output.RichOutput()
    try:
        if runner is None and options.get("output") is not None and not batch:
            raise UsageError("--output writes the results of a batch: give --points too")
        with clock.limit(options.get("time_limit")):  # one deadline for the whole run
            code = (runner or (_batch if batch else _single))(command, options, out)
    except GradcliError as e:
        out.error(e)
        code = e.exit_code
    except Exception as e:  # a bug: no traceback for users unless they ask
        if output.write_failed(e):
            raise
        if os.environ.get("GRADCLI_DEBUG"):
            traceback.print_exc()
        out.error(InternalError.of(e))
        code = 1
    return code


def report(err: GradcliError, json: bool) -> int:
    """Show an error found before a command ran (a usage error); its exit code."""
    (output.JsonOutput() if json else output.RichOutput()).error(err)
    return err.exit_code


def _single(command: str, options: dict, out) -> int:
    prog = compile_program(options)
    if command == "diff":
        out.symbolic(_diff(prog, options))
        return 0
    point = read_point(options)
    if command == "check":  # the gradient of a scalar output, else the Jacobian
        with_grad = prog.eval(point).value.size == 1
        derivative = "grad" if with_grad else "jacobian"
        result = getattr(prog, derivative)(point, **_library_options(derivative, options))
    else:
        result = getattr(prog, command)(point, **_library_options(command, options))
    if command in CHECKED:
        _cross_check(prog, result, options, forced=command == "check", default=not options["json"])
    out.result(result, command=command)
    return output.check_exit(result)


#: The commands whose results the cross-check can compare.
CHECKED = frozenset({"eval", "grad", "vjp", "jvp", "jacobian", "hessian", "check"})
#: The default check runs for people up to this many scalar inputs.
CHEAP_CHECK = 64


def _cross_check(prog, result, options: dict, *, forced: bool, default: bool) -> None:
    """Run the check into result.check, or say in result.check_skipped why it did not run.

    --check (or the check command) forces it, --no-check turns it off, and otherwise it
    runs when `default` (human output) and cheap. The answer itself never depends on it."""
    if result.check is not None or result.check_skipped is not None:
        return  # the library filled it in already
    wanted = True if forced else options["check"]
    if wanted is False or (wanted is None and not default):
        return
    if wanted is None:
        names = result.wrt or tuple(result.point)
        inputs = sum(int(result.point[n].size) for n in names)
        if inputs > CHEAP_CHECK:
            result.check_skipped = (
                f"{inputs} scalar inputs (more than {CHEAP_CHECK}); --check runs it anyway"
            )
            return
    try:
        prog.check(result, timeout=options["check_timeout"], latex=options["latex"])
    except GradcliError as e:
        result.check_skipped = f"the check could not run: {e.message}"
    except Exception as e:  # a bug in the check must not hide the answer
        if os.environ.get("GRADCLI_DEBUG"):
            traceback.print_exc()
        result.check_skipped = f"internal error in the check: {type(e).__name__}: {e}"


def _diff(prog, options: dict) -> dict:
    """The symbolic derivative of each --wrt variable (default: every variable)."""
    names = wrt_names(options["wrt"]) or prog.free_vars
    point = None
    if options["at"] or options["at_json"]:  # shapes (and a point) from --at; others scalars
        given = read_point(options)
        point = {n: given.get(n, 0.0) for n in prog.free_vars}
    derivatives = {}
    expression = None
    for name in names:
        d = prog.symbolic(
            name,
            order=options["order"],
            point=point,
            latex=options["latex"],
            timeout=options["check_timeout"],
        )
        expression = d["expression"]
        derivatives[name] = {k: v for k, v in d.items() if k != "expression"}
    return {
        "command": "diff",
        "expression": prog.text,
        "order": options["order"],
        "point": point,
        "latex": options["latex"],
        "symbolic": expression,
        "derivatives": derivatives,
    }


def _batch(command: str, options: dict, out) -> int:
    """NDJSON in, NDJSON out, in order, chunk by chunk: each line that fails becomes an
    error record in its place and every other line is computed and written."""
    if options["points"] == "-" == options["at_json"]:
        raise UsageError("--points - and --at-json - cannot both read standard input")
    if options.get("explain"):
        raise UsageError(
            "--explain shows the backward pass at one point, not a batch",
            hint="give the point with --at",
        )
    if command == "diff":
        raise UsageError("diff takes no --points", hint="give the shapes with --at")
    if options.get("engine") == Engine.dask:
        return _dask_batch(command, options)
    prog = compile_program(options)
    shared = read_point(options) if options["at"] or options["at_json"] else {}
    checked = command in CHECKED and (options["check"] or command == "check")
    if checked:
        import sympy  # noqa: F401  (once here: each check's forked child inherits it)
    from ..columnar import file_format

    fmt = file_format(options["points"], options.get("points_format"), "--points")
    if options.get("output") == "-":  # standard output: NDJSON records, as without it
        options = {**options, "output": None}
    if options.get("output") is not None:
        from ..columnar import ResultsFile, check_output

        check_output(options["points"], options["output"])
        out_format = file_format(options["output"], options.get("output_format"), "--output")
        out = ResultsFile(options["output"], out_format, out, output.report_point)
    show = options.get("progress", None if not options["json"] else False)
    records = partial(_records, prog, command, options, fmt, shared, out, checked)
    index, failed, worst = 0, False, 0  # worst: the checks' part of the exit code
    with (
        _points_source(fmt, options, prog, shared) as (chunks, stream, size),
        output.batch_progress(size, show) as tick,
    ):
        # NDJSON to stdout: chunks in worker processes, when there are two or more (loaded
        # here: socket and mmap are 5 ms of a one-shot run's start-up)
        from . import workers

        pooled = fmt == "ndjson" and options.get("output") is None
        jobs = (options.get("jobs") or workers.usable_cores()) if pooled else 1
        tasks = _numbered(chunks, fmt)
        here = partial(_direct, records)
        with workers.ordered(partial(_captured, records), tasks, jobs, here=here) as done:
            for text, (messages, (count, bad, code)) in done:
                output.write_captured(text, messages)
                index, failed, worst = index + count, failed or bad, max(worst, code)
                tick(index, (stream.tell() if stream else index) if size else 0)
    if options.get("output") is not None:
        out.close()
    return 1 if failed else worst


def _records(
    prog, command: str, options: dict, fmt: str, shared: dict, out, checked: bool, task
) -> tuple[int, bool, int]:
    """Evaluate a chunk of --points, a task of `_numbered`, and write its records to `out`:
    (how many points, whether one failed, the checks' part of the exit code)."""
    payload, rest = task
    if fmt == "ndjson":
        first, over, index = rest
        text = bytes(payload)
        count = _column_batch(prog, command, options, first, index, text, over, shared, out)
        if count is None:
            lines = ndjson.chunk_lines(text, over)
            items = _line_batch(prog, command, options, first, lines, shared)
    else:
        chunk, index = rest
        count = _file_columns(prog, command, options, chunk, index, shared, out)
        items = [] if count is not None else _file_items(prog, command, options, chunk, shared)
    if count is not None:
        return count, False, 0
    failed, worst = False, 0
    for number, item in items:
        if checked and not isinstance(item, GradcliError):
            _cross_check(prog, item, options, forced=True, default=False)
        out.batch_item(index, number, item, command=command)
        if isinstance(item, GradcliError):
            failed = True
        else:
            worst = max(worst, output.check_exit(item))
        index += 1
    return len(items), failed, worst


def _numbered(chunks, fmt: str):
    """Each chunk as a task of `workers.ordered`, (bytes, the rest), with the index of its
    first point: NDJSON's text, then (its first line, its lines over the cap, the index);
    the other formats' (no bytes, then the chunk and the index)."""
    index = 0
    for chunk in chunks:
        if fmt == "ndjson":
            first, text, over, count = chunk
            yield text, (first, over, index)
            index += ndjson.chunk_points(text, over, count)
        else:
            yield b"", (chunk, index)
            index += len(chunk.lines)


def _direct(records, task) -> tuple[bytes, tuple[str, tuple[int, bool, int]]]:
    """`records(task)` writing as it goes, in this process, shaped as `_captured`'s."""
    return b"", ("", records(task))


def _captured(records, task) -> tuple[memoryview, tuple[str, tuple[int, bool, int]]]:
    """`records(task)` with what it writes to stdout (bytes) and stderr (text) captured,
    for a worker (`workers.ordered`) to hand over: (stdout, (stderr, its outcome))."""
    text = io.BytesIO()
    stdout = io.TextIOWrapper(text, sys.stdout.encoding, sys.stdout.errors, "\n")
    messages = io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(messages):
        got = records(task)
        stdout.flush()
    return text.getbuffer(), (messages.getvalue(), got)


def _dask_batch(command: str, options: dict) -> int:
    """--engine dask: every partition of --points evaluated on a Dask cluster, the results
    written as the partitioned Parquet dataset --output; 1 if a point failed."""
    from ..dask_batch import client, evaluate_dataset

    if options.get("output") is None or options["at"] or options["at_json"]:
        raise UsageError(
            "--engine dask writes a Parquet dataset: give --output DIRECTORY "
            "(and every variable as a column of --points, no --at)"
        )
    with client(options.get("scheduler")):
        failed = evaluate_dataset(
            _program_text(options),
            compile_options(options),
            options["points"],
            options["output"],
            command,
            wrt_names(options["wrt"]),
        )
    if failed:
        print(
            f"{failed} points failed: their error is in the error column of {options['output']}",
            file=sys.stderr,
        )
    return 1 if failed else 0


@contextmanager
def _points_source(fmt: str, options: dict, prog, shared: dict):
    """(the chunks of --points, its stream, its size for the progress bar): NDJSON's
    chunks (`ndjson.chunks`), the other formats' `PointChunk`s (read by pyarrow)."""
    if fmt == "ndjson":
        with _points_stream(options["points"]) as (stream, size):
            yield ndjson.chunks(stream), stream, size
        return
    from ..columnar import read_chunks, row_count

    names = tuple(n for n in prog.free_vars if n not in shared)
    yield read_chunks(options["points"], fmt, names), None, row_count(options["points"], fmt)


def _file_columns(
    prog, command: str, options: dict, chunk, index: int, shared: dict, out
) -> int | None:
    """A chunk of a points file of scalars, evaluated column-wise in one pass (see
    `_column_batch`); how many points, or None when that does not apply."""
    from ..batch import columns

    if not _columns_apply(command, options, shared) or not chunk.scalar():
        return None
    n = len(chunk.lines)
    cols = {**chunk.columns, **{k: np.full(n, v, np.float64) for k, v in shared.items()}}
    got = columns(prog, command, cols, wrt_names(options["wrt"]))
    if got is None:
        return None
    out.batch_columns(got, command, index, chunk.lines)
    return n


def _file_items(prog, command: str, options: dict, chunk, shared: dict) -> list:
    """(line, Result or error) for each row of a chunk of a points file."""
    points = chunk.points()
    good = [i for i, p in enumerate(points) if isinstance(p, dict)]
    if good:
        results = _batch_results(prog, command, [{**shared, **points[i]} for i in good], options)
        for i, r in zip(good, results, strict=True):
            points[i] = r
    return list(zip(chunk.lines.tolist(), points, strict=True))


def _columns_apply(command: str, options: dict, shared: dict) -> bool:
    """Whether the options let a batch run column-wise (`batch.columns`)."""
    return (
        command in ("eval", "grad")
        and not options["check"]
        and not options.get("explain")
        and not options.get("intermediates")
        and options["dtype"].value == "float64"
        and not any(np.ndim(v) for v in shared.values())
    )


@contextmanager
def _points_stream(path: str):
    """The binary stream of --points and its size (None for a pipe or standard input).
    A regular file or a FIFO (a stream: `--points <(producer)`) is read; a device or a
    directory is refused."""
    if path == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        yield stream, None
        return
    try:
        fifo = stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        fifo = False  # (open_regular names the problem)
    try:
        f = _open_points(path, fifo)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    with f:
        yield f, None if fifo else os.fstat(f.fileno()).st_size


def _open_points(path: str, fifo: bool):
    """The --points file opened in binary: a FIFO as it is, anything else by open_regular."""
    from ..lang.points import open_regular

    if fifo:
        return open(path, "rb")
    return open_regular(path, "points file")


def _line_batch(
    prog, command: str, options: dict, first: int, lines: list, shared: dict
) -> list[tuple[int, Result | GradcliError]]:
    """(line number, Result or error) for each non-blank line of a chunk, one at a time."""
    from ..batch import point_failure
    from ..errors import Span
    from ..lang.points import MAX_TEXT_BYTES

    read: dict[int, Any] = {}  # the point, then its Result; or the error
    for number, line in enumerate(lines, first):
        if line is not None and not line.strip(b" \t\r"):
            continue  # a blank line: no point (the line numbers still count it)
        try:
            if line is None:
                raise UsageError(
                    f"this line of --points is longer than "
                    f"{MAX_TEXT_BYTES // 2**20} MiB, the cap for a line",
                    hint="save large arrays as .npy and bind them with --at",
                )
            text = line.decode("utf-8")
            read[number] = {
                **shared,
                **read_point(options, [], "-", io.StringIO(text), label="this line of --points"),
            }
        except UnicodeDecodeError as e:
            read[number] = UsageError(
                "this line of --points is not UTF-8 text",
                span=Span(number, e.start, number, e.start + 1),
                hint="write the points file in UTF-8",
            )
        except GradcliError as e:  # its position: the line of the file, not of the line
            if e.span is not None and e.source is not None:
                e.span, e.source = Span(number, e.span.col, number, e.span.end_col), None
            read[number] = e
        except Exception as e:
            read[number] = point_failure(e)
    good = [(n, p) for n, p in read.items() if isinstance(p, dict)]
    if good:
        results = _batch_results(prog, command, [p for _, p in good], options)
        read.update((n, r) for (n, _), r in zip(good, results, strict=True))
    return list(read.items())


def _column_batch(
    prog,
    command: str,
    options: dict,
    first: int,
    index: int,
    text: bytes,
    over: tuple[int, ...],
    shared: dict,
    out,
) -> int | None:
    """A chunk of points of plain numbers for an elementwise expression: read, evaluated
    and written column-wise, in one pass each; how many points, or None when that does
    not apply (the general path then handles every line, and reports the bad ones)."""
    from ..batch import columns
    from ..lang.points import check_name

    if not _columns_apply(command, options, shared) or over:
        return None
    cols = ndjson.number_columns(text)
    if cols is None or any(k in shared for k in cols):
        return None
    try:
        for name in cols:
            check_name(name)
    except GradcliError:
        return None
    n = len(next(iter(cols.values())))
    cols.update({k: np.full(n, v, np.float64) for k, v in shared.items()})
    got = columns(prog, command, cols, wrt_names(options["wrt"]))
    if got is None:
        return None
    # the lines of the points (a last empty line has none)
    out.batch_columns(got, command, index, np.arange(first, first + n))
    return n


def _batch_results(prog, command: str, points: list[dict], options: dict) -> list:
    """The library's batch; for `check`, the gradient (scalar outputs) or the Jacobian of
    each point, which the check then compares."""
    from ..batch import point_failure

    if command != "check":
        return prog.batch(command, points, **_library_options(command, options))
    items = []
    for p in points:
        try:
            derivative = "grad" if prog.eval(p).value.size == 1 else "jacobian"
            items.append(getattr(prog, derivative)(p, **_library_options(derivative, options)))
        except Exception as e:  # recorded at its point; the batch goes on
            items.append(point_failure(e))
    return items


#: Peak bytes per number that a JSON document takes to write (measured: 74 for a dense
#: 1000 × 1000 Jacobian, as Python floats, lists and text): a derivative to be written as
#: JSON counts against the memory budget at this cost per element.
JSON_ENTRY_BYTES = 80


def compile_options(options: dict) -> dict:
    """The keyword arguments of `gc.compile` that the command line's options give."""
    return dict(
        dtype=options["dtype"].value,
        strict=options["strict"],
        max_elements=options["max_elements"],
        max_iterations=options["max_iterations"],
        seed=options["seed"],
        max_memory=options["max_memory"],
        time_limit=options["time_limit"],
    )


def compile_program(options: dict):
    """The program of the command line (its expression or -f file), compiled with the
    options' dtype and limits."""
    import gradcli as gc

    prog = gc.compile(_program_text(options), **compile_options(options))
    if options["json"]:
        prog.limits.entry_bytes = JSON_ENTRY_BYTES
    return prog


def _program_text(options: dict) -> str:
    expression, file = options["expression"], options["file"]
    if expression is not None and file is not None:
        raise UsageError("give the expression or a program file (-f FILE), not both")
    if expression is None and file is None:
        raise UsageError(
            "missing the expression",
            hint='gradcli grad "x**2" --at x=3, or a program file: '
            "gradcli grad -f prog.grad --at x=3",
        )
    if file is None:
        return expression
    from ..lang.points import read_text

    return read_text(file, "program file").rstrip()


def read_point(
    options: dict,
    at: list[str] | None = None,
    at_json: str | None = None,
    stdin=None,
    label: str | None = None,
) -> dict:
    """The point of --at/--at-json, or of the given bindings (for --v and batch lines,
    `label` naming the line in messages)."""
    from ..lang.points import load_point

    if at is None:
        at, at_json = options["at"] or [], options["at_json"]
    return load_point(
        at,
        at_json,
        dtype=options["dtype"].value,
        seed=options["seed"],
        max_elements=options["max_elements"],
        stdin=stdin or sys.stdin,
        json_label=label,
    )


def _library_options(command: str, options: dict) -> dict:
    """The keyword arguments of the library call for this command's options."""
    kw: dict[str, Any] = {} if command == "eval" else {"wrt": wrt_names(options["wrt"])}
    if options.get("intermediates"):
        kw["intermediates"] = True
    if options.get("explain"):
        kw["explain"] = options["explain"].value
    if command == "jacobian":
        kw["mode"] = options["mode"].value if "mode" in options else "auto"
    if command == "vjp":
        kw["v"] = read_point(options, [f"v={options['v']}"])["v"]
    if command == "jvp":
        kw["tangents"] = read_point(options, [options["v"]])
    return kw


def wrt_names(wrt: str | None) -> tuple[str, ...] | None:
    """The names of --wrt ("w, b" -> ("w", "b")), or None when not given."""
    return None if wrt is None else tuple(n.strip() for n in wrt.split(",") if n.strip())


# -- the plainest command lines, without typer ----------------------------------------------

# The tables below repeat, for `quick`, part of what app.py declares for typer (which
# `quick` must not import); tests/test_cli_quick.py checks them against typer's declarations
# and runs generated command lines both ways, so the two cannot drift.

#: What typer gives a command for every option not on the command line (a test checks
#: that these are exactly the defaults of the declared commands).
DEFAULTS: dict[str, Any] = dict(
    expression=None,
    file=None,
    at=None,
    at_json=None,
    seed=None,
    wrt=None,
    dtype=DType.float64,
    json=False,
    check=None,
    check_timeout=5.0,
    latex=False,
    strict=False,
    max_elements=10**8,
    max_iterations=100_000,
    max_memory=None,
    time_limit=60.0,
    points=None,
    points_format=None,
    output=None,
    output_format=None,
    progress=None,
    engine=Engine.local,
    jobs=None,
    scheduler=None,
)
OWN_DEFAULTS: dict[str, dict[str, Any]] = {
    "eval": {},
    "hessian": {},
    "grad": dict(intermediates=False, explain=None),
    "jacobian": dict(mode=Mode.auto),
}
#: The options with a value that `quick` reads: option -> the command's parameter (--at is
#: repeatable, the others take their last value, as typer's; --dtype one of `DType`).
QUICK_VALUED = {"--at": "at", "--wrt": "wrt", "--dtype": "dtype", "--points": "points"}
#: The flags that `quick` reads: option -> (the command's parameter, its value).
QUICK_FLAGS = {"--json": ("json", True), "--check": ("check", True), "--no-check": ("check", False)}


def quick(argv: list[str]) -> int | None:
    """Run `gradcli CMD EXPR [--at A]… [--wrt W] [--dtype D] [--points P] [--json]
    [--check/--no-check]` as the typer command would, without loading typer (start-up is
    most of a one-shot run); None for anything else, which typer then parses."""
    if not argv or argv[0] not in OWN_DEFAULTS:
        return None
    options = {**DEFAULTS, **OWN_DEFAULTS[argv[0]]}
    at, expression, args = [], None, iter(argv[1:])
    for token in args:
        name, eq, value = token.partition("=")
        if token == "--":
            rest = list(args)
            if len(rest) != 1 or expression is not None:
                return None
            expression = rest[0]
        elif token in QUICK_FLAGS:
            key, flag = QUICK_FLAGS[token]
            options[key] = flag
        elif name in QUICK_VALUED:
            given = value if eq else next(args, None)
            if given is None:
                return None
            if name == "--at":
                at.append(given)
            elif name == "--dtype":
                if given not in DType.__members__:
                    return None
                options["dtype"] = DType(given)
            else:
                options[QUICK_VALUED[name]] = given
        elif (
            token.startswith("--")
            or (token[:1] == "-" and token[1:2].isalpha())
            or expression is not None
        ):
            return None  # another option, a short one, or a second expression: typer's
        else:
            expression = token
    if expression is None:
        return None
    options.update(expression=expression, at=at or None)
    return run(argv[0], options)
