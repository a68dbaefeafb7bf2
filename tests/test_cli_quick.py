"""The typer-free path for plain one-shot command lines hands the runner exactly the options
typer would, and declines everything else."""

import subprocess
import sys

import pytest
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


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["grad", "--help"], ["vjp", "x", "--v", "1"], ["grad", "-x^2", "--at", "x=1"],
    ["grad", "x", "--at"], ["grad", "x", "--frobnicate"], ["grad", "x", "y"],
    ["grad", "--dtype", "float16", "x"], ["grad", "-f", "prog.grad"], ["grad", "--at", "x=1"]])
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
    code = ("import sys; from gradcli.cli import main; sys.argv = ['gradcli', 'grad', 'x**2', "
            "'--at', 'x=3', '--json']\ntry: main()\nexcept SystemExit: pass\n"
            "print('typer' in sys.modules, 'rich' in sys.modules, 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.splitlines() == ['{"command": "grad", "expression": "x**2", "point": {"x": 3.0}, '
                                '"value": 9.0, "shapes": {"value": [], "x": []}, "gradient": '
                                '{"x": 6.0}, "warnings": [], "check": null}', "False False False"]
