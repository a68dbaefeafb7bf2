"""The public functions (`gc.NAME`), the Tensor operators and methods, and the language's set.

Derived from the table of primitives and from the declarations of the other functions: the
function of each elementwise row (`primitive.elementwise`) is public, and when the row is
`named`, a Tensor method and a function of the language too; the functions that apply
primitives by name (`arrays.py`) and those composed of others (below: one short definition,
no derivative code) say with `@public` what they are. `FUNCTIONS` is the language's function
set, `CONSTRUCTORS` its constants, `STATIC` the names of the parameters that take plain
numbers (shapes, axes, counts) rather than arrays, `BROADCASTING` and `ELEMENTWISE` the
language's functions whose array arguments broadcast, and that act element by element.
"""

from __future__ import annotations

import math

from . import arrays, ops, ops_shapes, ops_special  # noqa: F401  (the declarations; the rows)
from .arrays import (  # (`name as name`: re-exported, `__all__` names every public function)
    arange,
    eye,
    full,
    getitem,
    linspace,
    logsumexp,
    manual_seed as manual_seed,
    matmul,
    ones,
    ones_like as ones_like,
    rand,
    randn,
    tensor as tensor,
    transpose,
    var,
    zeros,
    zeros_like as zeros_like,
)
from .primitive import CONSTRUCTORS, PRIMITIVES, PUBLIC, call, elementwise as E, public
from .tensor import Tensor

_range = range


@public(elementwise=True)
def square(x):
    """Elementwise x²."""
    return x * x if isinstance(x, Tensor) else call("mul", x, x)


@public(elementwise=True)
def reciprocal(x):
    """Elementwise 1/x."""
    return call("div", 1.0, x) if not isinstance(x, Tensor) else 1 / x


@public(elementwise=True)
def log2(x):
    """Elementwise base-2 logarithm."""
    return E.log(x) / math.log(2)


@public(elementwise=True)
def log10(x):
    """Elementwise base-10 logarithm."""
    return E.log(x) / math.log(10)


@public(static=("axis", "ddof", "keepdims"))
def std(x, axis=None, ddof=0, keepdims=False):
    """Standard deviation over `axis`: the square root of var."""
    return E.sqrt(var(x, axis, ddof, keepdims))


@public(static=("axis",))
def softmax(x, axis=-1):
    """exp(x) normalised to sum to 1 along `axis`."""
    return E.exp(log_softmax(x, axis))


@public(static=("axis",))
def log_softmax(x, axis=-1):
    """The log of softmax along `axis`, computed stably (x - logsumexp)."""
    return x - logsumexp(x, axis, keepdims=True)


# -- Tensor operators and methods ----------------------------------------------------------------


def _reflected(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": E.add,
    "__radd__": _reflected(E.add),
    "__sub__": E.sub,
    "__rsub__": _reflected(E.sub),
    "__mul__": E.mul,
    "__rmul__": _reflected(E.mul),
    "__truediv__": E.div,
    "__rtruediv__": _reflected(E.div),
    "__pow__": E.pow,
    "__rpow__": _reflected(E.pow),
    "__matmul__": matmul,
    "__rmatmul__": _reflected(matmul),
    "__neg__": E.neg,
    "__pos__": lambda self: self,
    "__abs__": E.abs,
    "__getitem__": getitem,
    "__lt__": E.lt,
    "__le__": E.le,
    "__gt__": E.gt,
    "__ge__": E.ge,
    "__eq__": E.eq,
    "__ne__": E.ne,
    "__and__": E.logical_and,
    "__rand__": _reflected(E.logical_and),
    "__or__": E.logical_or,
    "__ror__": _reflected(E.logical_or),
    "__invert__": E.logical_not,
}


@public(name="ones", method=False, constructor=True, static=("shape",))
def _lang_ones(*shape):
    """Constant: an array of ones of the given shape."""
    return ones(*shape)


@public(name="zeros", method=False, constructor=True, static=("shape",))
def _lang_zeros(*shape):
    """Constant: an array of zeros of the given shape."""
    return zeros(*shape)


@public(name="full", method=False, constructor=True, static=("shape",))
def _lang_full(shape, value):
    """Constant: an array of the given shape holding value."""
    return full(shape, value)


@public(name="eye", method=False, constructor=True, static=("n", "m"))
def _lang_eye(n, m=None):
    """Constant: the identity matrix (n × m)."""
    return eye(n, m)


@public(name="arange", method=False, constructor=True, static=("start", "stop", "step"))
def _lang_arange(start, stop=None, step=1):
    """Constant: evenly spaced values from start to stop (excluded) by step."""
    return arange(start, stop, step)


@public(name="linspace", method=False, constructor=True, static=("start", "stop", "num"))
def _lang_linspace(start, stop, num=50):
    """Constant: num evenly spaced values from start to stop (included)."""
    return linspace(start, stop, num)


@public(name="randn", method=False, constructor=True, static=("shape",))
def _lang_randn(*shape):
    """Constant: standard normal draws of the given shape (from --seed)."""
    return randn(*shape)


@public(name="rand", method=False, constructor=True, static=("shape",))
def _lang_rand(*shape):
    """Constant: uniform draws in [0, 1) of the given shape (from --seed)."""
    return rand(*shape)


#: The elementwise rows' functions (aliases included) and the declared functions, by name.
_ROWS = {n: fn for n, fn in vars(E).items()}
_NAMED = {n: fn for n, fn in _ROWS.items() if PRIMITIVES[fn.__name__].named}

_METHODS = {
    **_NAMED,
    **{n: fn for n, fn in PUBLIC.items() if fn.method},
    **{n: getattr(E, n) for n in ("neg", "add", "sub", "mul", "div")},
    "view": PUBLIC["reshape"],
    "negative": E.neg,
    "t": lambda self: transpose(self),
    "T": property(lambda self: transpose(self)),
    "mT": property(
        lambda self: transpose(self, (*_range(self.ndim - 2), -1, -2)) if self.ndim >= 2 else self
    ),
}
for _name, _fn in {**_OPERATORS, **_METHODS}.items():
    setattr(Tensor, _name, _fn)

# -- the language's functions --------------------------------------------------------------------

FUNCTIONS = {**_NAMED, **{n: fn for n, fn in PUBLIC.items() if fn.language}, **CONSTRUCTORS}

#: The parameters that take plain numbers, not arrays: shapes, axes and counts, by their
#: names in the functions' signatures (given by position or by keyword), and the rows'
#: `static` parameters (leaky_relu's negative_slope).
STATIC = frozenset().union(
    *(fn.static for fn in [*PUBLIC.values(), *CONSTRUCTORS.values()]),
    *(prim.static for prim in PRIMITIVES.values()),
)

#: The functions of the language whose array arguments broadcast against each other, element
#: by element (their rows' `broadcast`).
BROADCASTING = frozenset(
    name
    for name, fn in FUNCTIONS.items()
    if getattr(PRIMITIVES.get(fn.__name__), "broadcast", False)
    and PRIMITIVES[fn.__name__].elementwise
)

#: The functions of the language that act element by element: elementwise rows, and
#: declared functions that say so.
ELEMENTWISE = frozenset(
    name
    for name, fn in FUNCTIONS.items()
    if getattr(PRIMITIVES.get(fn.__name__), "elementwise", False)
    or getattr(fn, "elementwise", False)
)

# gc.NAME for every public function: the rows' (gc.sqrt, gc.add, gc.lt, ...) and the declared
globals().update({**_ROWS, **PUBLIC})
__all__ = sorted({*_ROWS, *PUBLIC})
