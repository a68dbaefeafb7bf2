"""The cache-blocked gradient path gives the eager tape's numbers, and steps aside when it
must."""

import numpy as np
import pytest

import gradcli as gc
from gradcli.blocked import BLOCK, blocked_grad
from gradcli.lang.analysis import split_reduction

N = 4 * BLOCK + 123  # several blocks and a ragged last one


def eager(text, **point):
    leaves = {k: gc.tensor(v, requires_grad=True) for k, v in point.items()}
    prog = gc.compile(text)
    run = prog.run(prog.point(point), leaves)
    run.value.backward()
    return run.value.data, {k: t.grad.data for k, t in leaves.items()}


@pytest.mark.parametrize(
    "text",
    [
        "sum(sin(x)*exp(-x**2/2) + log(1+x**2))",
        "mean(x**2*y + sin(x*y))",
        "z = x*y\nw = tanh(z) + maximum(x, 0.5)\nsum(w*w)",
    ],
)
def test_blocked_matches_the_eager_tape(text):
    rng = np.random.default_rng(0)
    point = {"x": rng.uniform(-2, 2, N), "y": rng.uniform(-1, 1, N)}
    prog = gc.compile(text)
    point = {k: v for k, v in point.items() if k in prog.free_vars}
    assert blocked_grad(prog, prog.point(point), prog.free_vars) is not None
    r = prog.grad(point)
    value, grads = eager(text, **point)
    np.testing.assert_allclose(r.value, value, rtol=1e-12)
    for k in prog.free_vars:
        np.testing.assert_allclose(r.gradient[k], grads[k], rtol=1e-12, atol=1e-15)


def test_a_scalar_variable_sums_its_gradient_over_the_blocks():
    x = np.linspace(0, 1, N)
    r = gc.compile("mean(x**2*y + sin(x*y))").grad(x=x, y=2.0)
    np.testing.assert_allclose(r.gradient["y"], np.mean(x**2 + x * np.cos(2 * x)), rtol=1e-12)
    assert r.gradient["y"].shape == ()


def test_steps_aside_for_non_elementwise_small_or_non_finite_inputs():
    prog = gc.compile("sum(x) * sum(x)")
    assert split_reduction(prog.program) is None
    small = gc.compile("sum(x*x)")
    assert blocked_grad(small, small.point(x=np.ones(10)), ("x",)) is None
    logs = gc.compile("sum(log(x))")
    x = np.ones(N)
    x[7] = -1.0
    assert blocked_grad(logs, logs.point(x=x), ("x",)) is None
    r = logs.grad(x=x)  # the eager path names the operation
    assert r.warnings and "log" in r.warnings[0].message


def test_per_point_gradients_block_by_block_are_the_eager_vjp_with_ones():
    rng = np.random.default_rng(1)
    point = {"x": rng.uniform(-2, 2, N), "y": rng.uniform(-2, 2, N)}
    prog = gc.compile("x**2*y + sin(x*y)")
    value, grads = blocked_grad(prog, prog.point(point), ("x", "y"), elementwise=True)
    r = prog.vjp(point, v=np.ones(N))
    np.testing.assert_allclose(value, r.value, rtol=1e-13)
    for k in ("x", "y"):
        np.testing.assert_allclose(grads[k], r.vjp[k], rtol=1e-13)
    assert blocked_grad(gc.compile("sum(x*y)"), prog.point(point), ("x",), elementwise=True) is None


def test_vjp_of_an_elementwise_program_runs_block_by_block(monkeypatch):
    rng = np.random.default_rng(2)
    x, y, v = rng.uniform(-2, 2, N), rng.uniform(-2, 2, N), rng.standard_normal(N)
    prog = gc.compile("x**2*y + sin(x*y)")
    calls = []
    import gradcli.blocked as blocked_module

    real = blocked_module.blocked_grad
    monkeypatch.setattr(
        blocked_module, "blocked_grad", lambda *a, **k: calls.append(k) or real(*a, **k)
    )
    r = prog.vjp(x=x, y=y, v=v)
    assert calls and calls[0]["cotangent"] is not None
    # (atol: where the terms cancel, one ulp of a sin that is not NumPy's, see kernels.py)
    np.testing.assert_allclose(r.value, x**2 * y + np.sin(x * y), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(
        r.vjp["x"], v * (2 * x * y + y * np.cos(x * y)), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(r.vjp["y"], v * (x * x + x * np.cos(x * y)), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(r.cotangent, v)
    with pytest.raises(gc.ShapeError):  # a v of another shape: the eager path says so
        prog.vjp(x=x, y=y, v=v[:-1])
