"""The special functions and activations against PyTorch, float64: values, gradients (a
random weighting of the output), and the conventions at kinks and jumps. Optional: skipped
without torch."""

from __future__ import annotations

import numpy as np
import pytest

import gradcli as gc

torch = pytest.importorskip("torch")

rng = np.random.default_rng(17)
F = torch.nn.functional
S = torch.special


def _u(lo, hi, n=5):
    return rng.uniform(lo, hi, size=n)


# name, gradcli function, torch function, inputs
CASES = [
    ("gamma", gc.gamma, lambda x: torch.exp(torch.lgamma(x)), [_u(0.5, 3)]),
    ("lgamma", gc.lgamma, torch.lgamma, [_u(0.5, 3)]),
    ("lgamma negative", gc.lgamma, torch.lgamma, [np.array([-0.5, -1.5, -2.7])]),
    ("digamma", gc.digamma, torch.digamma, [_u(0.5, 3)]),
    ("erfc", gc.erfc, torch.erfc, [_u(-2, 2)]),
    ("erfinv", gc.erfinv, torch.erfinv, [_u(-0.9, 0.9)]),
    ("logit", gc.logit, torch.logit, [_u(0.1, 0.9)]),
    ("expit", gc.expit, torch.sigmoid, [_u(-3, 3)]),
    ("sinc", gc.sinc, torch.sinc, [np.array([-1.3, -0.2, 0.0, 0.4, 2.5])]),
    ("exp2", gc.exp2, torch.exp2, [_u(-2, 2)]),
    ("rsqrt", gc.rsqrt, torch.rsqrt, [_u(0.1, 3)]),
    ("deg2rad", gc.deg2rad, torch.deg2rad, [_u(-200, 200)]),
    ("rad2deg", gc.rad2deg, torch.rad2deg, [_u(-3, 3)]),
    ("floor", gc.floor, torch.floor, [np.array([-1.5, -1.0, 0.0, 0.3, 2.0])]),
    ("ceil", gc.ceil, torch.ceil, [np.array([-1.5, -1.0, 0.0, 0.3, 2.0])]),
    ("round", gc.round, torch.round, [np.array([-1.5, -0.5, 0.5, 1.5, 2.4])]),
    (
        "round decimals",
        lambda x: gc.round(x, decimals=1),
        lambda x: torch.round(x, decimals=1),
        [np.array([-1.26, 0.34, 2.47])],
    ),
    ("trunc", gc.trunc, torch.trunc, [np.array([-1.5, -1.0, 0.0, 0.3, 2.0])]),
    ("gelu", gc.gelu, F.gelu, [_u(-3, 3)]),
    ("silu", gc.silu, F.silu, [_u(-3, 3)]),
    ("elu", gc.elu, F.elu, [np.array([-2.0, -0.3, 0.0, 0.4, 1.5])]),
    (
        "elu alpha",
        lambda x: gc.elu(x, alpha=0.5),
        lambda x: F.elu(x, alpha=0.5),
        [np.array([-2.0, -0.3, 0.0, 0.4, 1.5])],
    ),
    ("leaky_relu", gc.leaky_relu, F.leaky_relu, [np.array([-2.0, -0.3, 0.0, 0.4, 1.5])]),
    (
        "leaky_relu slope",
        lambda x: gc.leaky_relu(x, negative_slope=0.2),
        lambda x: F.leaky_relu(x, negative_slope=0.2),
        [np.array([-2.0, -0.3, 0.0, 0.4, 1.5])],
    ),
    ("softsign", gc.softsign, F.softsign, [_u(-3, 3)]),
    ("mish", gc.mish, F.mish, [_u(-3, 3)]),
    ("logsigmoid", gc.logsigmoid, F.logsigmoid, [np.array([-40.0, -2.0, 0.0, 3.0, 40.0])]),
    ("ndtr", gc.ndtr, S.ndtr, [_u(-3, 3)]),
    ("log_ndtr", gc.log_ndtr, S.log_ndtr, [np.array([-30.0, -3.0, 0.0, 2.0])]),
    ("ndtri", gc.ndtri, S.ndtri, [_u(0.05, 0.95)]),
    ("i0", gc.i0, torch.i0, [_u(-3, 3)]),
    ("i1", gc.i1, S.i1, [np.array([-2.0, -0.5, 0.0, 0.7, 2.5])]),
    ("logaddexp", gc.logaddexp, torch.logaddexp, [_u(-3, 3), _u(-3, 3)]),
    ("logaddexp2", gc.logaddexp2, torch.logaddexp2, [_u(-3, 3), _u(-3, 3)]),
    ("xlogy", gc.xlogy, torch.xlogy, [_u(-2, 2), _u(0.5, 2)]),
    ("xlogy at y = 0", gc.xlogy, torch.xlogy, [np.array([0.0, 0.0]), np.array([0.0, -1.0])]),
    ("fmod", gc.fmod, torch.fmod, [_u(-5, 5), np.array([1.3, -1.3, 0.7, -2.1, 1.1])]),
    (
        "remainder",
        gc.remainder,
        torch.remainder,
        [_u(-5, 5), np.array([1.3, -1.3, 0.7, -2.1, 1.1])],
    ),
    (
        "copysign",
        gc.copysign,
        torch.copysign,
        [np.array([-1.5, 0.0, 2.0, 0.7, -0.2]), np.array([2.0, -1.0, -3.0, 0.0, 1.0])],
    ),
]


@pytest.mark.parametrize("fn, tfn, xs", [pytest.param(f, t, x, id=n) for n, f, t, x in CASES])
def test_value_and_gradient_as_pytorch(fn, tfn, xs):
    ts = [gc.tensor(x, requires_grad=True) for x in xs]
    ref = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out, want = fn(*ts), tfn(*ref)
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.uniform(0.5, 1.5, size=out.shape)
    if out.requires_grad:  # (rounding records nothing: its gradient is 0)
        (out * gc.tensor(w)).sum().backward()
    if want.requires_grad:
        (want * torch.tensor(w)).sum().backward()
    for t, r in zip(ts, ref, strict=True):
        expected = np.zeros(t.shape) if r.grad is None else r.grad.numpy()
        got = np.zeros(t.shape) if t.grad is None else t.grad.data
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_xlogy_slope_at_x_zero_is_log_y_where_y_is_positive():
    """A decision: PyTorch's reverse mode gives 0 there, its forward mode and finite
    differences log(y); gradcli gives log(y) (0 only where y <= 0)."""
    x = gc.tensor([0.0, 0.0], requires_grad=True)
    gc.xlogy(x, gc.tensor([2.0, 0.0])).sum().backward()
    np.testing.assert_allclose(x.grad.data, [np.log(2.0), 0.0])
    xt = torch.zeros(1, dtype=torch.float64)
    _, tangent = torch.func.jvp(
        lambda a: torch.xlogy(a, torch.tensor([2.0], dtype=torch.float64)),
        (xt,),
        (torch.ones(1, dtype=torch.float64),),
    )
    np.testing.assert_allclose(tangent.numpy(), [np.log(2.0)])
