"""The cross-check: autograd vs sympy vs finite differences, both within a time limit (sympy
in a forked child while the differences run here), and the report with its verdict."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .. import finite
from ..forked import with_time_limit
from ..formulas import derivatives, formula, generic_element, generic_formula, pretty
from ..symbolic import evaluate, symbolic_value, to_float
from .compare import autograd_values, compare, tolerances, verdict
from .diagnostics import conventions, nonfinite
from .differences import finite_values

METHOD = "autograd vs sympy vs central differences (Richardson)"


def _symbolic_work(compiled, result, latex=False):
    def work():
        start = time.monotonic()
        out, syms, subs = symbolic_value(compiled, result.point)
        exprs = derivatives(
            out, syms, result.command, result.wrt, v=result.cotangent, tangents=result.tangents
        )
        with np.errstate(invalid="ignore"):
            values = {
                k: np.vectorize(
                    lambda e: to_float(e.xreplace(subs) if hasattr(e, "xreplace") else e),
                    otypes=[float],
                )(a)
                for k, a in exprs.items()
            }
        formulas = {}
        if result.command == "grad":
            formulas = {n: formula(exprs[n], syms[n], n, latex, quick=True) for n in result.wrt}
        elif result.command == "eval":
            formulas = (
                {
                    "value": {
                        "kind": "scalar",
                        "formula": pretty(out.reshape(()).item(), latex, quick=True),
                        "latex": latex,
                    }
                }
                if out.size == 1
                else {}
            )
        return {"values": values, "formulas": formulas, "seconds": time.monotonic() - start}

    return work


def _generic_work(compiled, result, elementwise: tuple | None, latex=False):
    """For the gradient of an elementwise program's sum or mean whose variables with respect
    to which it is taken are arrays of one shape (the others arrays of that shape or
    scalars): one derivative of a generic element, evaluated at every element, in place of
    one symbolic derivative per element. None where that does not apply."""
    shapes = {v.shape for v in result.point.values() if v.ndim}
    if (
        result.command != "grad"
        or elementwise is None
        or elementwise[1] is None
        or len(shapes) != 1
        or any(result.point[n].ndim == 0 for n in result.wrt)
    ):
        return None
    program, reduction = elementwise
    (shape,) = shapes

    def work():
        start = time.monotonic()
        import sympy as sp

        syms = {
            n: np.array(
                sp.Symbol(generic_element(n, len(shape)) if v.ndim else n, real=True), dtype=object
            )
            for n, v in result.point.items()
        }
        out, _, _ = symbolic_value(compiled, result.point, program, syms)
        e = out.reshape(()).item() / (math.prod(shape) if reduction == "mean" else 1)
        values, formulas = {}, {}
        for n in result.wrt:
            d = sp.diff(e, syms[n].item())
            values[n] = evaluate(d, {syms[m].item(): v for m, v in result.point.items()}, shape)
            formulas[n] = generic_formula(d, n, len(shape), latex, quick=True)
        return {"values": values, "formulas": formulas, "seconds": time.monotonic() - start}

    return work


def check(
    compiled, result, *, timeout: float = 5.0, latex: bool = False, elementwise: tuple | None = None
) -> dict:
    """Compare autograd's derivatives with sympy's and with finite differences, both within
    `timeout` seconds (sympy in a child process while the differences run here).

    `elementwise`: (the program without its final sum or mean, which it was) for an
    elementwise program: sympy then differentiates one generic element. The verdict's
    status, reason and exit code come from `verdict`."""
    report: dict[str, Any] = {"method": METHOD}
    unfit = _unfit_point(result.point) or (
        None
        if result.wrt or result.command == "eval"
        else "the expression has no variables: no derivative to check"
    )
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
    sym_tol, fd_tol = tolerances(compiled.dtype)
    numeric: dict[str, Any] = {}
    deadline = time.monotonic() + timeout

    def differences():  # in this process, while sympy works in the child
        start = time.monotonic()
        try:
            numeric["fd"] = finite_values(compiled, result, deadline)
            numeric["seconds"] = time.monotonic() - start
        except finite.TimeUp as up:
            numeric["fd"] = {}, {}, []
            numeric["skipped"] = (
                f"finite differences {up.args[0] if up.args else 'took'} "
                f"longer than the {timeout:g} s limit (--check-timeout)"
            )

    work = _generic_work(compiled, result, elementwise, latex) or _symbolic_work(
        compiled, result, latex
    )
    sym, skipped = with_time_limit(
        work, max(0.0, deadline - time.monotonic()), meanwhile=differences, limit=timeout
    )
    fd, fd_err, kinks = numeric["fd"]
    if not all(np.isfinite(np.asarray(v, float)).all() for v in fd.values()):
        fd, kinks = {}, []  # autograd's numbers are finite here (see `nonfinite`)
        numeric["skipped"] = (
            "their steps leave the function's domain (the differences are not finite)"
        )
    if sym is not None:
        report["symbolic"] = {
            **compare(sym_tol, auto, sym["values"]),
            "formulas": sym["formulas"],
            "values": {k: v.tolist() for k, v in sym["values"].items()},
            "seconds": sym["seconds"],
        }
    else:
        report["symbolic"] = {"skipped": skipped}
    if fd:
        with np.errstate(invalid="ignore"):
            estimate = max(float(np.max(e, initial=0.0)) for e in fd_err.values())
        report["finite_differences"] = {
            **compare(fd_tol, auto, fd, fd_err),
            "error_estimate": estimate,
            "step": finite.step(compiled.dtype),
            "seconds": numeric["seconds"],
        }
    elif "skipped" in numeric:
        report["finite_differences"] = {"skipped": numeric["skipped"]}
    methods = {"sympy": report["symbolic"], "finite differences": report.get("finite_differences")}
    ran = [p for p in methods.values() if p and "agree" in p]
    report.update(
        max_abs_err=max((p["max_abs_err"] for p in ran), default=0.0),
        max_rel_err=max((p["max_rel_err"] for p in ran), default=0.0),
        tolerance={"sympy": vars(sym_tol), "finite_differences": vars(fd_tol)},
    )
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
