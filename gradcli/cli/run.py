"""The one runner behind every command: load the program and the point, call the library,
hand the result to the output layer, and turn every outcome into an exit code.

It knows nothing of typer: `app.py` declares the commands over it, and `quick` runs the
plainest one-shot command lines (`gradcli grad EXPR --at … --json`) without loading typer.
"""

import io
import os
import sys
import traceback
import warnings
from enum import Enum
from operator import itemgetter

import numpy as np

from ..errors import GradcliError, UsageError


class InternalError(GradcliError):
    """Anything unexpected: a bug in gradcli, never the user's fault."""


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"


class Mode(str, Enum):
    auto = "auto"
    rev = "rev"
    fwd = "fwd"


class ExplainLevel(str, Enum):
    brief = "brief"
    full = "full"


# -- the one runner --------------------------------------------------------------------------

def run(command: str, options: dict, runner=None) -> int:
    """Run one command; every outcome ends here as an exit code (a closed pipe or a full
    disk under the output too: see `output.ended`)."""
    from . import output

    try:
        code = _outcome(command, options, runner)
        sys.stdout.flush()
    except OSError as e:
        if not output.write_failed(e):
            raise
        return output.ended(e)
    return code


def _outcome(command: str, options: dict, runner=None) -> int:
    # NumPy's own RuntimeWarnings ("Mean of empty slice") would reach the user with a path
    # into site-packages; gradcli's domain warnings say what happened, and where
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    from . import output

    batch = runner is None and options["points"] is not None
    out = output.JsonOutput() if options["json"] or batch else output.RichOutput()
    try:
        code = (runner or (_batch if batch else _single))(command, options, out)
    except GradcliError as e:
        out.error(e)
        code = e.exit_code
    except Exception as e:  # a bug: no traceback for users unless they ask
        if output.write_failed(e):
            raise
        if os.environ.get("GRADCLI_DEBUG"):
            traceback.print_exc()
        out.error(InternalError(
            f"internal error: {type(e).__name__}: {e}",
            hint="this is a bug in gradcli; please report it with the command you ran "
                 "(GRADCLI_DEBUG=1 shows the traceback)"))
        code = 1
    return code


def _single(command: str, options: dict, out) -> int:
    from .output import disagrees

    prog = _compile(options)
    if command == "diff":
        out.symbolic(_diff(prog, options))
        return 0
    point = _point(options)
    if command == "check":  # the gradient of a scalar output, else the Jacobian
        with_grad = prog.eval(point).value.size == 1
        derivative = "grad" if with_grad else "jacobian"
        result = getattr(prog, derivative)(point, **_library_options(derivative, options))
    else:
        result = getattr(prog, command)(point, **_library_options(command, options))
    if command in CHECKED:
        _cross_check(prog, result, options, forced=command == "check",
                     default=not options["json"])
    out.result(result, command=command)
    return 3 if disagrees(result) else 0


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
            result.check_skipped = (f"{inputs} scalar inputs (more than {CHEAP_CHECK}); "
                                    "--check runs it anyway")
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
    names = _names(options["wrt"]) or prog.free_vars
    point = None
    if options["at"] or options["at_json"]:  # shapes (and a point) from --at; others scalars
        given = _point(options)
        point = {n: given.get(n, 0.0) for n in prog.free_vars}
    derivatives = {}
    expression = None
    for name in names:
        d = prog.symbolic(name, order=options["order"], point=point, latex=options["latex"],
                          timeout=options["check_timeout"])
        expression = d["expression"]
        derivatives[name] = {k: v for k, v in d.items() if k != "expression"}
    return {"command": "diff", "expression": prog.text, "order": options["order"],
            "point": point, "latex": options["latex"], "symbolic": expression,
            "derivatives": derivatives}


def _batch(command: str, options: dict, out) -> int:
    """NDJSON in, NDJSON out, in order; bad lines become error lines and the rest go on."""
    from .output import batch_progress, disagrees

    if options["points"] == "-" == options["at_json"]:
        raise UsageError("--points - and --at-json - cannot both read standard input")
    if options.get("explain"):
        raise UsageError("--explain shows the backward pass at one point, not a batch",
                         hint="give the point with --at")
    prog = _compile(options)
    shared = _point(options) if options["at"] or options["at_json"] else {}
    text = _read(options["points"], "points file")
    if _column_batch(prog, command, options, text, shared, out):
        return 0
    lines = [line for line in text.splitlines() if line.strip()]
    items: list = [None] * len(lines)
    good = []
    for i, line in enumerate(lines):
        try:
            good.append((i, {**shared, **_point(options, [], "-", io.StringIO(line),
                                                label="this line of --points")}))
        except GradcliError as e:
            items[i] = e
    if command == "diff":
        raise UsageError("diff takes no --points", hint="give the shapes with --at")
    if (options["check"] or command == "check") and len(good) > 1:
        import sympy  # noqa: F401  (once here: each check's forked child inherits it)
    with batch_progress(len(lines)) as tick:
        if good:
            results = _batch_results(prog, command, [p for _, p in good], options)
            for (i, _), item in zip(good, results):
                items[i] = item
        for i, item in enumerate(items):
            if command in CHECKED and (options["check"] or command == "check") and \
                    not isinstance(item, GradcliError):
                _cross_check(prog, item, options, forced=True, default=False)
            out.batch_item(i, item, command=command)
            tick(i + 1)
    if any(isinstance(item, GradcliError) for item in items):
        return 1
    return 3 if any(disagrees(item) for item in items) else 0


def _column_batch(prog, command: str, options: dict, text: str, shared: dict,
                  out) -> bool:
    """Points of plain numbers for an elementwise expression: read, evaluated and written
    column-wise, in one pass each; False when that does not apply (the general path then
    handles every line, and reports the bad ones)."""
    from ..batch import columns
    from ..lang.points import check_name

    if command not in ("eval", "grad") or options["check"] or options.get("explain") \
            or options.get("intermediates") or options["dtype"].value != "float64" \
            or any(np.ndim(v) for v in shared.values()):
        return False
    rows = _number_rows(text)
    if not rows or any(k in shared for k in rows[0]):
        return False
    try:
        for name in rows[0]:
            check_name(name)
    except GradcliError:
        return False
    try:
        cols = {k: np.fromiter(map(itemgetter(k), rows), np.float64, len(rows))
                for k in rows[0]}
    except (TypeError, ValueError):  # an array or a string among the values
        return False
    cols.update({k: np.full(len(rows), v, np.float64) for k, v in shared.items()})
    got = columns(prog, command, cols, _names(options["wrt"]))
    if got is None:
        return False
    out.batch_columns(got, command)
    return True


def _number_rows(ndjson: str) -> list[dict] | None:
    """Each line's JSON object, if every line holds one with the same names, each once,
    all plain numbers; else None (the general path then reads, and judges, line by line;
    blank lines too, which make the text below invalid JSON)."""
    import orjson

    body = ndjson.rstrip("\n")
    count = body.count("\n") + 1
    text = "[" + body.replace("\n", ",") + "]"
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if len(rows) != count or not rows or type(rows[0]) is not dict:
        return None
    keys = rows[0].keys()
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(keys)}:
        return None
    # Every row has as many names as the first. Names are the only strings (the literals
    # true/false/null, which bools would pass as 0 and 1, and strings such as "NaN" or
    # "2.5", which NumPy would read as numbers, send every line the general way), and
    # each of the first row's names is written once a line: so each row has those names,
    # each once (orjson keeps the last of a name given twice: such a line must fail)
    if "true" in text or "false" in text or "null" in text \
            or text.count('"') != 2 * len(keys) * len(rows) \
            or any(text.count(f'"{k}"') != len(rows) for k in keys):
        return None
    return rows


def _batch_results(prog, command: str, points: list[dict], options: dict) -> list:
    """The library's batch; for `check`, the gradient (scalar outputs) or the Jacobian of
    each point, which the check then compares."""
    if command != "check":
        return prog.batch(command, points, **_library_options(command, options))
    items = []
    for p in points:
        try:
            derivative = "grad" if prog.eval(p).value.size == 1 else "jacobian"
            items.append(getattr(prog, derivative)(p, **_library_options(derivative, options)))
        except GradcliError as e:
            items.append(e)
    return items


def _compile(options: dict):
    import gradcli as gc

    text = _program_text(options)
    return gc.compile(text, dtype=options["dtype"].value,
                      strict=options["strict"], max_elements=options["max_elements"],
                      max_iterations=options["max_iterations"])


def _program_text(options: dict) -> str:
    expression, file = options["expression"], options["file"]
    if expression is not None and file is not None:
        raise UsageError("give the expression or a program file (-f FILE), not both")
    if expression is None and file is None:
        raise UsageError("missing the expression",
                         hint='gradcli grad "x**2" --at x=3, or a program file: '
                              'gradcli grad -f prog.grad --at x=3')
    return expression if file is None else _read(file, "program file").rstrip()


def _read(path: str, what: str) -> str:
    """The text of a file, or of stdin for '-'."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the {what} {path!r}: {getattr(e, 'strerror', e)}")


def _point(options: dict, at: list[str] | None = None, at_json: str | None = None,
           stdin=None, label: str | None = None) -> dict:
    """The point of --at/--at-json, or of the given bindings (for --v and batch lines,
    `label` naming the line in messages)."""
    from ..lang.points import load_point

    if at is None:
        at, at_json = options["at"] or [], options["at_json"]
    return load_point(at, at_json, dtype=options["dtype"].value, seed=options["seed"],
                      max_elements=options["max_elements"], stdin=stdin or sys.stdin,
                      json_label=label)


def _library_options(command: str, options: dict) -> dict:
    """The keyword arguments of the library call for this command's options."""
    kw = {} if command == "eval" else {"wrt": _names(options["wrt"])}
    if options.get("intermediates"):
        kw["intermediates"] = True
    if options.get("explain"):
        kw["explain"] = options["explain"].value
    if command == "jacobian":
        kw["mode"] = options["mode"].value if "mode" in options else "auto"
    if command == "vjp":
        kw["v"] = _point(options, [f"v={options['v']}"])["v"]
    if command == "jvp":
        kw["tangents"] = _point(options, [options["v"]] if options["v"] else [])
    return kw


def _names(wrt: str | None) -> tuple[str, ...] | None:
    return None if wrt is None else tuple(n.strip() for n in wrt.split(",") if n.strip())




# -- the plainest command lines, without typer ----------------------------------------------

#: What typer gives a command for every option not on the command line (a test checks
#: that these are exactly the defaults of the declared commands).
DEFAULTS = dict(expression=None, file=None, at=None, at_json=None, seed=None, wrt=None,
                dtype=DType.float64, json=False, check=None, check_timeout=5.0, latex=False,
                strict=False, max_elements=10**8, max_iterations=100_000, points=None)
OWN_DEFAULTS = {"eval": {}, "hessian": {}, "grad": dict(intermediates=False, explain=None),
                "jacobian": dict(mode=Mode.auto)}
_VALUED = {"--at": "at", "--wrt": "wrt", "--dtype": "dtype", "--points": "points"}
_FLAGS = {"--json": ("json", True), "--check": ("check", True), "--no-check": ("check", False)}


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
        elif token in _FLAGS:
            key, flag = _FLAGS[token]
            options[key] = flag
        elif name in _VALUED:
            value = value if eq else next(args, None)
            if value is None:
                return None
            if name == "--at":
                at.append(value)
            elif name == "--dtype":
                if value not in DType.__members__:
                    return None
                options["dtype"] = DType(value)
            else:
                options[_VALUED[name]] = value
        elif token.startswith("--") or (token[:1] == "-" and token[1:2].isalpha()) \
                or expression is not None:
            return None  # another option, a short one, or a second expression: typer's
        else:
            expression = token
    if expression is None:
        return None
    options.update(expression=expression, at=at or None)
    return run(argv[0], options)
