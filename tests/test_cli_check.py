"""The cross-check on the command line: `gradcli check`, `gradcli diff`, --check/--no-check,
--check-timeout, --latex, the default check in the human view, and exit code 3."""

import json

import pytest
import sympy  # noqa: F401  (imported once here, the checks' forked children inherit it)
from typer.testing import CliRunner

from gradcli.cli.app import app

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input, env={"NO_COLOR": "1", "COLUMNS": "100"})


def run_json(*args, code=0):
    r = run(*args, "--json")
    assert r.exit_code == code, (r.stdout, r.stderr)
    return json.loads(r.stdout, parse_constant=lambda name: pytest.fail(name))


# -- gradcli check ------------------------------------------------------------------------------


def test_check_agrees():
    r = run("check", "x*x + 3*x + 1", "--at", "x=2")
    assert r.exit_code == 0, r.output
    assert "∂f/∂x = 2*x + 3" in r.stdout
    assert "✓ agree: autograd, sympy and finite differences" in r.stdout
    for column in ("autograd vs", "max |a−b|", "|a−b|/tol", "tolerance"):
        assert column in r.stdout
    assert "finite differences" in r.stdout and "1e-10 + 1e-08·|ref|" in r.stdout


def test_check_at_a_kink_exits_3():
    r = run("check", "relu(x)", "--at", "x=0")
    assert r.exit_code == 3, r.output
    assert (
        "not differentiable here: the one-sided slopes differ; autograd uses relu'(0) = 0"
        in r.stdout
    )
    doc = run_json("check", "relu(x)", "--at", "x=0", code=3)
    assert doc["command"] == "check" and doc["gradient"] == {"x": 0.0}
    c = doc["check"]
    assert c["agree"] is False and c["verdict"].startswith("not differentiable")
    assert c["status"] == "kink" and c["exit_code"] == 3
    assert c["conventions"][0]["convention"] == "relu'(0) = 0"
    assert set(c) >= {
        "method",
        "agree",
        "max_abs_err",
        "max_rel_err",
        "symbolic",
        "finite_differences",
        "tolerance",
        "verdict",
    }


def test_check_json_full_report():
    doc = run_json("check", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)")
    c = doc["check"]
    assert c["agree"] is True and c["verdict"] == "agree"
    assert c["symbolic"]["formulas"]["x"]["formula"] == "3*(x[i,j] + 2)/2"
    assert c["symbolic"]["values"]["x"] == [[4.5, 4.5], [4.5, 4.5]]
    assert c["finite_differences"]["agree"] is True


def test_check_of_a_non_scalar_output_uses_the_jacobian():
    doc = run_json("check", "softmax(x)", "--at", "x=[1, 2, 3]")
    assert doc["command"] == "check" and len(doc["jacobian"]["x"]) == 3
    assert doc["check"]["agree"] is True


def test_check_explains_the_where_trap():
    r = run("check", "sum(where(x > 0, sqrt(x), 0))", "--at", "x=[-1, 4]")
    assert r.exit_code == 0  # a NaN derivative is not checked, not a disagreement
    out = r.stdout
    assert "! not checked: the backward of sqrt produced NaN, at line 1, column 18" in out
    assert "NaN in the derivative: the backward of sqrt produced NaN" in out
    assert "  sum(where(x > 0, sqrt(x), 0))\n                   ^^^^^^^" in out
    assert "hint: the `where` trap" in out


# -- gradcli diff -------------------------------------------------------------------------------


def test_diff_text():
    r = run("diff", "x*x + 3*x + 1", "--wrt", "x")
    assert r.exit_code == 0, r.output
    lines = [line.rstrip() for line in r.stdout.splitlines()]
    assert lines == [
        "expression  x*x + 3*x + 1",
        "f           x**2 + 3*x + 1",
        "∂f/∂x       2*x + 3",
    ]
    r = run("diff", "x*x + 3*x + 1", "--order", "2")
    assert "∂²f/∂x²" in r.stdout and r.stdout.rstrip().endswith("2")


def test_diff_latex():
    r = run("diff", "sin(x) * exp(y)", "--wrt", "x", "--latex")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        r"f = e^{y} \sin{\left(x \right)}",
        r"\frac{\partial f}{\partial x} = e^{y} \cos{\left(x \right)}",
    ]


def test_diff_with_shapes_and_json():
    r = run("diff", "3*(x+2)**2 | mean", "--wrt", "x", "--at", "x=ones(2,2)")
    assert "∂out/∂x[i,j]" in r.stdout and "3*(x[i,j] + 2)/2" in r.stdout
    assert "4.5" in r.stdout
    doc = run_json("diff", "x*y")
    assert doc["command"] == "diff" and doc["symbolic"] == "x*y"
    assert doc["derivatives"]["x"]["derivative"]["formula"] == "y"
    assert doc["derivatives"]["y"]["derivative"]["formula"] == "x"
    assert run_json("diff", "x*y", "--wrt", "z", code=2)["error"]["type"] == "UsageError"


# -- --check, --no-check and the default --------------------------------------------------------


def test_json_skips_the_check_unless_asked():
    assert run_json("grad", "x*x + 3*x + 1", "--at", "x=2")["check"] is None
    doc = run_json("grad", "x*x + 3*x + 1", "--at", "x=2", "--check")
    assert doc["gradient"] == {"x": 7.0}
    c = doc["check"]
    assert c["agree"] is True and c["symbolic"]["formulas"]["x"]["formula"] == "2*x + 3"
    doc = run_json("grad", "relu(x)", "--at", "x=0", "--check", code=3)
    assert doc["check"]["agree"] is False


def test_default_check_line_in_human_output():
    r = run("grad", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)")
    assert r.exit_code == 0, r.output
    assert "check                  ∂out/∂x[i,j] = 3*(x[i,j] + 2)/2" in r.stdout
    assert "✓ agree: autograd, sympy and finite differences" in r.stdout
    r = run("eval", "sin(x)", "--at", "x=1")
    assert "f = sin(x)" in r.stdout and "✓ agree: autograd and sympy" in r.stdout


def test_no_check():
    r = run("grad", "relu(x)", "--at", "x=0", "--no-check")
    assert r.exit_code == 0  # no check, no disagreement
    assert "check" not in r.stdout and "agree" not in r.stdout


def test_large_inputs_skip_the_default_check():
    r = run("grad", "sum(x**2)", "--at", "x=ones(9,9)")
    assert r.exit_code == 0
    assert "skipped: 81 scalar inputs (more than 64); --check runs it anyway" in r.stdout
    assert run_json("grad", "sum(x**2)", "--at", "x=ones(9,9)", "--check")["check"]["agree"]


def test_check_timeout():
    r = run(
        "grad", "det(x)", "--at", "x=randn(8,8)", "--seed", "1", "--check", "--check-timeout", "0.5"
    )
    assert r.exit_code == 0, r.output
    assert "sympy took longer than the 0.5 s limit (--check-timeout)" in r.stdout
    assert "gradient" in r.stdout  # the numeric answer is there
    doc = run_json(
        "grad", "det(x)", "--at", "x=randn(8,8)", "--seed", "1", "--check", "--check-timeout", "0.5"
    )
    assert "longer than" in doc["check"]["symbolic"]["skipped"]
    assert doc["check"]["finite_differences"]["agree"] is True


def test_batch_with_check():
    r = run("grad", "relu(x)", "--points", "-", "--check", input='{"x": 1}\n{"x": 0}\n')
    assert r.exit_code == 3
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["check"]["agree"] for line in lines] == [True, False]
    r = run("grad", "relu(x)", "--points", "-", input='{"x": 0}\n')
    assert r.exit_code == 0 and json.loads(r.stdout)["check"] is None
