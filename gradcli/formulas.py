"""Symbolic derivatives (sympy's) and their formulas as text or LaTeX; `gradcli diff`."""

from __future__ import annotations

import re

import numpy as np

from .errors import EvalError, UsageError
from .forked import with_time_limit
from .symbolic import symbolic_value, to_float, to_object

#: Above this many operations a formula of the check is printed as sympy derives it:
#: simplify costs seconds on larger ones (`gradcli diff` always simplifies).
SIMPLIFY_OPS = 20


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
        return {f"{a},{b}": _jacobian(_diff_array(f, syms[a]), syms[b]) for a in wrt for b in wrt}
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


def pretty(e, latex: bool, quick: bool = False) -> str:
    """A formula, simplified (`quick`: only when it is small, SIMPLIFY_OPS)."""
    import sympy as sp

    best = e
    if not quick or sp.count_ops(e) <= SIMPLIFY_OPS:
        simple = sp.simplify(e)
        factored = sp.factor(simple)
        best = factored if sp.count_ops(factored) <= sp.count_ops(simple) else simple
    # long fractions (a random draw, 0.1 + 0.2) read as the decimals they came from
    best = best.xreplace({r: sp.Float(r, 17) for r in best.atoms(sp.Rational) if r.q > 10**6})
    if not latex:
        return str(best)
    # element symbols x[0,1] as subscripts x_{0,1}
    names = {
        s: re.sub(r"^(.*)\[(.*)\]$", r"\1_{\2}", sp.latex(s))
        for s in best.free_symbols
        if "[" in s.name
    }
    return sp.latex(best, symbol_names=names)


def formula(
    exprs: np.ndarray, syms: np.ndarray, name: str, latex=False, max_list=16, quick: bool = False
) -> dict:
    """The derivative as a formula: simplified for a scalar variable; the formula of a
    generic element when every element follows it; else a per-element listing (`quick`:
    see `pretty`)."""
    import sympy as sp

    if syms.ndim == 0:
        return {
            "kind": "scalar",
            "formula": pretty(exprs.reshape(()).item(), latex, quick),
            "latex": latex,
        }
    generic = sp.Symbol(generic_element(name, syms.ndim), real=True)
    elements = set(syms.flat)
    forms = set()
    for idx in np.ndindex(syms.shape):
        e = exprs.item(idx).xreplace({syms[idx]: generic})
        if e.free_symbols & elements:
            break
        forms.add(e if quick else sp.simplify(e))
        if len(forms) > 1:
            break
    else:
        return generic_formula(forms.pop(), name, syms.ndim, latex, quick)
    if exprs.size > max_list:
        return {"kind": "too_large", "formula": None, "latex": latex}
    return {
        "kind": "elements",
        "elements": {
            f"{name}[{','.join(map(str, idx))}]": pretty(exprs[idx], latex, quick)
            for idx in np.ndindex(syms.shape)
        },
        "latex": latex,
    }


def generic_element(name: str, ndim: int) -> str:
    """The name of a generic element of a variable: `x[i,j]`."""
    return f"{name}[{','.join('ijklmnpq'[:ndim])}]"


def generic_formula(e, name: str, ndim: int, latex=False, quick=False) -> dict:
    """The formula of a generic element `x[i,j]` of a variable."""
    return {
        "kind": "generic",
        "element": generic_element(name, ndim),
        "formula": pretty(e, latex, quick),
        "latex": latex,
    }


# -- gradcli diff --------------------------------------------------------------------------------


def diff(
    compiled, wrt: str, *, order: int = 1, point=None, latex: bool = False, timeout: float = 5.0
) -> dict:
    """The symbolic derivative alone: variables are scalars unless `point` gives shapes."""
    if wrt not in compiled.free_vars:
        raise UsageError(
            f"--wrt {wrt}: {wrt} is not a variable of the expression",
            hint="its variables are: " + (", ".join(compiled.free_vars) or "none"),
        )
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
        res = {"expression": pretty(e, latex), "derivative": formula(d, syms[wrt], wrt, latex)}
        if point is not None:  # the derivative at the point, too
            with np.errstate(invalid="ignore"):
                res["value"] = np.vectorize(lambda x: to_float(x.xreplace(subs)), otypes=[float])(d)
        return res

    res, why = with_time_limit(work, timeout)
    if res is None:
        raise EvalError(
            f"no symbolic derivative: {why}",
            hint="raise --check-timeout" if "limit" in why else None,
        )
    return res
