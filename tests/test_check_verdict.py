"""The cross-check's verdict (issue 14): one function, `check.compare.verdict`, decides the status,
reason and exit code; every branch is tested here, through the library and the command
line in human and JSON modes alike. Also: random constants drawn once per run from the
seed and shared by every method, the generic-element check of elementwise expressions, and
the check's time limit covering finite differences."""

import json
import math
import time

import numpy as np
import pytest
import sympy  # noqa: F401  (imported once here, the checks' forked children inherit it)
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

import gradcli as gc
from gradcli import finite
from gradcli.check.compare import Tolerance, compare, verdict
from gradcli.cli.app import app
from gradcli.errors import UsageError

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"})


def run_json(*args, code=0):
    r = run(*args, "--json")
    assert r.exit_code == code, (r.stdout, r.stderr)
    return json.loads(r.stdout)


AGREE = {"agree": True, "max_abs_err": 0.0, "max_rel_err": 0.0, "max_ratio": 0.0}
DIFFER = {"agree": False, "max_abs_err": 1.0, "max_rel_err": 1.0, "max_ratio": 1e8}
LATE = {"skipped": "sympy took longer than the 5 s limit (--check-timeout)"}


# -- every branch of the one function ----------------------------------------------------------


@pytest.mark.parametrize(
    "kw, status, code, reason",
    [
        (dict(skipped="81 scalar inputs"), "skipped", 0, "81 scalar inputs"),
        (dict(nonfinite={"reason": "log gives nan"}), "not-checked", 0, "log gives nan"),
        (
            dict(nonfinite={"reason": "log gives nan"}, strict=True),
            "not-checked",
            1,
            "log gives nan",
        ),
        (
            dict(nonfinite={"reason": "exp overflowed", "overflow": True}),
            "not-checked",
            0,
            "exp overflowed",
        ),
        (
            dict(methods={"sympy": LATE, "finite differences": {"skipped": "fd late"}}),
            "skipped",
            0,
            LATE["skipped"] + "; fd late",
        ),
        (
            dict(methods={"sympy": LATE, "finite differences": AGREE}),
            "agree",
            0,
            "autograd and finite differences (sympy skipped)",
        ),
        (
            dict(methods={"sympy": AGREE, "finite differences": AGREE}),
            "agree",
            0,
            "autograd, sympy and finite differences",
        ),
        (
            dict(methods={"sympy": AGREE, "finite differences": None}),
            "agree",
            0,
            "autograd and sympy",
        ),
        (
            dict(methods={"sympy": AGREE, "finite differences": DIFFER}),
            "disagree",
            3,
            "finite differences differs from autograd",
        ),
        (
            dict(methods={"sympy": DIFFER, "finite differences": DIFFER}),
            "disagree",
            3,
            "sympy and finite differences differ from autograd",
        ),
        (
            dict(
                methods={"sympy": DIFFER, "finite differences": DIFFER},
                kinks=[("x", ())],
                used=[{"convention": "relu'(0) = 0"}],
            ),
            "kink",
            3,
            "the one-sided slopes differ; autograd uses relu'(0) = 0",
        ),
        (  # a tie where the function is smooth (median of [3, 1, 3, 5]): sympy's Heaviside(0)
            dict(
                methods={"sympy": DIFFER, "finite differences": AGREE},
                used=[{"convention": "the gradient routed by the stable order"}],
            ),
            "agree",
            0,
            "autograd and finite differences (sympy's own convention at the tie is not compared)",
        ),
        (  # without a convention applied, sympy's difference stands
            dict(methods={"sympy": DIFFER, "finite differences": AGREE}),
            "disagree",
            3,
            "sympy differs from autograd",
        ),
    ],
)
def test_every_branch_of_the_verdict(kw, status, code, reason):
    v = verdict(**kw)
    assert (v.status, v.exit_code, v.reason) == (status, code, reason)
    fields = v.fields()
    assert fields["status"] == status and fields["exit_code"] == code
    assert fields["agree"] is {"agree": True, "disagree": False, "kink": False}.get(status)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=5))
def test_a_row_agrees_exactly_when_its_figure_is_at_most_1(pairs):
    a = {"x": np.array([p[0] for p in pairs])}
    b = {"x": np.array([p[1] for p in pairs])}
    tol = Tolerance(1e-6, 1e-5)
    c = compare(tol, a, b)
    assert c["agree"] == (c["max_ratio"] <= 1)
    assert c["agree"] == bool(
        np.all(np.abs(a["x"] - b["x"]) <= tol.atol + tol.rtol * np.abs(b["x"]))
    )


def test_a_reference_near_zero_is_judged_by_the_combined_test():
    # sin'(pi/2) = 6e-17 by autograd, ~1e-27 by finite differences: a relative difference of
    # 1e283 means nothing; |a-b| / (atol + rtol|ref|) is tiny
    c = gc.compile("sin(x)")
    r = c.check(c.grad(x=math.pi / 2))
    fd = r.check["finite_differences"]
    assert fd["agree"] is True and fd["max_ratio"] < 1e-6
    assert r.check["status"] == "agree"
    out = run("grad", "sin(x)", "--at", "x=pi/2").stdout
    assert "e+283" not in out and "e+2" not in out
    row = next(line for line in out.splitlines() if line.startswith("finite differences"))
    assert row.split()[2] == "yes" and float(row.split()[4]) <= 1


# -- not finite: not checked, exit 0 (--strict: 1) ---------------------------------------------


def test_a_nan_value_is_not_checked():
    r = run("grad", "log(x)", "--at", "x=-1")
    assert r.exit_code == 0, r.output
    assert (
        "! not checked: log gives nan (1 of 1 values not finite), at line 1, column 1" in r.stdout
    )
    assert "disagree" not in r.stdout
    c = run_json("grad", "log(x)", "--at", "x=-1", "--check")["check"]
    assert (c["status"], c["agree"], c["exit_code"]) == ("not-checked", None, 0)
    assert c["nonfinite"]["in"] == "value" and c["nonfinite"]["overflow"] is False


def test_a_derivative_that_is_not_finite_is_not_checked_and_strict_exits_1():
    r = run("grad", "sqrt(x)", "--at", "x=0")
    assert r.exit_code == 0 and "! not checked: the backward of sqrt produced infinity" in r.stdout
    assert "  sqrt(x)\n  ^^^^^^^" in r.stdout  # the caret under the operation
    assert run("grad", "sqrt(x)", "--at", "x=0", "--strict").exit_code == 1
    c = run_json("grad", "sqrt(x)", "--at", "x=0", "--check", "--strict", code=1)["check"]
    assert (c["status"], c["exit_code"]) == ("not-checked", 1)
    assert run_json("grad", "sqrt(x)", "--at", "x=0", "--check")["check"]["exit_code"] == 0


def test_an_overflow_is_named_as_one():
    r = run("grad", "exp(x)", "--at", "x=1000")
    assert r.exit_code == 0, r.output
    assert "warning: exp overflowed" in r.stderr and "  exp(x)\n  ^^^^^^" in r.stderr
    assert "too large for float64" in r.stderr
    assert "domain" not in r.output and "not differentiable" not in r.output
    assert "! not checked: exp overflowed" in r.stdout
    doc = run_json("grad", "exp(x)", "--at", "x=1000", "--check")
    c = doc["check"]
    assert c["status"] == "not-checked" and c["nonfinite"]["overflow"] is True
    assert c["nonfinite"]["position"] == {"line": 1, "col": 1, "end_line": 1, "end_col": 7}
    assert doc["warnings"][0]["message"].startswith("exp overflowed")


def test_an_overflow_inside_names_the_first_operation():
    w = gc.compile("log(exp(x) + 1)").eval(x=1000.0).warnings
    assert type(w[0]).__name__ == "OverflowDomainError" and w[0].message.startswith("exp")
    # a pole is no overflow
    assert type(gc.compile("1/x").eval(x=0.0).warnings[0]).__name__ == "DomainError"
    assert type(gc.compile("log(x)").eval(x=0.0).warnings[0]).__name__ == "DomainError"


def test_a_batch_exit_code_takes_the_worst_line():
    r = runner.invoke(
        app,
        ["grad", "sqrt(x)", "--points", "-", "--check", "--strict"],
        input='{"x": 1}\n{"x": 0}\n',
    )
    assert r.exit_code == 1
    statuses = [json.loads(line)["check"]["status"] for line in r.stdout.splitlines()]
    assert statuses == ["agree", "not-checked"]


# -- timeouts -----------------------------------------------------------------------------------


def test_neither_method_in_time_is_skipped():
    f = gc.compile("x**3 | sum")
    r = f.check(f.grad(x=np.ones(3)), timeout=0.0)
    c = r.check
    assert (c["status"], c["agree"], c["exit_code"]) == ("skipped", None, 0)
    assert "sympy took longer than the 0 s limit" in c["reason"]
    assert "finite differences took longer than the 0 s limit" in c["reason"]


def test_finite_differences_stop_at_the_deadline():
    calls = []

    def slow(point):
        calls.append(1)
        time.sleep(0.12)
        return np.sum(point["x"] ** 2)

    with pytest.raises(finite.TimeUp, match="would take about"):
        finite.jacobian(slow, {"x": np.ones(8)}, "x", deadline=time.monotonic() + 1.0)
    assert len(calls) == 1  # 32 more evaluations could not finish: none is started
    with pytest.raises(finite.TimeUp):
        finite.jacobian(lambda p: p["x"], {"x": np.ones(3)}, "x", deadline=time.monotonic() - 1)


# -- random constants: one draw per run, from the seed, for every method --------------------------


def test_random_constants_follow_the_seed():
    a = run_json("eval", "randn(2)", "--seed", "1")["value"]
    assert run_json("eval", "randn(2)", "--seed", "1")["value"] == a
    assert run_json("eval", "randn(2)", "--seed", "2")["value"] != a
    assert gc.compile("randn(2)", seed=1).eval().value.tolist() == a
    # the expression's stream is its own: not the draws of --at from the same seed
    assert run_json("eval", "x", "--at", "x=randn(2)", "--seed", "1")["value"] != a


@pytest.mark.parametrize("seed", [["--seed", "1"], []])
def test_every_method_sees_the_same_draw(seed):
    doc = run_json("grad", "x*randn(2) | sum", "--at", "x=[1,1]", *seed, "--check")
    c = doc["check"]
    assert c["status"] == "agree", c
    assert c["symbolic"]["values"]["x"] == doc["gradient"]["x"]
    assert doc["value"] == pytest.approx(sum(doc["gradient"]["x"]))


def test_the_library_keeps_its_draw():
    f = gc.compile("x * rand(3) + randn(3) | sum", seed=7)
    g1, g2 = f.grad(x=np.ones(3)).gradient["x"], f.grad(x=2 * np.ones(3)).gradient["x"]
    assert np.array_equal(g1, g2)
    assert np.array_equal(g1, gc.compile("rand(3)", seed=7).eval().value)
    assert f.check(f.grad(x=np.ones(3))).check["status"] == "agree"
    gc.manual_seed(3)
    first = gc.compile("randn(2)").eval().value
    gc.manual_seed(3)
    assert np.array_equal(gc.compile("randn(2)").eval().value, first)
    with pytest.raises(UsageError, match="seed"):
        gc.compile("randn(2)", seed=-1)


def test_a_loop_draws_anew_at_each_iteration_and_keeps_the_draws():
    f = gc.compile("y = x\nfor i in range(3):\n    y = y + randn(1)\nsum(y)", seed=0)
    v1, v2 = f.eval(x=np.zeros(1)).value, f.eval(x=np.zeros(1)).value
    assert v1 == v2
    draws = gc.compile("randn(3)", seed=0).eval().value  # not the same stream, but 3 draws
    assert draws.shape == (3,)


# -- elementwise expressions: one generic-element derivative ---------------------------------------

EXPR = "sin(x)*exp(-x**2/2)+log(1+x**2)+tanh(x)*cosh(x)+x | sum"


def test_the_default_check_at_its_cap_differentiates_one_generic_element():
    r = run("grad", EXPR, "--at", "x=linspace(-1,1,64)")
    assert r.exit_code == 0, r.output
    assert "✓ agree: autograd, sympy and finite differences" in r.stdout
    assert "∂out/∂x[i] = " in r.stdout and "skipped" not in r.stdout
    f = gc.compile(EXPR)
    x = np.linspace(-1, 1, 64)
    c = f.check(f.grad(x=x)).check
    want = (
        np.cos(x) * np.exp(-(x**2) / 2)
        - x * np.sin(x) * np.exp(-(x**2) / 2)
        + 2 * x / (1 + x**2)
        + np.cosh(x) / np.cosh(x) ** 2
        + np.tanh(x) * np.sinh(x)
        + 1
    )
    np.testing.assert_allclose(c["symbolic"]["values"]["x"], want, rtol=1e-13)
    assert c["symbolic"]["formulas"]["x"]["kind"] == "generic"


@pytest.mark.parametrize(
    "text, point",
    [
        ("3*(x+2)**2 | mean", {"x": np.ones((2, 2))}),
        ("x*y + a*x**2 | sum", {"x": np.arange(4.0), "y": np.ones(4), "a": np.array(2.0)}),
        ("relu(x) + abs(x)*x + erf(x) | sum", {"x": np.array([-1.0, 0.5, 2.0])}),  # sympy's own
    ],
)
def test_generic_element_values(text, point):
    f = gc.compile(text)
    r = f.grad(point, wrt="x")
    c = f.check(r).check
    assert c["status"] == "agree", c
    assert c["symbolic"]["formulas"]["x"]["kind"] == "generic"
    np.testing.assert_allclose(c["symbolic"]["values"]["x"], r.gradient["x"], rtol=1e-12)


def test_finite_differences_that_leave_the_domain_are_skipped_not_a_disagreement():
    f = gc.compile("sqrt(x)")
    c = f.check(f.grad(x=1e-9), timeout=30).check
    assert c["status"] == "agree" and c["exit_code"] == 0, c
    assert "leave the function's domain" in c["finite_differences"]["skipped"]
    assert c["symbolic"]["agree"] is True


def test_ties_where_the_function_is_smooth_agree():
    """median of [3, 1, 3, 5] is (x0 + x2)/2 near the point: autograd and finite differences
    agree; sympy's Max/Min form takes Heaviside(0) = ½ at the tie and is not held against it."""
    doc = run_json("grad", "median(x)", "--at", "x=[3,1,3,5]", "--check")
    assert doc["gradient"]["x"] == [0.5, 0.0, 0.5, 0.0]
    assert doc["check"]["verdict"] == "agree"
