"""What the AST says about a program before it runs: whether it is elementwise, and its final
full reduction (the fast paths, `batch.py`, `blocked.py` and the plot's grid, and the
cross-check's generic element rely on them)."""

from __future__ import annotations

from ..engine.functions import ELEMENTWISE
from . import syntax as S

_ELEMENTWISE_OPS = frozenset({"+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!="})


def is_elementwise(node) -> bool:
    """Whether a statement or expression only combines its inputs element by element."""
    if isinstance(node, (S.Num, S.Name)):
        return True
    if isinstance(node, S.ExprStmt):
        return is_elementwise(node.value)
    if isinstance(node, (S.Assign, S.AugAssign)):
        return (
            not isinstance(node, S.AugAssign) or node.op in _ELEMENTWISE_OPS
        ) and is_elementwise(node.value)
    if isinstance(node, S.Binary):
        return (
            node.op in _ELEMENTWISE_OPS and is_elementwise(node.left) and is_elementwise(node.right)
        )
    if isinstance(node, S.Unary):
        return node.op in "+-" and is_elementwise(node.operand)
    if isinstance(node, S.Call):
        return node.func in ELEMENTWISE and all(
            is_elementwise(a) for a in [*node.args, *(v for _, v in node.kwargs)]
        )
    return False


def split_reduction(program: S.Program) -> tuple[S.Program, str | None] | None:
    """The elementwise program without its final full sum/mean, and which it was (None:
    no reduction, the output is elementwise); None if the program is not elementwise."""
    last = program.body[-1] if program.body else None
    reduction = None
    if (
        isinstance(last, S.ExprStmt)
        and isinstance(last.value, S.Call)
        and last.value.func in ("sum", "mean")
        and len(last.value.args) == 1
        and not last.value.kwargs
    ):
        reduction = last.value.func
        body = (*program.body[:-1], S.ExprStmt(last.span, last.value.args[0]))
        program = S.Program(body, program.source, program.free_vars, program.assigned)
    if not all(is_elementwise(s) for s in program.body):
        return None
    return program, reduction
