"""The sympy backend: a program's value as sympy expressions, and sympy's numbers as floats.

The same walker interprets the same AST; tensors hold object arrays of sympy expressions and
each primitive runs its `sym` column (engine/ops.py). Array variables become arrays of
element symbols (`x[0,1]`). The cross-check (`gradcli/check/`) and the formulas
(`gradcli/formulas.py`) are built on it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .engine.tensor import Tensor, no_grad, symbolic_mode
from .lang.interpret import CONSTRUCTORS, Interpreter, TensorBackend

# -- the sympy backend -------------------------------------------------------------------------


def _number(v):
    import sympy as sp

    if isinstance(v, sp.Basic):
        return v
    v = float(v)
    if math.isnan(v):
        return sp.nan
    if math.isinf(v):
        return sp.oo if v > 0 else -sp.oo
    if v.is_integer():
        return sp.Integer(int(v))
    return sp.Rational(repr(v))  # the decimal the user wrote, exactly


def to_object(x) -> np.ndarray:
    """Numbers (or arrays of them) as an object array of exact sympy numbers."""
    arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if arr.dtype == object:
        return arr
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = _number(arr[idx]) if arr.dtype != np.bool_ else bool(arr[idx])
    return out


class SympyBackend(TensorBackend):
    """Values are Tensors over object arrays; control flow is decided at the point."""

    def __init__(self, subs: dict):
        super().__init__(np.dtype(np.float64))
        self.subs = subs

    def constant(self, value):
        return Tensor.wrap(to_object(value))

    def named(self, name: str):
        import sympy as sp

        return Tensor.wrap(to_object({"pi": sp.pi, "e": sp.E, "inf": sp.oo, "nan": sp.nan}[name]))

    def call(self, name, args, kwargs):
        if name == "detach" and len(args) == 1 and isinstance(args[0], Tensor):
            # a constant for differentiation, the same value otherwise
            data, fn = to_object(args[0]), _detach_function()
            out = np.empty(data.shape, dtype=object)
            for idx in np.ndindex(data.shape):
                out[idx] = fn(data[idx])
            return Tensor.wrap(out)
        if name not in _LOGICAL:
            args = (
                [_numeric(a) for a in args]
                if name != "where"
                else [args[0], *map(_numeric, args[1:])]
            )
        value = super().call(name, args, kwargs)
        return Tensor.wrap(to_object(value.data)) if name in CONSTRUCTORS else value

    def binary(self, op, a, b):
        if op in _ARITHMETIC:  # a mask in arithmetic counts as 1 where it holds, else 0
            a, b = _numeric(a), _numeric(b)
        return super().binary(op, a, b)

    def concrete(self, value) -> np.ndarray:
        data = np.asarray(value.data if isinstance(value, Tensor) else value, dtype=object)
        return np.array([_decide(e, self.subs) for e in data.flat]).reshape(data.shape)

    def truth(self, value) -> bool:
        if value.data.size != 1:
            return super().truth(value)
        return bool(self.concrete(value).reshape(()))

    def number(self, value) -> float:
        if isinstance(value, Tensor):
            return (
                float(self.concrete(value).reshape(-1)[0])
                if value.data.size == 1
                else super().number(value)
            )
        return value

    def nonfinite(self, value, inputs):
        return None


@functools.cache
def _detach_function():
    """sympy's detach(e): e's value, derivative 0 (gradients do not flow through it)."""
    import sympy as sp

    class detach(sp.Function):
        @classmethod
        def eval(cls, arg):  # sympy's hook for automatic evaluation, not Python's eval
            if arg.is_number:
                return arg

        def fdiff(self, argindex=1):
            return sp.S.Zero

    return detach


_ARITHMETIC = frozenset(["+", "-", "*", "/", "**", "@"])
_LOGICAL = frozenset({"logical_and", "logical_or", "logical_not"})


def _numeric(value):
    """A tensor of sympy relations (a mask) as 1 where it holds and 0 elsewhere."""
    if not isinstance(value, Tensor) or value.data.dtype != object:
        return value
    if not any(map(_is_condition, value.data.flat)):
        return value
    import sympy as sp

    out = np.empty(value.data.shape, dtype=object)
    for idx in np.ndindex(out.shape):
        e = value.data[idx]
        out[idx] = sp.Piecewise((1, e), (0, True)) if _is_condition(e) else e
    return Tensor.wrap(out)


def _is_condition(e) -> bool:
    """A sympy relation or logical value (a Symbol is a Boolean too, but also an Expr)."""
    import sympy as sp

    return isinstance(e, sp.logic.boolalg.Boolean) and not isinstance(e, sp.Expr)


def _decide(expr, subs):
    """The value of an expression at the point (bools stay bools)."""
    import sympy as sp

    if isinstance(expr, (bool, np.bool_)):
        return bool(expr)
    e = expr.xreplace(subs) if isinstance(expr, sp.Basic) else expr
    if isinstance(e, sp.logic.boolalg.BooleanAtom) or e in (sp.true, sp.false):
        return bool(e)
    if isinstance(e, sp.Basic) and (e.is_Relational or isinstance(e, sp.logic.boolalg.Boolean)):
        return bool(e.doit())
    return to_float(e)


def to_float(e) -> float:
    import sympy as sp

    if e is sp.zoo or e is sp.oo:
        return math.inf
    if e is -sp.oo:
        return -math.inf
    try:
        c = complex(sp.N(e, 17))
    except (TypeError, ValueError):
        return math.nan
    return c.real if abs(c.imag) <= 1e-12 * max(1.0, abs(c.real)) else math.nan


def element_symbols(point: dict[str, np.ndarray]):
    """Each variable as a symbol (scalars) or an array of element symbols, and the
    substitution of the point's values."""
    import sympy as sp

    syms, subs = {}, {}
    for name, value in point.items():
        arr = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            label = name if not value.shape else f"{name}[{','.join(map(str, idx))}]"
            s = sp.Symbol(label, real=True)
            arr[idx] = s
            subs[s] = (
                sp.Rational(float(value[idx])) if np.isfinite(value[idx]) else _number(value[idx])
            )
        syms[name] = arr
    return syms, subs


def symbolic_value(compiled, point: dict[str, np.ndarray], program=None, syms=None):
    """The output as an object array of sympy expressions of the element symbols (or of
    the symbols `syms` given, name → object array); `program` in place of compiled's."""
    if syms is None:
        syms, subs = element_symbols(point)
    else:
        subs = {}
    env = {n: Tensor.wrap(a) for n, a in syms.items()}
    with no_grad(), symbolic_mode(to_object):
        run = Interpreter(
            program or compiled.program,
            SympyBackend(subs),
            compiled.limits,
            check_domain=False,
            draws=compiled.draws,
        ).run(env)
    value = run.value
    return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=object), syms, subs


#: sympy's functions as NumPy's, for `evaluate`. Not lambdify (it execs code generated from
#: the user's text), nor the table's forwards (engine/ops.py): this walk is in long double,
#: and those may be float64-only kernels (MKL's sin and cos, erf through math.erf).
_UFUNCS = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "Abs": np.abs,
    "sign": np.sign,
    "floor": np.floor,
    "ceiling": np.ceil,
}


def evaluate(e, env: dict, shape: tuple) -> np.ndarray:
    """e where each symbol takes its array of `env` (elementwise), as floats. A walk of
    the expression in NumPy's long double (no code is generated); a form it does not know
    falls back to sympy, element by element."""
    at = {s: np.asarray(v, dtype=np.longdouble) for s, v in env.items()}
    try:
        with np.errstate(all="ignore"):
            out = np.broadcast_to(_walk(e, at), shape).astype(float)
        return np.array(out)
    except KeyError:
        import sympy as sp

        out = np.empty(shape)
        for idx in np.ndindex(shape):
            out[idx] = to_float(
                e.xreplace({s: sp.Rational(float(v[idx] if v.ndim else v)) for s, v in env.items()})
            )
        return out


def _walk(e, at: dict):
    import sympy as sp

    if e in at:
        return at[e]
    if e.is_Rational:
        return np.longdouble(e.p) / np.longdouble(e.q)
    if e.is_number:
        c = sp.N(e, 21)
        if not c.is_real or not c.is_finite:
            raise KeyError(e)
        return np.longdouble(str(c))
    args = [_walk(a, at) for a in e.args]
    if e.is_Add:
        return functools.reduce(np.add, args)
    if e.is_Mul:
        return functools.reduce(np.multiply, args)
    if e.is_Pow:
        return np.power(*args)
    if len(args) != 1:
        raise KeyError(e)
    return _UFUNCS[type(e).__name__](args[0])
