"""Optional: the scans, order statistics, statistics, shapes and einsum's full forms against
PyTorch in float64, values and gradients (skipped without torch)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcli as gc

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
X = RNG.standard_normal((3, 4))
A = RNG.standard_normal((3, 3))
T = RNG.standard_normal((2, 3, 4))
Z = np.array([[1.5, 0.0, -2.0, 0.0], [0.5, 2.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
IDX = np.array([[0, 3, 3], [1, 1, 0], [2, 0, 1]])

# (name, ours, torch's, input)
CASES = [
    ("cumsum", lambda x: gc.cumsum(x, axis=1), lambda x: torch.cumsum(x, 1), X),
    ("cumprod", lambda x: gc.cumprod(x, axis=1), lambda x: torch.cumprod(x, 1), X),
    ("cumprod_zeros", lambda x: gc.cumprod(x, axis=1), lambda x: torch.cumprod(x, 1), Z),
    ("diff", lambda x: gc.diff(x, 2, axis=0), lambda x: torch.diff(x, 2, dim=0), X),
    ("sort", lambda x: gc.sort(x), lambda x: torch.sort(x, stable=True).values, X),
    ("median_axis", lambda x: gc.median(x, axis=0), None, X),
    (
        "quantile",
        lambda x: gc.quantile(x, [0.1, 0.5, 0.9], axis=1),
        lambda x: torch.quantile(x, torch.tensor([0.1, 0.5, 0.9], dtype=x.dtype), dim=1),
        X,
    ),
    ("quantile_all", lambda x: gc.quantile(x, 0.37), lambda x: torch.quantile(x, 0.37), X),
    ("cov", gc.cov, torch.cov, X),
    ("corrcoef", gc.corrcoef, torch.corrcoef, X),
    ("flip", lambda x: gc.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2)), T),
    (
        "roll",
        lambda x: gc.roll(x, (1, -2), axis=(0, 2)),
        lambda x: torch.roll(x, (1, -2), (0, 2)),
        T,
    ),
    ("tile", lambda x: gc.tile(x, (2, 1, 3)), lambda x: torch.tile(x, (2, 1, 3)), X),
    (
        "repeat",
        lambda x: gc.repeat(x, 2, axis=1),
        lambda x: torch.repeat_interleave(x, 2, dim=1),
        X,
    ),
    (
        "pad",
        lambda x: gc.pad(x, ((1, 2), (0, 3)), constant_values=1.5),
        lambda x: torch.nn.functional.pad(x, (0, 3, 1, 2), value=1.5),
        X,
    ),
    (
        "moveaxis",
        lambda x: gc.moveaxis(x, [0, 1], [2, 0]),
        lambda x: torch.movedim(x, (0, 1), (2, 0)),
        T,
    ),
    ("swapaxes", lambda x: gc.swapaxes(x, 0, 2), lambda x: torch.swapaxes(x, 0, 2), T),
    ("expand_dims", lambda x: gc.expand_dims(x, 1), lambda x: torch.unsqueeze(x, 1), X),
    (
        "broadcast_to",
        lambda x: gc.broadcast_to(x, (2, 3, 4)),
        lambda x: torch.broadcast_to(x, (2, 3, 4)),
        X,
    ),
    (
        "take_along_axis",
        lambda x: gc.take_along_axis(x, IDX, 1),
        lambda x: torch.take_along_dim(x, torch.tensor(IDX), 1),
        X,
    ),
    ("einsum_trace", lambda a: gc.einsum("ii->", a), lambda a: torch.einsum("ii->", a), A),
    ("einsum_diag", lambda a: gc.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a), A),
    (
        "einsum_iij",
        lambda a: gc.einsum("iij->j", a),
        lambda a: torch.einsum("iij->j", a),
        RNG.standard_normal((3, 3, 2)),
    ),
    (
        "einsum_ellipsis",
        lambda t: gc.einsum("...ij,jk->...ik", t, X),
        lambda t: torch.einsum("...ij,jk->...ik", t, torch.tensor(X)),
        T[:, :, :3],
    ),
    (
        "einsum_three",
        lambda a: gc.einsum("ij,jk,ki->", a, a, a),
        lambda a: torch.einsum("ij,jk,ki->", a, a, a),
        A,
    ),
]


@pytest.mark.parametrize("name, ours, theirs, x", CASES, ids=[c[0] for c in CASES])
def test_against_torch(name, ours, theirs, x):
    if theirs is None:  # torch's median takes the lower middle: compare with its mean form
        theirs = lambda t: torch.quantile(t, 0.5, dim=0)  # noqa: E731
    w = np.random.default_rng(3).uniform(0.5, 1.5, np.shape(ours(gc.tensor(x)).data))
    t = gc.tensor(x, requires_grad=True)
    out = ours(t)
    (out * gc.tensor(w)).sum().backward()
    tt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = theirs(tt)
    (ref * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad.data, tt.grad.numpy(), rtol=1e-10, atol=1e-12)
