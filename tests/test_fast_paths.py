"""Properties: the fast paths give the reference path's numbers for any program.

The blocked path (tape replays, cotangents of one number, partials, unrun steps) gives the
eager engine's; structure-aware Jacobians (a symbolic identity basis, rules on arrays)
give those of a dense basis, in both modes."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import gradcli as gc
from gradcli import blocked

LEAVES = ["x", "y", "a", "0.5", "2", "3"]
UNARY = [
    "sin({})",
    "cos({})",
    "tanh({})",
    "sigmoid({})",
    "atan({})",
    "erf({})",
    "abs({})",
    "relu({})",
    "softplus({})",
    "exp(sin({}))",
    "log(1 + ({})**2)",
    "sqrt(1 + ({})**2)",
    "-({})",
    "({})**2",
    "({})**3",
]
BINARY = [
    "({}) + ({})",
    "({}) - ({})",
    "({}) * ({})",
    "({}) / (1 + ({})**2)",
    "maximum({}, {})",
    "minimum({}, {})",
]

expressions = st.recursive(
    st.sampled_from(LEAVES),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(t[1])),
        st.tuples(st.sampled_from(BINARY), inner, inner).map(lambda t: t[0].format(t[1], t[2])),
    ),
    max_leaves=8,
)

N = 300  # with blocks of 64 elements: five blocks and a ragged last one


def _data(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-2, 2, N), "y": rng.uniform(-2, 2, N)}


def _eager(fn):
    """fn() with blocking off: the eager engine."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(blocked, "MIN_SIZE", 10**18)
        return fn()


def _blocked(fn):
    """fn() with blocks of 64 elements; it must have run block by block."""
    real, ran = blocked.blocked_grad, []

    def spy(*args, **kwargs):
        got = real(*args, **kwargs)
        ran.append(got is not None)
        return got

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(blocked, "MIN_SIZE", 64)
        mp.setattr(blocked, "BLOCK", 64)
        mp.setattr(blocked, "blocked_grad", spy)
        result = fn()
    assert any(ran)
    return result


def _close(got, want):
    tol = 1e-12 if want.dtype == np.float64 else 1e-5
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, seed=st.integers(0, 3))
def test_per_point_gradients_blocked_equal_eager(dtype, text, seed):
    prog = gc.compile(text, dtype=dtype)
    assume({"x", "y"} & set(prog.free_vars))
    point = {k: v for k, v in {**_data(seed), "a": np.full(N, 0.7)}.items() if k in prog.free_vars}
    want = _eager(lambda: prog.vjp(point, v=np.ones(N)))
    assume(not want.warnings and np.all(np.isfinite(want.value)))
    for value in (True, False):
        got = _blocked(lambda value=value: prog.grad_points(point, value=value))
        if value:
            _close(got.value, want.value)
        for k in point:
            _close(got.gradient[k], want.vjp[k])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, seed=st.integers(0, 3), reduction=st.sampled_from(["sum", "mean"]))
def test_reduced_gradients_blocked_equal_eager(text, seed, reduction):
    prog = gc.compile(f"{reduction}({text})")
    assume({"x", "y"} & set(prog.free_vars))
    point = {k: v for k, v in {**_data(seed), "a": 0.7}.items() if k in prog.free_vars}
    want = _eager(lambda: prog.grad(point))
    assume(not want.warnings and np.isfinite(want.value))
    got = _blocked(lambda: prog.grad(point))
    assert not got.warnings
    _close(got.value, want.value)
    for k in point:
        assert got.gradient[k].shape == np.shape(point[k])
        _close(got.gradient[k], want.gradient[k])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, seed=st.integers(0, 3), matrix=st.booleans())
def test_structured_jacobians_equal_dense_ones(text, seed, matrix):
    """J of f(A @ x) or f(x), f elementwise in x (y and a held as constants)."""
    rng = np.random.default_rng(seed)
    n = 7
    a, y = rng.standard_normal((n, n)) / np.sqrt(n), rng.uniform(-2, 2, n)
    prog = gc.compile(text)
    assume("x" in prog.free_vars)

    def f(x):
        u = gc.tensor(a) @ x if matrix else x
        env = {"x": u, "y": gc.tensor(y), "a": gc.tensor(0.7)}
        return prog.run(
            prog.point({k: v.data for k, v in env.items() if k in prog.free_vars}),
            {k: v for k, v in env.items() if k in prog.free_vars},
        ).value

    x = gc.tensor(rng.uniform(-2, 2, n))
    with np.errstate(all="ignore"):
        dense = gc.functional.jacobian(f, x, create_graph=True).data  # an eye basis
        assume(np.all(np.isfinite(dense)))
        for strategy in ("reverse-mode", "forward-mode"):
            got = gc.functional.jacobian(f, x, strategy=strategy).data
            np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-12)
