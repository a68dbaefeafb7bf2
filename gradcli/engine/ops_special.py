"""Rows of the table: special functions, activations and rounding (issue 17's first family).

NumPy's names and defaults, PyTorch's gradient conventions (rounding is flat: gradient 0;
xlogy's slope in x is 0 where x = 0; fmod and remainder pass g to a and -g · trunc(a/b)
or -g · floor(a/b) to b; copysign's slope in a is sign(a)·sign(b), 0 at a = 0, and 0 in b).
Where NumPy has no such function, scipy.special computes it, imported on first use: an
expression without these functions never imports scipy.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import arrays as F
from .ops import at_zero, binary_row, unary_row
from .primitive import Primitive, elementwise as E, register

_SQRT_2PI = math.sqrt(2 * math.pi)
_SLOPE, _ALPHA = 0.01, 1.0  # leaky_relu's negative_slope and elu's alpha, by default


def _scipy(name):
    """scipy.special's `name` as a forward: imported on first use, the inputs' float dtype
    kept (float32 stays float32)."""

    def forward(*arrays):
        from scipy import special

        out = np.asarray(getattr(special, name)(*arrays))
        dtype = np.result_type(*arrays)
        return out.astype(dtype, copy=False) if dtype.kind == "f" else out

    return forward


@functools.cache
def _flat_sympy(name: str):
    """A sympy function `name` (floor, ceiling, trunc, round: NumPy's half to even) whose
    derivative is 0, as PyTorch's gradient of rounding: sympy leaves floor's unevaluated."""
    import sympy as sp

    def value(a):
        if not a.is_number:
            return None
        n = sp.floor(a)
        if name == "trunc":
            return n if a >= 0 else sp.ceiling(a)
        frac = a - n
        return n + 1 if frac > sp.S.Half or (frac == sp.S.Half and n % 2) else n

    if name in ("floor", "ceiling"):
        base, methods = getattr(sp, name), {}
    else:
        base, methods = sp.Function, {"eval": classmethod(lambda cls, a: value(a))}
    return type(name, (base,), {**methods, "fdiff": lambda self, argindex=1: sp.S.Zero})


@functools.cache
def _sinc_sympy():
    """sympy's form of NumPy's sinc: `sinc(x)` = sin(πx)/(πx), and `sinc(x, n)` its n-th
    derivative, exact at 0 too (the limits: (-1)^k π^2k/(2k + 1) for n = 2k, 0 for odd n),
    where sympy's own sinc(πx) differentiates to 0/0."""
    import sympy as sp

    class sinc(sp.Function):
        nargs = (1, 2)

        @classmethod
        def eval(cls, x, n=sp.S.Zero):  # sympy's hook for evaluation, not Python's eval
            if not (x.is_number and n.is_Integer):
                return None
            if x == 0:
                k, odd = divmod(int(n), 2)
                return sp.S.Zero if odd else (-1) ** k * sp.pi ** (2 * k) / (2 * k + 1)
            t = sp.Dummy()
            return sp.diff(sp.sin(sp.pi * t) / (sp.pi * t), t, int(n)).subs(t, x)

        def fdiff(self, argindex=1):
            x, n = (*self.args, sp.S.Zero)[:2]
            return sinc(x, n + 1)

    return sinc


def _where(x, right, left):
    """right where x > 0, else left: numbers in x's dtype (float32 stays float32)."""
    return F.where(x > 0, np.asarray(right, x.dtype), np.asarray(left, x.dtype))


def _static_samples(static: dict, domain=(-2.0, 2.0)):
    """Test cases of a row with static parameters: a scalar with the defaults, a vector
    with `static`'s values."""
    return lambda rng: [
        ((np.asarray(rng.uniform(*domain)),), {}),
        ((rng.uniform(*domain, size=3),), dict(static)),
    ]


# -- the gamma family -------------------------------------------------------------------------

unary_row(
    "gamma",
    _scipy("gamma"),
    lambda x, out: out * E.digamma(x),
    lambda sp, x: sp.gamma(x),
    (0.5, 3.0),
    explain="g · out · digamma(x)",
    doc="Elementwise Γ(x), the gamma function.",
)
unary_row(
    "lgamma",
    _scipy("gammaln"),
    lambda x, out: E.digamma(x),
    lambda sp, x: sp.Piecewise((sp.loggamma(x), x > 0), (sp.log(sp.Abs(sp.gamma(x))), True)),
    (0.5, 3.0),
    explain="g · digamma(x)",
    doc="Elementwise log|Γ(x)|.",
    aliases=("gammaln",),
)
unary_row(
    "digamma",
    _scipy("psi"),
    lambda x, out: E.polygamma(x, n=1),
    lambda sp, x: sp.polygamma(0, x),
    (0.5, 3.0),
    explain="g · polygamma(1, x)",
    doc="Elementwise ψ(x) = Γ'(x)/Γ(x).",
    aliases=("psi",),
)
unary_row(
    "polygamma",
    lambda a, n=1: _scipy("polygamma")(np.asarray(int(n)), a).astype(a.dtype, copy=False),
    lambda x, out, n=1: E.polygamma(x, n=n + 1),
    lambda sp, x, n=1: sp.polygamma(int(n), x),
    (0.5, 3.0),
    static={"n": 1},
    samples=_static_samples({"n": 2}, (0.5, 3.0)),
    named=False,
    explain="g · polygamma(n + 1, x)",
    doc="Elementwise polygamma(x, n), the n-th derivative of digamma (the derivatives of "
    "digamma; not in the language).",
)

# -- error function and normal distribution ----------------------------------------------------

unary_row(
    "erfc",
    _scipy("erfc"),
    lambda x, out: (-2 / math.sqrt(math.pi)) * E.exp(-x * x),
    lambda sp, x: sp.erfc(x),
    explain="-g · 2/√π · exp(-x²)",
    doc="Elementwise 1 - erf(x).",
    total=True,
)
unary_row(
    "erfcx",
    _scipy("erfcx"),
    lambda x, out: 2 * x * out - 2 / math.sqrt(math.pi),
    lambda sp, x: sp.exp(x * x) * sp.erfc(x),
    explain="g · (2x · out - 2/√π)",
    doc="Elementwise exp(x²) · erfc(x), without its overflow.",
    total=True,
)
unary_row(
    "erfinv",
    _scipy("erfinv"),
    lambda x, out: (math.sqrt(math.pi) / 2) * E.exp(out * out),
    lambda sp, x: sp.erfinv(x),
    (-0.9, 0.9),
    explain="g · √π/2 · exp(out²)",
    doc="Elementwise inverse of erf, on (-1, 1).",
    nonfinite="erfinv is infinite at ±1 and undefined beyond; keep its input in (-1, 1)",
)
unary_row(
    "ndtr",
    _scipy("ndtr"),
    lambda x, out: E.exp(-0.5 * x * x) / _SQRT_2PI,
    lambda sp, x: (1 + sp.erf(x / sp.sqrt(2))) / 2,
    explain="g · exp(-x²/2)/√(2π)",
    doc="Elementwise Φ(x), the standard normal distribution function.",
    total=True,
)
unary_row(
    "log_ndtr",
    _scipy("log_ndtr"),
    lambda x, out: E.exp(-0.5 * x * x - out) / _SQRT_2PI,
    lambda sp, x: sp.log((1 + sp.erf(x / sp.sqrt(2))) / 2),
    explain="g · exp(-x²/2 - out)/√(2π)",
    doc="Elementwise log Φ(x), accurate far into the left tail.",
    total=True,
)
unary_row(
    "ndtri",
    _scipy("ndtri"),
    lambda x, out: _SQRT_2PI * E.exp(0.5 * out * out),
    lambda sp, x: sp.sqrt(2) * sp.erfinv(2 * x - 1),
    (0.1, 0.9),
    explain="g · √(2π) · exp(out²/2)",
    doc="Elementwise Φ⁻¹(p), the standard normal quantile, on (0, 1).",
    nonfinite="ndtri is infinite at 0 and 1 and undefined beyond; keep its input in (0, 1)",
)

# -- Bessel functions ---------------------------------------------------------------------------

unary_row(
    "i0",
    _scipy("i0"),
    lambda x, out: E.i1(x),
    lambda sp, x: sp.besseli(0, x),
    explain="g · i1(x)",
    doc="Elementwise modified Bessel function of the first kind, order 0.",
)
unary_row(
    "i1",
    _scipy("i1"),
    lambda x, out: F.where(x == 0, 0.5, E.i0(x) - out / F.where(x == 0, 1, x)),
    lambda sp, x: sp.besseli(1, x),
    explain="g · (i0(x) - out/x) (1/2 at 0)",
    doc="Elementwise modified Bessel function of the first kind, order 1.",
)

# -- logistic, exponentials, angles -------------------------------------------------------------

unary_row(
    "logit",
    _scipy("logit"),
    None,
    lambda sp, x: sp.log(x / (1 - x)),
    (0.1, 0.9),
    over=lambda x, out: x * (1 - x),
    explain="g / (x · (1 - x))",
    doc="Elementwise log(x / (1 - x)), the inverse of sigmoid (expit).",
    nonfinite="logit is infinite at 0 and 1; keep its input in (0, 1)",
)
unary_row(
    "exp2",
    np.exp2,
    lambda x, out: out * math.log(2),
    lambda sp, x: 2**x,
    explain="g · out · ln 2",
    doc="Elementwise 2 ** x.",
)
unary_row(
    "rsqrt",
    lambda a: 1 / np.sqrt(a),
    lambda x, out: -0.5 * out * out * out,
    lambda sp, x: 1 / sp.sqrt(x),
    (0.1, 3.0),
    explain="-g · out³/2",
    doc="Elementwise 1/√x.",
    nonfinite="rsqrt is infinite at 0; keep its input positive",
)
unary_row(
    "sinc",
    np.sinc,
    # (cos(πx) - out)/x, and at 0 its limit 0, with the right slope there too (hessian)
    lambda x, out: F.where(
        x == 0, (-(math.pi**2) / 3) * x, (E.cos(math.pi * x) - out) / F.where(x == 0, 1, x)
    ),
    lambda sp, x: _sinc_sympy()(x),
    explain="g · (cos(πx) - out)/x (0 at 0)",
    doc="Elementwise sin(πx)/(πx), NumPy's normalised sinc (1 at 0).",
    total=True,
)
unary_row(
    "deg2rad",
    np.deg2rad,
    lambda x, out: math.pi / 180,
    lambda sp, x: x * sp.pi / 180,
    explain="g · π/180",
    doc="Elementwise degrees to radians.",
    total=True,
    aliases=("radians",),
)
unary_row(
    "rad2deg",
    np.rad2deg,
    lambda x, out: 180 / math.pi,
    lambda sp, x: x * 180 / sp.pi,
    explain="g · 180/π",
    doc="Elementwise radians to degrees.",
    total=True,
    aliases=("degrees",),
)

# -- rounding: flat (gradient 0, as PyTorch) ---------------------------------------------------

for _name, _fn, _sym, _jumps, _aliases in [
    ("floor", np.floor, "floor", "integers", ()),
    ("ceil", np.ceil, "ceiling", "integers", ()),
    ("trunc", np.trunc, "trunc", "integers", ("fix",)),
]:
    register(
        Primitive(
            _name,
            _fn,
            vjp=(None,),
            jvp=(None,),
            sym=lambda sp, x, _s=_sym: _flat_sympy(_s)(x),
            elementwise=True,
            domain=((-2.0, 2.0),),
            differentiable=False,
            kink=(
                f"{_name}'(x) = 0 (also at its jumps, the {_jumps})",
                lambda out, x: bool(np.any(out == x)),
            ),
            explain=f"none: {_name} is flat (0 everywhere)",
            doc=f"Elementwise {_name}; its gradient is 0.",
            aliases=_aliases,
        )
    )


def _round(a, decimals=0):
    return np.round(a, int(decimals))


def _round_sym(sp, x, decimals=0):
    scale = sp.Integer(10) ** int(decimals)
    return _flat_sympy("round")(x * scale) / scale


register(
    Primitive(
        "round",
        _round,
        vjp=(None,),
        jvp=(None,),
        sym=_round_sym,
        elementwise=True,
        domain=((-2.0, 2.0),),
        samples=_static_samples({"decimals": 1}),
        static={"decimals": 0},
        differentiable=False,
        kink=(
            "round'(x) = 0 (also at its jumps, halfway between)",
            lambda out, x, decimals=0: bool(
                np.any(np.abs(x * 10.0**decimals - np.round(x * 10.0**decimals)) == 0.5)
            ),
        ),
        explain="none: round is flat (0 everywhere)",
        doc="Elementwise rounding to `decimals` places, half to even (NumPy's); its gradient is 0.",
        aliases=("rint",),
    )
)

# -- activations -------------------------------------------------------------------------------


def _softplus(a):
    return np.logaddexp(np.zeros((), a.dtype), a)


unary_row(
    "gelu",
    lambda a: a * _scipy("ndtr")(a),
    lambda x, out: E.ndtr(x) + x * E.exp(-0.5 * x * x) / _SQRT_2PI,
    lambda sp, x: x * (1 + sp.erf(x / sp.sqrt(2))) / 2,
    explain="g · (Φ(x) + x · φ(x))",
    doc="Elementwise x · Φ(x), the exact (erf) GELU.",
    total=True,
)
unary_row(
    "silu",
    lambda a: a * np.exp(-_softplus(-a)),
    lambda x, out: E.sigmoid(x) * (1 + x * (1 - E.sigmoid(x))),
    lambda sp, x: x / (1 + sp.exp(-x)),
    explain="g · s · (1 + x · (1 - s)), s = sigmoid(x)",
    doc="Elementwise x · sigmoid(x) (swish).",
    total=True,
    aliases=("swish",),
)
unary_row(
    "elu",
    lambda a, alpha=_ALPHA: np.where(a > 0, a, alpha * np.expm1(a)),
    lambda x, out, alpha=_ALPHA: F.where(x > 0, 1, out + alpha),
    lambda sp, x, alpha=_ALPHA: sp.Piecewise((x, x > 0), (alpha * (sp.exp(x) - 1), True)),
    static={"alpha": _ALPHA},
    samples=_static_samples({"alpha": 0.5}),
    kink=("elu'(0) = alpha (the left slope, PyTorch's)", at_zero),
    explain="g where x > 0, else g · (out + alpha)",
    doc="Elementwise x for x > 0, else alpha · (exp(x) - 1).",
    total=True,
)
unary_row(
    "leaky_relu",
    lambda a, negative_slope=_SLOPE: np.where(a > 0, a, a * negative_slope),
    lambda x, out, negative_slope=_SLOPE: _where(x, 1, negative_slope),
    lambda sp, x, negative_slope=_SLOPE: sp.Piecewise((x, x > 0), (negative_slope * x, True)),
    static={"negative_slope": _SLOPE},
    samples=_static_samples({"negative_slope": 0.2}),
    kink=("leaky_relu'(0) = negative_slope (PyTorch's)", at_zero),
    explain="g where x > 0, else g · negative_slope",
    doc="Elementwise x for x > 0, else negative_slope · x.",
    total=True,
)
unary_row(
    "softsign",
    lambda a: a / (1 + np.abs(a)),
    None,
    lambda sp, x: x / (1 + sp.Abs(x)),
    over=lambda x, out: (1 + E.abs(x)) * (1 + E.abs(x)),
    explain="g / (1 + |x|)²",
    doc="Elementwise x / (1 + |x|).",
    total=True,
)
unary_row(
    "mish",
    lambda a: a * np.tanh(_softplus(a)),
    lambda x, out: _mish_slope(x),
    lambda sp, x: x * sp.tanh(sp.log(1 + sp.exp(x))),
    explain="g · (t + x · sigmoid(x) · (1 - t²)), t = tanh(softplus(x))",
    doc="Elementwise x · tanh(softplus(x)).",
    total=True,
)


def _mish_slope(x):
    t = E.tanh(E.softplus(x))
    return t + x * E.sigmoid(x) * (1 - t * t)


unary_row(
    "logsigmoid",
    lambda a: -_softplus(-a),
    lambda x, out: E.sigmoid(-x),
    lambda sp, x: -sp.log(1 + sp.exp(-x)),
    explain="g · sigmoid(-x)",
    doc="Elementwise log(sigmoid(x)), computed stably.",
    total=True,
    aliases=("log_expit",),
)

# -- two inputs ---------------------------------------------------------------------------------

binary_row(
    "logaddexp",
    np.logaddexp,
    lambda a, b, out: E.exp(a - out),
    lambda a, b, out: E.exp(b - out),
    lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)),
    explain="g · exp(a - out) to a, g · exp(b - out) to b",
    doc="Elementwise log(exp(a) + exp(b)), computed stably.",
    total=True,
)
binary_row(
    "logaddexp2",
    np.logaddexp2,
    lambda a, b, out: E.exp2(a - out),
    lambda a, b, out: E.exp2(b - out),
    lambda sp, a, b: sp.log(2**a + 2**b) / sp.log(2),
    explain="g · 2^(a - out) to a, g · 2^(b - out) to b",
    doc="Elementwise log2(2 ** a + 2 ** b), computed stably.",
    total=True,
)
# xlogy's slope in x is log(y), also at x = 0; where x = 0 and y <= 0 (log y infinite or
# undefined, the value 0 by convention) it is 0, as PyTorch's forward mode has it (its
# reverse mode gives 0 wherever x = 0, also where the slope is log y: not followed here).
binary_row(
    "xlogy",
    _scipy("xlogy"),
    lambda x, y, out: F.where((x == 0) & (y <= 0), 0, E.log(F.where(y <= 0, 1, y))),
    lambda x, y, out: x / y,
    lambda sp, x, y: sp.Piecewise((0, sp.Eq(x, 0) & (y <= 0)), (x * sp.log(y), True)),
    ((-2.0, 2.0), (0.5, 2.0)),
    kink=(
        "xlogy's slope in x is 0 where x = 0 and y <= 0 (PyTorch's)",
        lambda out, x, y: bool(np.any((x == 0) & (y <= 0))),
    ),
    explain="g · log(y) to x (0 where x = 0 and y ≤ 0), g · x/y to y",
    doc="Elementwise x · log(y), 0 where x = 0.",
)
for _name, _op, _whole, _sym in [
    ("fmod", np.fmod, "trunc", "trunc"),
    ("remainder", np.remainder, "floor", "floor"),
]:
    binary_row(
        _name,
        _op,
        lambda a, b, out: 1,
        lambda a, b, out, _w=_whole: -getattr(E, _w)(a / b),
        lambda sp, a, b, _s=_sym: a - b * _flat_sympy(_s)(a / b),
        ((2.2, 2.9), (1.0, 1.05)),
        kink=(
            f"{_name}'s slope is 1 in a and -{_whole}(a/b) in b, also at its jumps",
            lambda out, a, b: bool(np.any((out == 0) & (b != 0))),
        ),
        explain=f"g to a, -g · {_whole}(a/b) to b",
        doc=f"Elementwise remainder of a / b, with the sign of "
        f"{'a (C fmod)' if _name == 'fmod' else 'b (Python %)'}.",
        aliases=() if _name == "fmod" else ("mod",),
    )
binary_row(
    "copysign",
    np.copysign,
    lambda a, b, out: F.where(a == 0, 0, out / F.where(a == 0, 1, a)),
    lambda a, b, out: 0,
    lambda sp, a, b: sp.Piecewise((sp.Abs(a), b >= 0), (-sp.Abs(a), True)),
    kink=(
        "copysign's slope in a is 0 where a = 0, and 0 in b (PyTorch's)",
        lambda out, a, b: bool(np.any(a == 0)),
    ),
    explain="g · sign(a)·sign(b) to a (0 where a = 0), 0 to b",
    doc="Elementwise |a| with the sign of b.",
    total=True,
)
