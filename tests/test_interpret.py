"""The interpreter and gc.compile: programs, points, errors with positions, limits, and
random expressions against a direct NumPy evaluation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gradcli as gc
from gradcli.errors import (
    DomainError,
    EvalError,
    LimitError,
    ShapeError,
    SignatureError,
    UnboundVariableError,
    UnknownFunctionError,
    UsageError,
)

DOUBLING = "y = x*2\nwhile norm(y) < 1000:\n    y = y*2\ny"


def test_the_doubling_loop_records_as_many_multiplications_as_it_ran():
    x = np.array([-0.9618, -3.3220, -0.6637])
    prog = gc.compile(DOUBLING)
    r = prog.vjp({"x": x}, v=np.array([0.1, 1.0, 0.0001]), intermediates=True)
    np.testing.assert_allclose(r.value, 512 * x)
    np.testing.assert_allclose(r.vjp["x"], [51.2, 512, 0.0512])
    np.testing.assert_allclose(r.intermediates["y"], [0.1, 1.0, 0.0001])
    leaves = prog.leaves(prog.point(x=x), ("x",))
    run = prog.run(prog.point(x=x), leaves)
    names = [type(n).__name__ for n in run.origins]
    assert names.count("MulBackward0") == 9


def test_if_elif_else_for_and_augmented_assignment():
    prog = gc.compile(
        "s = 0\nfor i in range(1, 4):\n    if i == 1:\n        s += x\n"
        "    elif i == 2:\n        s += x**2\n    else:\n        s += x**3\ns"
    )
    r = prog.grad(x=2.0)
    assert float(r.value) == 2 + 4 + 8
    assert float(r.gradient["x"]) == 1 + 4 + 12


def test_range_may_depend_on_the_point():
    r = gc.compile("y = x\nfor i in range(n):\n    y = y * x\ny").grad(x=2.0, n=3.0, wrt="x")
    assert float(r.value) == 16 and float(r.gradient["x"]) == 32
    with pytest.raises(EvalError, match="no result"):
        gc.compile("y = x\nfor i in range(2):\n    y = y * x").eval(x=2.0)
    assert float(gc.compile("y = x * 3").eval(x=2.0).value) == 6  # an assignment's value


def test_pipe_list_literals_indexing_and_transpose():
    x = np.arange(6.0).reshape(2, 3)
    r = gc.compile("[x[0, :], x[1, :] * 2] | sum").grad(x=x)
    np.testing.assert_allclose(r.gradient["x"], [[1, 1, 1], [2, 2, 2]])
    r = gc.compile("sum(x.T @ x)").grad(x=x)
    np.testing.assert_allclose(r.gradient["x"], 2 * x @ np.ones((3, 3)))


def test_an_unused_variable_gets_a_zero_gradient_of_its_shape():
    r = gc.compile("3*x1*x1 + 9*x2").grad(x1=1.0, x2=2.0)
    assert float(r.gradient["x2"]) == 9 and float(r.gradient["x1"]) == 6
    r = gc.compile("sum(x + detach(y))").grad(x=1.0, y=np.ones(3))
    np.testing.assert_array_equal(r.gradient["y"], np.zeros(3))


@pytest.mark.parametrize("n", [5, 100_000])  # the eager path, and the blocked one
def test_results_are_arrays_of_their_own(n):
    """No result is read-only or shares memory with the point, v or another result, though
    a rule may pass an input on (the gradient of sum(x) is a broadcast; of `x` under vjp,
    v itself) and a value may be a variable."""
    x, v = np.linspace(0, 1, n), np.ones(n)
    results = [
        gc.compile("sum(x)").grad(x=x),
        gc.compile("x").vjp({"x": x}, v=v),
        gc.compile("sum(x + y)").grad(x=x, y=2 * x),
        gc.compile("x").eval(x=x),
        gc.compile("x * y").vjp({"x": x, "y": 2 * x}, v=v),
    ]
    for r in results:
        arrays = [r.value, *(r.gradient or r.vjp or {}).values()]
        for i, a in enumerate(arrays):
            assert a.flags.writeable
            for b in [x, v, *arrays[:i]]:
                assert not np.shares_memory(a, b)
    cols = gc.compile("x").grad_points(x=x)
    assert not np.shares_memory(cols.value, x) and cols.value.flags.writeable


def test_numbers_beside_float32_arrays_stay_float32():
    f = np.ones(3, np.float32)
    for got in [
        gc.where(gc.tensor([True, False, True]), f, 0),
        gc.clip(f, 0, 1),
        gc.maximum(0, f),
        gc.add(0, f),
        gc.pow(2, f),
        gc.maximum(f, 0),
    ]:
        assert got.dtype == np.float32
    assert gc.add(1, 2).dtype == np.float64


def test_float32_is_kept_through_constants_and_constructors():
    r = gc.compile("sum(x * 2.5 + ones(3))", dtype="float32").grad(x=np.ones(3))
    assert r.value.dtype == np.float32 and r.gradient["x"].dtype == np.float32


@pytest.mark.parametrize(
    "text, point, kind, col",
    [
        ("x + y", {"x": 1.0}, UnboundVariableError, None),
        ("x + y", {"x": np.ones(2), "y": np.ones(3)}, ShapeError, 1),
        ("sum(x, axis=2)", {"x": np.ones(2)}, ShapeError, 1),
        ("mm(a, b)", {"a": np.ones((1, 3)), "b": np.ones((2, 1))}, ShapeError, 1),
        ("x + 1", {"x": 1.0, "z": 2.0}, UsageError, None),
        ("inv(x)", {"x": np.zeros((2, 2))}, EvalError, 1),
    ],
)
def test_evaluation_errors_name_the_problem_and_point_at_it(text, point, kind, col):
    with pytest.raises(kind) as info:
        gc.compile(text).eval(point)
    err = info.value
    assert err.hint
    if col is not None:
        assert err.span is not None and err.span.col + 1 == col
        assert "^" in err.render()


def test_parse_errors_before_evaluation():
    with pytest.raises(UnknownFunctionError) as info:
        gc.compile("sine(x)")
    assert "sin" in info.value.hint
    with pytest.raises(SignatureError) as info:
        gc.compile("clip(x, 1, 2, 3)")
    assert "clip(" in info.value.hint
    assert info.value.exit_code == 2


def test_domain_warnings_name_the_operation_and_strict_makes_them_errors():
    r = gc.compile("1 + log(x)").eval(x=np.array([1.0, -1.0]))
    assert np.isnan(r.value[1])
    (w,) = r.warnings
    assert w.message.startswith("log") and "index (1,)" in w.message and w.span.col == 4
    with pytest.raises(DomainError):
        gc.compile("1 + log(x)", strict=True).eval(x=np.array([1.0, -1.0]))
    assert not gc.compile("x / y").eval(x=1.0, y=2.0).warnings


def test_limits_are_clear_errors():
    with pytest.raises(LimitError):
        gc.compile("y = x\nwhile y > 0:\n    y = y + 1\ny", max_iterations=1000).eval(x=1.0)
    with pytest.raises(LimitError):
        gc.compile("ones(100000, 100000) | sum").eval()
    with pytest.raises(LimitError):
        gc.compile("sum(x * reshape(x, (-1, 1)))", max_elements=10**4).eval(x=np.ones(1000))
    assert math.isinf(float(gc.compile("10**10**10").eval().value))


def test_a_condition_must_be_a_single_value():
    with pytest.raises(ShapeError) as info:
        gc.compile("y = x\nif y > 0:\n    y = -y\ny").eval(x=np.ones(3))
    assert "norm" in info.value.hint


def test_randn_takes_the_seed_through_points():
    from gradcli.lang.points import load_point

    a = load_point(["x=randn(3)"], None, seed=7)["x"]
    b = load_point(["x=randn(3)"], None, seed=7)["x"]
    np.testing.assert_array_equal(a, b)


# -- random expressions against a direct NumPy evaluation ----------------------------------

UNARY = {
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "exp": lambda a: np.exp(np.clip(a, -30, 30)),
    "abs": np.abs,
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "atan": np.arctan,
    "softplus": lambda a: np.logaddexp(0, a),
    "square": np.square,
    "relu": lambda a: np.maximum(a, 0),
    "expm1": lambda a: np.expm1(np.clip(a, -30, 30)),
    "sinh": lambda a: np.sinh(np.clip(a, -30, 30)),
    "log1p": lambda a: np.log1p(np.abs(a)),
    "sqrt": lambda a: np.sqrt(np.abs(a)),
}
WRAP = {
    "exp": "exp(clip({}, -30, 30))",
    "expm1": "expm1(clip({}, -30, 30))",
    "sinh": "sinh(clip({}, -30, 30))",
    "log1p": "log1p(abs({}))",
    "sqrt": "sqrt(abs({}))",
}
BINARY = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "atan2": np.arctan2,
    "hypot": np.hypot,
}
REDUCE = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "norm": np.linalg.norm,
    "logsumexp": lambda a: np.log(np.sum(np.exp(a - a.max()))) + a.max(),
}


def expressions(depth=3):
    leaf = st.sampled_from(
        [
            ("x", lambda e: e["x"]),
            ("y", lambda e: e["y"]),
            ("0.5", lambda e: 0.5),
            ("2", lambda e: 2.0),
        ]
    )

    def grow(children):
        unary = st.tuples(st.sampled_from(sorted(UNARY)), children).map(
            lambda t: (
                WRAP.get(t[0], t[0] + "({})").format(t[1][0]),
                lambda e, f=UNARY[t[0]], g=t[1][1]: f(g(e)),
            )
        )
        binary = st.tuples(st.sampled_from(sorted(BINARY)), children, children).map(
            lambda t: (
                (
                    f"({t[1][0]} {t[0]} {t[2][0]})"
                    if len(t[0]) == 1
                    else f"{t[0]}({t[1][0]}, {t[2][0]})"
                ),
                lambda e, f=BINARY[t[0]], a=t[1][1], b=t[2][1]: f(a(e), b(e)),
            )
        )
        return st.one_of(unary, binary)

    return st.recursive(leaf, grow, max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(
    expressions(),
    st.sampled_from(sorted(REDUCE)),
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
)
def test_random_expressions_match_numpy(expr, reduce, xs, ys):
    text, ref = expr
    env = {"x": np.array(xs), "y": np.array(ys)}
    with np.errstate(all="ignore"):
        want = REDUCE[reduce](np.broadcast_to(ref(env), (3,)))
    prog = gc.compile(f"({text}) + 0*x | {reduce}")
    got = prog.eval({k: v for k, v in env.items() if k in prog.free_vars}).value
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_a_nan_given_in_one_place_hides_no_domain_problem_elsewhere():
    r = gc.compile("log(x)").eval(x=np.array([np.nan, 0.0, -1.0]))
    (w,) = r.warnings
    assert "index (1,)" in w.message and "2 of 3" in w.message
    with pytest.raises(DomainError):
        gc.compile("log(x)", strict=True).eval(x=np.array([np.nan, 0.0, -1.0]))
    assert not gc.compile("sum(x)").eval(x=np.array([np.nan, 1.0])).warnings  # given, not made


def test_variance_divisor_never_goes_below_zero():
    assert np.isinf(gc.compile("var(x, ddof=5)").eval(x=np.array([1.0, -2, 3, 4])).value)


def test_wrt_must_name_variables():
    with pytest.raises(UsageError):
        gc.compile("x").grad(x=1.0, wrt="")
    assert gc.compile("x*y").grad(x=1.0, y=2.0, wrt="x,x").wrt == ("x",)


def test_a_float32_leaf_gets_a_float32_gradient():
    x = gc.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype="float32")
    (x**2 + gc.tensor(1.0)).sum().backward()
    assert x.grad.dtype == np.float32


def test_static_arguments_come_from_the_signatures():
    """Shapes, axes and counts are plain numbers: the parameters so named, by position or
    by keyword, in each function's signature."""
    from gradcli.lang.interpret import static_positions

    assert static_positions("sum") == ({1, 2}, None)
    assert static_positions("norm") == ({1, 2, 3}, None)
    assert static_positions("reshape") == (set(), 1)
    assert static_positions("ones") == (set(), 0)
    assert static_positions("full") == ({0}, None)
    assert static_positions("linspace") == ({0, 1, 2}, None)
    assert static_positions("sin") == (set(), None)
    r = gc.compile("sum(x * x, 0) + sum(reshape(x, 2, 2), axis=1, keepdims=True)").eval(
        x=np.arange(4.0)
    )
    np.testing.assert_array_equal(r.value, [[15.0], [19.0]])
