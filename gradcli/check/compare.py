"""What the cross-check compares and concludes: autograd's quantities, the tolerances, one
method against autograd (`compare`), and the one decision (`verdict`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..result import DERIVATIVE


@dataclass
class Tolerance:
    """How close one method must come to autograd: |a − ref| ≤ atol + rtol·|ref|."""

    atol: float
    rtol: float


def tolerances(dtype) -> tuple[Tolerance, Tolerance]:
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
    return {"agree": ratio <= 1, "max_abs_err": abs_err, "max_rel_err": rel_err, "max_ratio": ratio}


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
        verdict = (
            "agree"
            if agree
            else "disagree"
            if self.status == "disagree"
            else f"not differentiable at this point ({self.reason})"
            if self.status == "kink"
            else f"not checked: {self.reason}"
        )
        return {
            "agree": agree,
            "verdict": verdict,
            "status": self.status,
            "reason": self.reason,
            "exit_code": self.exit_code,
        }


def verdict(
    *,
    skipped: str | None = None,
    nonfinite: dict | None = None,
    methods: dict | None = None,
    kinks=(),
    used=(),
    strict: bool = False,
) -> Verdict:
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
        rules = "; ".join(c["convention"] for c in used) or "PyTorch's conventions"
        return Verdict("kink", f"the one-sided slopes differ; autograd uses {rules}", 3)
    differ = [n for n in ran if not methods[n]["agree"]]
    if differ == ["sympy"] and used and "finite differences" in ran:
        # at a tie or a kink autograd takes a convention and sympy its own (Heaviside(0) = ½);
        # where finite differences agree with autograd the function is smooth there
        return Verdict(
            "agree",
            "autograd and finite differences (sympy's own convention at the tie is not compared)",
            0,
        )
    if differ:
        return Verdict(
            "disagree",
            " and ".join(differ)
            + (" differs" if len(differ) == 1 else " differ")
            + " from autograd",
            3,
        )
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
