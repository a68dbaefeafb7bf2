"""Random programs over every row of the table: every way of taking a Jacobian agrees.

For each row of `PRIMITIVES` (a new row is covered with no new test code), hypothesis draws
a small program around it, as a function of one variable X:
- the row's inputs routed from X: as they are, transposed, reversed, broadcast, reshaped
  from a vector, or the same X twice (the other inputs held constant);
- its parameters: the axes of a reduction (None, an int of either sign, a tuple) and
  keepdims, through the public function; a permutation; else the row's own `samples`;
- after it, as often as not, X or Xᵀ combined with its result by broadcasting
  (`sum(M, axis=0) * M`), then maybe one more stage: that again, a transpose, tanh or a
  reduction.
Then the vectorised reverse Jacobian, the forward-mode one, both again from a dense identity
basis instead of the structured `Diag`, both for two inputs (X = A + B), both recorded
(create_graph), a loop of single VJPs, a loop of single JVPs and central finite
differences must agree (float64); the Hessian of a weighted sum of the program must be
symmetric, equal forward-over-reverse (from either basis) and the finite differences of the
gradient, and its own derivative (the Hessian recorded) must be the same by either outer mode.

Values are drawn by NumPy from a seed (generic values, off the kinks); where a row sits on
its kink all the same (a tie of max, abs at 0), the autograd ways must still agree with
each other, and only finite differences are skipped. Derandomized, a few examples per row;
`GRADCLI_PROPERTY_EXAMPLES=2000` runs it long.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import gradcli as gc
from gradcli.engine import functional
from gradcli.engine.ops import PRIMITIVES
from gradcli.engine.tensor import Tensor, apply

EXAMPLES = int(os.environ.get("GRADCLI_PROPERTY_EXAMPLES", "6"))
# rows that are not drawn, with the reason (none today: keep it that way)
SKIP: dict[str, str] = {}
ROWS = [name for name in PRIMITIVES if name not in SKIP]
H = 1e-6  # the step of the central differences


def _case_keys(prim) -> frozenset:
    return frozenset(prim.samples(np.random.default_rng(0))[0][1]) if prim.samples else frozenset()


REDUCTIONS = [n for n, p in PRIMITIVES.items() if _case_keys(p) == {"axis", "keepdims"}]
PERMUTATIONS = [n for n, p in PRIMITIVES.items() if _case_keys(p) == {"axes"}]


def _sample_range(prim) -> tuple[float, float]:
    """The interval of the values the row's own samples hold (its domain, in effect)."""
    xs = [
        x
        for xs, _ in prim.samples(np.random.default_rng(0))
        for x in xs
        if x.dtype.kind == "f" and x.size
    ]
    return float(min(x.min() for x in xs)), float(max(x.max() for x in xs))


# -- a program: f(X) and what to say about it ------------------------------------------------


@dataclass
class Program:
    x0: np.ndarray
    stages: list[Callable] = field(default_factory=list)  # (r, X, kinks) -> r; r None at first
    text: str = "X"

    def __call__(self, x: Tensor, kinks: list | None = None) -> Tensor:
        r = None
        for stage in self.stages:
            r = stage(r, x, kinks)
        return r

    def __repr__(self) -> str:
        return f"f(X) = {self.text} at X = {self.x0.tolist()!r}"


def _run(prim, ts, params, kinks, public=None):
    """Apply a row (through its public function when given), noting whether it sits on
    its kink."""
    out = public(*ts) if public else apply(prim, tuple(ts), params)
    if kinks is not None and prim.kink:
        kinks.append(prim.kink[1](out.data, *[t.data for t in ts], **params))
    return out


def _axes(axis, ndim: int) -> tuple[int, ...]:
    """An axis argument as the table's params hold it: sorted negative axes."""
    if axis is None:
        return tuple(range(-ndim, 0))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a - ndim if a >= 0 else a for a in axes))


def _reversed_axes(nd: int) -> dict:
    return {"axes": tuple(range(-1, -nd - 1, -1))}


def _transpose(t: Tensor) -> Tensor:
    return apply(PRIMITIVES["permute"], (t,), _reversed_axes(t.ndim)) if t.ndim > 1 else t


# routes from X to an input: (name, X's value from the input's, the input from X, needs)
ROUTES = {
    "as is": (lambda v: v, lambda x, shape: x),
    "transposed": (lambda v: v.T.copy(), lambda x, shape: _transpose(x)),
    "reversed": (lambda v: v[::-1].copy(), lambda x, shape: x[::-1]),
    "from a vector": (lambda v: v.reshape(-1), lambda x, shape: gc.reshape(x, shape)),
    "broadcast": (lambda v: v[:1].copy(), lambda x, shape: gc.expand(x, shape)),
}


def _shape(draw, lo=0, hi=3) -> tuple[int, ...]:
    return tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(lo, hi))))


def _axis_argument(draw, ndim: int):
    """None, one axis (either sign) or a tuple of distinct axes (either sign)."""
    if not ndim:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    axes = st.integers(-ndim, ndim - 1)
    if kind == "int":
        return draw(axes)
    return tuple(draw(st.lists(axes, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim)))


def _reduction_call(name, axis, keepdims):
    fn = getattr(gc, name, None)
    return None if fn is None else (lambda t: fn(t, axis=axis, keepdims=keepdims))


def _base_case(draw, prim, rng):
    """(input arrays, params, public call or None, whether the values are free, text)."""
    if prim.samples is None:  # elementwise: broadcasting shapes in the row's domain
        out = _shape(draw)
        shapes = []
        for _ in prim.domain:
            tail = out[len(out) - draw(st.integers(0, len(out))) :]
            shapes.append(tuple(1 if draw(st.booleans()) else n for n in tail))
        xs = tuple(
            np.asarray(rng.uniform(lo, hi, s))
            for (lo, hi), s in zip(prim.domain, shapes, strict=True)
        )
        return xs, {}, None, True, ""
    lo, hi = _sample_range(prim)
    if prim.name in REDUCTIONS:
        shape = _shape(draw)
        axis, keepdims = _axis_argument(draw, len(shape)), draw(st.booleans())
        params = dict(axis=_axes(axis, len(shape)), keepdims=keepdims)
        return (
            (rng.uniform(lo, hi, shape),),
            params,
            _reduction_call(prim.name, axis, keepdims),
            True,
            f"axis={axis!r}, keepdims={keepdims}",
        )
    if prim.name in PERMUTATIONS:
        shape = _shape(draw, 1)
        perm = draw(st.permutations(range(len(shape))))
        params = {"axes": tuple(p - len(shape) for p in perm)}
        return (rng.uniform(lo, hi, shape),), params, None, True, f"{params}"
    cases = prim.samples(rng)
    xs, params = cases[draw(st.integers(0, len(cases) - 1))]
    return xs, params, None, False, ", ".join(f"{k}={v!r}" for k, v in params.items())


def _constant(v: np.ndarray) -> Tensor:
    return gc.tensor(v) if v.dtype.kind == "f" else gc.tensor(v.astype(float)) > 0.5


@st.composite
def programs(draw, name: str) -> Program:
    prim = PRIMITIVES[name]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xs, params, public, free, ptext = _base_case(draw, prim, rng)
    xs = list(xs)
    wrt = [
        i
        for i, x in enumerate(xs)
        if x.dtype.kind == "f" and (not prim.differentiable or prim.vjp[i] is not None)
    ]
    primary = draw(st.sampled_from(wrt))
    shape = xs[primary].shape
    routes = [
        r
        for r in ROUTES
        if (r != "broadcast" or (free and shape and shape[0] > 1))
        and (r not in ("transposed", "from a vector") or len(shape) > 1)
        and (r != "reversed" or shape)
    ]
    route = draw(st.sampled_from(routes))
    to_x, from_x = ROUTES[route]
    x0 = to_x(xs[primary])
    xs[primary] = np.broadcast_to(x0, shape).copy() if route == "broadcast" else xs[primary]
    shared = [primary] + [
        i for i in wrt if i != primary and xs[i].shape == shape and draw(st.booleans())
    ]
    for i in shared:
        xs[i] = xs[primary]

    def row(r, x, kinks):
        routed = from_x(x, shape)
        ts = [routed if i in shared else _constant(v) for i, v in enumerate(xs)]
        out = _run(prim, ts, params, kinks, public)
        if out.dtype == np.bool_:  # a mask: pick between the routed input and its negative
            out = gc.where(out, routed, -routed)
        return out

    args = ", ".join("X'" if i in shared else "c" for i in range(len(xs)))
    p = Program(x0, [row], f"{name}({args}{', ' if ptext else ''}{ptext}) with X' = {route} X")
    r = p(gc.tensor(x0))
    # first, as often as not, combined with X by broadcasting; then maybe one more stage
    for first in (True, False):
        if not draw(st.booleans()):
            continue
        stage, text = _after(draw, r.shape, x0.shape, combine=first)
        if stage is None:
            continue
        p.stages.append(stage)
        p.text = text.format(p.text)
        r = p(gc.tensor(x0))
    return p


def _after(draw, shape, x_shape, combine=False):
    """A stage after the row: (stage, its text around '{}'); with `combine`, X or Xᵀ
    combined with the result by broadcasting ((None, "") where neither broadcasts)."""
    others = [t for t, s in (("X", x_shape), ("Xᵀ", x_shape[::-1])) if _broadcasts(shape, s)]
    if combine and not others:
        return None, ""
    kinds = (
        ["tanh", "reduce"]
        + (["transpose"] if len(shape) > 1 else [])
        + (["combine"] if others else [])
    )
    kind = "combine" if combine else draw(st.sampled_from(kinds))
    if kind == "tanh":
        return (lambda r, x, kinks: gc.tanh(r)), "tanh({})"
    if kind == "transpose":
        return (lambda r, x, kinks: _transpose(r)), "({})ᵀ"
    if kind == "reduce":
        name = draw(st.sampled_from(REDUCTIONS))
        axis, keepdims = _axis_argument(draw, len(shape)), draw(st.booleans())
        params = dict(axis=_axes(axis, len(shape)), keepdims=keepdims)
        call = _reduction_call(name, axis, keepdims)
        return (
            (lambda r, x, kinks: _run(PRIMITIVES[name], [r], params, kinks, call)),
            f"{name}({{}}, axis={axis!r}, keepdims={keepdims})",
        )
    other, op = draw(st.sampled_from(others)), draw(st.sampled_from(["+", "-", "*"]))
    flip = draw(st.booleans())
    fn = {"+": gc.add, "-": gc.sub, "*": gc.mul}[op]

    def combine(r, x, kinks):
        y = x if other == "X" else _transpose(x)
        return fn(y, r) if flip else fn(r, y)

    return combine, f"{other} {op} ({{}})" if flip else f"({{}}) {op} {other}"


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


# -- the ways of taking a Jacobian -----------------------------------------------------------


@contextlib.contextmanager
def _basis(kind: str):
    """Jacobians from the structured identity (`Diag`) or from a dense one."""
    if kind == "Diag":
        yield
        return

    def dense(shape, dtype):
        n = int(np.prod(shape))
        return Tensor(np.eye(n, dtype=dtype).reshape((n, *shape)))

    with mock.patch.object(functional, "identity", dense):
        yield


def _unit(shape, k) -> Tensor:
    e = np.zeros(int(np.prod(shape)))
    e[k] = 1
    return gc.tensor(e.reshape(shape))


def jacobians(f, x0) -> dict[str, np.ndarray]:
    x = gc.tensor(x0)
    y = f(x).data
    got = {}
    for kind in ("Diag", "dense"):
        with _basis(kind):
            for strategy in ("reverse-mode", "forward-mode"):
                got[f"{strategy}, {kind} basis"] = functional.jacobian(f, x, strategy=strategy).data
    for strategy in ("reverse-mode", "forward-mode"):
        # two inputs, X = A + B: each gets the whole Jacobian
        two = functional.jacobian(
            lambda a, b: f(a + b), (x, gc.tensor(np.zeros_like(x0))), strategy=strategy
        )
        got[f"{strategy}, two inputs (A)"], got[f"{strategy}, two inputs (B)"] = (
            two[0].data,
            two[1].data,
        )
        got[f"{strategy}, recorded (create_graph)"] = functional.jacobian(
            f, x, create_graph=True, strategy=strategy
        ).data
    rows = [functional.vjp(f, x, v=_unit(y.shape, k))[1].data for k in range(y.size)]
    got["single VJPs"] = (
        np.stack(rows).reshape(y.shape + x0.shape) if rows else np.zeros(y.shape + x0.shape)
    )
    cols = [functional.jvp(f, x, v=_unit(x0.shape, k))[1].data for k in range(x0.size)]
    got["single JVPs"] = np.moveaxis(np.stack(cols), 0, -1).reshape(y.shape + x0.shape)
    return got


def finite_differences(f, x0) -> np.ndarray:
    """∂f/∂x by central differences, shaped f's shape + x's shape."""
    cols = []
    with gc.no_grad():
        for k in range(x0.size):
            e = H * _unit(x0.shape, k).data
            cols.append(
                (np.asarray(f(gc.tensor(x0 + e)).data) - np.asarray(f(gc.tensor(x0 - e)).data))
                / (2 * H)
            )
    y_shape = cols[0].shape
    return np.moveaxis(np.stack(cols), 0, -1).reshape(y_shape + x0.shape)


def hessians(s, x0) -> dict[str, np.ndarray]:
    x = gc.tensor(x0)
    got = {}
    for kind in ("Diag", "dense"):
        with _basis(kind):
            for outer in ("reverse-mode", "forward-mode"):
                got[f"{outer} over reverse, {kind} basis"] = functional.hessian(
                    s, x, outer_jacobian_strategy=outer
                ).data
    return got


def third_derivative(s, x0, outer: str) -> np.ndarray:
    """The gradient of sum(v · H(x)) for a fixed v: the Hessian recorded (create_graph)."""
    x = gc.tensor(x0, requires_grad=True)
    h = functional.hessian(s, x, create_graph=True, outer_jacobian_strategy=outer)
    if not h.requires_grad:  # (a program of degree two or less, or flat)
        return np.zeros_like(x0)
    v = gc.tensor(np.random.default_rng(1).standard_normal(h.shape))
    (g,) = gc.autograd.grad(gc.sum(h * v), [x], allow_unused=True, materialize_grads=True)
    return g.data


def gradient(s, x0) -> np.ndarray:
    x = gc.tensor(x0, requires_grad=True)
    y = s(x)
    if not y.requires_grad:  # (a flat program: sign)
        return np.zeros_like(x0)
    (g,) = gc.autograd.grad(y, [x], allow_unused=True, materialize_grads=True)
    return g.data


def _agree(got: np.ndarray, want: np.ndarray, what: str, tol: float) -> None:
    scale = max(1.0, float(np.max(np.abs(want), initial=0)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


# -- the properties --------------------------------------------------------------------------


def every_row(examples: int):
    """A property of every row, over `examples` drawn programs each."""

    def decorate(test):
        test = given(data=st.data())(test)
        test = settings(
            max_examples=examples,
            deadline=None,
            derandomize=EXAMPLES < 100,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )(test)
        return pytest.mark.parametrize("name", ROWS)(test)

    return decorate


def finite_program(data, name):
    """A drawn program of the row `name` whose value at its point is finite (pow(X, X) at
    X < 0 is not); the kinks its evaluation there met; its value."""
    p = data.draw(programs(name))
    kinks: list = []
    with gc.no_grad():
        y = p(gc.tensor(p.x0), kinks)
    assume(np.all(np.isfinite(y.data)))
    return p, kinks, y


@every_row(EXAMPLES)
def test_every_jacobian_agrees(name, data):
    p, kinks, _ = finite_program(data, name)
    got = jacobians(p, p.x0)
    ref = got.pop("reverse-mode, Diag basis")
    for what, j in got.items():
        assert j.shape == ref.shape, what
        _agree(ref, j, f"reverse-mode (Diag basis) against {what}", 1e-9)
    if not any(kinks):
        _agree(ref, finite_differences(p, p.x0), "against finite differences", 1e-5)


@every_row(max(1, EXAMPLES // 2))
def test_every_hessian_is_symmetric_and_forward_over_reverse(name, data):
    p, kinks, y = finite_program(data, name)
    w = gc.tensor(np.random.default_rng(p.x0.size).standard_normal(y.shape))

    def s(x, kinks=None):
        return gc.sum(p(x, kinks) * w)

    got = hessians(s, p.x0)
    n = p.x0.size
    ref = got.pop("reverse-mode over reverse, Diag basis").reshape(n, n)
    _agree(ref, ref.T, "the Hessian is not symmetric", 1e-9)
    for what, h in got.items():
        _agree(ref, h.reshape(n, n), f"reverse over reverse (Diag basis) against {what}", 1e-9)
    third = [third_derivative(s, p.x0, outer) for outer in ("reverse-mode", "forward-mode")]
    _agree(third[0], third[1], "third derivatives: reverse against forward over reverse", 1e-9)
    if not any(kinks):
        cols = [
            (
                gradient(s, p.x0 + H * _unit(p.x0.shape, k).data)
                - gradient(s, p.x0 - H * _unit(p.x0.shape, k).data)
            ).reshape(-1)
            / (2 * H)
            for k in range(n)
        ]
        _agree(ref, np.stack(cols, axis=1), "against finite differences of the gradient", 1e-5)


def test_every_row_is_drawn():
    """A row leaves the property tests only with a reason written in SKIP."""
    assert set(ROWS) | set(SKIP) == set(PRIMITIVES)
    assert all(SKIP.values())


# -- the cases of issue 14, as reported ------------------------------------------------------

M0 = [[-1.37, 1.48, 0.69], [-1.11, -1.27, 1.41]]
REPORTED = [
    ("sum(M, axis=0) * M", lambda m: gc.sum(m, axis=0) * m),
    ("sum(M, axis=0) + M", lambda m: gc.sum(m, axis=0) + m),
    ("M - sum(M, axis=0)", lambda m: m - gc.sum(m, axis=0)),
    ("softmax(M.T, axis=1)", lambda m: gc.softmax(m.T, axis=1)),
]


@pytest.mark.parametrize("text, f", REPORTED, ids=[t for t, _ in REPORTED])
@pytest.mark.parametrize("mode", ["rev", "auto", "fwd"])
def test_reported_jacobians_from_the_cli_equal_finite_differences(text, f, mode):
    from typer.testing import CliRunner

    from gradcli.cli.app import app

    r = CliRunner().invoke(app, ["jacobian", text, "--at", f"M={M0}", "--mode", mode, "--json"])
    assert r.exit_code == 0, r.stdout
    got = np.array(json.loads(r.stdout)["jacobian"]["M"])
    np.testing.assert_allclose(got, finite_differences(f, np.array(M0)), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("text, f", REPORTED, ids=[t for t, _ in REPORTED])
@pytest.mark.parametrize("strategy", ["auto", "reverse-mode", "forward-mode"])
def test_reported_jacobians_from_the_library_equal_finite_differences(text, f, strategy):
    got = gc.functional.jacobian(f, gc.tensor(M0), strategy=strategy).data
    np.testing.assert_allclose(got, finite_differences(f, np.array(M0)), rtol=1e-7, atol=1e-7)


def test_reported_hessian_is_symmetric_and_right():
    """sum((c + M)**3) with c = sum(M, axis=0): with A = c + M, its Hessian is
    6 δ_ln (Σ_i A_il + A_ml + A_kl + δ_km A_kl) at (k, l), (m, n)."""
    from typer.testing import CliRunner

    from gradcli.cli.app import app

    r = CliRunner().invoke(
        app, ["hessian", "sum((sum(M, axis=0) + M)**3)", "--at", f"M={M0}", "--json"]
    )
    assert r.exit_code == 0, r.stdout
    got = np.array(json.loads(r.stdout)["hessian"]["M"]["M"])
    m = np.array(M0)
    a = m.sum(axis=0) + m
    want = np.zeros((2, 3, 2, 3))
    for k, l_, mm in np.ndindex(2, 3, 2):
        want[k, l_, mm, l_] = 6 * (a[:, l_].sum() + a[mm, l_] + a[k, l_] + (k == mm) * a[k, l_])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.reshape(6, 6), got.reshape(6, 6).T, rtol=0, atol=1e-12)
    lib = gc.functional.hessian(lambda m: gc.sum((gc.sum(m, axis=0) + m) ** 3), gc.tensor(M0))
    np.testing.assert_allclose(lib.data, want, rtol=1e-12, atol=1e-12)


def test_diag_plus_a_broadcast_or_transposed_batch_keeps_the_diagonal():
    """The root cause: Diag + a dense batch whose copy was not C-ordered lost the diagonal."""
    from gradcli.engine.structured import Diag

    d = Diag(np.arange(1.0, 7.0).reshape(2, 3))
    broadcast = np.broadcast_to(np.ones((6, 1, 3)), (6, 2, 3))
    transposed = np.ones((6, 3, 2)).transpose(0, 2, 1)
    for o in (broadcast, transposed):
        want = d.data + o
        np.testing.assert_array_equal((d + o).data, want)
        np.testing.assert_array_equal((o + d).data, want)


@pytest.mark.parametrize("strategy", ["auto", "forward-mode"])
def test_a_forward_mode_jacobian_with_create_graph_can_be_differentiated(strategy):
    """A forward-mode Jacobian (also `auto` with more outputs than inputs) kept no graph
    with create_graph=True: its derivative raised or was silently 0."""
    x = gc.tensor([0.3, -0.7, 1.1], requires_grad=True)
    j = gc.functional.jacobian(
        lambda x: gc.outer(x, gc.sin(x)), x, create_graph=True, strategy=strategy
    )
    assert j.requires_grad
    (g,) = gc.autograd.grad(gc.sum(j), [x])
    xv = x.data  # Σ_ijk ∂(x_i sin x_j)/∂x_k = 3 Σ_j sin x_j + Σ_i x_i Σ_j cos x_j
    want = 3 * np.cos(xv) + np.sum(np.cos(xv)) - np.sum(xv) * np.sin(xv)
    np.testing.assert_allclose(g.data, want, rtol=1e-12)
    h = gc.functional.hessian(
        lambda x: gc.sum(gc.sin(x) * x * x),
        x,
        create_graph=True,
        outer_jacobian_strategy="forward-mode",
    )
    (g,) = gc.autograd.grad(gc.sum(h), [x])
    np.testing.assert_allclose(
        g.data, -np.cos(xv) * xv**2 - 6 * np.sin(xv) * xv + 6 * np.cos(xv), rtol=1e-12
    )


def test_third_derivatives_through_indexing():
    """The VJP of index scattered into the batched shape of its input when that input
    carried batch axes (a node recorded by a batched rule: here the Hessian, recorded, of a
    program that indexes), putting the index on the batch axis: a ValueError or wrong
    numbers."""
    xv = np.array([0.5, -0.9, -1.8, 0.7])
    v = np.arange(1.0, 17.0).reshape(4, 4)

    def third(z):  # d³/dz³ sin(z²)
        return -12 * z * np.sin(z * z) - 8 * z**3 * np.cos(z * z)

    for outer in ("reverse-mode", "forward-mode"):
        x = gc.tensor(xv, requires_grad=True)
        h = gc.functional.hessian(
            lambda x: gc.sum(gc.sin((x * x)[[0, 2, 2]])),
            x,
            create_graph=True,
            outer_jacobian_strategy=outer,
        )
        (g,) = gc.autograd.grad(gc.sum(h * gc.tensor(v)), [x])
        # sin(x0²) + 2 sin(x2²): H is diagonal, Σ v·H = v00 H00 + v22 H22
        np.testing.assert_allclose(
            g.data,
            [v[0, 0] * third(xv[0]), 0, 2 * v[2, 2] * third(xv[2]), 0],
            rtol=1e-12,
            err_msg=outer,
        )
