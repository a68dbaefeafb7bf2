"""Every row of the table of primitives, checked against finite differences.

Parametrised over `PRIMITIVES`: a new row is tested with no new test code. Elementwise rows
are tried on a scalar, a vector, a (3, 2) and a (1, 2) array (broadcasting rows also on
mixed shapes) at random points of their `domain`; other rows on their own `samples`.
For each case: the VJP and the JVP against central finite differences, the second
derivative through create_graph, batched cotangents and tangents (jacobian in both
strategies), and float32 in, float32 out.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import gradcli as gc
from gradcli.engine.ops import PRIMITIVES
from gradcli.engine.primitive import call as _apply
from gradcli.engine.tensor import Tensor

SHAPES = [(), (3,), (3, 2), (1, 2)]
MIXED = [((3, 2), (1, 2)), ((3, 2), (2,)), ((3, 2), ()), ((3, 1), (1, 2))]
H = 1e-6
RTOL = 1e-6


def _shape_combos(arity: int, broadcast: bool) -> list[tuple]:
    combos = [(s,) * arity for s in SHAPES]
    if broadcast and arity > 1:
        for big, small in MIXED:
            for i in range(arity):
                for a, b in ((big, small), (small, big)):
                    combos.append(tuple(a if j == i else b for j in range(arity)))
    return list(dict.fromkeys(combos))


def _cases(prim) -> list[tuple[tuple[np.ndarray, ...], dict]]:
    rng = np.random.default_rng(zlib.crc32(prim.name.encode()))
    if prim.samples is not None:
        return prim.samples(rng)
    return [
        (
            tuple(
                np.asarray(rng.uniform(lo, hi, size=s))
                for (lo, hi), s in zip(prim.domain, shapes, strict=True)
            ),
            {},
        )
        for shapes in _shape_combos(len(prim.domain), prim.broadcast)
    ]


def _describe(xs, params) -> str:
    shapes = "_".join("x".join(map(str, x.shape)) or "s" for x in xs)
    extra = ""
    if "axis" in params and "keepdims" in params:
        extra = f"-ax{''.join(str(-a) for a in params['axis'])}{'k' if params['keepdims'] else ''}"
    elif "spec" in params:
        extra = "-" + params["spec"].replace(",", "_").replace("->", "to")
    return shapes + extra


def _params(differentiable: bool):
    out = []
    for name, prim in PRIMITIVES.items():
        if prim.differentiable != differentiable:
            continue
        for k, (xs, params) in enumerate(_cases(prim)):
            out.append(pytest.param(prim, xs, params, id=f"{name}-{k}-{_describe(xs, params)}"))
    return out


DIFF = _params(True)
NONDIFF = _params(False)


# -- helpers ---------------------------------------------------------------------------------


def _wrt(prim, xs) -> list[int]:
    """The inputs to differentiate: floating ones with a VJP rule."""
    return [i for i, x in enumerate(xs) if x.dtype.kind == "f" and prim.vjp[i] is not None]


def _const(x) -> Tensor:
    return gc.tensor(x) if x.dtype.kind == "f" else Tensor.wrap(x)


def _fn(prim, xs, params, idx):
    """f(*differentiated inputs) -> Tensor, the other inputs held fixed."""

    def f(*ts):
        args = [_const(x) for x in xs]
        for i, t in zip(idx, ts, strict=True):
            args[i] = t
        return _apply(prim.name, *args, **params)

    return f


def _np_forward(prim, xs, params, idx, shifts):
    args = list(xs)
    for i, d in zip(idx, shifts, strict=True):
        args[i] = xs[i] + d
    return np.asarray(prim.forward(*args, **params), dtype=np.float64)


def _fd(prim, xs, params, idx, us, h=H):
    """Central difference of the forward along the directions us."""
    plus = _np_forward(prim, xs, params, idx, [h * u for u in us])
    minus = _np_forward(prim, xs, params, idx, [-h * u for u in us])
    return (plus - minus) / (2 * h)


def _rng(prim, xs, salt: str):
    return np.random.default_rng(
        zlib.crc32((prim.name + salt + repr([x.shape for x in xs])).encode())
    )


def _close(a: float, b: float, scale: float, rtol=RTOL):
    assert abs(a - b) <= rtol * max(1.0, abs(a), abs(b), scale), (a, b, scale)


def _grads(prim, xs, params, idx, v, create_graph=False, dtype=None):
    ts = [gc.tensor(xs[i], requires_grad=True, dtype=dtype) for i in idx]
    out = _fn(prim, xs, params, idx)(*ts)
    gs = gc.autograd.grad(out, ts, grad_outputs=v, create_graph=create_graph, allow_unused=True)
    return (
        ts,
        out,
        [
            Tensor.wrap(np.zeros_like(t.data)) if g is None else g
            for g, t in zip(gs, ts, strict=True)
        ],
    )


# -- differentiable rows -----------------------------------------------------------------------


@pytest.mark.parametrize("prim, xs, params", DIFF)
def test_vjp_matches_finite_differences(prim, xs, params):
    idx = _wrt(prim, xs)
    assert idx, f"{prim.name}: no differentiable input"
    rng = _rng(prim, xs, "vjp")
    out = _np_forward(prim, xs, params, idx, [0] * len(idx))
    v = rng.standard_normal(out.shape)
    us = [rng.standard_normal(xs[i].shape) for i in idx]
    _, got, gs = _grads(prim, xs, params, idx, v)
    np.testing.assert_allclose(got.data, out, rtol=1e-12, atol=1e-12)
    for i, g in zip(idx, gs, strict=True):
        assert g.shape == xs[i].shape, (prim.name, i, g.shape)
    lhs = sum(float(np.sum(u * g.data)) for u, g in zip(us, gs, strict=True))
    rhs = float(np.sum(v * _fd(prim, xs, params, idx, us)))
    scale = sum(float(np.sum(np.abs(u * g.data))) for u, g in zip(us, gs, strict=True))
    _close(lhs, rhs, scale)
    # each input on its own, so that a wrong rule is named
    for k in range(len(idx)):
        only = [u if j == k else np.zeros_like(u) for j, u in enumerate(us)]
        _close(
            float(np.sum(us[k] * gs[k].data)),
            float(np.sum(v * _fd(prim, xs, params, idx, only))),
            float(np.sum(np.abs(us[k] * gs[k].data))),
        )


@pytest.mark.parametrize("prim, xs, params", DIFF)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unrecorded_and_recorded_backward_agree(prim, xs, params, dtype):
    """The rules on NumPy arrays (plain backward) and on Tensors (create_graph): the same
    numbers (to a few units in the last place: NumPy's scalar and array loops may round
    differently), shapes and dtypes."""
    idx = _wrt(prim, xs)
    v = (
        _rng(prim, xs, "paths")
        .standard_normal(_np_forward(prim, xs, params, idx, [0] * len(idx)).shape)
        .astype(dtype)
    )
    _, _, plain = _grads(prim, xs, params, idx, v, dtype=dtype)
    _, _, recorded = _grads(prim, xs, params, idx, v, create_graph=True, dtype=dtype)
    for a, b in zip(plain, recorded, strict=True):
        assert type(a) is Tensor and a.dtype == b.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(
            a.data,
            b.data,
            rtol=8 * np.finfo(dtype).eps,
            atol=8 * np.finfo(dtype).eps * float(np.abs(b.data).max(initial=1)),
        )


@pytest.mark.parametrize("prim, xs, params", [p for p in DIFF if p.values[0].partials])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_partials_are_the_vjp_of_ones(prim, xs, params, dtype):
    """Each row's `partials`: the VJP of a cotangent of ones, to the last bit (1: the
    cotangent itself), wherever the partial gives an array of the dtype (elsewhere the tape
    runs the rule)."""
    from gradcli.engine.tensor import no_grad, raw_rules

    xs = tuple(x.astype(dtype) if x.dtype.kind == "f" else x for x in xs)
    with no_grad(), raw_rules(), np.errstate(all="ignore"):
        out = np.asarray(prim.forward(*xs, **params))
        ones = np.ones(out.shape, dtype)
        for i in _wrt(prim, xs):
            want = np.asarray(prim.vjp[i](ones, out, *xs, **params))
            d = prim.partials[i]
            if d is None:
                continue
            got = ones if d == 1 else d(out, *xs, **params)
            if isinstance(got, np.ndarray) and got.dtype == dtype:
                np.testing.assert_array_equal(
                    np.broadcast_to(got, out.shape), np.broadcast_to(want, out.shape)
                )


@pytest.mark.parametrize("prim, xs, params", DIFF)
def test_jvp_matches_finite_differences(prim, xs, params):
    idx = _wrt(prim, xs)
    rng = _rng(prim, xs, "jvp")
    us = [rng.standard_normal(xs[i].shape) for i in idx]
    out, tangent = gc.functional.jvp(
        _fn(prim, xs, params, idx),
        tuple(gc.tensor(xs[i]) for i in idx),
        tuple(gc.tensor(u) for u in us),
    )
    fd = _fd(prim, xs, params, idx, us)
    assert tangent.shape == out.shape == fd.shape
    np.testing.assert_allclose(
        tangent.data, fd, rtol=RTOL, atol=RTOL * max(1.0, float(np.abs(fd).max(initial=0)))
    )


@pytest.mark.parametrize("prim, xs, params", DIFF)
def test_second_derivative_matches_finite_differences(prim, xs, params):
    """The VJP of the VJP (create_graph) against finite differences of the VJP."""
    idx = _wrt(prim, xs)
    rng = _rng(prim, xs, "hvp")
    v = rng.standard_normal(_np_forward(prim, xs, params, idx, [0] * len(idx)).shape)
    ws = [rng.standard_normal(xs[i].shape) for i in idx]
    us = [rng.standard_normal(xs[i].shape) for i in idx]

    def s_at(shifts):
        shifted = list(xs)
        for i, d in zip(idx, shifts, strict=True):
            shifted[i] = xs[i] + d
        _, _, gs = _grads(prim, shifted, params, idx, v)
        return sum(float(np.sum(w * g.data)) for w, g in zip(ws, gs, strict=True))

    ts, _, gs = _grads(prim, xs, params, idx, v, create_graph=True)
    s = None
    for w, g in zip(ws, gs, strict=True):
        if g.requires_grad:
            term = (g * gc.tensor(w)).sum()
            s = term if s is None else s + term
    if s is None:
        second = [np.zeros_like(xs[i]) for i in idx]
    else:
        second = [
            np.zeros_like(xs[i]) if d is None else d.data
            for i, d in zip(idx, gc.autograd.grad(s, ts, allow_unused=True), strict=True)
        ]
    lhs = sum(float(np.sum(u * d)) for u, d in zip(us, second, strict=True))
    rhs = (s_at([H * u for u in us]) - s_at([-H * u for u in us])) / (2 * H)
    scale = sum(float(np.sum(np.abs(u * d))) for u, d in zip(us, second, strict=True))
    _close(lhs, rhs, scale, rtol=1e-5)


@pytest.mark.parametrize("prim, xs, params", DIFF)
def test_batched_jacobians_agree(prim, xs, params):
    """Both strategies push a whole basis at once (leading batch axes through every rule)."""
    idx = _wrt(prim, xs)
    f = _fn(prim, xs, params, idx)
    inputs = tuple(gc.tensor(xs[i]) for i in idx)
    rev = gc.functional.jacobian(f, inputs, strategy="reverse-mode")
    fwd = gc.functional.jacobian(f, inputs, strategy="forward-mode")
    out_shape = _np_forward(prim, xs, params, idx, [0] * len(idx)).shape
    for k, i in enumerate(idx):
        x = xs[i]
        fd = np.zeros(out_shape + x.shape)
        for flat in range(x.size):
            e = np.zeros(x.size)
            e[flat] = 1.0
            us = [e.reshape(x.shape) if j == k else np.zeros_like(xs[m]) for j, m in enumerate(idx)]
            fd.reshape((*out_shape, x.size))[..., flat] = _fd(prim, xs, params, idx, us)
        assert rev[k].shape == fwd[k].shape == out_shape + x.shape
        np.testing.assert_allclose(rev[k].data, fwd[k].data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            rev[k].data, fd, rtol=RTOL, atol=RTOL * max(1.0, float(np.abs(fd).max(initial=0)))
        )


@pytest.mark.parametrize("prim, xs, params", DIFF)
def test_float32_stays_float32(prim, xs, params):
    idx = _wrt(prim, xs)
    xs32 = tuple(x.astype(np.float32) if x.dtype.kind == "f" else x for x in xs)
    rng = _rng(prim, xs, "f32")
    out_shape = _np_forward(prim, xs, params, idx, [0] * len(idx)).shape
    v = rng.standard_normal(out_shape)  # a float64 cotangent: cast, never promoting
    _, out, gs = _grads(prim, xs32, params, idx, v.astype(np.float32), dtype="float32")
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in gs), [g.dtype for g in gs]
    _, _, gs = _grads(prim, xs32, params, idx, v, dtype="float32")
    assert all(g.dtype == np.float32 for g in gs), [g.dtype for g in gs]
    _, _, gs = _grads(
        prim, xs32, params, idx, v.astype(np.float32), create_graph=True, dtype="float32"
    )
    assert all(g.dtype == np.float32 for g in gs), [g.dtype for g in gs]
    f = _fn(prim, xs32, params, idx)
    inputs = tuple(gc.tensor(xs32[i]) for i in idx)
    _, tangent = gc.functional.jvp(
        f, inputs, tuple(gc.tensor(np.ones_like(t.data)) for t in inputs)
    )
    assert tangent.dtype == np.float32
    for strategy in ("reverse-mode", "forward-mode"):
        jac = gc.functional.jacobian(f, inputs, strategy=strategy)
        assert all(j.dtype == np.float32 for j in jac), (strategy, [j.dtype for j in jac])


# -- the rest of the table -------------------------------------------------------------------


@pytest.mark.parametrize("prim, xs, params", NONDIFF)
def test_non_differentiable_rows_forward_only(prim, xs, params):
    ts = [gc.tensor(x, requires_grad=True) for x in xs]
    out = _apply(prim.name, *ts, **params)
    np.testing.assert_array_equal(out.data, prim.forward(*xs, **params))
    assert not out.requires_grad and out.grad_fn is None
    # its derivative is zero: nothing flows back through it
    jac = gc.functional.jacobian(
        lambda *a: _apply(prim.name, *a, **params) * 1.0, tuple(gc.tensor(x) for x in xs)
    )
    assert all(not np.any(j.data) for j in jac)


def test_table_is_validated_and_named():
    from gradcli.engine.primitive import Primitive, register as _row

    for name, prim in PRIMITIVES.items():
        assert prim.name == name
        assert prim.node_type.__name__.endswith("Backward0")
        assert len(prim.vjp) == len(prim.jvp)
        if prim.differentiable:
            assert any(r is not None for r in (prim.vjp[i] for i in range(len(prim.vjp))))
    assert PRIMITIVES["add"].node_type.__name__ == "AddBackward0"
    assert PRIMITIVES["diag_embed"].node_type.__name__ == "DiagEmbedBackward0"
    with pytest.raises(ValueError, match="defined twice"):
        _row(PRIMITIVES["add"])
    with pytest.raises(ValueError, match="samples"):
        _row(Primitive("__untestable", np.sum, vjp=(None,), jvp=(None,)))
    assert "__untestable" not in PRIMITIVES


def test_every_row_has_cases():
    for prim in PRIMITIVES.values():
        assert _cases(prim), prim.name
