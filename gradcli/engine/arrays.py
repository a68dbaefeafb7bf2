"""The functions that apply primitives by name (`primitive.call`), with their checks and
PyTorch's or NumPy's conventions: constructors, where and clip, reductions, shapes and
indexing, linear algebra. The rules of the table call them; `functions.py` exports them.
They need no row to be defined, only the table by the time they run.
"""

from __future__ import annotations

import builtins
import math
from contextlib import contextmanager

import numpy as np

from ..errors import EvalError, ShapeError
from . import tensor as _T
from .primitive import call, elementwise as E, index_shape, like, public
from .structured import Diag
from .tensor import Tensor, as_tensor, resolve_dtype

_max, _min, _range = builtins.max, builtins.min, builtins.range


def normal_axes(axis, ndim: int) -> tuple[int, ...]:
    """Normalise an axis argument to a sorted tuple of negative axes."""
    if axis is None:
        return tuple(_range(-ndim, 0))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(
                f"axis {a} is out of bounds for an array of dimension {ndim}",
                hint=f"use an axis between {-ndim} and {ndim - 1}"
                if ndim
                else "a scalar has no axes",
            )
        out.append(a - ndim if a >= 0 else a)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(out))


# -- constructors ----------------------------------------------------------------------------


@public(language=False, method=False)
def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A leaf tensor (a copy of `data`), float64 unless `dtype` or float32 data says so."""
    return Tensor(np.array(_T.to_array(data, dtype)), requires_grad=requires_grad)


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = []
    for n in size:
        if isinstance(n, Tensor):
            n = n.item()
        if float(n) != int(n) or n < 0:
            raise EvalError(f"a size must be a non-negative integer, not {n}")
        shape.append(int(n))
    return tuple(shape)


def _dtype(dtype) -> np.dtype:
    return _T.get_default_dtype() if dtype is None else resolve_dtype(dtype)


@public(language=False, method=False)
def ones(*size, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.ones(_shape(size), _dtype(dtype)), requires_grad)


@public(language=False, method=False)
def zeros(*size, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.zeros(_shape(size), _dtype(dtype)), requires_grad)


@public(language=False, method=False)
def full(size, fill_value, dtype=None, requires_grad=False) -> Tensor:
    size = size if isinstance(size, (tuple, list)) else (size,)
    return Tensor(np.full(_shape(size), float(fill_value), _dtype(dtype)), requires_grad)


@public(language=False, method=False)
def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    n, m = _shape((n,) if m is None else (n, m)) * (2 if m is None else 1)
    return Tensor(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)


@public(language=False, method=False)
def arange(start, end=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise EvalError("arange: step must not be zero")
    bounds = [float(v) for v in (start, end, step)]
    if not all(map(math.isfinite, bounds)):
        raise EvalError(
            f"arange: start, end and step must be finite, not {', '.join(map(str, bounds))}",
            hint="e.g. arange(0, 5) or arange(5)",
        )
    return Tensor(np.arange(*bounds, dtype=_dtype(dtype)), requires_grad)


@public(language=False, method=False)
def linspace(start, end, steps=50, dtype=None, requires_grad=False) -> Tensor:
    (steps,) = _shape((steps,))
    return Tensor(np.linspace(float(start), float(end), steps, dtype=_dtype(dtype)), requires_grad)


_generator = None  # made on first use: importing numpy.random costs start-up time


def _rng(generator=None):
    global _generator
    if generator is not None:
        return generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator


@contextmanager
def drawing_from(generator):
    """Within: `randn` and `rand` draw from `generator` (a NumPy Generator)."""
    global _generator
    keep, _generator = _generator, generator
    try:
        yield
    finally:
        _generator = keep


@public(language=False, method=False)
def manual_seed(seed: int) -> None:
    """Seed the generator of `randn` and `rand`."""
    global _generator
    _generator = np.random.default_rng(seed)


@public(language=False, method=False)
def randn(*size, dtype=None, requires_grad=False, generator=None) -> Tensor:
    rng = _rng(generator)
    return Tensor(rng.standard_normal(_shape(size)).astype(_dtype(dtype)), requires_grad)


@public(language=False, method=False)
def rand(*size, dtype=None, requires_grad=False, generator=None) -> Tensor:
    rng = _rng(generator)
    return Tensor(rng.random(_shape(size)).astype(_dtype(dtype)), requires_grad)


@public(language=False, method=False)
def zeros_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return Tensor(np.zeros(x.shape, x.dtype if dtype is None else resolve_dtype(dtype)))


@public(language=False, method=False)
def ones_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return Tensor(np.ones(x.shape, x.dtype if dtype is None else resolve_dtype(dtype)))


@public(method=False, elementwise=True)
def detach(x) -> Tensor:
    """The value of x with no gradient flowing through it (stop_gradient)."""
    return as_tensor(x).detach()


@public()
def where(cond, a, b):
    """a where cond holds, else b (the gradient flows to the branch taken)."""
    cond = as_tensor(cond)
    if cond.dtype != np.bool_ and cond.dtype != object:  # object: sympy's relations
        cond = cond != 0
    return call("where", cond, a, b)


@public(aliases=("clamp",))
def clip(x, lo=None, hi=None):
    """x limited to [lo, hi]; the gradient passes where lo <= x <= hi."""
    return call("clip", x, -math.inf if lo is None else lo, math.inf if hi is None else hi)


# -- reductions ----------------------------------------------------------------------------------


def _reduction(name):
    def fn(x, axis=None, keepdims=False):
        x = as_tensor(x)
        return call(name, x, axis=normal_axes(axis, x.ndim), keepdims=bool(keepdims))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name} over `axis` (all axes when None)."
    return public(static=("axis", "keepdims"))(fn)


sum, mean, prod, max, min, logsumexp = [
    _reduction(n) for n in ("sum", "mean", "prod", "max", "min", "logsumexp")
]


@public(static=("ord", "axis", "keepdims"))
def norm(x, ord=2, axis=None, keepdims=False):
    """The vector norm over `axis` (all elements when None: Frobenius for a matrix)."""
    x = as_tensor(x)
    ax = normal_axes(axis, x.ndim)
    if ord == 2:
        return call("norm", x, axis=ax, keepdims=bool(keepdims))
    if ord == math.inf:
        return max(E.abs(x), ax, keepdims)
    if ord == -math.inf:
        return min(E.abs(x), ax, keepdims)
    if ord == 0:
        return sum(detach(x != 0) * 1.0, ax, keepdims)
    if ord == 1:
        return sum(E.abs(x), ax, keepdims)
    return sum(E.abs(x) ** ord, ax, keepdims) ** (1.0 / ord)


@public(static=("axis", "ddof", "keepdims"))
def var(x, axis=None, ddof=0, keepdims=False):
    """Variance with divisor n - ddof (NumPy's default ddof=0; never below 0, as NumPy)."""
    x = as_tensor(x)
    ax = normal_axes(axis, x.ndim)
    n = math.prod(x.shape[a] for a in ax)
    d = x - mean(x, ax, keepdims=True)
    return sum(d * d, ax, keepdims) / _max(n - ddof, 0)


# -- shapes --------------------------------------------------------------------------------------


def _whole(n) -> bool:
    try:
        return float(n).is_integer()
    except (TypeError, ValueError):
        return False


@public(static=("shape",))
def reshape(x, *shape):
    """The same elements in the given shape (one axis may be -1)."""
    dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    if _T.state.raw and x.__class__ is np.ndarray:  # a rule's exact shape, in a plain backward
        return x.reshape(dims)
    x = as_tensor(x)
    odd = [n for n in dims if not _whole(n)]
    if odd:
        raise ShapeError(
            f"reshape: a shape holds whole numbers, not {odd[0]}",
            hint=f"e.g. reshape(x, {x.shape}) (-1 for the size that fits)",
        )
    try:
        target = tuple(int(n) for n in dims)
        if _min(target, default=0) < 0 or math.prod(target) != math.prod(x.shape):
            target = np.empty(x.shape, dtype=np.bool_).reshape(target).shape  # resolves a -1
    except (ValueError, TypeError):
        raise ShapeError(
            f"cannot reshape an array of shape {x.shape} into shape {tuple(dims)}",
            hint=f"the sizes must multiply to {x.data.size}",
        ) from None
    if x.__class__ is Diag:  # (a symbolic batch of a backward pass stays symbolic)
        kept = x.reshaped(target)
        if kept is not None:
            return kept
    if target == x.shape:
        return x
    return call("reshape", x, shape=target, nd=x.ndim)


@public(language=False, static=("shape",))
def expand(x, shape):
    """Broadcast x to `shape` (PyTorch's name; broadcast_to is NumPy's)."""
    x = as_tensor(x)
    shape = tuple(int(n) for n in shape)
    if shape == x.shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ShapeError(f"cannot broadcast shape {x.shape} to {shape}") from None
    return call("expand", x, shape=shape, nd=x.ndim)


@public()
def flatten(x):
    """The elements as one vector."""
    return reshape(x, (-1,))


@public(static=("axis",))
def squeeze(x, axis=None):
    """Drop axes of length 1 (all of them, or `axis`)."""
    x = as_tensor(x)
    ax = (
        tuple(i for i in _range(-x.ndim, 0) if x.shape[i] == 1)
        if axis is None
        else normal_axes(axis, x.ndim)
    )
    if any(x.shape[a] != 1 for a in ax):
        raise ShapeError(f"cannot squeeze axis of size other than 1 in shape {x.shape}")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i - x.ndim not in ax))


@public(language=False, static=("axis",))
def unsqueeze(x, axis):
    """x with a new axis of length 1 at `axis` (PyTorch's name; expand_dims is NumPy's)."""
    x = as_tensor(x)
    (a,) = normal_axes(axis, x.ndim + 1)
    shape = list(x.shape)
    shape.insert(x.ndim + 1 + a, 1)
    return reshape(x, tuple(shape))


@public(static=("axes",))
def transpose(x, axes=None):
    """Reverse the axes (NumPy's transpose), or permute them as `axes` says."""
    x = as_tensor(x)
    if x.ndim < 2 and axes is None:
        return x
    if axes is None:
        perm = tuple(_range(-1, -x.ndim - 1, -1))
    else:
        perm = tuple(a - x.ndim if a >= 0 else a for a in (int(a) for a in axes))
        if sorted(p % x.ndim for p in perm) != list(_range(x.ndim)):
            raise ShapeError(f"axes {tuple(axes)} are not a permutation of {x.ndim} axes")
    return call("permute", x, axes=perm)


@public(method=False, static=("axis",), aliases=("cat",))
def concat(tensors, axis=0):
    """Join tensors end to end along an existing axis."""
    tensors = [as_tensor(t, like(tensors)) for t in tensors]
    if not tensors:
        raise ShapeError("concat needs at least one array")
    nd = tensors[0].ndim
    if nd == 0 or any(t.ndim != nd for t in tensors):
        raise ShapeError(
            "concat: arrays must have the same number of dimensions, at least 1",
            hint="shapes: " + ", ".join(str(t.shape) for t in tensors),
        )
    (a,) = normal_axes(axis, nd)
    return call("concat", *tensors, axis=a)


@public(method=False, static=("axis",))
def stack(tensors, axis=0):
    """Join equally shaped tensors along a new axis."""
    tensors = [as_tensor(t, like(tensors)) for t in tensors]
    if not tensors:
        raise ShapeError("stack needs at least one array")
    return concat([unsqueeze(t, axis) for t in tensors], axis)


@public()
def diag(x):
    """The diagonal of a matrix, or the diagonal matrix of a vector."""
    x = as_tensor(x)
    if x.ndim == 1:
        return call("diag_embed", x)
    if x.ndim == 2:
        return call("diagonal", x)
    raise ShapeError(f"diag needs a vector or a matrix, not shape {x.shape}")


@public()
def trace(x):
    """The sum of the diagonal of a matrix."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"trace needs a matrix, not shape {x.shape}")
    return sum(call("diagonal", x), axis=-1)


@public(language=False, method=False)
def getitem(x, index):
    """x[index] with NumPy semantics."""
    x = as_tensor(x)
    index = index if isinstance(index, tuple) else (index,)
    index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    try:
        index_shape(x.shape, index)  # checks the index without computing the result
    except IndexError as exc:
        raise ShapeError(
            f"index out of range: {exc}", hint=f"the array has shape {x.shape}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"invalid index: {exc}") from None
    return call("index", x, index=index, nd=x.ndim)


# -- linear algebra ------------------------------------------------------------------------------


@public(aliases=("mm",))
def matmul(a, b):
    """The matrix product with NumPy's rules for vectors (promoted, then squeezed)."""
    first = like((a, b))
    a, b = as_tensor(a, first), as_tensor(b, first)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            "matmul: both operands need at least one dimension",
            hint="use * to multiply by a scalar",
        )
    av, bv = a.ndim == 1, b.ndim == 1  # (shapes known valid: no checks of `reshape`)
    if av:
        a = call("reshape", a, shape=(1, *a.shape), nd=1)
    if bv:
        b = call("reshape", b, shape=(*b.shape, 1), nd=1)
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not fit ({a.shape[-1]} != {b.shape[-2]})",
            hint="the last axis of the first must match the second-to-last of the second",
        )
    out = call("matmul", a, b)
    if av or bv:
        shape = out.shape[:-2] + (() if av else out.shape[-2:-1]) + (() if bv else out.shape[-1:])
        out = call("reshape", out, shape=shape, nd=out.ndim)
    return out


@public()
def dot(a, b):
    """The dot product of two vectors (the matrix product otherwise)."""
    first = like((a, b))
    a, b = as_tensor(a, first), as_tensor(b, first)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return matmul(a, b)


@public()
def outer(a, b):
    """The outer product of two vectors (flattened first)."""
    first = like((a, b))
    a, b = flatten(as_tensor(a, first)), flatten(as_tensor(b, first))
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def _square(a, name):
    a = as_tensor(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{name} needs a square matrix, not shape {a.shape}")
    return a


@public()
def det(a):
    """The determinant of a square matrix."""
    return call("det", _square(a, "det"))


@public()
def inv(a):
    """The inverse of a square matrix."""
    return call("inv", _square(a, "inv"))


@public(method=False)
def solve(a, b):
    """x with a @ x = b; b a vector or a matrix."""
    a = _square(a, "solve")
    b = as_tensor(b, a)
    if b.ndim == 1:
        return reshape(solve(a, reshape(b, (*b.shape, 1))), b.shape)
    return call("solve", a, b)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _ellipsis(subs: list[str], out: str | None, ranks: list[int], spec: str):
    """'...' replaced by letters unused in spec, the broadcast axes right-aligned, as NumPy
    (an implicit output puts them first)."""
    fresh_letters = [c for c in _LETTERS if c not in spec]
    extra = []
    for sub, rank in zip(subs, ranks, strict=True):
        n = rank - len(sub.replace("...", ""))
        if sub.replace("...", "", 1).count(".") or n < 0 or (n and "..." not in sub):
            raise ShapeError(
                f"einsum: subscripts {sub!r} do not fit an operand of {rank} dimensions",
                hint="one letter per axis; '...' stands for the axes in front",
            )
        extra.append(n if "..." in sub else 0)
    width = _max(extra, default=0)
    if width > len(fresh_letters):
        raise EvalError("einsum: too many axes under '...'")
    fresh = "".join(fresh_letters[:width])
    subs = [s.replace("...", fresh[width - n :]) for s, n in zip(subs, extra, strict=True)]
    if out is None:
        named = "".join(s for s in subs)
        out = fresh + "".join(sorted(c for c in set(named) - set(fresh) if named.count(c) == 1))
    elif out.replace("...", "", 1).count("."):
        raise EvalError(f"einsum: a stray '.' in the output {out!r}", hint="write '...'")
    return subs, out.replace("...", fresh)


def _diagonal_of(x: Tensor, sub: str) -> tuple[Tensor, str]:
    """An operand with a repeated index ('ii', 'iij'): its diagonal over the repeats (an
    index of the table, so the gradient goes back onto that diagonal), one axis a letter."""
    letters = "".join(dict.fromkeys(sub))
    if len(letters) == len(sub):
        return x, sub
    sizes: dict = {}
    for c, n in zip(sub, x.shape, strict=True):
        if sizes.setdefault(c, n) != n:
            raise ShapeError(
                f"einsum: the repeated index {c!r} of {sub!r} spans axes of lengths "
                f"{sizes[c]} and {n}",
                hint="a repeated index takes a diagonal: its axes need equal lengths",
            )
    k = len(letters)
    grids = {
        c: np.arange(sizes[c]).reshape((-1,) + (1,) * (k - j - 1)) for j, c in enumerate(letters)
    }
    return call("index", x, index=tuple(grids[c] for c in sub), nd=x.ndim), letters


@public(method=False)
def einsum(subscripts, *operands):
    """Einstein summation as NumPy's, '...' and repeated indices ('ii->') too."""
    if not isinstance(subscripts, str):
        raise EvalError("einsum's first argument is the subscripts string, e.g. 'ij,jk->ik'")
    spec = subscripts.replace(" ", "")
    odd = [c for c in spec if not (c.isascii() and c.isalpha()) and c not in ",->."]
    if odd:
        raise EvalError(
            f"einsum: {odd[0]!r} cannot name an axis in {subscripts!r}",
            hint="name axes with the letters a-z and A-Z, as in 'ij,jk->ik'",
        )
    ins, _, out = spec.partition("->")
    subs = ins.split(",")
    if len(subs) != len(operands):
        raise ShapeError(
            f"einsum: {len(subs)} operands in '{subscripts}' but {len(operands)} given"
        )
    first = like(operands)
    tensors = [as_tensor(o, first) for o in operands]
    if "." in spec:
        subs, out = _ellipsis(subs, out if "->" in spec else None, [o.ndim for o in tensors], spec)
    elif "->" not in spec:
        letters = "".join(subs)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(set(out)) != len(out) or not set(out) <= set("".join(subs)):
        raise EvalError(
            f"einsum: the output {out!r} repeats a letter or names one no operand has",
            hint="each output letter once, from the operands' subscripts",
        )
    for sub, o in zip(subs, tensors, strict=True):
        if len(sub) != o.ndim:
            raise ShapeError(
                f"einsum: subscripts {sub!r} name {len(sub)} axes of an operand of shape {o.shape}",
                hint="one letter per axis, or '...' for the axes in front",
            )
    pairs = [_diagonal_of(o, sub) for o, sub in zip(tensors, subs, strict=True)]
    spec = ",".join(sub for _, sub in pairs) + "->" + out
    return call("einsum", *[o for o, _ in pairs], spec=spec)
