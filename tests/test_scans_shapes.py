"""The scans, order statistics, statistics and shapes (engine/ops_shapes.py) and einsum's
full forms: NumPy's values, and gradients (reverse and forward mode, and second order)
against finite differences. The rows themselves are also in the table-driven tests."""

from __future__ import annotations

import numpy as np
import pytest

import gradcli as gc
from gradcli.errors import GradcliError

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4))
V = RNG.standard_normal(5)
A = RNG.standard_normal((3, 3))
T = RNG.standard_normal((2, 3, 4))

# (name, our function, NumPy's, the input)
CASES = [
    ("cumsum", lambda x: gc.cumsum(x), lambda x: np.cumsum(x), X),
    ("cumsum0", lambda x: gc.cumsum(x, axis=0), lambda x: np.cumsum(x, axis=0), X),
    ("cumprod", lambda x: gc.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1), X),
    ("cumprod0s", lambda x: gc.cumprod(x), np.cumprod, np.array([1.5, 0.0, -2.0, 0.0, 0.5])),
    ("diff", lambda x: gc.diff(x), np.diff, X),
    ("diff2", lambda x: gc.diff(x, 2, axis=0), lambda x: np.diff(x, 2, axis=0), X),
    ("sort", lambda x: gc.sort(x), np.sort, X),
    ("sort0", lambda x: gc.sort(x, axis=0), lambda x: np.sort(x, axis=0), X),
    ("median", lambda x: gc.median(x), np.median, X),
    ("median_odd", lambda x: gc.median(x), np.median, V),
    (
        "median_axis",
        lambda x: gc.median(x, axis=1, keepdims=True),
        lambda x: np.median(x, axis=1, keepdims=True),
        X,
    ),
    ("quantile", lambda x: gc.quantile(x, 0.3), lambda x: np.quantile(x, 0.3), X),
    (
        "quantiles",
        lambda x: gc.quantile(x, [0.1, 0.5, 0.95], axis=0),
        lambda x: np.quantile(x, [0.1, 0.5, 0.95], axis=0),
        X,
    ),
    (
        "quantile_keep",
        lambda x: gc.quantile(x, [0.25, 1.0], axis=-1, keepdims=True),
        lambda x: np.quantile(x, [0.25, 1.0], axis=-1, keepdims=True),
        T,
    ),
    ("cov", gc.cov, np.cov, X),
    (
        "cov_cols",
        lambda x: gc.cov(x, rowvar=False, ddof=0),
        lambda x: np.cov(x, rowvar=False, ddof=0),
        X,
    ),
    ("cov_vector", gc.cov, np.cov, V),
    ("corrcoef", gc.corrcoef, np.corrcoef, X),
    ("flip", gc.flip, np.flip, X),
    ("flip1", lambda x: gc.flip(x, 1), lambda x: np.flip(x, 1), T),
    ("roll", lambda x: gc.roll(x, 2), lambda x: np.roll(x, 2), X),
    (
        "roll_axes",
        lambda x: gc.roll(x, (1, -1), axis=(0, 2)),
        lambda x: np.roll(x, (1, -1), axis=(0, 2)),
        T,
    ),
    ("tile", lambda x: gc.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), X),
    ("repeat", lambda x: gc.repeat(x, 2), lambda x: np.repeat(x, 2), X),
    (
        "repeat_axis",
        lambda x: gc.repeat(x, [1, 0, 2], axis=0),
        lambda x: np.repeat(x, [1, 0, 2], axis=0),
        X,
    ),
    ("pad", lambda x: gc.pad(x, 1), lambda x: np.pad(x, 1), X),
    (
        "pad_forms",
        lambda x: gc.pad(x, ((0, 2), (1, 0)), constant_values=((1, 2), (3, 4))),
        lambda x: np.pad(x, ((0, 2), (1, 0)), constant_values=((1, 2), (3, 4))),
        X,
    ),
    ("moveaxis", lambda x: gc.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), T),
    (
        "moveaxes",
        lambda x: gc.moveaxis(x, [0, 1], [2, 0]),
        lambda x: np.moveaxis(x, [0, 1], [2, 0]),
        T,
    ),
    ("swapaxes", lambda x: gc.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), T),
    ("expand_dims", lambda x: gc.expand_dims(x, (0, -1)), lambda x: np.expand_dims(x, (0, -1)), X),
    (
        "broadcast_to",
        lambda x: gc.broadcast_to(x, (2, 3, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 4)),
        X,
    ),
    (
        "take_along_axis",
        lambda x: gc.take_along_axis(x, np.array([[0, 3, 3], [1, 1, 0], [2, 0, 1]]), 1),
        lambda x: np.take_along_axis(x, np.array([[0, 3, 3], [1, 1, 0], [2, 0, 1]]), 1),
        X,
    ),
    ("einsum_trace", lambda a: gc.einsum("ii->", a), lambda a: np.einsum("ii->", a), A),
    ("einsum_diag", lambda a: gc.einsum("ii->i", a), lambda a: np.einsum("ii->i", a), A),
    (
        "einsum_iij",
        lambda a: gc.einsum("iij->j", a),
        lambda a: np.einsum("iij->j", a),
        RNG.standard_normal((3, 3, 2)),
    ),
    (
        "einsum_ellipsis",
        lambda t: gc.einsum("...ij,jk->...ik", t, X),
        lambda t: np.einsum("...ij,jk->...ik", t, X),
        T[:, :, :3],
    ),
    (
        "einsum_implicit",
        lambda t: gc.einsum("...j,j", t, X[0]),
        lambda t: np.einsum("...j,j", t, X[0]),
        T,
    ),
    (
        "einsum_three",
        lambda a: gc.einsum("ij,jk,ki->", a, a, a),
        lambda a: np.einsum("ij,jk,ki->", a, a, a),
        A,
    ),
]


def _fd_grad(f, x, w, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (np.sum(w * f(x + e)) - np.sum(w * f(x - e))) / (2 * h)
    return g


@pytest.mark.parametrize("name, ours, numpys, x", CASES, ids=[c[0] for c in CASES])
def test_value_and_gradients(name, ours, numpys, x):
    want = np.asarray(numpys(x))
    t = gc.tensor(x, requires_grad=True)
    out = ours(t)
    assert out.shape == want.shape
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-12)
    w = np.random.default_rng(1).uniform(0.5, 1.5, want.shape)
    (out * gc.tensor(w)).sum().backward()
    expected = _fd_grad(lambda a: np.asarray(numpys(a)), x, w)
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-6, atol=1e-7)
    v = np.random.default_rng(2).standard_normal(x.shape)
    _, tangent = gc.functional.jvp(ours, (gc.tensor(x),), (gc.tensor(v),))
    np.testing.assert_allclose(np.sum(tangent.data * w), np.sum(expected * v), rtol=1e-6, atol=1e-7)


def test_float32_stays_float32():
    x = gc.tensor(X.astype(np.float32), requires_grad=True)
    for fn in (
        gc.cumsum,
        gc.cumprod,
        gc.sort,
        gc.median,
        gc.cov,
        gc.flip,
        lambda t: gc.quantile(t, [0.2, 0.7]),
        lambda t: gc.einsum("ii->i", t[:3, :3]),
    ):
        out = fn(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32


def test_cumprod_zeros_second_order():
    """cumprod's gradient holds where x has zeros, to second order (no division by x)."""
    x = np.array([2.0, 0.0, 3.0, 0.0, -1.0])
    h = gc.functional.hessian(lambda t: gc.cumprod(t).sum(), gc.tensor(x)).data
    want = np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            if i != j:
                e = np.zeros(5)
                for k in range(max(i, j), 5):
                    e[k] = np.prod([x[m] for m in range(k + 1) if m not in (i, j)])
                want[i, j] = e.sum()
    np.testing.assert_allclose(h, want)


def test_sort_ties_route_like_numpys_stable_order():
    x = gc.tensor([2.0, 1.0, 2.0, 1.0], requires_grad=True)
    (gc.sort(x) * gc.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 1.0, 4.0, 2.0])


@pytest.mark.parametrize(
    "call",
    [
        lambda: gc.einsum("ij->", gc.ones(2, 3, 4)),
        lambda: gc.einsum("ii->i", gc.ones(2, 3)),
        lambda: gc.einsum("ij->ii", gc.ones(2, 2)),
        lambda: gc.einsum("ij->k", gc.ones(2, 2)),
        lambda: gc.quantile(gc.ones(3), 1.5),
        lambda: gc.pad(gc.ones(3), -1),
        lambda: gc.pad(gc.ones(3), 1, mode="reflect"),
        lambda: gc.repeat(gc.ones(3), [1, 2]),
        lambda: gc.take_along_axis(gc.ones(3), np.array([3]), 0),
        lambda: gc.moveaxis(gc.ones(2, 3), 0, 5),
        lambda: gc.diff(gc.tensor(1.0)),
    ],
)
def test_clear_errors(call):
    with pytest.raises(GradcliError):
        call()


HOSTILE = [
    ("sum(pad(x, 40000))", "x=ones(3, 3)"),
    ("sum(tile(x, (35000, 1)))", "x=ones(35000)"),
    ("sum(repeat(x, 35000))", "x=ones(35000)"),
    ("sum(broadcast_to(x, (35000, 35000)))", "x=ones(35000)"),
    ("sum(einsum('...i,...j->...ij', x, x))", "x=ones(35000)"),
    ("sum(einsum('ii,j,k->ijk', x, y, y))", "x=ones(2, 2), y=ones(20000)"),
]


@pytest.mark.parametrize("text, at", HOSTILE)
def test_refused_before_the_allocation(text, at):
    """The family's outputs are counted against --max-elements before they are made (in a
    child under a 2 GB address-space cap: tests/test_limits_hold.py)."""
    from test_limits_hold import run_capped

    code, doc, peak = run_capped("eval", text, "--at", at)
    assert code == 1 and doc["error"]["type"] == "LimitError", doc
    assert peak < 1 << 30, peak
