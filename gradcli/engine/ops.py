"""THE table of primitives: one row per primitive with its forward, VJP, JVP and sympy form
(the columns: `primitive.Primitive`).

Vocabulary of the rules: `g` is the cotangent of the output, `t` the tangent of one input,
`out` the output; the remaining arguments are the inputs (Tensors) and the static params.
A VJP or JVP is a tuple with one rule per input (None: not differentiable in that input).
Rules are written in Tensor operations, so they are themselves differentiable
(create_graph); an unrecorded backward pass hands them NumPy arrays instead (the same
operators work, and the functions they call, `E.NAME` of the elementwise rows and `F.NAME`
of `arrays.py`, accept arrays), so rules use no Tensor-only attribute.
They carry leading batch axes through unchanged: every forward below is batch-polymorphic
(axes counted from the end, `nd` params giving the unbatched rank), so a linear
primitive's JVP is the primitive itself applied to the tangent.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import EvalError
from . import arrays as F
from .clock import OPTIMIZE, einsum_flops, einsum_sizes
from .kernels import vector
from .primitive import (
    PRIMITIVES,
    Primitive,
    broadcast_shape,
    call,
    elementwise as E,
    index_shape,
    register,
)
from .tensor import Tensor

__all__ = ["PRIMITIVES", "Primitive", "at_zero", "binary_row", "index_shape", "unary_row"]


def unary_row(name, forward, deriv, sym, domain=(-2.0, 2.0), over=None, **columns):
    """An elementwise function of one input: its VJP and JVP come from its derivative,
    `deriv(x, out, **params)`, or from `over(x, out, **params)` when the derivative is
    1 / over (one pass fewer: g / over rather than g * (1 / over)); `columns`: the row's
    others (`static`: its parameters, which the rules receive)."""
    if over is not None:
        vjp = (lambda g, out, x, **p: g / over(x, out, **p),)
        jvp = (lambda t, out, x, **p: t / over(x, out, **p),)
        partials = (lambda out, x, **p: 1 / over(x, out, **p),)
    else:
        vjp = (lambda g, out, x, **p: g * deriv(x, out, **p),)
        jvp = (lambda t, out, x, **p: t * deriv(x, out, **p),)
        partials = (lambda out, x, **p: deriv(x, out, **p),)
    return register(
        Primitive(
            name,
            forward,
            vjp=vjp,
            jvp=jvp,
            sym=sym,
            elementwise=True,
            domain=(domain,),
            partials=partials,
            **columns,
        )
    )


def at_zero(out, x, **params):
    """Whether any input is 0 (a kink at 0: `kink`'s test)."""
    return bool(np.any(x == 0))


def binary_row(name, forward, da, db, sym, domains=((-2.0, 2.0), (-2.0, 2.0)), **columns):
    """An elementwise, broadcasting function of two inputs from its partial derivatives,
    `da(a, b, out, **params)` and `db(...)`."""
    return register(
        Primitive(
            name,
            forward,
            vjp=(
                lambda g, out, a, b, **p: g * da(a, b, out, **p),
                lambda g, out, a, b, **p: g * db(a, b, out, **p),
            ),
            jvp=(
                lambda t, out, a, b, **p: t * da(a, b, out, **p),
                lambda t, out, a, b, **p: t * db(a, b, out, **p),
            ),
            sym=sym,
            broadcast=True,
            elementwise=True,
            domain=domains,
            partials=(
                lambda out, a, b, **p: da(a, b, out, **p),
                lambda out, a, b, **p: db(a, b, out, **p),
            ),
            **columns,
        )
    )


def _lead(g, out):
    """The leading batch axes of a cotangent or tangent `g` of `out`."""
    return g.shape[: g.ndim - out.ndim]


def _erf(a):
    a = np.asarray(a)  # a 0-d input gives a Python float from frompyfunc
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(a), dtype=a.dtype)


def _softplus(a):
    return np.logaddexp(np.zeros((), a.dtype), a)


def _sigmoid(a):
    return np.exp(-np.logaddexp(np.zeros((), a.dtype), -a))


# -- test cases of the rows that are not elementwise (`samples`) ---------------------------


def _u(rng, *shape, lo=-2.0, hi=2.0):
    return np.asarray(rng.uniform(lo, hi, size=shape))


def _cases(*specs):
    """samples from (input shapes, params) pairs: inputs uniform in (-2, 2)."""
    return lambda rng: [
        (tuple(_u(rng, *s) for s in shapes), dict(params)) for shapes, params in specs
    ]


def _reduction_samples(lo=-2.0, hi=2.0):
    def samples(rng):
        cases = []
        for shape in [(), (3,), (3, 2), (1, 2), (2, 3, 2)]:
            axes = [None] + ([0, -1] if shape else []) + ([(0, 1)] if len(shape) > 1 else [])
            for axis in axes:
                for keepdims in (False, True):
                    cases.append(
                        (
                            (_u(rng, *shape, lo=lo, hi=hi),),
                            dict(axis=F.normal_axes(axis, len(shape)), keepdims=keepdims),
                        )
                    )
        return cases

    return samples


def _square_samples(*shapes, b_shapes=None):
    """Well-conditioned square matrices (and right-hand sides for solve)."""

    def samples(rng):
        cases: list = []
        for i, shape in enumerate(shapes):
            a = _u(rng, *shape, lo=-1.0, hi=1.0) + 3 * np.eye(shape[-1])
            rest = () if b_shapes is None else (_u(rng, *b_shapes[i]),)
            cases.append(((a, *rest), {}))
        return cases

    return samples


def _where_samples(rng):
    return [
        ((rng.random(sc) < 0.5, _u(rng, *sa), _u(rng, *sb)), {})
        for sc, sa, sb in [
            ((3, 2), (3, 2), (3, 2)),
            ((2,), (3, 2), ()),
            ((), (2,), (3, 2)),
            ((3, 1), (1, 2), (3, 2)),
            ((), (), ()),
        ]
    ]


_MASK = np.array([[True, False], [False, False], [True, True]])
_INDEX_CASES = [
    ((3, 2), (1,)),
    ((3, 2), (-1,)),
    ((3, 2), (slice(0, 2),)),
    ((3, 2), (slice(None), 0)),
    ((3, 2), (slice(None, None, -1), -1)),
    ((3, 2), (np.array([0, 0, 2]),)),
    ((3, 2), (_MASK,)),
    ((3, 2), (np.array([[0, 1], [2, 0]]), np.array([[1, 1], [0, 1]]))),
    ((4,), (np.array([1, 1, 3, -1]),)),
    ((4,), (slice(-3, None),)),
    ((3, 2), (Ellipsis, 1)),
    ((3, 2), (None, slice(1, None))),
]


def _einsum_samples(rng):
    specs = [
        ("ij,jk->ik", (3, 2), (2, 4)),
        ("ij->i", (3, 2)),
        ("i,i->", (3,), (3,)),
        ("ij->ji", (3, 2)),
        ("i,j->ij", (3,), (2,)),
        ("ij,ij->ij", (3, 2), (3, 2)),
        ("ijk,kl->il", (2, 3, 2), (2, 4)),
        ("ij->", (3, 2)),
        ("i,ij,j->", (3,), (3, 2), (2,)),
    ]
    return [(tuple(_u(rng, *s) for s in shapes), dict(spec=spec)) for spec, *shapes in specs]


# -- elementwise, one input ----------------------------------------------------------------

register(
    Primitive(
        "neg",
        np.negative,
        vjp=(lambda g, out, x: -g,),
        jvp=(lambda t, out, x: -t,),
        sym=lambda sp, x: -x,
        elementwise=True,
        domain=((-2.0, 2.0),),
        explain="-g",
        named=False,
        total=True,
    )
)
unary_row(
    "abs",
    np.abs,
    lambda x, out: E.sign(x),
    lambda sp, x: sp.Abs(x),
    kink=("abs'(0) = 0", at_zero),
    explain="g · sign(x)",
    total=True,
)
register(
    Primitive(
        "sign",
        np.sign,
        vjp=(None,),
        jvp=(None,),
        sym=lambda sp, x: sp.sign(x),
        elementwise=True,
        domain=((-2.0, 2.0),),
        differentiable=False,
        kink=("sign'(x) = 0 (also at its jump at 0)", at_zero),
        explain="none: sign is flat (0 everywhere)",
    )
)
unary_row(
    "sqrt",
    np.sqrt,
    None,
    lambda sp, x: sp.sqrt(x),
    (0.1, 3.0),
    kink=("sqrt'(0) = inf", at_zero),
    explain="g / (2·out)",
    over=lambda x, out: 2 * out,
    nonfinite="sqrt is not differentiable at 0 (its slope is infinite); keep its input "
    "away from 0, e.g. sqrt(x + 1e-12)",
)
unary_row(
    "cbrt",
    np.cbrt,
    lambda x, out: 1 / (3 * out * out),
    lambda sp, x: sp.real_root(x, 3),
    (0.1, 3.0),
    kink=("cbrt'(0) = inf", at_zero),
    explain="g / (3·out²)",
)
unary_row("exp", np.exp, lambda x, out: out, lambda sp, x: sp.exp(x), explain="g · out")
unary_row(
    "expm1", np.expm1, lambda x, out: out + 1, lambda sp, x: sp.exp(x) - 1, explain="g · (out + 1)"
)
unary_row(
    "log",
    np.log,
    None,
    lambda sp, x: sp.log(x),
    (0.1, 3.0),
    explain="g / x",
    over=lambda x, out: x,
    nonfinite="log'(0) = inf; keep the input positive, e.g. log(x + 1e-12)",
)
unary_row(
    "log1p",
    np.log1p,
    None,
    lambda sp, x: sp.log(1 + x),
    (-0.5, 3.0),
    explain="g / (1 + x)",
    over=lambda x, out: 1 + x,
)
unary_row(
    "sin",
    vector("sin"),
    lambda x, out: E.cos(x),
    lambda sp, x: sp.sin(x),
    explain="g · cos(x)",
    total=True,
)
unary_row(
    "cos",
    vector("cos"),
    lambda x, out: -E.sin(x),
    lambda sp, x: sp.cos(x),
    explain="-g · sin(x)",
    total=True,
)
unary_row(
    "tan",
    np.tan,
    lambda x, out: 1 + out * out,
    lambda sp, x: sp.tan(x),
    (-1.2, 1.2),
    explain="g · (1 + out²)",
)
unary_row(
    "asin",
    np.arcsin,
    lambda x, out: 1 / E.sqrt(1 - x * x),
    lambda sp, x: sp.asin(x),
    (-0.9, 0.9),
    explain="g / √(1 - x²)",
    aliases=("arcsin",),
)
unary_row(
    "acos",
    np.arccos,
    lambda x, out: -1 / E.sqrt(1 - x * x),
    lambda sp, x: sp.acos(x),
    (-0.9, 0.9),
    explain="-g / √(1 - x²)",
    aliases=("arccos",),
)
unary_row(
    "atan",
    np.arctan,
    None,
    lambda sp, x: sp.atan(x),
    explain="g / (1 + x²)",
    over=lambda x, out: 1 + x * x,
    total=True,
    aliases=("arctan",),
)
unary_row(
    "sinh", np.sinh, lambda x, out: E.cosh(x), lambda sp, x: sp.sinh(x), explain="g · cosh(x)"
)
unary_row(
    "cosh", np.cosh, lambda x, out: E.sinh(x), lambda sp, x: sp.cosh(x), explain="g · sinh(x)"
)
unary_row(
    "tanh",
    np.tanh,
    lambda x, out: 1 - out * out,
    lambda sp, x: sp.tanh(x),
    explain="g · (1 - out²)",
    total=True,
)
unary_row(
    "asinh",
    np.arcsinh,
    lambda x, out: 1 / E.sqrt(x * x + 1),
    lambda sp, x: sp.asinh(x),
    explain="g / √(x² + 1)",
    total=True,
    aliases=("arcsinh",),
)
unary_row(
    "acosh",
    np.arccosh,
    lambda x, out: 1 / E.sqrt(x * x - 1),
    lambda sp, x: sp.acosh(x),
    (1.1, 3.0),
    explain="g / √(x² - 1)",
    aliases=("arccosh",),
)
unary_row(
    "atanh",
    np.arctanh,
    lambda x, out: 1 / (1 - x * x),
    lambda sp, x: sp.atanh(x),
    (-0.9, 0.9),
    explain="g / (1 - x²)",
    aliases=("arctanh",),
)
unary_row(
    "sigmoid",
    _sigmoid,
    lambda x, out: out * (1 - out),
    lambda sp, x: 1 / (1 + sp.exp(-x)),
    explain="g · out · (1 - out)",
    total=True,
    aliases=("expit",),
)
unary_row(
    "relu",
    lambda a: np.maximum(a, 0),
    lambda x, out: x > 0,
    lambda sp, x: sp.Max(x, 0),
    kink=("relu'(0) = 0", at_zero),
    explain="g where x > 0, else 0",
    total=True,
)
unary_row(
    "softplus",
    _softplus,
    lambda x, out: E.sigmoid(x),
    lambda sp, x: sp.log(1 + sp.exp(x)),
    explain="g · sigmoid(x)",
)
unary_row(
    "erf",
    _erf,
    lambda x, out: (2 / math.sqrt(math.pi)) * E.exp(-x * x),
    lambda sp, x: sp.erf(x),
    explain="g · 2/√π · exp(-x²)",
    total=True,
)

# -- elementwise, two or three inputs ------------------------------------------------------

register(
    Primitive(
        "add",
        np.add,
        vjp=(lambda g, out, a, b: g, lambda g, out, a, b: g),
        jvp=(lambda t, out, a, b: t, lambda t, out, a, b: t),
        sym=lambda sp, a, b: a + b,
        broadcast=True,
        elementwise=True,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        explain="g to each input",
        partials=(1, 1),
        named=False,
        total=True,
    )
)
register(
    Primitive(
        "sub",
        np.subtract,
        vjp=(lambda g, out, a, b: g, lambda g, out, a, b: -g),
        jvp=(lambda t, out, a, b: t, lambda t, out, a, b: -t),
        sym=lambda sp, a, b: a - b,
        broadcast=True,
        elementwise=True,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        explain="g to a, -g to b",
        partials=(1, None),
        named=False,
        total=True,
    )
)
register(
    Primitive(
        "mul",
        np.multiply,
        vjp=(lambda g, out, a, b: g * b, lambda g, out, a, b: g * a),
        jvp=(lambda t, out, a, b: t * b, lambda t, out, a, b: a * t),
        sym=lambda sp, a, b: a * b,
        broadcast=True,
        elementwise=True,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        explain="g · other",
        partials=(lambda out, a, b: b, lambda out, a, b: a),
        named=False,
        total=True,
    )
)
binary_row(
    "div",
    np.divide,
    lambda a, b, out: 1 / b,
    lambda a, b, out: -out / b,
    lambda sp, a, b: a / b,
    ((-2.0, 2.0), (0.5, 2.0)),
    explain="g / b to a, -g · out / b to b",
    named=False,
    nonfinite="a division by 0 in the backward pass; keep the denominator away from 0",
)


# x**0 has derivative 0 everywhere (also at x = 0); the exponent's derivative is taken as 0
# where the base is 0, as PyTorch does.
def _power(a, b):
    """a ** b, with the common constant exponents on NumPy's faster paths."""
    if b.ndim == 0 and b.dtype.kind == "f":
        c = float(b)
        if c == 2:
            return np.square(a)
        if c == 0.5:
            return np.sqrt(a)
        if c == -1:
            return np.reciprocal(a)
    return np.power(a, b)


def _pow_slope(a, b, out):
    """d(a ** b)/da; a constant exponent needs no `where` over the whole array."""
    if not getattr(b, "requires_grad", False) and b.ndim == 0:  # (an ndarray: unrecorded)
        c = float(b)
        if c == 0:
            return 0
        return a * 2 if c == 2 else a ** (c - 1) * c
    return F.where(b == 0, 0, b * a ** (b - 1))


binary_row(
    "pow",
    _power,
    _pow_slope,
    lambda a, b, out: out * E.log(F.where(a == 0, 1, a)),
    lambda sp, a, b: a**b,
    ((0.5, 2.0), (-2.0, 2.0)),
    explain="g · b · a^(b-1) to a, g · out · log(a) to b",
    doc="Elementwise a ** b, broadcasting.",
    nonfinite="a power with a negative or fractional exponent at 0 has an infinite slope",
)
# Ties of maximum/minimum split the gradient evenly between the two inputs.


def _select(g, wins, ties):
    """g where this input wins, half of g on ties (ties split evenly)."""
    return g * wins + (g * ties) * 0.5


for _name, _fn, _sym, _win in [
    ("maximum", np.maximum, "Max", lambda p, q: p > q),
    ("minimum", np.minimum, "Min", lambda p, q: p < q),
]:
    register(
        Primitive(
            _name,
            _fn,
            vjp=(
                lambda g, out, a, b, _w=_win: _select(g, _w(a, b), a == b),
                lambda g, out, a, b, _w=_win: _select(g, _w(b, a), a == b),
            ),
            jvp=(
                lambda t, out, a, b, _w=_win: _select(t, _w(a, b), a == b),
                lambda t, out, a, b, _w=_win: _select(t, _w(b, a), a == b),
            ),
            sym=lambda sp, a, b, _s=_sym: getattr(sp, _s)(a, b),
            broadcast=True,
            elementwise=True,
            domain=((-2.0, 2.0), (-2.0, 2.0)),
            kink=(
                f"an even split of the gradient between tied inputs of {_name} (1/2 each)",
                lambda out, a, b: bool(np.any(a == b)),
            ),
            explain=f"g to the {'larger' if _name == 'maximum' else 'smaller'} input; "
            "ties: g/2 to each",
            total=True,
            doc=f"Elementwise {'larger' if _name == 'maximum' else 'smaller'} of a and b.",
        )
    )
binary_row(
    "atan2",
    np.arctan2,
    lambda a, b, out: b / (a * a + b * b),
    lambda a, b, out: -a / (a * a + b * b),
    lambda sp, a, b: sp.atan2(a, b),
    ((0.5, 2.0), (0.5, 2.0)),
    explain="g · b/(a² + b²) to a, -g · a/(a² + b²) to b",
    doc="Elementwise angle of the point (b, a): atan(a/b) in the right quadrant.",
    aliases=("arctan2",),
)
binary_row(
    "hypot",
    np.hypot,
    lambda a, b, out: a / out,
    lambda a, b, out: b / out,
    lambda sp, a, b: sp.sqrt(a * a + b * b),
    ((0.5, 2.0), (0.5, 2.0)),
    explain="g · a/out to a, g · b/out to b",
    doc="Elementwise √(a² + b²).",
)


def _sym_condition(sp, c):
    """A condition for sympy's Piecewise: relations and bools as they are, numbers != 0."""
    if isinstance(c, (bool, np.bool_)):
        return bool(c)
    return (
        c if isinstance(c, sp.logic.boolalg.Boolean) and not isinstance(c, sp.Expr) else sp.Ne(c, 0)
    )  # (a Symbol is both a Boolean and an Expr)


register(
    Primitive(
        "where",
        lambda c, a, b: np.where(c, a, b),
        vjp=(
            None,
            lambda g, out, c, a, b: F.where(c, g, 0),
            lambda g, out, c, a, b: F.where(c, 0, g),
        ),
        jvp=(
            None,
            lambda t, out, c, a, b: F.where(c, t, 0),
            lambda t, out, c, a, b: F.where(c, 0, t),
        ),
        sym=lambda sp, c, a, b: sp.Piecewise((a, _sym_condition(sp, c)), (b, True)),
        broadcast=True,
        elementwise=True,
        samples=_where_samples,
        explain="g to a where cond holds, to b elsewhere",
    )
)
# clip passes the gradient where lo <= x <= hi (both ends included), as torch.clamp does.
register(
    Primitive(
        "clip",
        lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi),
        vjp=(
            lambda g, out, x, lo, hi: g * ((x >= lo) & (x <= hi)),
            lambda g, out, x, lo, hi: g * (x < lo),
            lambda g, out, x, lo, hi: g * (x > hi),
        ),
        jvp=(
            lambda t, out, x, lo, hi: t * ((x >= lo) & (x <= hi)),
            lambda t, out, x, lo, hi: t * (x < lo),
            lambda t, out, x, lo, hi: t * (x > hi),
        ),
        sym=lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
        broadcast=True,
        elementwise=True,
        domain=((-2.0, 2.0), (-1.5, -0.5), (0.5, 1.5)),
        kink=(
            "clip'(x) = 1 at its bounds (lo <= x <= hi)",
            lambda out, x, lo, hi: bool(np.any((x == lo) | (x == hi))),
        ),
        explain="g where lo ≤ x ≤ hi; to lo below, to hi above",
    )
)

# comparisons and logic: forward only, boolean masks (sympy: relations, for Piecewise)
for _name, _test, _sym in [
    ("lt", np.less, "Lt"),
    ("le", np.less_equal, "Le"),
    ("gt", np.greater, "Gt"),
    ("ge", np.greater_equal, "Ge"),
    ("eq", np.equal, "Eq"),
    ("ne", np.not_equal, "Ne"),
    ("logical_and", np.logical_and, "And"),
    ("logical_or", np.logical_or, "Or"),
]:
    register(
        Primitive(
            _name,
            _test,
            vjp=(None, None),
            jvp=(None, None),
            broadcast=True,
            sym=lambda sp, a, b, _s=_sym: getattr(sp, _s)(a, b),
            elementwise=True,
            domain=((-2.0, 2.0), (-2.0, 2.0)),
            differentiable=False,
            explain="none: a comparison gives a mask",
            named=False,
        )
    )
register(
    Primitive(
        "logical_not",
        np.logical_not,
        vjp=(None,),
        jvp=(None,),
        elementwise=True,
        sym=lambda sp, a: sp.Not(a),
        domain=((-2.0, 2.0),),
        differentiable=False,
        explain="none: a mask",
        named=False,
    )
)


# -- reductions (axis: a tuple of negative axes; keepdims) ---------------------------------


def _unreduce(g, out, x, axis):
    """Broadcast the cotangent of a reduction back over the reduced axes."""
    lead = _lead(g, out)
    kept = tuple(1 if i - x.ndim in axis else n for i, n in enumerate(x.shape))
    return F.expand(F.reshape(g, lead + kept), lead + x.shape)


def _keep(out, x, axis):
    """The output of a reduction with its reduced axes kept (length 1)."""
    kept = tuple(1 if i - x.ndim in axis else n for i, n in enumerate(x.shape))
    return out if out.shape == kept else F.reshape(out, kept)


def _float(mask, like):
    """A boolean mask as numbers of `like`'s dtype (a constant: masks carry no gradient)."""
    return F.tensor(mask.data if isinstance(mask, Tensor) else mask, dtype=like.dtype)


def _reduce_sym(combine):
    """The sympy form of a reduction: `combine(sp, elements)` over the reduced axes."""

    def sym(sp, a, axis, keepdims):
        keep = [i for i in range(a.ndim) if i - a.ndim not in axis]
        moved = np.transpose(a, keep + [a.ndim + i for i in axis])
        flat = moved.reshape((*moved.shape[: len(keep)], -1))
        out = np.empty(flat.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = combine(sp, list(flat[idx]))
        if keepdims:
            out = out.reshape(tuple(1 if i - a.ndim in axis else n for i, n in enumerate(a.shape)))
        return out

    return sym


def _count(x, axis):
    return math.prod(x.shape[a] for a in axis)


register(
    Primitive(
        "sum",
        lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims),
        vjp=(lambda g, out, x, axis, keepdims: _unreduce(g, out, x, axis),),
        jvp=(lambda t, out, x, axis, keepdims: F.sum(t, axis=axis, keepdims=keepdims),),
        samples=_reduction_samples(),
        explain="g broadcast back over the summed axes",
    )
)
register(
    Primitive(
        "mean",
        lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims),
        vjp=(lambda g, out, x, axis, keepdims: _unreduce(g, out, x, axis) / _count(x, axis),),
        jvp=(lambda t, out, x, axis, keepdims: F.mean(t, axis=axis, keepdims=keepdims),),
        samples=_reduction_samples(),
        explain="g / n broadcast back over the averaged axes",
    )
)


def _prod_grad(out, x, axis):
    """d prod / d x_i = product of the others, exact also where x holds zeros, and written
    so that its own derivative is right there too (second order: hessian of prod)."""
    zero = x == 0
    nzeros = F.sum(_float(zero, x), axis=axis, keepdims=True)
    nonzeros = F.prod(F.where(zero, 1, x), axis=axis, keepdims=True)  # product of x_j != 0
    zeros = F.prod(F.where(zero, x, 1), axis=axis, keepdims=True)  # product of x_j == 0
    # at a zero x_i, the product of the other zeros: 1 if none, the other one if one (as
    # a sum, to keep its derivative), 0 to first order if more
    other = F.where(
        nzeros == 1,
        1,
        F.where(nzeros == 2, F.sum(F.where(zero, x, 0), axis=axis, keepdims=True) - x, 0),
    )
    return F.where(zero, nonzeros * other, nonzeros / F.where(zero, 1, x) * zeros)


register(
    Primitive(
        "prod",
        lambda a, axis, keepdims: np.prod(a, axis=axis, keepdims=keepdims),
        vjp=(
            lambda g, out, x, axis, keepdims: _unreduce(g, out, x, axis) * _prod_grad(out, x, axis),
        ),
        jvp=(
            lambda t, out, x, axis, keepdims: F.sum(
                t * _prod_grad(out, x, axis), axis=axis, keepdims=keepdims
            ),
        ),
        samples=_reduction_samples(0.5, 1.5),
        explain="g · the product of the other elements",
    )
)


def _tie_share(out, x, axis):
    """Where x attains its max (or min): 1/count of the ties, else 0."""
    hit = _float(x == _keep(out, x, axis), x)
    return hit / F.sum(hit, axis=axis, keepdims=True)


for _name, _reduce, _sym in [("max", np.max, "Max"), ("min", np.min, "Min")]:
    register(
        Primitive(
            _name,
            lambda a, axis, keepdims, _reduce=_reduce: _reduce(a, axis=axis, keepdims=keepdims),
            sym=_reduce_sym(lambda sp, xs, _s=_sym: getattr(sp, _s)(*xs)),
            kink=(
                f"an even split of the gradient among the tied elements of {_name}",
                lambda out, x, axis, keepdims, _reduce=_reduce: bool(
                    np.any(np.sum(x == _reduce(x, axis=axis, keepdims=True), axis=axis) > 1)
                ),
            ),
            vjp=(
                lambda g, out, x, axis, keepdims: (
                    _unreduce(g, out, x, axis) * _tie_share(out, x, axis)
                ),
            ),
            jvp=(
                lambda t, out, x, axis, keepdims: F.sum(
                    t * _tie_share(out, x, axis), axis=axis, keepdims=keepdims
                ),
            ),
            samples=_reduction_samples(),
            explain=f"g to the {_name}imum element (ties share it)",
        )
    )


def _norm_grad(out, x, axis):
    """x / ||x||, taken as 0 where the norm is 0 (the minimum-norm subgradient)."""
    n = _keep(out, x, axis)
    return F.where(n == 0, 0, x / F.where(n == 0, 1, n))


register(
    Primitive(
        "norm",
        lambda a, axis, keepdims: np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)),
        sym=_reduce_sym(lambda sp, xs: sp.sqrt(sum(x * x for x in xs))),
        kink=(
            "norm'(0) = 0 (the minimum-norm subgradient)",
            lambda out, x, axis, keepdims: bool(np.any(out == 0)),
        ),
        vjp=(
            lambda g, out, x, axis, keepdims: _unreduce(g, out, x, axis) * _norm_grad(out, x, axis),
        ),
        jvp=(
            lambda t, out, x, axis, keepdims: F.sum(
                t * _norm_grad(out, x, axis), axis=axis, keepdims=keepdims
            ),
        ),
        samples=_reduction_samples(),
        explain="g · x / out",
        nonfinite="norm at 0",
    )
)


def _logsumexp(a, axis, keepdims):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    r = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


register(
    Primitive(
        "logsumexp",
        _logsumexp,
        sym=_reduce_sym(lambda sp, xs: sp.log(sum(sp.exp(x) for x in xs))),
        vjp=(
            lambda g, out, x, axis, keepdims: (
                _unreduce(g, out, x, axis) * E.exp(x - _keep(out, x, axis))
            ),
        ),
        jvp=(
            lambda t, out, x, axis, keepdims: F.sum(
                t * E.exp(x - _keep(out, x, axis)), axis=axis, keepdims=keepdims
            ),
        ),
        samples=_reduction_samples(),
        explain="g · exp(x - out) (the softmax of x)",
    )
)


# -- shape and indexing (nd: the unbatched rank of the input) -------------------------------


def _reshape(a, shape, nd):
    return a.reshape(a.shape[: a.ndim - nd] + shape)


register(
    Primitive(
        "reshape",
        _reshape,
        vjp=(lambda g, out, x, shape, nd: F.reshape(g, _lead(g, out) + x.shape),),
        jvp=(lambda t, out, x, shape, nd: call("reshape", t, shape=shape, nd=nd),),
        samples=_cases(
            (((3, 2),), dict(shape=(2, 3), nd=2)),
            (((6,),), dict(shape=(3, 2), nd=1)),
            (((),), dict(shape=(1, 1), nd=0)),
            (((1, 2),), dict(shape=(2,), nd=2)),
        ),
        explain="g reshaped back to the input's shape",
    )
)


def _expand(a, shape, nd):
    lead = a.shape[: a.ndim - nd]
    a = a.reshape(lead + (1,) * (len(shape) - nd) + a.shape[a.ndim - nd :])
    return np.broadcast_to(a, lead + shape)


# the engine's sum_to undoes the broadcast: the VJP passes g on unchanged
register(
    Primitive(
        "expand",
        _expand,
        vjp=(lambda g, out, x, shape, nd: g,),
        jvp=(lambda t, out, x, shape, nd: call("expand", t, shape=shape, nd=nd),),
        samples=_cases(
            (((1, 2),), dict(shape=(3, 2), nd=2)),
            (((2,),), dict(shape=(3, 2), nd=1)),
            (((),), dict(shape=(2, 3), nd=0)),
            (((3, 1),), dict(shape=(2, 3, 4), nd=2)),
        ),
        out_shape=lambda a, shape, nd: a[: len(a) - nd] + shape,
        explain="g summed back over the broadcast axes",
    )
)


def _permute(a, axes):
    nb = a.ndim - len(axes)
    return np.transpose(a, tuple(range(nb)) + tuple(a.ndim + p for p in axes))


def _inverse_perm(axes):
    n = len(axes)
    inv = [0] * n
    for i, p in enumerate(axes):
        inv[p % n] = i - n
    return tuple(inv)


register(
    Primitive(
        "permute",
        _permute,
        vjp=(lambda g, out, x, axes: call("permute", g, axes=_inverse_perm(axes)),),
        jvp=(lambda t, out, x, axes: call("permute", t, axes=axes),),
        samples=_cases(
            (((3, 2),), dict(axes=(-1, -2))),
            (((2, 3, 4),), dict(axes=(-1, -3, -2))),
            (((2, 3, 4),), dict(axes=(-2, -1, -3))),
            (((3,),), dict(axes=(-1,))),
        ),
        explain="g with the axes put back",
    )
)


def _batched_index(a, index, nd):
    return (slice(None),) * (a.ndim - nd) + index


def _scatter(a, index, shape, nd):
    """The adjoint of indexing: `a` (of unbatched rank nd) added into zeros of `shape`."""
    lead = a.shape[: a.ndim - nd]
    z = np.zeros(lead + shape, dtype=a.dtype)
    np.add.at(z, (slice(None),) * len(lead) + index, a)
    return z


def _unindex(g, out, x, index, nd):
    """g scattered back into zeros shaped like x: its unbatched part only (x itself may
    carry batch axes, in front of its `nd` own: a recorded rule's node)."""
    nb = x.ndim - nd
    return call("scatter", g, index=index, shape=x.shape[nb:], nd=out.ndim - nb)


register(
    Primitive(
        "index",
        lambda a, index, nd: a[_batched_index(a, index, nd)],
        vjp=(lambda g, out, x, index, nd: _unindex(g, out, x, index, nd),),
        jvp=(lambda t, out, x, index, nd: call("index", t, index=index, nd=nd),),
        samples=_cases(
            *[((shape,), dict(index=index, nd=len(shape))) for shape, index in _INDEX_CASES]
        ),
        out_shape=lambda a, index, nd: a[: len(a) - nd] + index_shape(a[len(a) - nd :], index),
        explain="g scattered back into zeros at the index",
    )
)
register(
    Primitive(
        "scatter",
        _scatter,
        vjp=(lambda g, out, x, index, shape, nd: call("index", g, index=index, nd=len(shape)),),
        jvp=(
            lambda t, out, x, index, shape, nd: call("scatter", t, index=index, shape=shape, nd=nd),
        ),
        samples=_cases(
            (((3,),), dict(index=(np.array([0, 2, 2]),), shape=(4,), nd=1)),
            (((2,),), dict(index=(slice(1, 3),), shape=(4,), nd=1)),
            (((3, 2),), dict(index=(np.array([0, 0, 1]),), shape=(2, 2), nd=2)),
            (((3,),), dict(index=(slice(None), 1), shape=(3, 2), nd=1)),
        ),
        out_shape=lambda a, index, shape, nd: a[: len(a) - nd] + shape,
        explain="g read at the index",
    )
)


def _concat_piece(g, out, i, inputs, axis):
    start = sum(t.shape[axis] for t in inputs[:i])
    index = (Ellipsis, slice(start, start + inputs[i].shape[axis])) + (slice(None),) * (-axis - 1)
    return g[index]


def _concat_tangent(t, out, i, inputs, axis):
    lead = _lead(t, inputs[i])
    parts = [t if j == i else F.zeros(lead + x.shape, dtype=t.dtype) for j, x in enumerate(inputs)]
    return call("concat", *parts, axis=axis)


def _concat_shape(shapes, axis):
    first = list(shapes[0])
    if any(len(s) != len(first) for s in shapes):
        raise ValueError("all the input arrays must have the same number of dimensions")
    first[axis] = sum(s[axis] for s in shapes)
    return tuple(first)


class _Variadic:
    """The per-input rules of a primitive that takes any number of inputs."""

    def __init__(self, rule):
        self.rule = rule

    def __getitem__(self, i):
        return lambda g, out, *inputs, **params: self.rule(g, out, i, inputs, **params)

    def __len__(self):
        return 1


register(
    Primitive(
        "concat",
        lambda *arrays, axis: np.concatenate(arrays, axis=axis),
        vjp=_Variadic(_concat_piece),
        jvp=_Variadic(_concat_tangent),
        samples=_cases(
            (((3, 2), (1, 2)), dict(axis=-2)),
            (((3, 2), (3, 1), (3, 3)), dict(axis=-1)),
            (((2,), (3,)), dict(axis=-1)),
            (((2, 2),), dict(axis=-2)),
        ),
        out_shape=lambda *shapes, axis: _concat_shape(shapes, axis),
        explain="each input its slice of g",
    )
)


def _diagonal_vjp(g, out, x):
    """g on the diagonal of a matrix shaped like x (square or not), zeros elsewhere."""
    if x.shape[-1] == x.shape[-2]:
        return call("diag_embed", g)
    k = np.arange(out.shape[-1])
    return call(
        "scatter", g, index=(slice(None),) * (x.ndim - 2) + (k, k), shape=x.shape, nd=out.ndim
    )


register(
    Primitive(
        "diagonal",
        lambda a: np.diagonal(a, axis1=-2, axis2=-1).copy(),
        vjp=(lambda g, out, x: _diagonal_vjp(g, out, x),),
        jvp=(lambda t, out, x: call("diagonal", t),),
        samples=_cases((((3, 3),), {}), (((3, 2),), {}), (((2, 3),), {}), (((2, 3, 3),), {})),
        explain="g placed on the diagonal of zeros",
    )
)


def _diag_embed(a):
    out = np.zeros(a.shape + a.shape[-1:], dtype=a.dtype)
    i = np.arange(a.shape[-1])
    out[..., i, i] = a
    return out


register(
    Primitive(
        "diag_embed",
        _diag_embed,
        vjp=(lambda g, out, x: call("diagonal", g),),
        jvp=(lambda t, out, x: call("diag_embed", t),),
        samples=_cases((((3,),), {}), (((2, 3),), {}), (((1,),), {})),
        out_shape=lambda a: a + a[-1:],
        explain="the diagonal of g",
    )
)


# -- linear algebra (matmul sees operands of rank >= 2: the function promotes vectors) ------


def _mT(x):
    return call("permute", x, axes=(-1, -2))


register(
    Primitive(
        "matmul",
        np.matmul,
        vjp=(lambda g, out, a, b: g @ _mT(b), lambda g, out, a, b: _mT(a) @ g),
        jvp=(lambda t, out, a, b: t @ b, lambda t, out, a, b: a @ t),
        broadcast=True,
        samples=_cases(
            (((3, 2), (2, 4)), {}),
            (((1, 2), (2, 1)), {}),
            (((2, 3, 2), (2, 4)), {}),
            (((3, 2), (2, 2, 3)), {}),
            (((2, 1, 3, 2), (3, 2, 2)), {}),
        ),
        out_shape=lambda a, b: (*broadcast_shape(a[:-2], b[:-2]), a[-2], b[-1]),
        explain="g @ bᵀ to a, aᵀ @ g to b",
    )
)


def _matrix_sym(method):
    """The sympy form of a function of one square matrix (2-D inputs only)."""

    def sym(sp, *arrays):
        if any(a.ndim != 2 and a.ndim for a in arrays):
            raise ValueError("the symbolic form needs 2-D matrices")
        r = method(*[sp.Matrix(a.tolist()) for a in arrays])
        return (
            np.array(r.tolist(), dtype=object)
            if isinstance(r, sp.MatrixBase)
            else np.asarray(r, dtype=object)
        )

    return sym


register(
    Primitive(
        "inv",
        np.linalg.inv,
        sym=_matrix_sym(lambda m: m.inv()),
        vjp=(lambda g, out, a: -(_mT(out) @ g @ _mT(out)),),
        jvp=(lambda t, out, a: -(out @ t @ out),),
        samples=_square_samples((1, 1), (2, 2), (3, 3), (2, 3, 3)),
        explain="-outᵀ @ g @ outᵀ",
    )
)
register(
    Primitive(
        "det",
        np.linalg.det,
        sym=_matrix_sym(lambda m: m.det()),
        vjp=(lambda g, out, a: F.reshape(g * out, (*g.shape, 1, 1)) * _mT(F.inv(a)),),
        jvp=(lambda t, out, a: out * F.trace(F.solve(a, t)),),
        samples=_square_samples((1, 1), (2, 2), (3, 3), (2, 3, 3)),
        explain="g · out · a⁻ᵀ",
    )
)
register(
    Primitive(
        "solve",
        np.linalg.solve,
        sym=_matrix_sym(lambda a, b: a.LUsolve(b)),
        vjp=(
            lambda g, out, a, b: -(F.solve(_mT(a), g) @ _mT(out)),
            lambda g, out, a, b: F.solve(_mT(a), g),
        ),
        jvp=(lambda t, out, a, b: -F.solve(a, t @ out), lambda t, out, a, b: F.solve(a, t)),
        broadcast=True,
        samples=_square_samples(
            (3, 3), (2, 2), (2, 3, 3), (3, 3), b_shapes=[(3, 2), (2, 1), (2, 3, 1), (2, 3, 2)]
        ),
        out_shape=lambda a, b: broadcast_shape(a[:-2], b[:-2]) + b[-2:],
        explain="-(a⁻ᵀ g) @ outᵀ to a, a⁻ᵀ g to b",
    )
)


def _fresh_letters(spec, n):
    """n subscripts unused in spec, naming the batch axes: rules never write '...', so
    the einsums they record can be differentiated again (create_graph)."""
    letters = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in spec]
    if n > len(letters):
        raise EvalError("einsum: too many axes to differentiate")
    return "".join(letters[:n])


def _einsum_vjp(g, out, i, inputs, spec):
    """Contract g with the other operands onto operand i's subscripts."""
    ins, res = spec.split("->")
    subs = ins.split(",")
    target = subs[i]  # (no repeated index: `arrays.einsum` takes those diagonals first)
    known = set(res).union(*[s for j, s in enumerate(subs) if j != i])
    present = "".join(c for c in target if c in known)
    others = [s for j, s in enumerate(subs) if j != i]
    lead = _fresh_letters(spec, g.ndim - out.ndim)
    terms = ",".join([lead + res, *others])
    r = call(
        "einsum", g, *[x for j, x in enumerate(inputs) if j != i], spec=f"{terms}->{lead}{present}"
    )
    if present != target:
        lead = r.shape[: r.ndim - len(present)]
        kept = tuple(x if c in present else 1 for c, x in zip(target, inputs[i].shape, strict=True))
        r = F.expand(F.reshape(r, lead + kept), lead + inputs[i].shape)
    return r


def _einsum_jvp(t, out, i, inputs, spec):
    ins, res = spec.split("->")
    subs = ins.split(",")
    lead = _fresh_letters(spec, t.ndim - inputs[i].ndim)
    subs[i] = lead + subs[i]
    ops = [t if j == i else x for j, x in enumerate(inputs)]
    return call("einsum", *ops, spec=f"{','.join(subs)}->{lead}{res}")


def _einsum_shape(spec, shapes):
    """The output's shape: each output letter's length."""
    sizes = einsum_sizes(spec, shapes)
    return tuple(sizes.get(c, 0) for c in spec.split("->")[1])


def _einsum(*arrays, spec):
    """np.einsum; where its single loop over every index would be long, contracted pairwise
    in np.einsum_path's order instead (as PyTorch does, with opt_einsum)."""
    long = arrays[0].dtype != object and einsum_flops(spec, arrays) > OPTIMIZE
    return np.einsum(spec, *arrays, optimize="greedy" if long else False)


register(
    Primitive(
        "einsum",
        _einsum,
        vjp=_Variadic(_einsum_vjp),
        jvp=_Variadic(_einsum_jvp),
        samples=_einsum_samples,
        out_shape=lambda *shapes, spec: _einsum_shape(spec, shapes),
        explain="g contracted with the other operands",
    )
)
