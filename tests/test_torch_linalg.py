"""The linear algebra family against PyTorch, float64: values, gradients (a random weighting
of the output) and forward-mode derivatives. Optional: skipped without torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradcli as gc

torch = pytest.importorskip("torch")

rng = np.random.default_rng(17)


def _spd(n, lead=()):
    b = rng.uniform(-1, 1, size=(*lead, n, n))
    return b @ np.swapaxes(b, -1, -2) + n * np.eye(n)


def _sym(n, lead=()):
    b = rng.uniform(-2, 2, size=(*lead, n, n))
    return (b + np.swapaxes(b, -1, -2)) / 2


def _m(*shape):
    return rng.uniform(-2, 2, size=shape)


TL = torch.linalg

# name, gradcli function, torch function, inputs
CASES = [
    ("cholesky", gc.cholesky, TL.cholesky, [_spd(3)]),
    ("cholesky batched", gc.cholesky, TL.cholesky, [_spd(3, (2,))]),
    ("eigvalsh", gc.eigvalsh, TL.eigvalsh, [_sym(3)]),
    ("eigvalsh batched", gc.eigvalsh, TL.eigvalsh, [_sym(4, (2,))]),
    ("svdvals", gc.svdvals, TL.svdvals, [_m(3, 3)]),
    ("svdvals tall", gc.svdvals, TL.svdvals, [_m(4, 2)]),
    ("svdvals wide", gc.svdvals, TL.svdvals, [_m(2, 4)]),
    ("svdvals batched", gc.svdvals, TL.svdvals, [_m(2, 3, 2)]),
    ("logabsdet", gc.logabsdet, lambda a: TL.slogdet(a)[1], [_m(3, 3)]),
    ("pinv", gc.pinv, TL.pinv, [_m(3, 3)]),
    ("pinv tall", gc.pinv, TL.pinv, [_m(4, 2)]),
    ("pinv wide", gc.pinv, TL.pinv, [_m(2, 4)]),
    ("lstsq", gc.lstsq, lambda a, b: TL.lstsq(a, b).solution, [_m(4, 2), _m(4, 3)]),
    (
        "matrix_power 3",
        lambda a: gc.matrix_power(a, 3),
        lambda a: TL.matrix_power(a, 3),
        [_m(3, 3)],
    ),
    (
        "matrix_power -2",
        lambda a: gc.matrix_power(a, -2),
        lambda a: TL.matrix_power(a, -2),
        [_m(3, 3) + 3 * np.eye(3)],
    ),
    ("expm", gc.expm, TL.matrix_exp, [_m(3, 3) / 2]),
    ("matrix_exp batched", gc.matrix_exp, TL.matrix_exp, [_m(2, 2, 2)]),
    ("kron", gc.kron, torch.kron, [_m(2, 3), _m(3, 2)]),
    ("kron mixed", gc.kron, torch.kron, [_m(3), _m(2, 2)]),
    ("cross", gc.cross, lambda a, b: TL.cross(a, b), [_m(2, 3), _m(2, 3)]),
    (
        "cross axis 0",
        lambda a, b: gc.cross(a, b, axis=0),
        lambda a, b: TL.cross(a, b, dim=0),
        [_m(3, 2), _m(3, 2)],
    ),
    ("tril", gc.tril, torch.tril, [_m(3, 4)]),
    ("triu 1", lambda x: gc.triu(x, 1), lambda x: torch.triu(x, 1), [_m(2, 3, 3)]),
    ("tril -1", lambda x: gc.tril(x, -1), lambda x: torch.tril(x, -1), [_m(4, 3)]),
    ("diagonal", gc.diagonal, torch.diagonal, [_m(3, 4)]),
    (
        "diagonal offset",
        lambda x: gc.diagonal(x, 1, 1, 2),
        lambda x: torch.diagonal(x, 1, 1, 2),
        [_m(2, 3, 4)],
    ),
    (
        "diagonal negative",
        lambda x: gc.diagonal(x, -1),
        lambda x: torch.diagonal(x, -1),
        [_m(3, 3)],
    ),
    ("vdot", gc.vdot, lambda a, b: torch.dot(a.reshape(-1), b.reshape(-1)), [_m(2, 3), _m(3, 2)]),
    ("inner", gc.inner, torch.inner, [_m(2, 3), _m(4, 3)]),
    ("tensordot", gc.tensordot, torch.tensordot, [_m(2, 3, 4), _m(3, 4, 2)]),
    (
        "tensordot pairs",
        lambda a, b: gc.tensordot(a, b, axes=([0, 2], [1, 0])),
        lambda a, b: torch.tensordot(a, b, dims=([0, 2], [1, 0])),
        [_m(2, 3, 4), _m(4, 2, 5)],
    ),
    (
        "tensordot 0",
        lambda a, b: gc.tensordot(a, b, axes=0),
        lambda a, b: torch.tensordot(a, b, dims=0),
        [_m(2), _m(3)],
    ),
]
for _ord in (1, 2, math.inf, -math.inf, 3, 0.5):
    CASES.append(
        (
            f"norm ord={_ord}",
            lambda x, o=_ord: gc.norm(x, o, axis=-1),
            lambda t, o=_ord: TL.vector_norm(t, o, dim=-1),
            [_m(3, 4)],
        )
    )
for _ord in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf):
    CASES.append(
        (
            f"matrix_norm ord={_ord}",
            lambda x, o=_ord: gc.matrix_norm(x, o),
            lambda t, o=_ord: TL.matrix_norm(t, o),
            [_m(2, 3, 4)],
        )
    )
    CASES.append(
        (
            f"norm matrix ord={_ord}",
            lambda x, o=_ord: gc.norm(x, o),
            lambda t, o=_ord: TL.matrix_norm(t, o),
            [_m(3, 3)],
        )
    )


@pytest.mark.parametrize("name, f, ft, xs", CASES, ids=[c[0] for c in CASES])
def test_value_gradient_and_jvp_as_pytorch(name, f, ft, xs):
    ts = [gc.tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    tt = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    want = ft(*tt)
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.standard_normal(out.shape)
    (out * w).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    for t, x in zip(ts, tt, strict=False):
        np.testing.assert_allclose(t.grad.data, x.grad.numpy(), rtol=1e-8, atol=1e-10)
    vs = [rng.standard_normal(x.shape) for x in xs]
    if name.startswith(("cholesky", "eigvalsh")):  # tangents of a symmetric matrix
        vs = [(v + np.swapaxes(v, -1, -2)) / 2 for v in vs]
    _, jv = gc.functional.jvp(f, tuple(gc.tensor(x) for x in xs), tuple(gc.tensor(v) for v in vs))
    _, want_jv = torch.func.jvp(
        ft, tuple(torch.tensor(x) for x in xs), tuple(torch.tensor(v) for v in vs)
    )
    np.testing.assert_allclose(jv.data, want_jv.numpy(), rtol=1e-8, atol=1e-10)


def test_norm_gradient_at_zero_as_pytorch():
    for o in (1, 2, math.inf, 3):
        x = gc.tensor(np.zeros(3), requires_grad=True)
        gc.norm(x, o).backward()
        t = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        TL.vector_norm(t, o).backward()
        np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


def test_hessian_of_eigvalsh_and_expm_as_pytorch():
    for f, ft, x in [
        (lambda a: gc.sum(gc.eigvalsh(a) ** 3), lambda a: (TL.eigvalsh(a) ** 3).sum(), _sym(3)),
        (lambda a: gc.sum(gc.expm(a) ** 2), lambda a: (TL.matrix_exp(a) ** 2).sum(), _m(2, 2) / 2),
        (lambda a: gc.matrix_norm(a, "nuc"), lambda a: TL.matrix_norm(a, "nuc"), _m(3, 2)),
    ]:
        h = gc.functional.hessian(f, gc.tensor(x))
        want = torch.autograd.functional.hessian(ft, torch.tensor(x))
        np.testing.assert_allclose(h.data, want.numpy(), rtol=1e-7, atol=1e-9)
