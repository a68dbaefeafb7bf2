"""The typer-free path for plain one-shot command lines hands the runner exactly the options
typer would, and declines everything else."""

import subprocess
import sys

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from gradcli.cli import app as app_module, run as run_module
from gradcli.cli.app import COMMANDS, _common, app

ARGVS = [
    ["grad", "x**2", "--at", "x=3", "--json"],
    ["grad", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)"],
    ["eval", "x + y", "--at", "x=1", "--at=y=2", "--wrt", "x", "--dtype", "float32"],
    ["jacobian", "(x+1)**2", "--at", "x=eye(2)", "--no-check", "--json"],
    ["hessian", "--json", "--at", "x=1, y=2", "--check", "--", "x**2*y"],
    ["grad", "x*y", "--points", "pts.ndjson", "--json", "--wrt=x"],
    ["eval", "x*y", "--points=-", "--at", "y=2"],
]


def typer_options(argv, monkeypatch):
    seen = {}
    monkeypatch.setattr(app_module, "run", lambda c, o, r=None: seen.update(c=c, o=o) or 0)
    CliRunner().invoke(app, argv)
    return seen["c"], seen["o"]


def quick_options(argv, monkeypatch):
    seen = {}
    monkeypatch.setattr(run_module, "run", lambda c, o, r=None: seen.update(c=c, o=o) or 0)
    assert run_module.quick(argv) == 0
    return seen["c"], seen["o"]


@pytest.mark.parametrize("argv", ARGVS)
def test_quick_gives_the_runner_what_typer_gives(argv, monkeypatch):
    assert quick_options(argv, monkeypatch) == typer_options(argv, monkeypatch)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["grad", "--help"],
        ["vjp", "x", "--v", "1"],
        ["grad", "-x^2", "--at", "x=1"],
        ["grad", "x", "--at"],
        ["grad", "x", "--frobnicate"],
        ["grad", "x", "y"],
        ["grad", "--dtype", "float16", "x"],
        ["grad", "-f", "prog.grad"],
        ["grad", "--at", "x=1"],
    ],
)
def test_quick_declines_everything_else(argv):
    assert run_module.quick(argv) is None


def test_the_defaults_are_the_declared_ones():
    import inspect

    declared = {n: p.default for n, p in inspect.signature(_common).parameters.items()}
    assert declared == run_module.DEFAULTS
    for name, own in run_module.OWN_DEFAULTS.items():
        params = inspect.signature(COMMANDS[name][0]).parameters
        assert {n: p.default for n, p in params.items() if n not in declared} == own


def test_the_console_script_answers_without_typer():
    code = (
        "import sys; from gradcli.cli import main; sys.argv = ['gradcli', 'grad', 'x**2', "
        "'--at', 'x=3', '--json']\ntry: main()\nexcept SystemExit: pass\n"
        "print('typer' in sys.modules, 'rich' in sys.modules, 'sympy' in sys.modules, "
        "'gradcli.cli.workers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.splitlines() == [
        '{"command": "grad", "expression": "x**2", "point": {"x": 3.0}, '
        '"value": 9.0, "shapes": {"value": [], "x": []}, "gradient": '
        '{"x": 6.0}, "warnings": [], "check": null}',
        "False False False False",
    ]


# -- the fast path's option table is typer's: checked, and run both ways ----------------------


def declared_options(name):
    """typer's declaration of command `name`, as {option: (parameter, flag value or None for an
    option with a value, repeatable)} (its flags are all booleans: --json, --check/--no-check)."""
    command = typer.main.get_command(app).commands[name]
    table = {}
    for p in command.params:
        if p.param_type_name != "option":
            continue
        assert p.is_bool_flag or not p.is_flag, p.name
        for opt in p.opts:
            table[opt] = (p.name, True if p.is_flag else None, p.multiple)
        for opt in p.secondary_opts:
            table[opt] = (p.name, False, p.multiple)
    return table


@pytest.mark.parametrize("name", sorted(run_module.OWN_DEFAULTS))
def test_the_quick_table_is_what_typer_declares(name):
    declared = declared_options(name)
    for opt, key in run_module.QUICK_VALUED.items():
        assert declared[opt] == (key, None, key == "at"), opt
    for opt, (key, flag) in run_module.QUICK_FLAGS.items():
        assert declared[opt] == (key, flag, False), opt
    dtype = typer.main.get_command(app).commands[name].params
    choices = next(p.type.choices for p in dtype if p.name == "dtype")
    assert list(choices) == list(run_module.DType.__members__)


VALUES = [
    "x=1",
    "x=-1, y=2",
    "1",
    "-1",
    "float32",
    "float64",
    "float16",
    "x",
    "",
    "-",
    "p.ndjson",
    "--json",
    "--",
    "full",
    "fwd",
]
EXPRESSIONS = ["x*y", "x**2", "-x", "-1+x", "sum(x)", "x=1", "--json"]


@st.composite
def command_lines(draw):
    """A command `quick` may run, with any of the options typer declares for it (long, short,
    `--opt=value` or `--opt value`, values that look like options too) around an expression."""
    name = draw(st.sampled_from(sorted(run_module.OWN_DEFAULTS)))
    declared = declared_options(name)
    tokens = []
    for opt in draw(
        st.lists(st.sampled_from([*sorted(declared), "-h", "--frobnicate"]), max_size=5)
    ):
        flag = declared.get(opt, (None, True))[1] is not None
        value = draw(st.sampled_from(VALUES))
        if flag:
            tokens.append(opt)
        elif opt.startswith("--") and draw(st.booleans()):
            tokens.append(f"{opt}={value}")
        else:
            tokens += [opt, value]
    expression = draw(st.sampled_from(EXPRESSIONS))
    if draw(st.booleans()):
        tokens += ["--", expression]
    else:
        tokens.insert(draw(st.integers(0, len(tokens))), expression)
    return [name, *tokens]


@given(argv=command_lines())
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_quick_runs_what_typer_runs(argv, monkeypatch):
    seen = {}
    monkeypatch.setattr(run_module, "run", lambda c, o, r=None: seen.update(c=c, o=o) or 0)
    if run_module.quick(argv) is None:
        return  # typer's, and only typer's
    quick = seen.copy()
    seen.clear()
    monkeypatch.setattr(app_module, "run", lambda c, o, r=None: seen.update(c=c, o=o) or 0)
    result = CliRunner().invoke(app, argv)
    assert seen, f"typer refused what quick ran: {argv}: {result.output}"
    assert (quick["c"], quick["o"]) == (seen["c"], seen["o"]), argv
