"""The command line end to end: every command, flag and exit code, and the seed examples."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gradcli
from gradcli.cli.app import app, package_version
from gradcli.lang.interpret import Limits
from gradcli.result import Result
from strict_json import strict

ROOT = Path(__file__).resolve().parent.parent
GRADCLI = Path(sys.executable).parent / "gradcli"
runner = CliRunner()


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Sample paths (`@samples/x.npy`) are relative to the repository root."""
    monkeypatch.chdir(ROOT)


def run(*args, input=None, env=None):
    return runner.invoke(app, list(args), input=input, env=env)


def run_json(*args, code=0, input=None):
    """Run with --json; check the exit code and that stdout is one strict JSON document."""
    r = run(*args, "--json", input=input)
    assert r.exit_code == code, (r.stdout, r.stderr)
    return strict(r.stdout)


# -- the seed examples (SEED-EXAMPLES.md) ------------------------------------------------------


def test_s1_s3_mean():
    doc = run_json("grad", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)")
    assert doc["value"] == 27.0
    assert doc["gradient"] == {"x": [[4.5, 4.5], [4.5, 4.5]]}
    assert doc["shapes"] == {"value": [], "x": [2, 2]}


def test_s13_affine():
    doc = run_json("grad", "w*x + b", "--at", "x=1, w=2, b=3")
    assert doc["value"] == 5.0
    assert doc["gradient"] == {"x": 2.0, "w": 1.0, "b": 1.0}


def test_s14_polynomial():
    assert run_json("grad", "x*x + 3*x + 1", "--at", "x=2")["gradient"] == {"x": 7.0}


def test_s15_wrt():
    doc = run_json("grad", "3*x1*x1 + 9*x2", "--at", "x1=1, x2=2", "--wrt", "x2")
    assert doc["gradient"] == {"x2": 9.0}


def test_s16_mm():
    doc = run_json("grad", "mm(a, b)", "--at", "a=[[1,2,3]], b=[[1],[2],[3]]")
    assert doc["value"] == [[14.0]]
    assert doc["gradient"] == {"a": [[1.0, 2.0, 3.0]], "b": [[1.0], [2.0], [3.0]]}


def test_s17_vjp():
    doc = run_json("vjp", "(x+1)**2", "--at", "x=eye(5)", "--v", "ones(5,5)")
    assert np.array_equal(doc["vjp"]["x"], 2 * np.eye(5) + 2)


def test_s20_jacobian():
    doc = run_json("jacobian", "(x+1)**2", "--at", "x=eye(2)")
    jac = np.array(doc["jacobian"]["x"])
    assert jac.shape == (2, 2, 2, 2)
    assert doc["shapes"] == {"value": [2, 2], "x": [2, 2]}
    assert np.array_equal(np.einsum("ij,ijmn->mn", np.ones((2, 2)), jac), [[4, 2], [2, 4]])
    assert jac[0, 0, 0, 0] == 4 and jac[0, 1, 0, 1] == 2 and jac[0, 1, 1, 0] == 0


def test_s5_s7_doubling():
    doc = run_json(
        "vjp",
        "-f",
        "samples/doubling.grad",
        "--at",
        "x=[-0.9618, -3.3220, -0.6637]",
        "--v",
        "[0.1, 1.0, 0.0001]",
    )
    assert np.allclose(doc["vjp"]["x"], [51.2, 512, 0.0512])
    assert np.allclose(doc["value"], 512 * np.array([-0.9618, -3.3220, -0.6637]))
    assert doc["expression"] == (ROOT / "samples" / "doubling.grad").read_text().rstrip()


def test_s9_detach():
    assert run_json("grad", "x * detach(x)", "--at", "x=3")["gradient"] == {"x": 3.0}


# -- every command -----------------------------------------------------------------------------


def test_eval():
    doc = run_json("eval", "x | exp | sum", "--at", "x=[0, 0]")
    assert doc["command"] == "eval" and doc["value"] == 2.0
    assert "gradient" not in doc


def test_jvp():
    doc = run_json("jvp", "sin(x) * y", "--at", "x=0, y=2", "--v", "x=1")
    assert doc["jvp"] == 2.0
    assert run_json("jvp", "x*y", "--at", "x=[1, 2], y=3", "--v", "y=0")["jvp"] == [0.0, 0.0]
    assert run_json("jvp", "x*y", "--at", "x=[1, 2], y=3", "--v", "y=1")["jvp"] == [1.0, 2.0]


def test_jvp_needs_v():
    """Without --v, jvp used to print 0 and "✓ agree": now a usage error, as for vjp."""
    doc = run_json("jvp", "x*y", "--at", "x=[1, 2], y=3", code=2)
    assert "--v" in doc["error"]["message"] and "--v" in doc["error"]["hint"]
    r = run("jvp", "x*x", "--at", "x=1")
    assert r.exit_code == 2 and "hint: give --v" in r.stderr and r.stdout == ""


def test_hessian():
    doc = run_json("hessian", "x*x*y + y**3", "--at", "x=1, y=2")
    assert doc["hessian"] == {"x": {"x": 4.0, "y": 2.0}, "y": {"x": 2.0, "y": 12.0}}


@pytest.mark.parametrize("mode", ["auto", "rev", "fwd"])
def test_jacobian_modes(mode):
    doc = run_json("jacobian", "x*2", "--at", "x=[1, 2]", "--mode", mode)
    assert doc["jacobian"] == {"x": [[2.0, 0.0], [0.0, 2.0]]}


def test_intermediates():
    doc = run_json("grad", "y = x*3; sum(y*y)", "--at", "x=[1, 2]", "--intermediates")
    assert doc["gradient"] == {"x": [18.0, 36.0]}
    assert doc["intermediates"]["y"] == [6.0, 12.0]
    r = run("grad", "y = x*3; sum(y*y)", "--at", "x=[1, 2]", "--intermediates")
    assert "intermediates" in r.stdout and "12." in r.stdout


def test_human_output():
    r = run("grad", "x*x + 3*x + 1", "--at", "x=2")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["expression", "x*x", "+", "3*x", "+", "1"]
    assert lines[1].split() == ["point", "x", "scalar", "2.0"]
    assert lines[2].split() == ["value", "scalar", "11.0"]
    assert lines[3].split() == ["gradient", "x", "scalar", "7.0"]
    assert "\x1b[" not in r.stdout  # no colour off a terminal


def test_human_output_matrix():
    r = run("grad", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)", "--no-check")
    assert "(2, 2)  [[4.5 4.5]" in r.stdout and "[4.5 4.5]]" in r.stdout


# -- expressions and values starting with '-' --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["grad", "-x^2", "--at", "x=1"],
        ["grad", "--at", "x=1", "-x^2"],
        ["grad", "--at=x=1", "-x^2", "--wrt", "x"],
    ],
)
def test_expression_starting_with_dash(args):
    doc = run_json(*args)
    assert doc["expression"] == "-x^2" and doc["value"] == -1.0
    assert doc["gradient"] == {"x": -2.0}


def test_values_starting_with_dash():
    assert run_json("grad", "x^2", "--at", "x=-1")["gradient"] == {"x": -2.0}
    assert run_json("vjp", "x*2", "--at", "x=1", "--v", "-1e-3")["vjp"] == {"x": -0.002}
    assert run_json("vjp", "-x", "--at", "x=1", "--v=-2")["vjp"] == {"x": 2.0}
    assert run_json("eval", "-1.5 * x", "--at", "x=2")["value"] == -3.0


# -- points --------------------------------------------------------------------------------------


def test_point_files():
    doc = run_json("grad", "-f", "samples/mean.grad", "--at", "x=@samples/x.json")
    assert doc["gradient"] == {"x": [[4.5, 4.5], [4.5, 4.5]]}
    doc = run_json("eval", "x", "--at", "x=@samples/x.npy")
    assert doc["value"] == [-0.9618, -3.322, -0.6637]
    doc = run_json("eval", "x", "--at", "x=@samples/x.csv")
    assert doc["value"] == [[1.0, 2.0, 3.0]]


def test_at_json_file_and_stdin():
    doc = run_json("grad", "w*x + b", "--at-json", "samples/point.json")
    assert doc["gradient"] == {"x": 2.0, "w": 1.0, "b": 1.0}
    doc = run_json("grad", "w*x + b", "--at-json", "-", input='{"x": 3, "w": 2, "b": 1}')
    assert doc["gradient"] == {"x": 2.0, "w": 3.0, "b": 1.0}


def test_repeated_at_and_seed():
    doc = run_json("eval", "x + y", "--at", "x=1", "--at", "y=[1, 2]")
    assert doc["value"] == [2.0, 3.0]
    first = run_json("eval", "x", "--at", "x=randn(3)", "--seed", "7")["value"]
    again = run_json("eval", "x", "--at", "x=randn(3)", "--seed", "7")["value"]
    assert first == again and len(first) == 3


def test_float32():
    doc = run_json("eval", "x/10", "--at", "x=1", "--dtype", "float32")
    assert doc["value"] == 0.1  # the shortest float32 text, not 0.10000000149011612
    assert run_json("grad", "x*x", "--at", "x=3", "--dtype", "float32")["gradient"] == {"x": 6.0}


# -- non-finite results and domain warnings -------------------------------------------------------


def test_log_of_zero_is_strict_json_with_a_warning():
    r = run("eval", "log(x)", "--at", "x=0", "--json")
    assert r.exit_code == 0
    doc = strict(r.stdout)
    assert doc["value"] == "-Infinity"
    assert doc["warnings"] and doc["warnings"][0]["message"]
    assert "warning" in r.stderr


def test_sqrt_gradient_at_zero():
    doc = run_json("grad", "sqrt(x)", "--at", "x=0")
    assert doc["value"] == 0.0 and doc["gradient"] == {"x": "Infinity"}


def test_nan_value():
    assert run_json("eval", "log(x)", "--at", "x=-1")["value"] == "NaN"


def test_strict_makes_warnings_errors():
    doc = run_json("eval", "log(x)", "--at", "x=-1", "--strict", code=1)
    assert doc["error"]["type"] == "DomainError"


# -- errors and exit codes -------------------------------------------------------------------------


def test_parse_error_exit_2_with_caret():
    r = run("grad", "x +* 2", "--at", "x=1", "--json")
    assert r.exit_code == 2
    assert set(strict(r.stdout)["error"]) == {"type", "message", "hint", "position"}
    assert "^" in r.stderr and "x +* 2" in r.stderr


def test_unknown_function_exit_2():
    r = run("grad", "frobnicate(x)", "--at", "x=1")
    assert r.exit_code == 2 and r.stdout == ""
    assert "frobnicate" in r.stderr and "^^^" in r.stderr


def test_unbound_variable_exit_1():
    doc = run_json("grad", "x*y", "--at", "x=1", code=1)
    assert doc["error"]["type"] == "UnboundVariableError" and "y" in doc["error"]["message"]


def test_non_scalar_grad_exit_1_with_hint():
    doc = run_json("grad", "x*2", "--at", "x=[1, 2]", code=1)
    assert doc["error"]["type"] == "NotScalarError"
    assert "sum" in doc["error"]["hint"] and "vjp" in doc["error"]["hint"]


def test_size_limit_exit_1():
    doc = run_json("eval", "x * ones(100)", "--at", "x=1", "--max-elements", "10", code=1)
    assert doc["error"]["type"] == "LimitError"


def test_loop_cap_exit_1():
    program = "y = x\nwhile y > 0:\n    y = y + 1\ny"
    doc = run_json("eval", program, "--at", "x=1", "--max-iterations", "10", code=1)
    assert doc["error"]["type"] == "LimitError"


def test_program_from_stdin():
    doc = run_json("grad", "-f", "-", "--at", "x=2", input="y = x*x\ny\n")
    assert doc["gradient"] == {"x": 4.0} and doc["expression"] == "y = x*x\ny"


def test_malformed_at_exit_2():
    assert run_json("eval", "x", "--at", "x", code=2)["error"]["type"].endswith("Error")
    assert run("eval", "x", "--at", "x=[1, 2").exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["grad", "x", "--at", "x=1", "--frobnicate"],  # unknown option
        ["grad", "--at", "x=1"],  # no expression
        ["grad", "x", "-f", "samples/mean.grad"],  # both
        ["grad", "-f", "no/such/file.grad"],
        ["grad", "x", "--dtype", "float16"],
        ["vjp", "x", "--at", "x=1"],  # --v missing
        ["jacobian", "x", "--mode", "sideways"],
        ["frobnicate", "x"],
    ],
)
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output


def test_usage_error_with_json_is_a_json_error():
    doc = run_json("grad", "x", "--at", "x=1", "--frobnicate", code=2)
    assert "--frobnicate" in doc["error"]["message"]


class FakeProgram:
    """Stands in for a compiled program to reach the paths the library rarely takes."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.limits = Limits()

    def grad(self, point, **_):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_check_disagreement_exit_3(monkeypatch):
    result = Result(
        "grad",
        "x",
        {"x": np.asarray(1.0)},
        np.asarray(1.0),
        gradient={"x": np.asarray(1.0)},
        check={"method": "sympy", "agree": False, "max_abs_err": 1.0},
    )
    monkeypatch.setattr(gradcli, "compile", lambda *a, **k: FakeProgram(result), raising=False)
    doc = run_json("grad", "x", "--at", "x=1", "--check", code=3)
    assert doc["check"]["agree"] is False
    assert run("grad", "x", "--at", "x=1").exit_code == 3


def test_internal_error_has_no_traceback(monkeypatch):
    program = FakeProgram(ZeroDivisionError("oops"))
    monkeypatch.setattr(gradcli, "compile", lambda *a, **k: program, raising=False)
    r = run("grad", "x", "--at", "x=1")
    assert r.exit_code == 1
    assert "internal error" in r.stderr and "report" in r.stderr
    assert "Traceback" not in r.output
    doc = run_json("grad", "x", "--at", "x=1", code=1)
    assert doc["error"]["type"] == "InternalError"
    r = run("grad", "x", "--at", "x=1", env={"GRADCLI_DEBUG": "1"})
    assert r.exit_code == 1 and "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr


def test_check_flags_are_accepted():
    for flag in ("--check", "--no-check"):
        assert run_json("grad", "x*x", "--at", "x=2", flag)["gradient"] == {"x": 4.0}


# -- batch -----------------------------------------------------------------------------------------


def test_batch_with_a_bad_line(tmp_path):
    points = tmp_path / "points.ndjson"
    points.write_text(
        '{"x": 1, "w": 2, "b": 3}\n\n{"x": 1, "w": \n{"x": 2, "w": 3}\n'
        '{"x": 2, "w": -1, "b": 0.5}\n'
    )
    r = run("grad", "w*x + b", "--points", str(points))
    assert r.exit_code == 1
    lines = [strict(line) for line in r.stdout.splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2, 3]
    assert lines[0]["gradient"] == {"x": 2.0, "w": 1.0, "b": 1.0}
    assert "error" in lines[1] and "error" in lines[2]
    assert lines[2]["error"]["type"] == "UnboundVariableError"
    assert lines[3]["value"] == -1.5 and lines[3]["gradient"] == {"x": -1.0, "w": 2.0, "b": 1.0}


def test_batch_from_stdin_with_shared_bindings():
    r = run("eval", "w*x", "--points", "-", "--at", "w=10", input='{"x": 1}\n{"x": [1, 2]}\n')
    assert r.exit_code == 0, r.stderr
    assert [strict(line)["value"] for line in r.stdout.splitlines()] == [10.0, [10.0, 20.0]]


def test_batch_vjp():
    r = run("vjp", "x*2", "--v", "[1, 1]", "--points", "-", input='{"x": [1, 2]}\n')
    assert strict(r.stdout)["vjp"] == {"x": [2.0, 2.0]}


# -- samples, help, version ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, key, expected",
    [
        (
            ["grad", "-f", "samples/mean.grad", "--at", "x=@samples/x.json"],
            "gradient",
            {"x": [[4.5, 4.5], [4.5, 4.5]]},
        ),
        (
            ["grad", "-f", "samples/affine.grad", "--at-json", "samples/point.json"],
            "gradient",
            {"x": 2.0, "w": 1.0, "b": 1.0},
        ),
        (
            [
                "grad",
                "-f",
                "samples/mm.grad",
                "--at",
                "a=@samples/x.csv",
                "--at",
                "b=[[1],[2],[3]]",
            ],
            "gradient",
            {"a": [[1.0, 2.0, 3.0]], "b": [[1.0], [2.0], [3.0]]},
        ),
    ],
)
def test_samples(args, key, expected):
    assert run_json(*args)[key] == expected


def test_sample_doubling():
    doc = run_json(
        "vjp",
        "-f",
        "samples/doubling.grad",
        "--at",
        "x=@samples/x.npy",
        "--v",
        "[0.1, 1.0, 0.0001]",
    )
    assert np.allclose(doc["vjp"]["x"], [51.2, 512, 0.0512])


def test_sample_batch():
    r = run("grad", "-f", "samples/affine.grad", "--points", "samples/points.ndjson")
    assert r.exit_code == 0, r.stderr
    lines = [strict(line) for line in r.stdout.splitlines()]
    assert [line["value"] for line in lines] == [5.0, -1.5, 1.0]


@pytest.mark.parametrize("command", ["eval", "grad", "vjp", "jvp", "jacobian", "hessian"])
def test_help_has_examples(command):
    r = run(command, "--help")
    assert r.exit_code == 0 and "Examples" in r.stdout and f"gradcli {command}" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["grad"],
        ["grad", "x"],
        ["grad", "x", "--at", "x=1"],
        ["jvp", "x"],
        ["plot", "x"],
        ["graph", "x"],
        ["diff"],
    ],
)
def test_h_is_help(args):
    """-h was "No such option" (gradcli -h) or read as the expression (gradcli grad -h)."""
    short, long = run(*args, "-h"), run(*args, "--help")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and "Usage: gradcli" in short.stdout


def test_version():
    r = run("--version")
    from gradcli.engine.kernels import describe

    assert r.exit_code == 0
    assert r.stdout.splitlines() == [f"gradcli {package_version()}", f"sin and cos: {describe()}"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", package_version())


def test_version_from_a_source_tree(monkeypatch):
    """Imported from a source tree, not installed: the version in the tree's pyproject.toml
    (none next to the package: "unknown")."""
    import importlib.metadata
    import tomllib

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    project = Path(gradcli.__file__).resolve().parents[1] / "pyproject.toml"
    expected = (
        tomllib.loads(project.read_text())["project"]["version"] if project.exists() else "unknown"
    )
    assert package_version() == expected


# -- through a real process ------------------------------------------------------------------------


def shell(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, shell=True, capture_output=True, text=True, cwd=ROOT)


def test_pipeline():
    check = (
        f'"{sys.executable}" -c "import json,sys; d=json.load(sys.stdin); '
        "assert d['gradient'] == {'x': 6.0}, d\""
    )
    p = shell(f'"{GRADCLI}" grad "x**2" --at x=3 --json | {check}')
    assert p.returncode == 0, p.stderr


def test_pipeline_batch_and_exit_code():
    p = shell(f'printf \'{{"x": 1}}\\nnot json\\n\' | "{GRADCLI}" eval "x+1" --points -')
    assert p.returncode == 1
    assert [strict(line).get("value") for line in p.stdout.splitlines()] == [2.0, None]


def test_python_dash_m():
    p = shell(f'"{sys.executable}" -m gradcli grad "-x^2" --at x=-1 --json')
    assert p.returncode == 0, p.stderr
    assert strict(p.stdout)["gradient"] == {"x": 2.0}


def test_json_runs_import_neither_sympy_nor_rich():
    p = shell(f'"{sys.executable}" -X importtime -m gradcli grad "x**2" --at x=3 --json')
    assert p.returncode == 0
    modules = {
        line.split("|")[-1].strip()
        for line in p.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not {m for m in modules if m.split(".")[0] in ("sympy", "rich")}
