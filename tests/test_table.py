"""What the table of primitives declares, row by row, and what is derived from it.

- `sym`: sympy's value and derivative (of a weighted sum of the output, by `sp.diff`) against
  the forward and the VJP at sampled points of the row (its domain or its samples). A row
  without `sym` declares that its NumPy forward works on object arrays as it is: the same
  check holds for it.
- `kink`: at a point on the kink, the row says so and the gradient is its convention;
  at the sampled points (off the kinks), it says not.
- the functions derived from the rows: gc.NAME, the Tensor methods, the language's set,
  the README's list.
- the composed functions that no other test reaches: values against NumPy, gradients
  against finite differences.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest

import gradcli as gc
from gradcli.engine.functions import ELEMENTWISE, FUNCTIONS
from gradcli.engine.primitive import PRIMITIVES, call, elementwise
from gradcli.engine.tensor import Tensor

sp = pytest.importorskip("sympy")

ROOT = Path(__file__).resolve().parent.parent


def _cases(prim, n: int = 2) -> list:
    """Up to `n` of the row's test cases: (input arrays, params)."""
    rng = np.random.default_rng(zlib.crc32(prim.name.encode()))
    if prim.samples is not None:
        return prim.samples(rng)[:n]
    return [
        (tuple(np.asarray(rng.uniform(lo, hi, size=shape)) for lo, hi in prim.domain), {})
        for shape in [(), (3,)][:n]
    ]


def _symbols(xs) -> tuple[list, list]:
    """Per input, an object array of fresh symbols (floats) or of its booleans; and the
    substitutions that give back the values."""
    arrays, subs = [], {}
    for k, x in enumerate(xs):
        if x.dtype.kind != "f":
            arrays.append(np.asarray(x, dtype=object))
            continue
        arr = np.empty(x.shape, dtype=object)
        for idx in np.ndindex(x.shape):
            s = sp.Symbol(f"x{k}_{'_'.join(map(str, idx))}", real=True)
            arr[idx] = s
            subs[s] = sp.Float(float(x[idx]), 30)
        arrays.append(arr)
    return arrays, subs


def _number(expr, subs) -> float:
    value = sp.sympify(expr).xreplace(subs)
    return (
        float(sp.N(value, 20))
        if not isinstance(value, (bool, sp.logic.boolalg.BooleanAtom))
        else float(bool(value))
    )


SYM_ROWS = [
    pytest.param(prim, xs, params, id=f"{name}-{k}")
    for name, prim in PRIMITIVES.items()
    for k, (xs, params) in enumerate(_cases(prim))
]


@pytest.mark.parametrize("prim, xs, params", SYM_ROWS)
def test_sym_column_value_and_derivative(prim, xs, params):
    if prim.name.startswith("logical_"):  # sympy's And, Or, Not take truth values
        xs = tuple(x > 0 for x in xs)
    arrays, subs = _symbols(xs)
    expr = np.asarray(prim.symbolic(*arrays, **params), dtype=object)
    want = np.asarray(prim.forward(*xs, **params))
    got = (
        np.vectorize(lambda e: _number(e, subs), otypes=[float])(expr)
        if expr.size
        else np.zeros(expr.shape)
    )
    np.testing.assert_allclose(got, want.astype(float), rtol=1e-9, atol=1e-12)
    if not prim.differentiable:
        return
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 1.5, size=want.shape)
    total = sum(
        (wi * e for wi, e in zip(w.reshape(-1), expr.reshape(-1), strict=True)), sp.Integer(0)
    )
    ts = [
        gc.tensor(x, requires_grad=prim.vjp[i] is not None)
        if x.dtype.kind == "f"
        else Tensor.wrap(x)
        for i, x in enumerate(xs)
    ]
    out = call(prim.name, *ts, **params)
    out.backward(gc.tensor(w))
    for i, (t, arr) in enumerate(zip(ts, arrays, strict=True)):
        if not t.requires_grad:
            continue
        want_grad = np.vectorize(lambda s: _number(sp.diff(total, s), subs), otypes=[float])(arr)
        np.testing.assert_allclose(
            t.grad.data,
            want_grad.reshape(t.shape),
            rtol=1e-7,
            atol=1e-9,
            err_msg=f"{prim.name}: input {i}",
        )


# -- the kink column ---------------------------------------------------------------------------

# name -> (inputs on a kink, params, the gradient of the sum of the output by the convention)
_z, _one = np.zeros(2), np.ones(2)
KINKS = {
    "abs": ((_z,), {}, (_z,)),
    "sign": ((_z,), {}, None),
    "sqrt": ((_z,), {}, (np.full(2, np.inf),)),
    "cbrt": ((_z,), {}, (np.full(2, np.inf),)),
    "relu": ((_z,), {}, (_z,)),
    "maximum": ((_one, _one), {}, (_one / 2, _one / 2)),
    "minimum": ((_one, _one), {}, (_one / 2, _one / 2)),
    "clip": ((-_one, -_one, _one), {}, (_one, _z, _z)),
    "max": (
        (np.array([2.0, 2.0, 1.0]),),
        dict(axis=(-1,), keepdims=False),
        (np.array([0.5, 0.5, 0.0]),),
    ),
    "min": (
        (np.array([1.0, 1.0, 2.0]),),
        dict(axis=(-1,), keepdims=False),
        (np.array([0.5, 0.5, 0.0]),),
    ),
    "norm": ((np.zeros(3),), dict(axis=(-1,), keepdims=False), (np.zeros(3),)),
    "floor": ((_one,), {}, None),
    "ceil": ((_z,), {}, None),
    "trunc": ((-_one,), {}, None),
    "round": ((np.array([0.5, 1.5]),), {}, None),
    "leaky_relu": ((_z,), {}, (np.full(2, 0.01),)),
    "elu": ((_z,), dict(alpha=0.5), (np.full(2, 0.5),)),
    "xlogy": ((_z, -_one), {}, (_z, _z)),
    "fmod": ((np.array([2.0, -2.0]), _one), {}, (_one, np.array([-2.0, 2.0]))),
    "remainder": ((np.array([2.0, -2.0]), _one), {}, (_one, np.array([-2.0, 2.0]))),
    "copysign": ((_z, -_one), {}, (_z, _z)),
    "sort": ((np.array([2.0, 1.0, 2.0]),), dict(axis=-1), (np.ones(3),)),
}
KINK_ROWS = [pytest.param(prim, id=name) for name, prim in PRIMITIVES.items() if prim.kink]


@pytest.mark.parametrize("prim", KINK_ROWS)
def test_kink_column(prim):
    convention, on_kink = prim.kink
    assert isinstance(convention, str) and convention
    assert prim.name in KINKS, f"give {prim.name}'s kink a case in KINKS"
    xs, params, grads = KINKS[prim.name]
    assert on_kink(prim.forward(*xs, **params), *xs, **params)
    for off, off_params in _cases(prim, 4):
        assert not on_kink(prim.forward(*off, **off_params), *off, **off_params)
    if grads is None:
        return
    ts = [gc.tensor(x, requires_grad=True) for x in xs]
    with np.errstate(all="ignore"):
        call(prim.name, *ts, **params).sum().backward()
    for t, g in zip(ts, grads, strict=True):
        np.testing.assert_array_equal(t.grad.data, g)


# -- what is derived from the rows --------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in vars(elementwise)])
def test_each_elementwise_row_is_a_function(name):
    fn = getattr(gc, name)
    prim = PRIMITIVES[fn.__name__]
    assert fn is getattr(elementwise, name) and name in (prim.name, *prim.aliases)
    assert (name in FUNCTIONS) == prim.named
    if prim.named:
        assert getattr(Tensor, name) is fn and name in ELEMENTWISE
        x = gc.tensor(np.linspace(*prim.domain[0], 3))
        args = [x] + [gc.tensor(np.linspace(lo, hi, 3)) for lo, hi in prim.domain[1:]]
        np.testing.assert_array_equal(fn(*args).data, prim.forward(*[a.data for a in args]))


def _readme_functions() -> dict[str, set[str]]:
    """The README's list of functions: its bullets under "functions, NumPy semantics", each
    by its first words."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("- functions, NumPy semantics", 1)[1].split("\n- programs:", 1)[0]
    bullets = re.split(r"\n  - ", block)[1:]
    return {
        b.split(":")[0].split("`")[0].strip() or b[:12]: set(
            re.findall(r"[a-z_][a-z0-9_]*", " ".join(re.findall(r"`([^`]*)`", b)))
        )
        for b in bullets
    }


def test_readme_lists_functions_of_the_table():
    """Every name the README lists is a function of the language (its elementwise bullet:
    of one array, element by element), and every function that is neither a row of the
    table nor composed is listed. (A new row or composed function needs no README edit:
    `gradcli functions` lists them all.)"""
    bullets = _readme_functions()
    listed = set().union(*bullets.values())
    assert listed <= set(FUNCTIONS) | {
        "cond",
        "a",
        "b",
        "x",
        "lo",
        "hi",
        "ij",
        "jk",
        "ik",
        "axis",
        "keepdims",
        "ord",
        "ddof",
    }
    aliases = {n for n, fn in FUNCTIONS.items() if fn.__name__ != n and fn.__name__ in FUNCTIONS}
    not_rows = {
        n
        for n in FUNCTIONS
        if n not in aliases
        and n not in vars(elementwise)
        and not hasattr(FUNCTIONS[n], "elementwise")
    }  # (nor composed)
    assert not_rows <= listed, f"not in the README: {sorted(not_rows - listed)}"
    for name in bullets["elementwise"] - aliases:
        assert name in ELEMENTWISE, name
        assert name not in PRIMITIVES or len(PRIMITIVES[name].vjp) == 1, name


# -- composed functions that no other test reaches ------------------------------------------------

H = 1e-6


def _fd_grad(f, x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = H
        g[idx] = (f(x + e) - f(x - e)) / (2 * H)
    return g


def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


COMPOSED = [
    ("std", lambda x: gc.std(x), lambda a: np.std(a)),
    ("std-axis-ddof", lambda x: gc.std(x, axis=0, ddof=1), lambda a: np.std(a, axis=0, ddof=1)),
    ("log_softmax", lambda x: gc.log_softmax(x), lambda a: _log_softmax(a, -1)),
    ("log_softmax-axis0", lambda x: gc.log_softmax(x, axis=0), lambda a: _log_softmax(a, 0)),
    ("log2", gc.log2, np.log2),
    ("log10", gc.log10, np.log10),
    ("reciprocal", gc.reciprocal, np.reciprocal),
]


@pytest.mark.parametrize("f, ref", [pytest.param(f, r, id=n) for n, f, r in COMPOSED])
def test_composed_value_and_gradient(f, ref):
    x = np.random.default_rng(3).uniform(0.5, 2.0, size=(3, 2))
    t = gc.tensor(x, requires_grad=True)
    out = f(t)
    np.testing.assert_allclose(out.data, ref(x), rtol=1e-12)
    w = np.random.default_rng(4).uniform(0.5, 1.5, size=out.shape)
    (out * gc.tensor(w)).sum().backward()
    want = _fd_grad(lambda a: float((ref(a) * w).sum()), x)
    np.testing.assert_allclose(t.grad.data, want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["std", "log_softmax", "log2", "log10", "reciprocal"])
def test_composed_in_the_language(name):
    x = np.array([0.5, 1.0, 2.0])
    got = gc.compile(f"sum({name}(x))").grad(x=x).gradient
    fn = FUNCTIONS[name]
    want = _fd_grad(lambda a: float(fn(gc.tensor(a)).sum().item()), x)
    np.testing.assert_allclose(
        np.asarray(got["x"] if isinstance(got, dict) else got), want, rtol=1e-6, atol=1e-8
    )
