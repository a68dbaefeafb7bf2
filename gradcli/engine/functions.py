"""The public functions (`gc.NAME`), the Tensor operators and methods, and the language's set.

Derived from the table of primitives: the function of each elementwise row
(`primitive.elementwise`) is public, and when the row is `named`, a Tensor method and a
function of the language too. The other functions apply primitives by name (`arrays.py`)
or are composed of functions (`@composed` below: one short definition, no derivative code).
`FUNCTIONS` is the language's function set, `STATIC` the names of the parameters that take
plain numbers (shapes, axes, counts) rather than arrays, `BROADCASTING` the language's
functions whose array arguments broadcast against each other.
"""

from __future__ import annotations

import math

from . import ops  # noqa: F401  (the rows of the table, and their functions)
from .arrays import (
    arange,
    broadcast_to,
    cat,
    clip,
    concat,
    det,
    detach,
    diag,
    dot,  # noqa: F401
    drawing_from,
    einsum,
    expand,
    expand_dims,
    eye,
    flatten,
    full,
    getitem,
    inv,
    linspace,
    logsumexp,
    manual_seed,
    matmul,
    max,
    mean,
    min,
    mm,
    norm,
    normal_axes,
    ones,
    ones_like,
    outer,
    prod,
    rand,
    randn,
    reshape,
    solve,
    squeeze,
    stack,
    sum,
    tensor,
    trace,
    transpose,
    unsqueeze,
    var,
    where,
    zeros,
    zeros_like,
)
from .primitive import PRIMITIVES, call, elementwise as E
from .tensor import Tensor

_range = range

# the function of every elementwise row: gc.sqrt, gc.add, gc.lt, ...
globals().update(vars(E))

_COMPOSED: dict = {}


def composed(*, elementwise: bool = False):
    """Declare a function composed of others: a Tensor method and a function of the language
    (`elementwise`: it acts element by element, as the batch fast path needs to know)."""

    def declare(fn):
        fn.elementwise = elementwise
        _COMPOSED[fn.__name__] = fn
        return fn

    return declare


@composed(elementwise=True)
def square(x):
    """Elementwise x²."""
    return x * x if isinstance(x, Tensor) else call("mul", x, x)


@composed(elementwise=True)
def reciprocal(x):
    """Elementwise 1/x."""
    return call("div", 1.0, x) if not isinstance(x, Tensor) else 1 / x


@composed(elementwise=True)
def log2(x):
    """Elementwise base-2 logarithm."""
    return E.log(x) / math.log(2)


@composed(elementwise=True)
def log10(x):
    """Elementwise base-10 logarithm."""
    return E.log(x) / math.log(10)


@composed()
def std(x, axis=None, ddof=0, keepdims=False):
    """Standard deviation over `axis`: the square root of var."""
    return E.sqrt(var(x, axis, ddof, keepdims))


@composed()
def softmax(x, axis=-1):
    """exp(x) normalised to sum to 1 along `axis`."""
    return E.exp(log_softmax(x, axis))


@composed()
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

# the named elementwise rows and the composed functions; these others of `arrays.py`
_NAMED = {n: fn for n, fn in vars(E).items() if PRIMITIVES[n].named}
_LANGUAGE = {
    n: globals()[n]
    for n in (
        "where clip sum mean prod max min norm logsumexp var matmul mm dot outer transpose trace "
        "det inv solve einsum reshape flatten concat stack squeeze diag detach".split()
    )
}
_METHODS = {
    **_NAMED,
    **_COMPOSED,
    **{
        n: globals()[n]
        for n in (
            "neg add sub mul div clip where sum mean prod max min norm logsumexp var reshape flatten "
            "squeeze unsqueeze transpose diag trace matmul mm dot outer det inv expand".split()
        )
    },
}
_ALIASES = dict(
    arcsin=E.asin,
    arccos=E.acos,
    arctan=E.atan,
    arcsinh=E.asinh,
    arccosh=E.acosh,
    arctanh=E.atanh,
    arctan2=E.atan2,
)
globals().update(_ALIASES)
clamp = clip
_METHODS.update(
    _ALIASES,
    clamp=clip,
    view=reshape,
    negative=E.neg,
    t=lambda self: transpose(self),
    T=property(lambda self: transpose(self)),
    mT=property(
        lambda self: (
            transpose(self, tuple(_range(self.ndim - 2)) + (-1, -2)) if self.ndim >= 2 else self
        )
    ),
)

for _name, _fn in {**_OPERATORS, **_METHODS}.items():
    setattr(Tensor, _name, _fn)

# -- the language's functions --------------------------------------------------------------------

FUNCTIONS = {**_NAMED, **_COMPOSED, **_LANGUAGE, **_ALIASES}


def _lang_ones(*shape):
    """Constant: an array of ones of the given shape."""
    return ones(*shape)


def _lang_zeros(*shape):
    """Constant: an array of zeros of the given shape."""
    return zeros(*shape)


def _lang_full(shape, value):
    """Constant: an array of the given shape holding value."""
    return full(shape, value)


def _lang_eye(n, m=None):
    """Constant: the identity matrix (n × m)."""
    return eye(n, m)


def _lang_arange(start, stop=None, step=1):
    """Constant: evenly spaced values from start to stop (excluded) by step."""
    return arange(start, stop, step)


def _lang_linspace(start, stop, num=50):
    """Constant: num evenly spaced values from start to stop (included)."""
    return linspace(start, stop, num)


def _lang_randn(*shape):
    """Constant: standard normal draws of the given shape (from --seed)."""
    return randn(*shape)


def _lang_rand(*shape):
    """Constant: uniform draws in [0, 1) of the given shape (from --seed)."""
    return rand(*shape)


CONSTRUCTORS = {
    n: globals()[f"_lang_{n}"] for n in "ones zeros full eye arange linspace randn rand".split()
}
FUNCTIONS.update(CONSTRUCTORS)

#: The parameters that take plain numbers, not arrays: shapes, axes and counts, by their
#: names in the functions' signatures (given by position or by keyword).
STATIC = frozenset(
    {"shape", "n", "m", "start", "stop", "step", "num", "axes", "axis", "keepdims", "ord", "ddof"}
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
#: composed functions declared so (and detach).
ELEMENTWISE = frozenset(
    name
    for name, fn in FUNCTIONS.items()
    if getattr(PRIMITIVES.get(fn.__name__), "elementwise", False)
    or getattr(fn, "elementwise", False)
) | {"detach"}

__all__ = sorted(
    n
    for n in {
        *FUNCTIONS,
        *_METHODS,
        "tensor",
        "zeros_like",
        "ones_like",
        "manual_seed",
        "unsqueeze",
        "expand_dims",
        "broadcast_to",
        "getitem",
        "cat",
        "clamp",
        "lt",
        "le",
        "gt",
        "ge",
        "eq",
        "ne",
        "logical_and",
        "logical_or",
        "logical_not",
    }
    if callable(globals().get(n))
)
