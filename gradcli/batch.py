"""Many points at once: elementwise expressions run vectorised, stacked along a batch axis;
everything else (control flow, reductions, shapes that differ) falls back to one run a point.
"""

from __future__ import annotations

import numpy as np

from .engine.functions import FUNCTIONS
from .engine.ops import PRIMITIVES
from .errors import GradcliError
from .lang import syntax as S
from .result import Result

ELEMENTWISE = frozenset(
    name for name, fn in FUNCTIONS.items()
    if getattr(PRIMITIVES.get(fn.__name__), "elementwise", False)) | {
    "square", "reciprocal", "log2", "log10", "detach"}
_ELEMENTWISE_OPS = frozenset({"+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!="})


def is_elementwise(node) -> bool:
    """Whether a statement or expression only combines its inputs element by element."""
    if isinstance(node, (S.Num, S.Name)):
        return True
    if isinstance(node, S.ExprStmt):
        return is_elementwise(node.value)
    if isinstance(node, (S.Assign, S.AugAssign)):
        return (not isinstance(node, S.AugAssign) or node.op in _ELEMENTWISE_OPS) and \
            is_elementwise(node.value)
    if isinstance(node, S.Binary):
        return node.op in _ELEMENTWISE_OPS and is_elementwise(node.left) and \
            is_elementwise(node.right)
    if isinstance(node, S.Unary):
        return node.op in "+-" and is_elementwise(node.operand)
    if isinstance(node, S.Call):
        return node.func in ELEMENTWISE and not node.kwargs and \
            all(is_elementwise(a) for a in node.args)
    return False


def _one(compiled, command, point, *, wrt, v, tangents, intermediates, mode):
    try:
        if command == "eval":
            return compiled.eval(point)
        if command == "grad":
            return compiled.grad(point, wrt=wrt, intermediates=intermediates)
        if command == "vjp":
            return compiled.vjp(point, v=v, wrt=wrt, intermediates=intermediates)
        if command == "jvp":
            return compiled.jvp(point, tangents=tangents, wrt=wrt)
        if command == "jacobian":
            return compiled.jacobian(point, wrt=wrt, mode=mode)
        if command == "hessian":
            return compiled.hessian(point, wrt=wrt)
        raise ValueError(f"unknown command {command!r}")
    except GradcliError as err:
        return err


def _vectorised(compiled, command, points, wrt) -> list[Result] | None:
    """eval or grad of an elementwise expression at points of scalars, in one pass."""
    if command not in ("eval", "grad") or len(points) < 2:
        return None
    if not all(is_elementwise(s) for s in compiled.program.body):
        return None
    try:
        checked = [compiled.point(p) for p in points]
    except GradcliError:
        return None
    if any(a.ndim != 0 for p in checked for a in p.values()):
        return None
    stacked = {n: np.array([p[n] for p in checked]) for n in compiled.free_vars}
    try:
        if command == "eval":
            r = compiled.eval(stacked)
        else:
            r = compiled._backward("vjp", stacked, np.ones(len(points)), wrt, False, {})
    except GradcliError:
        return None
    if r.warnings or r.value.shape != (len(points),):
        return None
    out = []
    for i, p in enumerate(checked):
        res = Result(command, compiled.text, p, r.value[i], r.wrt)
        if command == "grad":
            res.gradient = {n: g[i] for n, g in r.vjp.items()}
        out.append(res)
    return out


def run_batch(compiled, command: str, points: list[dict], *, wrt=None, v=None, tangents=None,
              intermediates=False, mode="auto") -> list[Result | GradcliError]:
    if not intermediates:
        fast = _vectorised(compiled, command, points, wrt)
        if fast is not None:
            return fast
    return [_one(compiled, command, p, wrt=wrt, v=v, tangents=tangents,
                 intermediates=intermediates, mode=mode) for p in points]
