"""What the recorded graph tells the cross-check: the operation that made NaN or infinity
(with its place in the text and a hint), and the conventions autograd applied at a kink."""

from __future__ import annotations

import numpy as np

from ..engine.backward import run_backward
from ..engine.tensor import Tensor, no_grad
from ..errors import GradcliError, OverflowDomainError
from ..graph import nodes as graph_nodes, origins, place, recorded
from ..result import DERIVATIVE
from .compare import autograd_values


def nonfinite(compiled, result) -> dict | None:
    """Why the check cannot compare at this point, if the value or a derivative is not
    finite: the first operation that made NaN or infinity (an overflow named as one), with
    its place in the text; None where all is finite."""
    value = np.asarray(result.value)
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        first = next(iter(result.warnings), None)
        entry = {
            "in": "value",
            "overflow": isinstance(first, OverflowDomainError),
            "message": first.message if first else "the value holds NaN or infinity",
            "hint": first.hint if first else None,
        }
        if first is not None and first.span is not None:
            entry["position"] = first.span.to_json()
        entry["reason"] = (
            _where(entry) + "; derivatives are compared only where the value is finite"
        )
        return entry
    if all(np.all(np.isfinite(np.asarray(d, float))) for d in autograd_values(result).values()):
        return None
    entry = explain_nonfinite(compiled, result) or {
        "message": f"the {DERIVATIVE[result.command]} holds NaN or infinity"
    }
    entry.update({"in": "derivative", "overflow": False})
    entry["reason"] = _where(entry) + "; derivatives are compared only where they are finite"
    return entry


def _where(entry: dict) -> str:
    """An entry's message and its place: `exp overflowed: …, at line 1, column 1`."""
    pos = entry.get("position")
    return entry["message"] + (f", at line {pos['line']}, column {pos['col']}" if pos else "")


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
        out, _, run = recorded(compiled, result.point, result.wrt)
    except GradcliError:
        return None
    if not out.requires_grad:
        return None
    first: list[tuple] = []

    def watch(node, i, g, gi):
        if not first and not np.all(np.isfinite(gi.data)) and np.all(np.isfinite(g.data)):
            first.append((node, g.data, gi.data))

    cot = (
        np.ones_like(out.data)
        if result.command == "grad"
        else np.asarray(result.cotangent, dtype=out.dtype).reshape(out.shape)
    )
    nodes = graph_nodes(out)
    places = origins(nodes, run.origins)
    with no_grad():
        run_backward(
            [out],
            [Tensor.wrap(cot)],
            retain_graph=False,
            create_graph=False,
            accumulate=False,
            watch=watch,
        )
    if not first:
        return None
    node, g, gi = first[0]
    name = node.prim.name
    entry = {
        "primitive": name,
        "message": f"the backward of {name} produced {'NaN' if np.isnan(gi).any() else 'infinity'}",
    }
    if node in places:
        entry.update(place(places[node]))
    hint = node.prim.nonfinite or "an input sits where the derivative is not finite"
    poisoned = np.broadcast_to(g, node.out_data.shape) if g.shape == node.out_data.shape else None
    if poisoned is not None and np.any(poisoned == 0) and np.isnan(gi).any():
        hint = (
            "the `where` trap: this operation's gradient is 0 where its branch is not "
            "used, but its own derivative is infinite there, and 0·inf = NaN; guard the "
            "input instead, e.g. sqrt(where(x > 0, x, 1)) inside where(x > 0, …, 0)"
        )
    entry["hint"] = hint
    return entry
