"""Many points at once: elementwise expressions run vectorised, stacked along a batch axis;
everything else (control flow, reductions, shapes that differ) falls back to one run a point.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass

import numpy as np

from .errors import GradcliError, InternalError, LimitError
from .lang.analysis import is_elementwise
from .result import Result, own


def point_failure(exc: Exception) -> GradcliError:
    """What went wrong at one point of a batch, as the error recorded in its place (the
    other points go on): a GradcliError as it is, running out of memory or of stack as a
    LimitError, anything else as an InternalError (a bug; GRADCLI_DEBUG=1 prints it)."""
    if isinstance(exc, GradcliError):
        return exc
    if isinstance(exc, MemoryError):
        return LimitError(
            "not enough memory to compute this point",
            hint="lower --max-elements to refuse such points before the work",
        )
    if isinstance(exc, RecursionError):
        return LimitError("this point nests too deeply to compute")
    if os.environ.get("GRADCLI_DEBUG"):
        traceback.print_exception(exc)
    return InternalError.of(exc)


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
    except Exception as err:  # recorded at its point; the batch goes on
        return point_failure(err)


@dataclass
class Columns:
    """A batch of scalar points and their results, one array per variable (column-wise)."""

    command: str
    expression: str
    point: dict[str, np.ndarray]  # name → (n,) values
    value: np.ndarray | None  # (n,); None for a grad asked without its value
    wrt: tuple[str, ...] = ()
    gradient: dict[str, np.ndarray] | None = None  # name → (n,), for grad

    def __post_init__(self):
        given = list(self.point.values())  # (arrays of their own, as Result's: see `own`)
        self.value = own(self.value, given)
        if self.gradient is not None:
            self.gradient = {k: own(g, given) for k, g in self.gradient.items()}

    def result(self, i: int) -> Result:
        """The i-th point's Result, as the one-point API would give it."""
        r = Result(
            self.command,
            self.expression,
            {k: np.asarray(v[i]) for k, v in self.point.items()},
            None if self.value is None else np.asarray(self.value[i]),
            self.wrt,
        )
        if self.gradient is not None:
            r.gradient = {k: np.asarray(g[i]) for k, g in self.gradient.items()}
        return r


def columns(
    compiled, command: str, cols: dict[str, np.ndarray], wrt=None, value: bool = True
) -> Columns | None:
    """eval or grad of an elementwise program at n scalar points given column-wise, in one
    pass (points stacked along a batch axis); None when that does not apply. A grad
    without `value` leaves `value` None (and its blocks skip what only the value needs)."""
    if command not in ("eval", "grad") or not all(is_elementwise(s) for s in compiled.program.body):
        return None
    if command == "grad":
        wrt = compiled.resolve_wrt(wrt)
    try:
        return _columns(compiled, command, cols, wrt, value)
    except Exception:  # a bad point must not take the others: each then runs alone
        return None


def _columns(compiled, command, cols, wrt, value) -> Columns | None:
    p = compiled.point(cols)
    n = {a.shape for a in p.values()}
    if len(n) != 1 or len(next(iter(n))) != 1:
        return None
    if command == "grad":
        from .blocked import blocked_grad

        blocked = blocked_grad(compiled, p, wrt, elementwise=True, value=value)
        if blocked is not None:
            return Columns(command, compiled.text, p, blocked[0], wrt, blocked[1])
    if command == "eval":
        r = compiled.eval(p)
    else:
        r = compiled.vjp(p, v=np.ones(next(iter(n)), compiled.dtype), wrt=wrt)
    if r.warnings or r.value.shape != next(iter(n)):
        return None
    return Columns(
        command,
        compiled.text,
        p,
        r.value if value or command == "eval" else None,
        r.wrt,
        r.vjp if command == "grad" else None,
    )


def _vectorised(compiled, command, points, wrt) -> list[Result | GradcliError] | None:
    """eval or grad of an elementwise expression at points of scalars, in one pass."""
    if len(points) < 2:
        return None
    try:
        checked = [compiled.point(p) for p in points]
    except GradcliError:
        return None
    if any(a.ndim != 0 for p in checked for a in p.values()):
        return None
    cols = {n: np.array([p[n] for p in checked]) for n in compiled.free_vars}
    got = columns(compiled, command, cols, wrt)
    return None if got is None else [got.result(i) for i in range(len(points))]


def run_batch(
    compiled,
    command: str,
    points: list[dict],
    *,
    wrt=None,
    v=None,
    tangents=None,
    intermediates=False,
    mode="auto",
) -> list[Result | GradcliError]:
    if not intermediates:
        fast = _vectorised(compiled, command, points, wrt)
        if fast is not None:
            return fast
    return [
        _one(
            compiled,
            command,
            p,
            wrt=wrt,
            v=v,
            tangents=tangents,
            intermediates=intermediates,
            mode=mode,
        )
        for p in points
    ]
