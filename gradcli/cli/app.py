"""The `gradcli` command line: thin typer commands over one shared runner.

Every command takes the common options (`_common`) plus its own, and hands them all to
the runner (`run.run`), which loads the program and the point, calls the library (or the
command's own body: `graph` and `plot` in `visual.py`) and gives the result to the output
layer. `GradcliError` becomes the exit code there; errors that the option parser finds
(typer's own) are reported the same way by `GradcliGroup`. Only declarations live here:
nothing in cli/ imports this module but the entry point (`__init__.py`).
"""

import difflib
import inspect
import re
import sys
from itertools import islice
from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup, TyperOption

from ..errors import GradcliError, UsageError
from .run import DType, Engine, ExplainLevel, Mode, report, run
from .visual import GraphFormat, graph_command, plot_command

#: Options whose value may be left out: the bare flag stands for this value.
OPTIONAL_VALUE = {"--explain": "brief"}


# -- arguments starting with '-' -------------------------------------------------------------


class GradcliGroup(TyperGroup):
    """The app: every usage error, the option parser's included, is reported as gradcli
    reports errors (the `{"error": …}` document under --json, exit 2)."""

    def main(
        self,
        args=None,
        prog_name=None,
        complete_var=None,
        standalone_mode=True,
        windows_expand_args=True,
        **extra,
    ):
        args = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except _click.exceptions.NoArgsIsHelpError as e:  # the help is printed already
            code = e.exit_code
        except _click.ClickException as e:
            code = report(usage_error(e), json="--json" in args)
        except GradcliError as e:
            code = report(e, json="--json" in args)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            code = 1
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def usage_error(e: "_click.ClickException") -> UsageError:
    """The option parser's error as gradcli's, with a hint."""
    ctx = getattr(e, "ctx", None)
    path = ctx.command_path if ctx is not None else "gradcli"
    hint = f"{path} --help lists the options, with examples"
    if isinstance(e, _click.exceptions.NoSuchOption):
        close = closest(e.option_name, _option_names(ctx))
        return UsageError(e.message, hint=f"did you mean {close}?" if close else hint)
    if isinstance(e, _click.exceptions.BadParameter) and e.param is not None:
        choices = getattr(e.param.type, "choices", None)
        if choices:
            hint = f"{e.param.opts[0]} takes one of: {', '.join(map(str, choices))}"
        elif described := getattr(e.param, "help", None):  # (typer's options and arguments)
            give = "give " * isinstance(e, _click.exceptions.MissingParameter)
            usage = " ".join(filter(None, [e.param.opts[0], e.param.metavar]))
            hint = f"{give}{usage}: {_unmarked(described)}"
        return UsageError(e.format_message().rstrip("."), hint=hint)
    message = e.format_message()
    if message.startswith("No such command"):
        names = list(ctx.command.commands) if ctx is not None else []
        close = closest(message.split("'")[1] if "'" in message else "", names)
        hint = f"did you mean {close}?" if close else "the commands: " + ", ".join(names)
        message = message.split(".")[0]  # without click's own suggestion
    return UsageError(message.rstrip("."), hint=hint)


def closest(word: str, names: list[str]) -> str | None:
    """The names nearest to `word` ("--at or --at-json"), or None."""
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.7)
    return " or ".join(close) if close else None


def _option_names(ctx) -> list[str]:
    if ctx is None:
        return []
    return [
        name
        for p in ctx.command.get_params(ctx)
        if p.param_type_name == "option"
        for name in (*p.opts, *p.secondary_opts)
        if name.startswith("--")
    ]


def _unmarked(text: str) -> str:
    """Help text without its rich markup."""
    return re.sub(r"\[/?[a-z ]*\]", "", text)


class ExprCommand(TyperCommand):
    """A command whose positional expression may start with '-' (`grad "-x^2" --at x=1`).

    click reads every token starting with '-' as an option. Here a token is an option only
    if it is one of the command's option names (`--at`, `--at=x=1`, `-f`) or looks like a
    long option (`--frobnicate`, which click then rejects); any other token starting with
    '-' is the expression, moved after a `--` so that click takes it as the argument.
    Option values (`--v -1e-3`, `--at x=-1`) are consumed by their option either way.
    Arguments after the expression are refused with a hint (`x=3`: did you mean --at x=3?).
    """

    allow_extra_args = True  # refused in parse_args, with a hint

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        args = [f"{a}={OPTIONAL_VALUE[a]}" if a in OPTIONAL_VALUE else a for a in args]
        rest = super().parse_args(ctx, self.positionals_last(ctx, args))
        if rest:
            raise self.extra_arguments(ctx, rest)
        return rest

    def extra_arguments(self, ctx, extra: list[str]) -> UsageError:
        first = extra[0]
        if "=" in first and first.split("=", 1)[0].strip().isidentifier():
            hint = f"did you mean --at {first}?"
        elif first.startswith("-"):
            close = closest(first, _option_names(ctx))
            hint = (
                f"did you mean {close}?"
                if close
                else f"{ctx.command_path} --help lists the options, with examples"
            )
        else:
            hint = (
                f"the expression is one argument: quote it, as in {ctx.command_path} "
                '"x + 1" --at x=2'
            )
        return UsageError(
            f"unexpected argument{'s' * (len(extra) > 1)} after the expression: {' '.join(extra)}",
            hint=hint,
        )

    def positionals_last(self, ctx, args: list[str]) -> list[str]:
        takes_value = {
            name: not p.is_flag
            for p in self.get_params(ctx)
            if isinstance(p, TyperOption)
            for name in (*p.opts, *p.secondary_opts)
        }
        takes_value.update(dict.fromkeys(ctx.help_option_names, False))
        options: list[str] = []
        positionals: list[str] = []
        tokens = iter(args)
        for token in tokens:
            if token == "--":
                positionals.extend(tokens)
            elif token.split("=", 1)[0] in takes_value or (
                token.startswith("--") and token[2:3].isalpha()
            ):
                options.append(token)
                if takes_value.get(token):
                    options.extend(islice(tokens, 1))
            else:
                positionals.append(token)
        if not any(p.startswith("-") and p != "-" for p in positionals):
            return args
        return [*options, "--", *positionals]


# -- options ---------------------------------------------------------------------------------

Expression = Annotated[
    str | None,
    typer.Argument(
        metavar="EXPR",
        show_default=False,
        help="The expression, or a program with statements separated by [bold]; [/]or newlines.",
    ),
]
File = Annotated[
    str | None,
    typer.Option(
        "--file", "-f", metavar="FILE", help="Read the program from FILE ([bold]-[/] for stdin)."
    ),
]
At = Annotated[
    list[str] | None,
    typer.Option(
        "--at",
        metavar="NAME=VALUE",
        show_default=False,
        help="Bind variables; repeatable, several per flag separated by commas. VALUE is a "
        "number ([bold]-1.5[/], [bold]pi/4[/]), a nested list ([bold][[1,2],[3,4]][/]), a "
        "constructor ([bold]ones(2,2)[/], [bold]eye(3)[/], [bold]randn(3)[/] …) or a file "
        "([bold]@x.npy[/], [bold]@x.json[/], [bold]@x.csv[/]).",
    ),
]
AtJson = Annotated[
    str | None,
    typer.Option(
        "--at-json", metavar="FILE|-", help="A JSON object of bindings ([bold]-[/] for stdin)."
    ),
]
Seed = Annotated[
    int | None,
    typer.Option(min=0, help="Seed for randn and rand in values (a whole number, 0 or more)."),
]
Wrt = Annotated[
    str | None,
    typer.Option(
        metavar="NAME[,NAME]",
        help="Differentiate with respect to these variables "
        "[dim](default: every free variable)[/].",
    ),
]
DTypeOption = Annotated[DType, typer.Option(help="Floating-point type of the computation.")]
Json = Annotated[bool, typer.Option("--json", help="Strict JSON on stdout, for pipelines.")]
Check = Annotated[
    bool | None,
    typer.Option(
        "--check/--no-check",
        show_default=False,
        help="Force or turn off the cross-check against sympy and finite differences "
        "[dim](default: on for people when at most 64 scalar inputs, off for --json and "
        "batches)[/].",
    ),
]


def _seconds(param: typer.CallbackParam, value: float) -> float:
    """The callback of the options in seconds, checked as the library checks them:
    --time-limit a positive number, --check-timeout from 0 to `api.MAX_SECONDS`."""
    from ..api import positive_seconds, seconds

    check = positive_seconds if param.name == "time_limit" else seconds
    return check(value, param.opts[0])


CheckTimeout = Annotated[
    float,
    typer.Option(
        "--check-timeout",
        metavar="SECONDS",
        callback=_seconds,
        help="Time limit of the symbolic part of the check (sympy stops and is skipped).",
    ),
]
Latex = Annotated[bool, typer.Option("--latex", help="Formulas as LaTeX.")]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Out-of-domain values (log(-1), 1/0) are errors, not warnings."),
]
MaxElements = Annotated[int, typer.Option(min=1, help="Largest number of elements per array.")]
MaxMemory = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Memory budget of the recorded graph (and of a derivative's JSON), e.g. 8GB "
        "[dim](default: 4 GiB, or half the physical memory if less)[/].",
    ),
]


TimeLimit = Annotated[
    float,
    typer.Option(
        "--time-limit",
        metavar="SECONDS",
        callback=_seconds,
        help="Time limit of the whole run: parsing, evaluation and derivatives.",
    ),
]
MaxIterations = Annotated[
    int, typer.Option(min=1, help="Largest number of loop iterations in a run of a program.")
]
Points = Annotated[
    str | None,
    typer.Option(
        "--points",
        metavar="FILE|-",
        help="Batch: NDJSON (one object of bindings a line; - reads stdin), or CSV, Parquet, "
        "Arrow/Feather, .npz by the extension (a column a variable); writes one JSON "
        "object a line, or --output FILE.",
    ),
]
PointsFormat = Annotated[
    str | None,
    typer.Option(
        "--points-format",
        metavar="FORMAT",
        help="The format of --points when its extension does not say: ndjson, csv, parquet, "
        "arrow, npz.",
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        metavar="FILE",
        help="Batch: write the results to FILE (.ndjson, .csv, .parquet, .arrow/.feather, "
        ".npz), one row a point: line, value, gradient.x, …, error.",
    ),
]
OutputFormat = Annotated[
    str | None,
    typer.Option(
        "--output-format",
        metavar="FORMAT",
        help="The format of --output when its extension does not say.",
    ),
]
Progress = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        show_default=False,
        help="Batch: a progress bar on stderr (default: on a terminal, without --json).",
    ),
]
EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="Batch: local (this process) or dask (a cluster; --output is then a Parquet "
        "dataset, --points a directory or glob of Parquet files).",
    ),
]
Jobs = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        metavar="N",
        show_default=False,
        help="Batch of NDJSON to stdout: evaluate its chunks in N processes, written in order "
        "(default: one a core this process may use, up to 8; 1: this process alone).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="--engine dask: the scheduler of a running cluster (default: a local cluster).",
    ),
]
Intermediates = Annotated[
    bool, typer.Option("--intermediates", help="Also the gradients of the names a program assigns.")
]
Explain = Annotated[
    ExplainLevel | None,
    typer.Option(
        "--explain",
        metavar="[=full]",
        show_default=False,
        help="Then the backward pass step by step, in the order it runs (chains folded; "
        "[bold]--explain=full[/] shows every step).",
    ),
]


def _common(
    expression: Expression = None,
    file: File = None,
    at: At = None,
    at_json: AtJson = None,
    seed: Seed = None,
    wrt: Wrt = None,
    dtype: DTypeOption = DType.float64,
    json: Json = False,
    check: Check = None,
    check_timeout: CheckTimeout = 5.0,
    latex: Latex = False,
    strict: Strict = False,
    max_elements: MaxElements = 10**8,
    max_iterations: MaxIterations = 100_000,
    max_memory: MaxMemory = None,
    time_limit: TimeLimit = 60.0,
    points: Points = None,
    points_format: PointsFormat = None,
    output: Output = None,
    output_format: OutputFormat = None,
    progress: Progress = None,
    engine: EngineOption = Engine.local,
    jobs: Jobs = None,
    scheduler: Scheduler = None,
):
    """The options every command takes (a signature only; see `_command`)."""


# -- commands --------------------------------------------------------------------------------

APP: dict[str, Any] = dict(
    name="gradcli",
    no_args_is_help=True,
    rich_markup_mode="rich",
    cls=GradcliGroup,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Gradients from the command line: evaluate an expression or a short program at a "
    "point, run reverse or forward mode, print the value and the derivatives.\n\n"
    '[bold]gradcli grad "3*(x+2)**2 | mean" --at "x=ones(2,2)"[/]\n\n'
    "Exit codes: 0 success, 1 evaluation error, 2 usage or parse error, "
    "3 cross-check disagreement.",
)
app = typer.Typer(**APP)
COMMANDS: dict = {}  # name -> (the command's function, typer's keyword arguments)


def package_version() -> str:
    """gradcli's version: the installed distribution's, else the source tree's
    (pyproject.toml next to the package), else "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gradcli")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        try:
            text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
            return tomllib.loads(text)["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _version(show: bool) -> None:
    if show:
        from ..engine.kernels import describe

        typer.echo(f"gradcli {package_version()}\nsin and cos: {describe()}")
        raise typer.Exit()


@app.callback()
def _app(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
):
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
    # typer reads the options from the signature that inspect gives, the function's own
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            p.replace(kind=p.KEYWORD_ONLY)
            for p in (
                *(q for n, q in inspect.signature(_common).parameters.items() if n not in own),
                *own.values(),
            )
        ]
    )
    help_text, _, examples = fn.__doc__.partition("Examples:")
    settings = dict(
        cls=ExprCommand,
        help=help_text.strip(),
        epilog=f"[bold]Examples[/]\n\n{inspect.cleandoc(examples)}",
    )
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
def vjp(
    v: Annotated[
        str,
        typer.Option(
            "--v",
            metavar="VALUE",
            show_default=False,
            help="The cotangent v, shaped like the output: [bold]ones(5,5)[/], "
            "[bold][0.1, 1.0][/] …",
        ),
    ],
    intermediates: Intermediates = False,
    explain: Explain = None,
):
    """Vector-Jacobian product vᵀJ (reverse mode) for each variable.

    Examples:
    gradcli vjp "(x+1)**2" --at "x=eye(5)" --v "ones(5,5)"

    gradcli vjp -f samples/doubling.grad --at "x=[-0.9618, -3.3220, -0.6637]" --v "[0.1, 1.0, 0.0001]"
    """  # noqa: E501 - an example command line is shown whole, as it is typed


@_command
def jvp(
    v: Annotated[
        str,
        typer.Option(
            "--v",
            metavar="NAME=VALUE,...",
            show_default=False,
            help="One tangent per variable, shaped like it ([bold]x=1[/], "
            "[bold]x=ones(2,2), y=0[/]); tangents not given are zero.",
        ),
    ],
):
    """Jacobian-vector product J·v (forward mode), shaped like the output.

    Examples:
    gradcli jvp "sin(x) * y" --at "x=0, y=2" --v "x=1"

    gradcli jvp "(x+1)**2" --at "x=eye(2)" --v "x=ones(2,2)" --json
    """


@_command
def jacobian(
    mode: Annotated[
        Mode,
        typer.Option(
            help="Reverse mode (one pass per output element), forward mode (one pass per input "
            "element), or whichever is cheaper."
        ),
    ] = Mode.auto,
):
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
def diff(
    order: Annotated[
        int, typer.Option(min=1, help="The order of the derivative (above 1 for scalar variables).")
    ] = 1,
):
    """The symbolic derivative alone, by sympy: no point needed.

    Variables are scalars unless --at gives them a value (its shape; the derivative is then
    also evaluated there).

    Examples:
    gradcli diff "x*x + 3*x + 1" --wrt x

    gradcli diff "sin(x) * exp(y)" --wrt x --order 2 --latex

    gradcli diff "3*(x+2)**2 | mean" --wrt x --at "x=ones(2,2)"
    """


@app.command(
    "functions",
    help="The functions of the language, one line each: the call, "
    "what it does, and the rule its gradient follows.",
    epilog="[bold]Examples[/]\n\ngradcli functions\n\ngradcli functions --json",
)
def functions(json: Json = False) -> None:
    def listing(command: str, options: dict, out) -> int:
        out.functions(function_rows())
        return 0

    raise typer.Exit(run("functions", {"json": json, "points": None, "output": None}, listing))


@_command(runner=graph_command)
def graph(
    fmt: Annotated[
        GraphFormat,
        typer.Option(
            "--format",
            help="tree (rich, in the terminal), dot (Graphviz), mermaid, or json "
            "(nodes and edges; --json too).",
        ),
    ] = GraphFormat.tree,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE; [bold].svg[/], [bold].png[/] and [bold].pdf[/] are drawn "
            "with Graphviz's dot program.",
        ),
    ] = None,
    v: Annotated[
        str | None,
        typer.Option(
            "--v",
            metavar="VALUE",
            show_default=False,
            help="The cotangent backward starts from, shaped like the output "
            "[dim](default: ones, the gradient of the sum)[/].",
        ),
    ] = None,
    fold: Annotated[
        bool,
        typer.Option(
            "--fold/--no-fold", help="Fold chains of one operation into one line of the tree."
        ),
    ] = True,
):
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


@_command(runner=plot_command)
def plot(
    range_: Annotated[
        str,
        typer.Option(
            "--range",
            metavar="LO:HI[,LO:HI]",
            help="The interval of each variable ([bold]-3:3[/], [bold]-pi:pi[/]); one "
            "for all, or one per variable.",
        ),
    ] = "-3:3",
    order: Annotated[
        int, typer.Option(min=1, max=2, help="Also the second derivative (one variable).")
    ] = 1,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write a [bold].png[/], [bold].svg[/] or [bold].pdf[/] with matplotlib "
            "(pip install 'gradcli\\[plot]') instead of drawing in the terminal.",
        ),
    ] = None,
    points: Annotated[
        int | None,
        typer.Option(
            "--points",
            metavar="N",
            min=2,
            max=100_000,
            show_default=False,
            help="Grid points per variable [dim](default 201; 41 per axis for two)[/].",
        ),
    ] = None,
):
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


def function_rows() -> list[dict]:
    """Each function of the language (FUNCTIONS), by name: its call, the first line of its
    docstring, the rule of its primitive in the table (engine/ops.py, `explain`) and the
    function it is another name for."""
    from ..engine.functions import FUNCTIONS
    from ..engine.ops import PRIMITIVES

    rows = []
    for name, fn in sorted(FUNCTIONS.items()):
        params = inspect.signature(fn).parameters.values()
        call = ", ".join(str(p.replace(annotation=p.empty)) for p in params)
        target = fn.__name__
        primitive = PRIMITIVES.get(target)
        rows.append(
            {
                "name": name,
                "call": f"{name}({call})",
                "description": (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " "),
                "derivative": primitive.explain or None if primitive else None,
                "alias_of": target if target != name and target in FUNCTIONS else None,
            }
        )
    return rows


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


def _run(command: str, options: dict, runner=None) -> None:
    raise typer.Exit(run(command, options, runner))
