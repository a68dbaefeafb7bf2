"""The sympy backend and the cross-check: autograd vs sympy vs finite differences.

The same walker interprets the same AST; tensors hold object arrays of sympy expressions and
each primitive runs its `sym` column (engine/ops.py). Array variables become arrays of
element symbols (`x[0,1]`). Symbolic work runs in a forked child under a real time limit.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import re
import time
from dataclasses import dataclass

import numpy as np

from . import finite
from .engine import clock
from .engine.backward import run_backward
from .engine.tensor import Tensor, no_grad, symbolic_mode
from .errors import EvalError, GradcliError, LimitError, OverflowDomainError
from .graph import nodes as graph_nodes, origins, place, recorded
from .lang.interpret import CONSTRUCTORS, Interpreter, TensorBackend

DERIVATIVE = {"grad": "gradient", "vjp": "vjp", "jvp": "jvp", "jacobian": "jacobian",
              "hessian": "hessian", "eval": "value"}


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
        return Tensor._wrap(to_object(value))

    def named(self, name: str):
        import sympy as sp
        return Tensor._wrap(to_object({"pi": sp.pi, "e": sp.E, "inf": sp.oo,
                                       "nan": sp.nan}[name]))

    def call(self, name, args, kwargs):
        if name == "detach" and len(args) == 1 and isinstance(args[0], Tensor):
            # a constant for differentiation, the same value otherwise
            data, fn = to_object(args[0]), _detach_function()
            out = np.empty(data.shape, dtype=object)
            for idx in np.ndindex(data.shape):
                out[idx] = fn(data[idx])
            return Tensor._wrap(out)
        if name not in _LOGICAL:
            args = [_numeric(a) for a in args] if name != "where" else \
                [args[0], *map(_numeric, args[1:])]
        value = super().call(name, args, kwargs)
        return Tensor._wrap(to_object(value.data)) if name in CONSTRUCTORS else value

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
            return float(self.concrete(value).reshape(-1)[0]) if value.data.size == 1 \
                else super().number(value)
        return value

    def nonfinite(self, value, inputs):
        return None


@functools.cache
def _detach_function():
    """sympy's detach(e): e's value, derivative 0 (gradients do not flow through it)."""
    import sympy as sp

    class detach(sp.Function):  # noqa: N801 (printed as the user wrote it)
        @classmethod
        def eval(cls, arg):  # sympy's hook for automatic evaluation, not Python's eval
            if arg.is_number:
                return arg

        def fdiff(self, argindex=1):
            return sp.S.Zero

    return detach


_ARITHMETIC = frozenset("+ - * / ** @".split())
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
    return Tensor._wrap(out)


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
            subs[s] = sp.Rational(float(value[idx])) if np.isfinite(value[idx]) \
                else _number(value[idx])
        syms[name] = arr
    return syms, subs


def symbolic_value(compiled, point: dict[str, np.ndarray], program=None, syms=None):
    """The output as an object array of sympy expressions of the element symbols (or of
    the symbols `syms` given, name → object array); `program` in place of compiled's."""
    if syms is None:
        syms, subs = element_symbols(point)
    else:
        subs = {}
    env = {n: Tensor._wrap(a) for n, a in syms.items()}
    with no_grad(), symbolic_mode(to_object):
        run = Interpreter(program or compiled.program, SympyBackend(subs), compiled.limits,
                          check_domain=False, draws=compiled.draws).run(env)
    value = run.value
    return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=object), \
        syms, subs


# -- symbolic derivatives ------------------------------------------------------------------------

def _diff_array(f, syms: np.ndarray) -> np.ndarray:
    import sympy as sp
    out = np.empty(syms.shape, dtype=object)
    for idx in np.ndindex(syms.shape):
        out[idx] = sp.diff(f, syms[idx])
    return out


def _jacobian(out: np.ndarray, syms: np.ndarray) -> np.ndarray:
    jac = np.empty(out.shape + syms.shape, dtype=object)
    for o in np.ndindex(out.shape):
        d = _diff_array(out[o], syms)
        for idx in np.ndindex(syms.shape):  # (element by element: 0-d arrays do not nest)
            jac[o + idx] = d[idx]
    return jac


def derivatives(out, syms, command, wrt, v=None, tangents=None) -> dict[str, np.ndarray]:
    """The command's derivatives as object arrays, keyed as the check compares them."""
    if command == "eval":
        return {"value": out}
    if command == "grad":
        return {n: _diff_array(out.reshape(()).item(), syms[n]) for n in wrt}
    if command == "hessian":
        f = out.reshape(()).item()
        return {f"{a},{b}": _jacobian(_diff_array(f, syms[a]), syms[b])
                for a in wrt for b in wrt}
    jac = {n: _jacobian(out, syms[n]) for n in wrt}
    if command == "jacobian":
        return jac
    if command == "vjp":
        v = to_object(v)
        return {n: np.tensordot(v, j, axes=out.ndim) for n, j in jac.items()}
    if command == "jvp":
        total = np.zeros(out.shape, dtype=object)
        for n, j in jac.items():
            t = tangents.get(n)
            if t is not None:
                total = total + np.tensordot(j, to_object(t), axes=syms[n].ndim)
        return {"jvp": total}
    raise ValueError(command)


def _pretty(e, latex: bool, quick: bool = False) -> str:
    """A formula, simplified (`quick`: only when it is small, SIMPLIFY_OPS)."""
    import sympy as sp
    best = e
    if not quick or sp.count_ops(e) <= SIMPLIFY_OPS:
        simple = sp.simplify(e)
        factored = sp.factor(simple)
        best = factored if sp.count_ops(factored) <= sp.count_ops(simple) else simple
    # long fractions (a random draw, 0.1 + 0.2) read as the decimals they came from
    best = best.xreplace({r: sp.Float(r, 17) for r in best.atoms(sp.Rational)
                          if r.q > 10**6})
    if not latex:
        return str(best)
    # element symbols x[0,1] as subscripts x_{0,1}
    names = {s: re.sub(r"^(.*)\[(.*)\]$", r"\1_{\2}", sp.latex(s))
             for s in best.free_symbols if "[" in s.name}
    return sp.latex(best, symbol_names=names)


def formula(exprs: np.ndarray, syms: np.ndarray, name: str, latex=False, max_list=16,
            quick: bool = False) -> dict:
    """The derivative as a formula: simplified for a scalar variable; the formula of a
    generic element when every element follows it; else a per-element listing (`quick`:
    see `_pretty`)."""
    import sympy as sp
    if syms.ndim == 0:
        return {"kind": "scalar", "formula": _pretty(exprs.reshape(()).item(), latex, quick),
                "latex": latex}
    generic = sp.Symbol(generic_element(name, syms.ndim), real=True)
    elements = set(syms.flat)
    forms = set()
    for idx in np.ndindex(syms.shape):
        e = exprs[idx].xreplace({syms[idx]: generic})
        if e.free_symbols & elements:
            break
        forms.add(e if quick else sp.simplify(e))
        if len(forms) > 1:
            break
    else:
        return generic_formula(forms.pop(), name, syms.ndim, latex, quick)
    if exprs.size > max_list:
        return {"kind": "too_large", "formula": None, "latex": latex}
    return {"kind": "elements", "elements": {
        f"{name}[{','.join(map(str, idx))}]": _pretty(exprs[idx], latex, quick)
        for idx in np.ndindex(syms.shape)}, "latex": latex}


def generic_element(name: str, ndim: int) -> str:
    """The name of a generic element of a variable: `x[i,j]`."""
    return f"{name}[{','.join('ijklmnpq'[:ndim])}]"


def generic_formula(e, name: str, ndim: int, latex=False, quick=False) -> dict:
    """The formula of a generic element `x[i,j]` of a variable."""
    return {"kind": "generic", "element": generic_element(name, ndim),
            "formula": _pretty(e, latex, quick), "latex": latex}


# -- a time limit that holds: the symbolic work runs in a forked child ---------------------------

def _child(fn, conn):
    try:
        conn.send(("ok", fn()))
    except GradcliError as err:
        conn.send(("error", err.message))
    except Exception as err:  # any sympy failure becomes a reason to skip, not a crash
        conn.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


def with_time_limit(fn, timeout: float, meanwhile=None, limit: float | None = None):
    """fn() in a forked child: (result, None), or (None, why it did not finish).

    `meanwhile()`, if given, runs in this process while the child works; the limit counts
    from the child's start. `limit`: the figure to name (default: timeout)."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, send), daemon=True)
    start = time.monotonic()
    proc.start()
    send.close()
    try:
        if meanwhile is not None:
            meanwhile()
        if not recv.poll(max(0.0, timeout - (time.monotonic() - start))):
            return None, f"sympy took longer than the {timeout if limit is None else limit:g} " \
                         "s limit (--check-timeout)"
        try:
            status, payload = recv.recv()
        except EOFError:
            return None, "the symbolic computation stopped unexpectedly"
        return (payload, None) if status == "ok" else (None, f"sympy failed: {payload}")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()


def _symbolic_work(compiled, result, latex=False):
    def work():
        start = time.monotonic()
        out, syms, subs = symbolic_value(compiled, result.point)
        exprs = derivatives(out, syms, result.command, result.wrt, v=result.cotangent,
                            tangents=result.tangents)
        with np.errstate(invalid="ignore"):
            values = {k: np.vectorize(lambda e: to_float(
                e.xreplace(subs) if hasattr(e, "xreplace") else e), otypes=[float])(a)
                for k, a in exprs.items()}
        formulas = {}
        if result.command == "grad":
            formulas = {n: formula(exprs[n], syms[n], n, latex, quick=True) for n in result.wrt}
        elif result.command == "eval":
            formulas = {"value": {"kind": "scalar", "formula": _pretty(
                out.reshape(()).item(), latex, quick=True), "latex": latex}
                        } if out.size == 1 else {}
        return {"values": values, "formulas": formulas, "seconds": time.monotonic() - start}
    return work


def _generic_work(compiled, result, elementwise: tuple | None, latex=False):
    """For the gradient of an elementwise program's sum or mean whose variables with respect
    to which it is taken are arrays of one shape (the others arrays of that shape or
    scalars): one derivative of a generic element, evaluated at every element, in place of
    one symbolic derivative per element. None where that does not apply."""
    shapes = {v.shape for v in result.point.values() if v.ndim}
    if result.command != "grad" or elementwise is None or elementwise[1] is None \
            or len(shapes) != 1 or any(result.point[n].ndim == 0 for n in result.wrt):
        return None
    program, reduction = elementwise
    (shape,) = shapes

    def work():
        start = time.monotonic()
        import sympy as sp
        syms = {n: np.array(sp.Symbol(generic_element(n, len(shape)) if v.ndim else n,
                                      real=True), dtype=object)
                for n, v in result.point.items()}
        out, _, _ = symbolic_value(compiled, result.point, program, syms)
        e = out.reshape(()).item() / (math.prod(shape) if reduction == "mean" else 1)
        values, formulas = {}, {}
        for n in result.wrt:
            d = sp.diff(e, syms[n].item())
            values[n] = evaluate(d, {syms[m].item(): v for m, v in result.point.items()},
                                 shape)
            formulas[n] = generic_formula(d, n, len(shape), latex, quick=True)
        return {"values": values, "formulas": formulas, "seconds": time.monotonic() - start}
    return work


#: sympy's functions as NumPy's, for `evaluate`. Not lambdify (it execs code generated from
#: the user's text), nor the table's forwards (engine/ops.py): this walk is in long double,
#: and those may be float64-only kernels (MKL's sin and cos, erf through math.erf).
_UFUNCS = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
           "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asin": np.arcsin,
           "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh,
           "atanh": np.arctanh, "Abs": np.abs, "sign": np.sign, "floor": np.floor,
           "ceiling": np.ceil}


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
            out[idx] = to_float(e.xreplace({s: sp.Rational(float(v[idx] if v.ndim else v))
                                            for s, v in env.items()}))
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


# -- the cross-check ------------------------------------------------------------------------------

METHOD = "autograd vs sympy vs central differences (Richardson)"
#: Above this many operations a formula of the check is printed as sympy derives it:
#: simplify costs seconds on larger ones (`gradcli diff` always simplifies).
SIMPLIFY_OPS = 20


@dataclass
class Tolerance:
    atol: float
    rtol: float


def _tolerances(dtype) -> tuple[Tolerance, Tolerance]:
    """(autograd vs sympy, autograd vs finite differences) for a dtype."""
    if np.dtype(dtype) == np.float32:
        return Tolerance(1e-5, 1e-4), Tolerance(1e-3, 1e-2)
    return Tolerance(1e-10, 1e-8), Tolerance(1e-6, 1e-5)


def compare(tol: Tolerance, auto: dict, ref: dict, estimate: dict | None = None) -> dict:
    """One method against autograd. The verdict uses `max_ratio`, the largest
    |a − ref| / (atol + rtol·|ref|) (for finite differences the bound is at least 10 times
    their error estimate): at most 1 agrees. Also the largest absolute and relative
    differences (the relative one means little where ref is near 0). Infinite where one
    side is finite and the other is not."""
    abs_err = rel_err = ratio = 0.0
    for k, a in auto.items():
        a, b = np.asarray(a, float), np.asarray(ref[k], float)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        both = np.isfinite(a) & np.isfinite(b)
        if np.any(~both & ~same):
            abs_err = rel_err = ratio = math.inf
            break
        if not both.any():
            continue
        d, r = np.abs(a - b)[both], np.abs(b)[both]
        bound = tol.atol + tol.rtol * r
        if estimate is not None:
            bound = np.fmax(bound, 10 * np.broadcast_to(estimate[k], a.shape)[both])
        abs_err = max(abs_err, float(d.max()))
        rel_err = max(rel_err, float((d / np.maximum(r, 1e-300)).max()))
        ratio = max(ratio, float((d / bound).max()))
    return {"agree": ratio <= 1, "max_abs_err": abs_err, "max_rel_err": rel_err,
            "max_ratio": ratio}


@dataclass
class Verdict:
    """What the check concluded: `status` is agree, disagree, kink, not-checked or
    skipped; `reason` says why, in a line; `exit_code` is its part of the exit code."""

    status: str
    reason: str
    exit_code: int

    def fields(self) -> dict:
        """The verdict's keys of the JSON report ("agree" and "verdict" as before)."""
        agree = {"agree": True, "disagree": False, "kink": False}.get(self.status)
        verdict = "agree" if agree else "disagree" if self.status == "disagree" else \
            f"not differentiable at this point ({self.reason})" if self.status == "kink" \
            else f"not checked: {self.reason}"
        return {"agree": agree, "verdict": verdict, "status": self.status,
                "reason": self.reason, "exit_code": self.exit_code}


def verdict(*, skipped: str | None = None, nonfinite: dict | None = None,
            methods: dict | None = None, kinks=(), used=(), strict: bool = False) -> Verdict:
    """The check's one decision, for the human and the JSON output alike.

    skipped: why the check did not run. nonfinite: the value or a derivative is not finite
    (an overflow among them), so nothing can be compared: exit 0, 1 under --strict.
    methods: name → `compare`'s report or {"skipped": why} (a time limit), in order.
    kinks: where the one-sided differences differ; used: the conventions autograd applied.
    Exit 3 only when finite derivatives disagree, kinks included."""
    if skipped:
        return Verdict("skipped", skipped, 0)
    if nonfinite:
        return Verdict("not-checked", nonfinite["reason"], 1 if strict else 0)
    methods = {n: p for n, p in (methods or {}).items() if p}
    ran = [n for n, p in methods.items() if "agree" in p]
    missed = [n for n, p in methods.items() if "skipped" in p]
    if not ran:
        why = "; ".join(methods[n]["skipped"] for n in missed)
        return Verdict("skipped", why or "nothing to compare", 0)
    if kinks:
        names = "; ".join(c["convention"] for c in used) or "PyTorch's conventions"
        return Verdict("kink", f"the one-sided slopes differ; autograd uses {names}", 3)
    differ = [n for n in ran if not methods[n]["agree"]]
    if differ:
        return Verdict("disagree", " and ".join(differ) +
                       (" differs" if len(differ) == 1 else " differ") + " from autograd", 3)
    names = ["autograd", *ran]
    text = " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"
    return Verdict("agree", text + (f" ({' and '.join(missed)} skipped)" if missed else ""), 0)


def autograd_values(result) -> dict[str, np.ndarray]:
    """The result's derivatives, keyed as the check compares them."""
    c = result.command
    if c == "eval":
        return {"value": result.value}
    if c == "jvp":
        return {"jvp": result.jvp}
    if c == "hessian":
        return {f"{a},{b}": h for a, row in result.hessian.items() for b, h in row.items()}
    return dict(getattr(result, DERIVATIVE[c]))


def finite_values(compiled, result, deadline: float | None = None) -> tuple[dict, dict, list]:
    """Central differences (Richardson) of the same quantities; error estimates; kinks.
    Raises finite.TimeUp past `deadline`."""
    c, p = result.command, result.point
    if c == "eval":
        return {}, {}, []

    f = _numeric_function(compiled, p, deadline)

    values, errors, kinks = {}, {}, []
    if c == "hessian":
        for a in result.wrt:
            def grad_a(point, a=a):
                return compiled.grad(point, wrt=[a]).gradient[a]
            for b in result.wrt:
                fd = finite.jacobian(grad_a, p, b, deadline)
                values[f"{a},{b}"], errors[f"{a},{b}"] = fd.value, fd.error
                kinks += [(b, k) for k in fd.kinks]
        return values, errors, kinks
    out_ndim = np.ndim(result.value)
    total, total_err = None, None
    for n in result.wrt:
        fd = finite.jacobian(f, p, n, deadline)
        kinks += [(n, k) for k in fd.kinks]
        if c in ("grad", "jacobian"):
            shape = p[n].shape if c == "grad" else np.shape(result.value) + p[n].shape
            values[n], errors[n] = fd.value.reshape(shape), fd.error.reshape(shape)
        elif c == "vjp":
            v = np.asarray(result.cotangent, float)
            values[n] = np.tensordot(v, fd.value, axes=out_ndim)
            errors[n] = np.tensordot(np.abs(v), fd.error, axes=out_ndim)
        elif c == "jvp":
            t = np.asarray(result.tangents.get(n, np.zeros(p[n].shape)), float)
            part = np.tensordot(fd.value, t, axes=p[n].ndim)
            err = np.tensordot(fd.error, np.abs(t), axes=p[n].ndim)
            total = part if total is None else total + part
            total_err = err if total_err is None else total_err + err
    if c == "jvp":
        values["jvp"], errors["jvp"] = total, total_err
    return values, errors, kinks


class _FrozenDetach(TensorBackend):
    """Numbers, with each detach(...) giving its value at the base point (in call order),
    so that finite differences see the function autograd differentiates."""

    def __init__(self, dtype, frozen: list):
        super().__init__(dtype)
        self.frozen, self.seen = frozen, 0

    def call(self, name, args, kwargs):
        value = super().call(name, args, kwargs)
        if name == "detach":
            if self.seen < len(self.frozen) and self.frozen[self.seen].shape == value.shape:
                value = self.frozen[self.seen]
            self.seen += 1
        return value


def _numeric_function(compiled, base: dict, deadline: float | None = None):
    """The expression as a function of a point, for finite differences; an evaluation
    stops at `deadline` (finite.TimeUp) where the interpreter checks its clock."""
    frozen: list = []

    class Recording(TensorBackend):
        def call(self, name, args, kwargs):
            value = super().call(name, args, kwargs)
            if name == "detach":
                frozen.append(value)
            return value

    def run(backend, point):
        left = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise finite.TimeUp
        env = {n: Tensor._wrap(a) for n, a in point.items()}
        try:  # (the interpreter keeps the earlier of this deadline and its time limit)
            with no_grad(), clock.limit(left):
                return Interpreter(compiled.program, backend, compiled.limits,
                                   check_domain=False, draws=compiled.draws).run(env).value.data
        except LimitError:
            if deadline is not None and time.monotonic() >= deadline:
                raise finite.TimeUp from None
            raise

    if "detach" not in compiled.text:
        return lambda point: run(TensorBackend(compiled.dtype), point)
    run(Recording(compiled.dtype), base)
    return lambda point: run(_FrozenDetach(compiled.dtype, frozen), point)


def check(compiled, result, *, timeout: float = 5.0, latex: bool = False,
          elementwise: tuple | None = None) -> dict:
    """Compare autograd's derivatives with sympy's and with finite differences, both within
    `timeout` seconds (sympy in a child process while the differences run here).

    `elementwise`: (the program without its final sum or mean, which it was) for an
    elementwise program: sympy then differentiates one generic element. The verdict's
    status, reason and exit code come from `verdict`."""
    report = {"method": METHOD}
    unfit = _unfit_point(result.point) or (
        None if result.wrt or result.command == "eval" else
        "the expression has no variables: no derivative to check")
    bad = None if unfit else nonfinite(compiled, result)
    if unfit or bad:
        if bad:
            report["nonfinite"] = bad
        report.update(max_abs_err=None, max_rel_err=None)
        if unfit:
            report["skipped"] = unfit
        report.update(verdict(skipped=unfit, nonfinite=bad, strict=compiled.strict).fields())
        return report
    auto = autograd_values(result)
    sym_tol, fd_tol = _tolerances(compiled.dtype)
    numeric = {}
    deadline = time.monotonic() + timeout

    def differences():  # in this process, while sympy works in the child
        start = time.monotonic()
        try:
            numeric["fd"] = finite_values(compiled, result, deadline)
            numeric["seconds"] = time.monotonic() - start
        except finite.TimeUp as up:
            numeric["fd"] = {}, {}, []
            numeric["skipped"] = f"finite differences {up.args[0] if up.args else 'took'} " \
                                 f"longer than the {timeout:g} s limit (--check-timeout)"

    work = _generic_work(compiled, result, elementwise, latex) or \
        _symbolic_work(compiled, result, latex)
    sym, skipped = with_time_limit(work, max(0.0, deadline - time.monotonic()),
                                   meanwhile=differences, limit=timeout)
    fd, fd_err, kinks = numeric["fd"]
    if not all(np.isfinite(np.asarray(v, float)).all() for v in fd.values()):
        fd, kinks = {}, []  # autograd's numbers are finite here (see `nonfinite`)
        numeric["skipped"] = "their steps leave the function's domain (the differences " \
                             "are not finite)"
    if sym is not None:
        report["symbolic"] = {**compare(sym_tol, auto, sym["values"]),
                              "formulas": sym["formulas"],
                              "values": {k: v.tolist() for k, v in sym["values"].items()},
                              "seconds": sym["seconds"]}
    else:
        report["symbolic"] = {"skipped": skipped}
    if fd:
        with np.errstate(invalid="ignore"):
            estimate = max(float(np.max(e, initial=0.0)) for e in fd_err.values())
        report["finite_differences"] = {**compare(fd_tol, auto, fd, fd_err),
                                        "error_estimate": estimate,
                                        "step": finite.step(compiled.dtype),
                                        "seconds": numeric["seconds"]}
    elif "skipped" in numeric:
        report["finite_differences"] = {"skipped": numeric["skipped"]}
    methods = {"sympy": report["symbolic"], "finite differences":
               report.get("finite_differences")}
    ran = [p for p in methods.values() if p and "agree" in p]
    report.update(max_abs_err=max((p["max_abs_err"] for p in ran), default=0.0),
                  max_rel_err=max((p["max_rel_err"] for p in ran), default=0.0),
                  tolerance={"sympy": vars(sym_tol), "finite_differences": vars(fd_tol)})
    used = []
    if kinks or not all(p["agree"] for p in ran):
        used = report["conventions"] = conventions(compiled, result)
    if kinks:
        report["kinks"] = [{"variable": n, "index": list(k)} for n, k in kinks]
    v = verdict(methods=methods, kinks=kinks, used=used, strict=compiled.strict)
    if v.status == "skipped":
        report["skipped"] = v.reason
    report.update(v.fields())
    return report


def _unfit_point(point: dict) -> str | None:
    """Why no method can check at this point: NaN or infinity given, or an empty array."""
    for name, value in point.items():
        if value.size == 0:
            return f"{name} has no elements"
        if not np.all(np.isfinite(value)):
            return f"{name} holds NaN or infinity: derivatives there cannot be compared"
    return None


def nonfinite(compiled, result) -> dict | None:
    """Why the check cannot compare at this point, if the value or a derivative is not
    finite: the first operation that made NaN or infinity (an overflow named as one), with
    its place in the text; None where all is finite."""
    value = np.asarray(result.value)
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        first = next(iter(result.warnings), None)
        entry = {"in": "value", "overflow": isinstance(first, OverflowDomainError),
                 "message": first.message if first else "the value holds NaN or infinity",
                 "hint": first.hint if first else None}
        if first is not None and first.span is not None:
            entry["position"] = first.span.to_json()
        entry["reason"] = _where(entry) + "; derivatives are compared only where the value " \
            "is finite"
        return entry
    if all(np.all(np.isfinite(np.asarray(d, float))) for d in autograd_values(result).values()):
        return None
    entry = explain_nonfinite(compiled, result) or {
        "message": f"the {DERIVATIVE[result.command]} holds NaN or infinity"}
    entry.update({"in": "derivative", "overflow": False})
    entry["reason"] = _where(entry) + "; derivatives are compared only where they are finite"
    return entry


def _where(entry: dict) -> str:
    """An entry's message and its place: `exp overflowed: …, at line 1, column 1`."""
    pos = entry.get("position")
    return entry["message"] + (f", at line {pos['line']}, column {pos['col']}" if pos else "")


# -- explanations from the recorded graph ---------------------------------------------------------

def conventions(compiled, result) -> list[dict]:
    """The conventions autograd applied at this point (relu'(0) = 0, ties split, …)."""
    try:
        out, _, run = recorded(compiled, result.point, result.wrt)
    except GradcliError:
        return []
    nodes = graph_nodes(out)
    places = origins(nodes, run.origins)
    found = []
    for node in nodes:
        kink = node.prim.kink
        if kink and kink[1](node.out_data, *[t.data for t in node.inputs], **node.params):
            entry = {"convention": kink[0]}
            if node in places:
                entry.update(place(places[node]))
            if entry not in found:
                found.append(entry)
    return found


def explain_nonfinite(compiled, result) -> dict | None:
    """Name the first operation, in the user's text, whose backward made NaN or infinity."""
    if result.command not in ("grad", "vjp"):
        return None
    derivs = autograd_values(result)
    if all(np.all(np.isfinite(np.asarray(d, float))) for d in derivs.values()):
        return None
    try:
        out, leaves, run = recorded(compiled, result.point, result.wrt)
    except GradcliError:
        return None
    if not out.requires_grad:
        return None
    first = []

    def watch(node, i, g, gi):
        if not first and not np.all(np.isfinite(gi.data)) and np.all(np.isfinite(g.data)):
            first.append((node, g.data, gi.data))

    cot = np.ones_like(out.data) if result.command == "grad" else \
        np.asarray(result.cotangent, dtype=out.dtype).reshape(out.shape)
    nodes = graph_nodes(out)
    places = origins(nodes, run.origins)
    with no_grad():
        run_backward([out], [Tensor._wrap(cot)], retain_graph=False, create_graph=False,
                     accumulate=False, watch=watch)
    if not first:
        return None
    node, g, gi = first[0]
    name = node.prim.name
    entry = {"primitive": name, "message": f"the backward of {name} produced "
             f"{'NaN' if np.isnan(gi).any() else 'infinity'}"}
    if node in places:
        entry.update(place(places[node]))
    hint = node.prim.nonfinite or "an input sits where the derivative is not finite"
    poisoned = np.broadcast_to(g, node.out_data.shape + ()) if g.shape == node.out_data.shape \
        else None
    if poisoned is not None and np.any((poisoned == 0)) and np.isnan(gi).any():
        hint = ("the `where` trap: this operation's gradient is 0 where its branch is not "
                "used, but its own derivative is infinite there, and 0·inf = NaN; guard the "
                "input instead, e.g. sqrt(where(x > 0, x, 1)) inside where(x > 0, …, 0)")
    entry["hint"] = hint
    return entry


# -- gradcli diff --------------------------------------------------------------------------------

def diff(compiled, wrt: str, *, order: int = 1, point=None, latex: bool = False,
         timeout: float = 5.0) -> dict:
    """The symbolic derivative alone: variables are scalars unless `point` gives shapes."""
    if wrt not in compiled.free_vars:
        from .errors import UsageError
        raise UsageError(f"--wrt {wrt}: {wrt} is not a variable of the expression",
                         hint="its variables are: " + (", ".join(compiled.free_vars) or "none"))
    shapes = point or {n: np.zeros(()) for n in compiled.free_vars}

    def work():
        import sympy as sp
        out, syms, subs = symbolic_value(compiled, shapes)
        if out.size != 1:
            raise EvalError(f"diff needs a scalar expression, not one of shape {out.shape}")
        e = out.reshape(()).item()
        if syms[wrt].ndim == 0:
            d = np.asarray(sp.diff(e, syms[wrt].item(), order), dtype=object)
        elif order == 1:
            d = _diff_array(e, syms[wrt])
        else:
            raise EvalError("--order above 1 needs a scalar variable")
        res = {"expression": _pretty(e, latex),
               "derivative": formula(d, syms[wrt], wrt, latex)}
        if point is not None:  # the derivative at the point, too
            with np.errstate(invalid="ignore"):
                res["value"] = np.vectorize(lambda x: to_float(x.xreplace(subs)),
                                            otypes=[float])(d)
        return res

    res, why = with_time_limit(work, timeout)
    if res is None:
        raise EvalError(f"no symbolic derivative: {why}",
                        hint="raise --check-timeout" if "limit" in why else None)
    return res
