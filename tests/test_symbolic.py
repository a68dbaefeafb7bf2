"""The symbolic cross-check through the library: autograd vs sympy vs finite differences.

Agreement on the seed examples and on generated expressions, the time limit, the
explanations at kinks and of NaN gradients, `diff` (also as LaTeX), float32.
"""

import numpy as np
import pytest
import sympy  # noqa: F401  (imported once here, the checks' forked children inherit it)
from hypothesis import given, settings, strategies as st

import gradcli as gc


def checked(text, command="grad", dtype="float64", timeout=5.0, **kw):
    f = gc.compile(text, dtype=dtype)
    r = getattr(f, command)(**kw)
    f.check(r, timeout=timeout)
    return r.check


def assert_agree(c):
    assert c["agree"] is True and c["verdict"] == "agree", c
    assert "skipped" not in c["symbolic"] and c["symbolic"]["agree"] is True
    assert c["finite_differences"]["agree"] is True
    assert set(c) >= {"method", "agree", "max_abs_err", "max_rel_err", "symbolic"}


# -- the seed examples ----------------------------------------------------------------------

SEEDS = [
    ("3*(x+2)**2 | mean", "grad", {"x": np.ones((2, 2))}),
    ("w*x + b", "grad", {"x": 1.0, "w": 2.0, "b": 3.0}),
    ("x*x + 3*x + 1", "grad", {"x": 2.0}),
    ("3*x1*x1 + 9*x2", "grad", {"x1": 1.0, "x2": 2.0, "wrt": "x2"}),
    ("mm(a, b)", "grad", {"a": [[1.0, 2, 3]], "b": [[1.0], [2], [3]]}),
    ("(x+1)**2", "vjp", {"x": np.eye(5), "v": np.ones((5, 5))}),
    ("(x+1)**2", "jacobian", {"x": np.eye(2)}),
    (
        "y = x*2\nwhile norm(y) < 1000:\n    y = y*2\ny",
        "vjp",
        {"x": [-0.9618, -3.3220, -0.6637], "v": [0.1, 1.0, 0.0001]},
    ),
    ("x * detach(x)", "grad", {"x": 3.0}),
    ("(a*3)/(a-1) | square | sum", "grad", {"a": [[0.5, -1.2], [2.0, 0.3]]}),
]


@pytest.mark.parametrize("text, command, point", SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_examples_agree(text, command, point):
    assert_agree(checked(text, command, **point))


def test_seed_formulas():
    c = checked("3*(x+2)**2 | mean", x=np.ones((2, 2)))
    assert c["symbolic"]["formulas"]["x"] == {
        "kind": "generic",
        "element": "x[i,j]",
        "formula": "3*(x[i,j] + 2)/2",
        "latex": False,
    }
    assert c["symbolic"]["values"]["x"] == [[4.5, 4.5], [4.5, 4.5]]
    assert checked("x*x + 3*x + 1", x=2.0)["symbolic"]["formulas"]["x"]["formula"] == "2*x + 3"
    # detach is a constant for sympy too: d/dx x*detach(x) = detach(x)
    assert checked("x * detach(x)", x=3.0)["symbolic"]["formulas"]["x"]["formula"] == "detach(x)"


def test_other_commands_agree():
    assert_agree(checked("x*x*y + y**3", "hessian", x=1.0, y=2.0))
    assert_agree(checked("sin(x) * y", "jvp", x=0.5, y=2.0, tangents={"x": 1.0}))
    assert_agree(checked("softmax(x)", "jacobian", x=[1.0, 2.0, 3.0]))
    c = checked("sin(x)", "eval", x=1.0)
    assert c["agree"] is True and c["symbolic"]["formulas"]["value"]["formula"] == "sin(x)"


# -- generated expressions -----------------------------------------------------------------


def expressions():
    leaves = st.sampled_from(["x", "y", "0.5", "2"])

    def grow(inner):
        return st.one_of(
            st.builds("{}({})".format, st.sampled_from(["sin", "exp", "tanh"]), inner),
            st.builds("({})**2".format, inner),
            st.builds("({} {} {})".format, inner, st.sampled_from(["+", "-", "*"]), inner),
        )

    return st.recursive(leaves, grow, max_leaves=6)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(text=expressions(), x=st.floats(-1.5, 1.5), y=st.floats(-1.5, 1.5))
def test_generated_expressions_agree(text, x, y):
    text = f"{text} + 0*x*y"  # both variables always free
    assert_agree(checked(text, x=x, y=y))


# -- the time limit -------------------------------------------------------------------------


def test_time_limit_holds():
    f = gc.compile("det(x)")
    r = f.grad(x=np.random.default_rng(1).standard_normal((8, 8)))
    f.check(r, timeout=1.0)
    c = r.check
    assert "longer than the 1 s limit" in c["symbolic"]["skipped"]
    assert c["finite_differences"]["agree"] is True and c["agree"] is True
    assert r.gradient["x"].shape == (8, 8)  # the answer itself is untouched


# -- kinks and NaN --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, point, convention",
    [
        ("relu(x)", {"x": 0.0}, "relu'(0) = 0"),
        ("abs(x)", {"x": 0.0}, "abs'(0) = 0"),
        ("maximum(x, y)", {"x": 0.0, "y": 0.0}, "tied inputs of maximum"),
        ("norm(x)", {"x": np.zeros(3)}, "norm'(0) = 0"),
    ],
)
def test_kinks_are_explained(text, point, convention):
    c = checked(text, **point)
    assert c["agree"] is False and c["verdict"] != "agree"
    assert c["verdict"].startswith("not differentiable at this point")
    assert convention in c["verdict"]
    used = [u for u in c["conventions"] if convention in u["convention"]]
    assert used and used[0]["position"]["col"] == 1


def test_smooth_points_near_kinks_agree():
    assert_agree(checked("relu(x) + abs(y)", x=0.5, y=-0.25))
    assert_agree(checked("maximum(x, y)", x=1.0, y=0.0))


def test_sqrt_at_zero():
    c = checked("sqrt(x)", x=0.0)
    assert c["status"] == "not-checked" and c["agree"] is None and c["exit_code"] == 0
    assert (
        c["reason"] == "the backward of sqrt produced infinity, at line 1, column 1; "
        "derivatives are compared only where they are finite"
    )
    assert c["verdict"] == "not checked: " + c["reason"]
    bad = c["nonfinite"]
    assert bad["in"] == "derivative" and not bad["overflow"]
    assert bad["primitive"] == "sqrt" and "infinity" in bad["message"]
    assert bad["position"] == {"line": 1, "col": 1, "end_line": 1, "end_col": 8}
    assert "sqrt(x + 1e-12)" in bad["hint"]


def test_the_where_trap():
    c = checked("sum(where(x > 0, sqrt(x), 0))", x=[-1.0, 4.0])
    # autograd's NaN (0·inf) is not compared: the check says why, and where
    assert c["status"] == "not-checked" and c["agree"] is None and c["exit_code"] == 0
    bad = c["nonfinite"]
    assert bad["primitive"] == "sqrt" and "NaN" in bad["message"]
    assert bad["position"]["col"] == 18  # sqrt(x) inside the where
    assert "where" in bad["hint"]


def test_masks_in_arithmetic():
    assert_agree(checked("sum(x * (x > 0))", x=[-1.0, 2.0]))
    assert_agree(checked("where(not (x > 0), 1, x)", x=2.0))


# -- diff -----------------------------------------------------------------------------------


def test_diff():
    f = gc.compile("x*x + 3*x + 1")
    assert f.symbolic("x")["derivative"]["formula"] == "2*x + 3"
    assert f.symbolic("x", order=2)["derivative"]["formula"] == "2"
    d = gc.compile("3*(x+2)**2 | mean").symbolic("x", point={"x": np.ones((2, 2))})
    assert d["derivative"]["formula"] == "3*(x[i,j] + 2)/2"
    assert d["value"].tolist() == [[4.5, 4.5], [4.5, 4.5]]


def test_diff_latex():
    d = gc.compile("sin(x) * exp(y)").symbolic("x", latex=True)
    assert d["derivative"]["formula"] == r"e^{y} \cos{\left(x \right)}"
    assert d["expression"] == r"e^{y} \sin{\left(x \right)}"
    d = gc.compile("3*(x+2)**2 | mean").symbolic("x", point={"x": np.ones((2, 2))}, latex=True)
    assert d["derivative"]["formula"] == r"\frac{3 \left(x_{i,j} + 2\right)}{2}"


def test_diff_errors():
    with pytest.raises(gc.GradcliError, match="not a variable"):
        gc.compile("x*y").symbolic("z")
    with pytest.raises(gc.GradcliError, match="scalar expression"):
        gc.compile("x*2").symbolic("x", point={"x": np.ones(2)})


# -- float32 --------------------------------------------------------------------------------


def test_float32():
    c = checked(
        "sum(sin(x) * x + exp(x / 3))",
        dtype="float32",
        x=np.array([0.3, -1.2, 2.0], dtype=np.float32),
    )
    assert_agree(c)
    assert c["tolerance"]["sympy"]["rtol"] > 1e-6  # float32's own tolerances
    c = checked("relu(x)", dtype="float32", x=np.float32(0.0))
    assert c["verdict"].startswith("not differentiable")


def test_no_check_at_a_point_holding_nan_or_no_elements():
    import gradcli as gc

    f = gc.compile("x * 2")
    r = f.check(f.grad(x=np.nan))
    assert r.check["agree"] is None and "NaN" in r.check["verdict"]
    g = gc.compile("sum(x)")
    r = g.check(g.grad(x=np.zeros(0)))
    assert r.check["agree"] is None and "no elements" in r.check["verdict"]
