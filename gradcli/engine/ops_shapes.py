"""Scans, order statistics, statistics and shapes: the rows `cumsum`, `cumprod`, `sort`, and
the functions of NumPy's names built on them and on the rows of `ops.py` (their gradients
come from those rows: `flip` is an index, `tile` an expand, `median` a sort and an index).

The rows follow `ops.py`'s vocabulary: `axis` is one negative axis, so that the rules carry
leading batch axes through unchanged.
"""

from __future__ import annotations

import builtins
from itertools import combinations

import numpy as np

from ..errors import EvalError, ShapeError
from . import arrays as F
from .arrays import normal_axes
from .primitive import Primitive, call, elementwise as E, like, public, register
from .tensor import Tensor, as_tensor

_range, _sum = builtins.range, builtins.sum


def _one_axis(axis, ndim) -> int:
    (a,) = normal_axes(axis, ndim)
    return a


def _along(axis: int, item) -> tuple:
    """An index of `item` along the negative `axis` (every other axis whole)."""
    return (Ellipsis, item) + (slice(None),) * (-axis - 1)


def _slice(x, start, stop, axis: int, nd: int):
    """x[start:stop] along `axis` (`nd`: x's unbatched rank), as the index primitive."""
    return call("index", x, index=_along(axis, slice(start, stop)), nd=nd)


def _values(x) -> np.ndarray:
    """The numbers of x (a Tensor or an array): to compute an order, which has no gradient."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _gather(x, idx: np.ndarray, axis: int):
    """NumPy's take_along_axis(x, idx, axis) as the index primitive (x may carry leading
    batch axes in front of idx's rank)."""
    nd = idx.ndim
    grid = [
        idx if i - nd == axis else np.arange(n).reshape((-1,) + (1,) * (nd - i - 1))
        for i, n in enumerate(idx.shape)
    ]
    return call("index", x, index=tuple(grid), nd=nd)


def _constant(values: np.ndarray, like: Tensor) -> Tensor:
    """Numbers of `like`'s floating dtype (exact sympy numbers in the symbolic backend)."""
    return as_tensor(values.astype(like.dtype) if like.dtype.kind == "f" else values)


def _samples(*specs, lo=-2.0, hi=2.0):
    """Test cases from (input shapes, params) pairs: inputs uniform in (lo, hi)."""
    return lambda rng: [
        (tuple(np.asarray(rng.uniform(lo, hi, size=s)) for s in shapes), dict(params))
        for shapes, params in specs
    ]


_SCAN_CASES = (
    (((4,),), dict(axis=-1)),
    (((3, 2),), dict(axis=-1)),
    (((3, 2),), dict(axis=-2)),
    (((2, 3, 2),), dict(axis=-2)),
    (((1,),), dict(axis=-1)),
)


# -- scans ---------------------------------------------------------------------------------


def _reverse_cumsum(g, out, axis):
    flip = _along(axis, slice(None, None, -1))
    nd = out.ndim
    return call(
        "index", call("cumsum", call("index", g, index=flip, nd=nd), axis=axis), index=flip, nd=nd
    )


register(
    Primitive(
        "cumsum",
        lambda a, axis: np.cumsum(a, axis=axis),
        vjp=(lambda g, out, x, axis: _reverse_cumsum(g, out, axis),),
        jvp=(lambda t, out, x, axis: call("cumsum", t, axis=axis),),
        samples=_samples(*_SCAN_CASES),
        explain="g summed from the end (the reversed cumsum of g)",
    )
)


def _cumprod_vjp(g, out, x, axis):
    """Σ_{i≥k} g_i · Π_{j≤i, j≠k} x_j, without dividing by x (exact where x holds zeros):
    R_k = g_k + x_{k+1} R_{k+1} from the end, then R_k · out_{k-1}."""
    n, nd = x.shape[axis], out.ndim
    r = [_slice(g, n - 1, n, axis, nd)]
    for k in _range(n - 2, -1, -1):
        r.append(_slice(g, k, k + 1, axis, nd) + _slice(x, k + 1, k + 2, axis, nd) * r[-1])
    r.reverse()
    parts = [r[0]] + [r[k] * _slice(out, k - 1, k, axis, nd) for k in _range(1, n)]
    return call("concat", *parts, axis=axis) if n > 1 else parts[0]


def _cumprod_jvp(t, out, x, axis):
    """D_i = x_i D_{i-1} + out_{i-1} t_i (the product rule, step by step: no division)."""
    n, nd = x.shape[axis], out.ndim
    d = [_slice(t, 0, 1, axis, nd)]
    for i in _range(1, n):
        d.append(
            _slice(x, i, i + 1, axis, nd) * d[-1]
            + _slice(out, i - 1, i, axis, nd) * _slice(t, i, i + 1, axis, nd)
        )
    return call("concat", *d, axis=axis) if n > 1 else d[0]


register(
    Primitive(
        "cumprod",
        lambda a, axis: np.cumprod(a, axis=axis),
        vjp=(_cumprod_vjp,),
        jvp=(_cumprod_jvp,),
        samples=lambda rng: (
            [*_samples(*_SCAN_CASES)(rng), ((np.array([1.5, 0.0, -2.0, 0.0, 0.5]),), dict(axis=-1))]
        ),
        explain="Σ_{i≥k} g_i · out_i's other factors (no division)",
    )
)


def _scan(name, x, axis):
    x = as_tensor(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), -1
    if x.ndim == 0:
        raise ShapeError(f"{name}: axis {axis} is out of bounds for a scalar", hint="axis=None")
    return call(name, x, axis=_one_axis(axis, x.ndim))


@public(static=("axis",))
def cumsum(x, axis=None):
    """The running sum along `axis` (flattened when None)."""
    return _scan("cumsum", x, axis)


@public(static=("axis",))
def cumprod(x, axis=None):
    """The running product along `axis` (flattened when None)."""
    return _scan("cumprod", x, axis)


@public(method=False, static=("n", "axis"))
def diff(x, n=1, axis=-1):
    """The n-th discrete difference along `axis`: x[1:] - x[:-1], n times."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ShapeError("diff needs at least one dimension", hint="diff([1, 4, 9])")
    if not float(n).is_integer() or n < 0:
        raise EvalError(f"diff: the order n must be a non-negative integer, not {n}")
    a = _one_axis(axis, x.ndim)
    for _ in _range(int(n)):
        x = _slice(x, 1, None, a, x.ndim) - _slice(x, None, -1, a, x.ndim)
    return x


# -- order statistics ----------------------------------------------------------------------


def _order(x, axis) -> np.ndarray:
    return np.argsort(_values(x), axis=axis, kind="stable")


def _ties(out, x, axis) -> bool:
    return bool(np.any(np.diff(out, axis=axis) == 0))


def _sort_sym(sp, a, axis):
    """The k-th smallest of n as sympy's Min over the (k+1)-element subsets of their Max:
    exact, but of C(n, k+1) terms, so for short axes only."""
    n = a.shape[axis]
    if n > 6:
        raise ValueError("the symbolic form of sort is for axes of up to 6 elements")
    moved = np.moveaxis(a, axis, -1)
    out = np.empty(moved.shape, dtype=object)
    for idx in np.ndindex(moved.shape[:-1]):
        xs = list(moved[idx])
        for k in _range(n):
            out[(*idx, k)] = sp.Min(*[sp.Max(*c) for c in combinations(xs, k + 1)])
    return np.moveaxis(out, -1, axis)


register(
    Primitive(
        "sort",
        lambda a, axis: np.sort(a, axis=axis, kind="stable"),
        sym=_sort_sym,
        vjp=(
            lambda g, out, x, axis: _gather(
                g, np.argsort(_order(x, axis), axis=axis, kind="stable"), axis
            ),
        ),
        jvp=(lambda t, out, x, axis: _gather(t, _order(x, axis), axis),),
        kink=("the gradient routed by the stable order of tied elements", _ties),
        samples=_samples(*_SCAN_CASES),
        explain="g sent back to each element's place before the sort",
    )
)


@public(static=("axis",))
def sort(x, axis=-1):
    """The values sorted along `axis` (flattened when None), ties in a stable order."""
    x = as_tensor(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), -1
    if x.ndim == 0:
        return x
    return call("sort", x, axis=_one_axis(axis, x.ndim))


def _sorted_along(x, axis, name):
    """x sorted along one axis (the elements flattened when axis is None), that axis, and
    the shape of a reduction over it with keepdims."""
    x = as_tensor(x)
    if axis is None or x.ndim == 0:
        a, keep, x = -1, (1,) * x.ndim, F.reshape(x, (-1,))
    else:
        a = _one_axis(axis, x.ndim)
        keep = tuple(1 if i - x.ndim == a else n for i, n in enumerate(x.shape))
    if x.shape[a] == 0:
        raise ShapeError(f"{name} of an empty axis", hint="give at least one element")
    return call("sort", x, axis=a), a, keep


def _pick(s, k, axis):
    """s[k] along `axis`, the axis dropped."""
    return call("index", s, index=_along(axis, k), nd=s.ndim)


@public(method=False, static=("axis", "keepdims"))
def median(x, axis=None, keepdims=False):
    """The middle value along `axis` (all elements when None): the mean of the two middle
    ones for an even count, as NumPy."""
    s, a, keep = _sorted_along(x, axis, "median")
    n = s.shape[a]
    m = _pick(s, n // 2, a) if n % 2 else (_pick(s, n // 2 - 1, a) + _pick(s, n // 2, a)) / 2
    return F.reshape(m, keep) if keepdims else m


def _lerp(a, b, t):
    """NumPy's linear interpolation: from the nearer end, as np.quantile computes it."""
    return F.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


@public(method=False, static=("q", "axis", "keepdims"))
def quantile(x, q, axis=None, keepdims=False):
    """The q-th quantile (q in [0, 1]; a list of them: its axis first) along `axis`, by
    linear interpolation."""
    qs = np.asarray(_values(q) if isinstance(q, Tensor) else q, dtype=float)
    if qs.ndim > 1 or not np.all((qs >= 0) & (qs <= 1)):
        raise EvalError(
            f"quantile: q must be a number or a list of numbers in [0, 1], not {q}",
            hint="e.g. quantile(x, 0.5) or quantile(x, [0.25, 0.75])",
        )
    s, a, keep = _sorted_along(x, axis, "quantile")
    n = s.shape[a]
    v = qs.reshape(-1) * (n - 1)
    lo = np.floor(v).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    lo_v = call("index", s, index=_along(a, lo), nd=s.ndim)
    hi_v = call("index", s, index=_along(a, hi), nd=s.ndim)
    frac = _constant((v - lo).reshape((-1,) + (1,) * (-a - 1)), s)
    r = moveaxis(_lerp(lo_v, hi_v, frac), a, 0)  # the q axis first
    if keepdims:
        r = F.reshape(r, (len(v), *keep))
    return F.reshape(r, r.shape[1:]) if qs.ndim == 0 else r


# -- statistics ------------------------------------------------------------------------------


def _variables(m, rowvar, name):
    """The observations as a matrix: a row per variable."""
    m = as_tensor(m)
    if m.ndim > 2:
        raise ShapeError(f"{name}: more than 2 dimensions ({m.shape})", hint="a row per variable")
    m = F.reshape(m, (1, -1)) if m.ndim < 2 else m
    return m if rowvar else F.transpose(m)


@public(method=False, static=("rowvar", "bias", "ddof"))
def cov(x, y=None, rowvar=True, bias=False, ddof=None):
    """The covariance matrix of the rows (columns with rowvar=False), divisor n - 1 (bias,
    ddof: as NumPy's)."""
    m = _variables(x, rowvar, "cov")
    if y is not None:
        m = F.concat([m, _variables(as_tensor(y, like((m,))), rowvar, "cov")], axis=0)
    n = m.shape[1]
    ddof = (0 if bias else 1) if ddof is None else int(ddof)
    c = m - F.mean(m, axis=1, keepdims=True)
    out = F.matmul(c, F.transpose(c)) / builtins.max(n - ddof, 0)
    return F.reshape(out, ()) if out.shape == (1, 1) else out


@public(method=False, static=("rowvar",))
def corrcoef(x, y=None, rowvar=True):
    """The correlation coefficients of the variables (rows, unless rowvar=False): cov
    divided by the product of the standard deviations."""
    c = cov(x, y, rowvar)
    if c.ndim == 0:
        return c / c
    d = E.sqrt(F.diag(c))
    return c / F.reshape(d, (-1, 1)) / F.reshape(d, (1, -1))


# -- shapes --------------------------------------------------------------------------------


def _ints(value, name) -> tuple[int, ...]:
    """A static count or a tuple of them, as whole numbers."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not all(float(v).is_integer() for v in values):
        raise EvalError(f"{name} takes whole numbers, not {value}")
    return tuple(int(v) for v in values)


@public(method=False, static=("axis",))
def flip(x, axis=None):
    """The elements in reverse order along `axis` (every axis when None)."""
    x = as_tensor(x)
    axes = normal_axes(axis, x.ndim)
    if not axes:
        return x
    index = tuple(
        slice(None, None, -1) if i - x.ndim in axes else slice(None) for i in _range(x.ndim)
    )
    return call("index", x, index=index, nd=x.ndim)


@public(method=False, static=("shift", "axis"))
def roll(x, shift, axis=None):
    """The elements shifted by `shift` along `axis`, those pushed off the end coming back
    at the start (the flattened elements when axis is None)."""
    x = as_tensor(x)
    if axis is None:
        return F.reshape(roll(F.reshape(x, (-1,)), _sum(_ints(shift, "roll")), 0), x.shape)
    axes, shifts = _ints(axis, "roll"), _ints(shift, "roll")
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(axes) != len(shifts):
        raise ShapeError("roll: shift and axis must have the same length")
    total: dict = {}
    for a, s in zip(axes, shifts, strict=False):
        a = _one_axis(a, x.ndim)
        total[a] = total.get(a, 0) + s
    for a, s in total.items():
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            x = call(
                "concat",
                _slice(x, n - s, None, a, x.ndim),
                _slice(x, None, n - s, a, x.ndim),
                axis=a,
            )
    return x


@public(method=False, static=("source", "destination"))
def moveaxis(x, source, destination):
    """The axes `source` moved to the places `destination`, the others in their order."""
    x = as_tensor(x)
    src = [x.ndim + _one_axis(a, x.ndim) for a in _ints(source, "moveaxis")]
    dst = [x.ndim + _one_axis(a, x.ndim) for a in _ints(destination, "moveaxis")]
    if len(src) != len(dst):
        raise ShapeError("moveaxis: source and destination must have the same number of axes")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError("moveaxis: repeated axis")
    order = [i for i in _range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src, strict=False)):
        order.insert(d, s)
    return F.transpose(x, order) if order != list(_range(x.ndim)) else x


@public(static=("axis1", "axis2"))
def swapaxes(x, axis1, axis2):
    """The axes axis1 and axis2 exchanged."""
    x = as_tensor(x)
    a, b = x.ndim + _one_axis(axis1, x.ndim), x.ndim + _one_axis(axis2, x.ndim)
    order = list(_range(x.ndim))
    order[a], order[b] = b, a
    return F.transpose(x, order) if a != b else x


@public(static=("axis",))
def expand_dims(x, axis):
    """x with new axes of length 1 at the places `axis` (a number or a tuple) of the result."""
    x = as_tensor(x)
    axes = _ints(axis, "expand_dims")
    nd = x.ndim + len(axes)
    new = {nd + a for a in normal_axes(axes, nd)}
    dims = iter(x.shape)
    return F.reshape(x, tuple(1 if i in new else next(dims) for i in _range(nd)))


@public(static=("shape",))
def broadcast_to(x, shape):
    """x broadcast to `shape` by NumPy's rules (the gradient sums over the copies)."""
    return F.expand(x, _ints(shape, "broadcast_to"))


@public(method=False, static=("reps",))
def tile(x, reps):
    """x repeated as a whole `reps` times along each axis (NumPy's tile)."""
    x = as_tensor(x)
    reps = _ints(reps, "tile")
    if any(r < 0 for r in reps):
        raise EvalError(f"tile: the repetitions must not be negative, not {reps}")
    nd = builtins.max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + x.shape
    paired = tuple(v for n in shape for v in (1, n))
    wide = tuple(v for r, n in zip(reps, shape, strict=False) for v in (r, n))
    out = F.expand(F.reshape(x, paired), wide)
    return F.reshape(out, tuple(r * n for r, n in zip(reps, shape, strict=False)))


@public(static=("repeats", "axis"))
def repeat(x, repeats, axis=None):
    """Each element repeated `repeats` times (a number, or one count per element) along
    `axis` (of the flattened elements when None), as NumPy's repeat."""
    x = as_tensor(x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), -1
    a = _one_axis(axis, x.ndim)
    counts = _ints(repeats, "repeat")
    if any(c < 0 for c in counts):
        raise EvalError(f"repeat: the counts must not be negative, not {repeats}")
    n = x.shape[a]
    if len(counts) == 1:
        (r,) = counts
        pos = x.ndim + a
        split = (*x.shape[: pos + 1], 1, *x.shape[pos + 1 :])
        wide = (*x.shape[: pos + 1], r, *x.shape[pos + 1 :])
        out = F.expand(F.reshape(x, split), wide)
        return F.reshape(out, (*x.shape[:pos], n * r, *x.shape[pos + 1 :]))
    if len(counts) != n:
        raise ShapeError(f"repeat: {len(counts)} counts for an axis of length {n}")
    return call("index", x, index=_along(a, np.repeat(np.arange(n), counts)), nd=x.ndim)


def _pairs(value, ndim, name):
    """NumPy's pad forms (a number, (before, after), ((before, after),) or one pair per
    axis) as one (before, after) pair per axis."""
    try:
        return np.broadcast_to(np.asarray(value, dtype=object), (ndim, 2)).tolist()
    except ValueError:
        raise ShapeError(
            f"pad: {name} {value} does not fit an array of {ndim} dimensions",
            hint="a number, (before, after), or one (before, after) pair per axis",
        ) from None


@public(method=False, static=("pad_width", "mode", "constant_values"))
def pad(x, pad_width, mode="constant", constant_values=0):
    """x padded with constants: `pad_width` before and after each axis (NumPy's forms),
    `constant_values` (the same forms) in the padding."""
    if mode != "constant":
        raise EvalError(f"pad: only mode 'constant' is supported, not {mode!r}")
    x = as_tensor(x)
    widths = _pairs(pad_width, x.ndim, "pad_width")
    values = _pairs(constant_values, x.ndim, "constant_values")
    for i, ((before, after), (cb, ca)) in enumerate(zip(widths, values, strict=False)):
        before, after = _ints((before, after), "pad")
        if before < 0 or after < 0:
            raise EvalError(f"pad: the widths must not be negative, not {(before, after)}")
        parts = [x]
        for width, c, at in ((before, cb, 0), (after, ca, 2)):
            if width:
                shape = (*x.shape[:i], width, *x.shape[i + 1 :])
                parts.insert(
                    at if at == 0 else len(parts),
                    F.expand(_constant(np.asarray(float(c)), x), shape),
                )
        if len(parts) > 1:
            x = call("concat", *parts, axis=i - x.ndim)
    return x


@public(method=False, static=("indices", "axis"))
def take_along_axis(x, indices, axis):
    """The elements of x at integer `indices` (of x's rank) along `axis`, as NumPy's."""
    x = as_tensor(x)
    idx = np.asarray(_values(indices))
    if idx.size and not np.all(np.mod(idx, 1) == 0):
        raise EvalError("take_along_axis: indices must be whole numbers")
    idx = idx.astype(np.intp)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), -1
    if idx.ndim != x.ndim:
        raise ShapeError(
            f"take_along_axis: indices of {idx.ndim} dimensions for an array of {x.ndim}",
            hint="indices need as many dimensions as the array",
        )
    a = _one_axis(axis, x.ndim)
    n = x.shape[a]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ShapeError(f"take_along_axis: an index is out of range for an axis of length {n}")
    try:
        shape = np.broadcast_shapes(
            tuple(1 if i - x.ndim == a else s for i, s in enumerate(x.shape)),
            tuple(1 if i - x.ndim == a else s for i, s in enumerate(idx.shape)),
        )
    except ValueError:
        raise ShapeError(f"take_along_axis: shapes {x.shape} and {idx.shape} do not fit") from None
    full = tuple(idx.shape[i] if i - x.ndim == a else s for i, s in enumerate(shape))
    x = F.expand(x, tuple(n if i - x.ndim == a else s for i, s in enumerate(shape)))
    return _gather(x, np.broadcast_to(idx % builtins.max(n, 1), full), a)
