"""The `gradcli` command line: thin typer commands over one shared runner.

Every command takes the common options (`_common`) plus its own, and hands them all to
`_run`, which loads the program and the point, calls the library and gives the Result to
the output layer. `GradcliError` becomes the exit code there and only there.
"""

import inspect
import io
import os
import sys
import traceback
from enum import Enum
from itertools import islice
from typing import Annotated, Optional

import numpy as np
import typer
from typer import _click
from typer.core import TyperCommand, TyperOption

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


#: Options whose value may be left out: the bare flag stands for this value.
OPTIONAL_VALUE = {"--explain": "brief"}


# -- arguments starting with '-' -------------------------------------------------------------

class ExprCommand(TyperCommand):
    """A command whose positional expression may start with '-' (`grad "-x^2" --at x=1`).

    click reads every token starting with '-' as an option. Here a token is an option only
    if it is one of the command's option names (`--at`, `--at=x=1`, `-f`) or looks like a
    long option (`--frobnicate`, which click then rejects); any other token starting with
    '-' is the expression, moved after a `--` so that click takes it as the argument.
    Option values (`--v -1e-3`, `--at x=-1`) are consumed by their option either way.
    """

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        try:
            args = [f"{a}={OPTIONAL_VALUE[a]}" if a in OPTIONAL_VALUE else a for a in args]
            return super().parse_args(ctx, self.positionals_last(ctx, args))
        except _click.ClickException as e:
            if "--json" in args:
                from .output import dumps, error_doc

                print(dumps(error_doc(UsageError(e.format_message()))))
            raise

    def positionals_last(self, ctx, args: list[str]) -> list[str]:
        takes_value = {name: not p.is_flag
                       for p in self.get_params(ctx) if isinstance(p, TyperOption)
                       for name in (*p.opts, *p.secondary_opts)}
        options, positionals = [], []
        tokens = iter(args)
        for token in tokens:
            if token == "--":
                positionals.extend(tokens)
            elif token.split("=", 1)[0] in takes_value or (
                    token.startswith("--") and token[2:3].isalpha()):
                options.append(token)
                if takes_value.get(token):
                    options.extend(islice(tokens, 1))
            else:
                positionals.append(token)
        if not any(p.startswith("-") and p != "-" for p in positionals):
            return args
        return [*options, "--", *positionals]


# -- options ---------------------------------------------------------------------------------

Expression = Annotated[Optional[str], typer.Argument(
    metavar="EXPR", show_default=False,
    help="The expression, or a program with statements separated by [bold]; [/]or newlines.")]
File = Annotated[Optional[str], typer.Option(
    "--file", "-f", metavar="FILE", help="Read the program from FILE ([bold]-[/] for stdin).")]
At = Annotated[Optional[list[str]], typer.Option(
    "--at", metavar="NAME=VALUE", show_default=False,
    help="Bind variables; repeatable, several per flag separated by commas. VALUE is a "
         "number ([bold]-1.5[/], [bold]pi/4[/]), a nested list ([bold][[1,2],[3,4]][/]), a "
         "constructor ([bold]ones(2,2)[/], [bold]eye(3)[/], [bold]randn(3)[/] …) or a file "
         "([bold]@x.npy[/], [bold]@x.json[/], [bold]@x.csv[/]).")]
AtJson = Annotated[Optional[str], typer.Option(
    "--at-json", metavar="FILE|-", help="A JSON object of bindings ([bold]-[/] for stdin).")]
Seed = Annotated[Optional[int], typer.Option(help="Seed for randn and rand in values.")]
Wrt = Annotated[Optional[str], typer.Option(
    metavar="NAME[,NAME]", help="Differentiate with respect to these variables "
                                "[dim](default: every free variable)[/].")]
DTypeOption = Annotated[DType, typer.Option(help="Floating-point type of the computation.")]
Json = Annotated[bool, typer.Option("--json", help="Strict JSON on stdout, for pipelines.")]
Check = Annotated[Optional[bool], typer.Option(
    "--check/--no-check", show_default=False,
    help="Force or turn off the cross-check against sympy and finite differences "
         "[dim](default: on for people when at most 64 scalar inputs, off for --json and "
         "batches)[/].")]
CheckTimeout = Annotated[float, typer.Option(
    "--check-timeout", metavar="SECONDS", min=0.0,
    help="Time limit of the symbolic part of the check (sympy stops and is skipped).")]
Latex = Annotated[bool, typer.Option("--latex", help="Formulas as LaTeX.")]
Strict = Annotated[bool, typer.Option(
    "--strict", help="Out-of-domain values (log(-1), 1/0) are errors, not warnings.")]
MaxElements = Annotated[int, typer.Option(min=1, help="Largest number of elements per array.")]
MaxIterations = Annotated[int, typer.Option(
    min=1, help="Largest number of loop iterations in a run of a program.")]
Points = Annotated[Optional[str], typer.Option(
    "--points", metavar="FILE|-",
    help="Batch: NDJSON, one object of bindings a line; writes one JSON object a line.")]
Intermediates = Annotated[bool, typer.Option(
    "--intermediates", help="Also the gradients of the names a program assigns.")]
Explain = Annotated[Optional[ExplainLevel], typer.Option(
    "--explain", metavar="[=full]", show_default=False,
    help="Then the backward pass step by step, in the order it runs (chains folded; "
         "[bold]--explain=full[/] shows every step).")]


def _common(expression: Expression = None, file: File = None, at: At = None,
            at_json: AtJson = None, seed: Seed = None, wrt: Wrt = None,
            dtype: DTypeOption = DType.float64, json: Json = False, check: Check = None,
            check_timeout: CheckTimeout = 5.0, latex: Latex = False, strict: Strict = False, max_elements: MaxElements = 10**8,
            max_iterations: MaxIterations = 100_000, points: Points = None):
    """The options every command takes (a signature only; see `_command`)."""


# -- commands --------------------------------------------------------------------------------

APP = dict(
    name="gradcli", no_args_is_help=True, rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    help="Gradients from the command line: evaluate an expression or a short program at a "
         "point, run reverse or forward mode, print the value and the derivatives.\n\n"
         "[bold]gradcli grad \"3*(x+2)**2 | mean\" --at \"x=ones(2,2)\"[/]\n\n"
         "Exit codes: 0 success, 1 evaluation error, 2 usage or parse error, "
         "3 cross-check disagreement.")
app = typer.Typer(**APP)
COMMANDS: dict = {}  # name -> (the command's function, typer's keyword arguments)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"gradcli {version('gradcli')}")
        raise typer.Exit()


@app.callback()
def _app(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False):
    pass


def _command(fn=None, *, runner=None):
    """Register `fn` as a command taking the common options and its own.

    `fn` only declares: its signature adds the command's own options (one named like a
    common option replaces it), its docstring is the help, the text after "Examples:" the
    epilog. Every command runs `_run`; `runner(command, options, out) -> exit code`, if
    given, does the work in place of the library call (`@_command(runner=...)`).
    """
    if fn is None:
        return lambda f: _command(f, runner=runner)
    name = fn.__name__.rstrip("_")  # eval_ -> eval

    def command(**options) -> None:
        _run(name, options, runner)

    own = inspect.signature(fn).parameters
    command.__signature__ = inspect.Signature([
        p.replace(kind=p.KEYWORD_ONLY) for p in (
            *(q for n, q in inspect.signature(_common).parameters.items() if n not in own),
            *own.values())])
    help_text, _, examples = fn.__doc__.partition("Examples:")
    settings = dict(cls=ExprCommand, help=help_text.strip(),
                    epilog=f"[bold]Examples[/]\n\n{inspect.cleandoc(examples)}")
    COMMANDS[name] = (command, settings)
    return app.command(name, **settings)(command)


@_command
def eval_():
    """Evaluate an expression or a program at a point.

    Examples:
    gradcli eval "log(x) | sum" --at "x=[1, 2, 3]"

    gradcli eval -f samples/doubling.grad --at "x=[1, 2, 3]" --json
    """


@_command
def grad(intermediates: Intermediates = False, explain: Explain = None):
    """Gradient of a scalar output with respect to each variable.

    The output must hold one element: reduce with [bold]| sum[/] or [bold]| mean[/], or use
    [bold]vjp[/] or [bold]jacobian[/].

    Examples:
    gradcli grad "3*(x+2)**2 | mean" --at "x=ones(2,2)"

    gradcli grad "w*x + b" --at "x=1, w=2, b=3" --wrt w,b

    gradcli grad "-x^2" --at x=-1 --json
    """


@_command
def vjp(v: Annotated[str, typer.Option(
            "--v", metavar="VALUE", show_default=False,
            help="The cotangent v, shaped like the output: [bold]ones(5,5)[/], "
                 "[bold][0.1, 1.0][/] …")],
        intermediates: Intermediates = False, explain: Explain = None):
    """Vector-Jacobian product vᵀJ (reverse mode) for each variable.

    Examples:
    gradcli vjp "(x+1)**2" --at "x=eye(5)" --v "ones(5,5)"

    gradcli vjp -f samples/doubling.grad --at "x=[-0.9618, -3.3220, -0.6637]" --v "[0.1, 1.0, 0.0001]"
    """


@_command
def jvp(v: Annotated[Optional[str], typer.Option(
            "--v", metavar="NAME=VALUE,...", show_default=False,
            help="One tangent per variable, shaped like it; missing tangents are zero.")]
        = None):
    """Jacobian-vector product J·v (forward mode), shaped like the output.

    Examples:
    gradcli jvp "sin(x) * y" --at "x=0, y=2" --v "x=1"

    gradcli jvp "(x+1)**2" --at "x=eye(2)" --v "x=ones(2,2)" --json
    """


@_command
def jacobian(mode: Annotated[Mode, typer.Option(
        help="Reverse mode (one pass per output element), forward mode (one pass per input "
             "element), or whichever is cheaper.")] = Mode.auto):
    """Full Jacobian for each variable: output shape followed by the variable's shape.

    Examples:
    gradcli jacobian "(x+1)**2" --at "x=eye(2)"

    gradcli jacobian "softmax(x)" --at "x=[1, 2, 3]" --mode fwd --json
    """


@_command
def hessian():
    """Second derivatives of a scalar output for each pair of variables.

    Examples:
    gradcli hessian "x*x*y + y**3" --at "x=1, y=2"

    gradcli hessian "norm(x)" --at "x=[3, 4]" --json
    """


@_command
def check():
    """Cross-check autograd against sympy and central finite differences.

    The gradient for a scalar output, the Jacobian otherwise: the symbolic derivative as a
    formula, the largest differences, the tolerance and the verdict. Exit code 3 when they
    disagree, also at a point where the function is not differentiable (the verdict names
    the convention autograd used, such as relu'(0) = 0).

    Examples:
    gradcli check "x*x + 3*x + 1" --at x=2

    gradcli check "relu(x)" --at x=0

    gradcli check "softmax(x)" --at "x=[1, 2, 3]" --json
    """


@_command
def diff(order: Annotated[int, typer.Option(
        min=1, help="The order of the derivative (above 1 for scalar variables).")] = 1):
    """The symbolic derivative alone, by sympy: no point needed.

    Variables are scalars unless --at gives them a value (its shape; the derivative is then
    also evaluated there).

    Examples:
    gradcli diff "x*x + 3*x + 1" --wrt x

    gradcli diff "sin(x) * exp(y)" --wrt x --order 2 --latex

    gradcli diff "3*(x+2)**2 | mean" --wrt x --at "x=ones(2,2)"
    """


def main() -> None:
    """The `gradcli` console script. typer builds every registered command each time it
    runs; when the command is named, an app holding that one alone starts faster."""
    name = sys.argv[1] if len(sys.argv) > 1 else None
    target = app
    if name in COMMANDS:
        target = typer.Typer(**APP)
        target.callback()(_app)
        command, settings = COMMANDS[name]
        target.command(name, **settings)(command)
    target(prog_name="gradcli")


# -- the one runner --------------------------------------------------------------------------

def _run(command: str, options: dict, runner=None) -> None:
    """Run one command; every outcome ends here as an exit code."""
    from . import output

    batch = runner is None and options["points"] is not None
    out = output.JsonOutput() if options["json"] or batch else output.RichOutput()
    try:
        code = (runner or (_batch if batch else _single))(command, options, out)
    except GradcliError as e:
        out.error(e)
        code = e.exit_code
    except BrokenPipeError:
        raise
    except Exception as e:  # a bug: no traceback for users unless they ask
        if os.environ.get("GRADCLI_DEBUG"):
            traceback.print_exc()
        out.error(InternalError(
            f"internal error: {type(e).__name__}: {e}",
            hint="this is a bug in gradcli; please report it with the command you ran "
                 "(GRADCLI_DEBUG=1 shows the traceback)"))
        code = 1
    raise typer.Exit(code)


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
    lines = [line for line in _read(options["points"], "points file").splitlines()
             if line.strip()]
    if _column_batch(prog, command, options, lines, shared, out):
        return 0
    items: list = [None] * len(lines)
    good = []
    for i, line in enumerate(lines):
        try:
            good.append((i, {**shared, **_point(options, [], "-", io.StringIO(line))}))
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


def _column_batch(prog, command: str, options: dict, lines: list[str], shared: dict,
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
    rows = _number_rows(lines)
    if not rows or any(k in shared for k in rows[0]):
        return False
    try:
        for name in rows[0]:
            check_name(name)
    except GradcliError:
        return False
    cols = {k: np.fromiter((r[k] for r in rows), np.float64, len(rows)) for k in rows[0]}
    cols.update({k: np.full(len(rows), v, np.float64) for k, v in shared.items()})
    got = columns(prog, command, cols, _names(options["wrt"]))
    if got is None:
        return False
    out.batch_columns(got, command)
    return True


def _number_rows(lines: list[str]) -> list[dict] | None:
    """Each line's JSON object, if every line holds one with the same names, all numbers."""
    import json

    def unique(pairs):
        d = dict(pairs)
        if len(d) != len(pairs):
            raise ValueError("a name is bound twice")
        return d

    def refuse(constant):
        raise ValueError(constant)

    try:
        rows = json.loads("[" + ",".join(lines) + "]", object_pairs_hook=unique,
                          parse_constant=refuse)
    except (ValueError, RecursionError):
        return None
    if len(rows) != len(lines) or not rows or type(rows[0]) is not dict:
        return None
    keys = rows[0].keys()
    for r in rows:
        if type(r) is not dict or r.keys() != keys:
            return None
        for v in r.values():
            if type(v) is not float and type(v) is not int:
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
           stdin=None) -> dict:
    """The point of --at/--at-json, or of the given bindings (for --v and batch lines)."""
    from ..lang.points import load_point

    if at is None:
        at, at_json = options["at"] or [], options["at_json"]
    return load_point(at, at_json, dtype=options["dtype"].value, seed=options["seed"],
                      max_elements=options["max_elements"], stdin=stdin or sys.stdin)


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


from . import visual  # noqa: E402,F401  (registers graph and plot: gradcli/cli/visual.py)
