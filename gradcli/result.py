"""The plain result objects the library returns and the command line renders, and their
values as JSON-ready ones (`jsonable`, `plain`) for every module that writes JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, overload

import numpy as np

from .errors import DomainError

#: The Result field (and JSON key) holding each derivative command's derivative.
DERIVATIVE = {
    "grad": "gradient",
    "vjp": "vjp",
    "jvp": "jvp",
    "jacobian": "jacobian",
    "hessian": "hessian",
}

T = TypeVar("T")


@dataclass
class Result:
    """What one command computed at one point.

    Exactly the derivative field of the command is set (`gradient` for grad, …);
    `intermediates` holds the gradients of a program's assigned names when asked for.
    """

    command: str  # eval | grad | vjp | jvp | jacobian | hessian
    expression: str
    point: dict[str, np.ndarray]
    value: np.ndarray | None  # None: a grad of `grad_points(value=False)`
    wrt: tuple[str, ...] = ()
    gradient: dict[str, np.ndarray] | None = None
    vjp: dict[str, np.ndarray] | None = None
    jvp: np.ndarray | None = None
    jacobian: dict[str, np.ndarray] | None = None
    hessian: dict[str, dict[str, np.ndarray]] | None = None
    intermediates: dict[str, np.ndarray] | None = None
    warnings: list[DomainError] = field(default_factory=list)
    check: dict | None = None
    check_skipped: str | None = None
    cotangent: np.ndarray | None = None  # the v of vjp
    tangents: dict[str, np.ndarray] | None = None  # the tangents of jvp
    explain: list[dict] | None = None  # the backward pass step by step (--explain)

    def __post_init__(self) -> None:
        given = [*self.point.values(), self.cotangent, *(self.tangents or {}).values()]
        self.value = own(self.value, given)
        for name in ("gradient", "vjp", "jacobian", "intermediates"):
            arrays = getattr(self, name)
            if arrays is not None:
                setattr(self, name, {k: own(a, given) for k, a in arrays.items()})
        if self.jvp is not None:
            self.jvp = own(self.jvp, given)
        if self.hessian is not None:
            self.hessian = {
                k: {j: own(a, given) for j, a in row.items()} for k, row in self.hessian.items()
            }


def own(a: T, given: list) -> T:
    """`a` as an array of its own: writeable, sharing no memory with the arrays `given`
    (the point, v, tangents, results already kept), which it then joins. A rule may pass
    an input on (the gradient of `x*y` in y is x) or give a read-only broadcast (that of
    `sum(x)`); copied then, so that changing one array never changes another."""
    if isinstance(a, np.ndarray):
        if not a.flags.writeable or any(
            isinstance(g, np.ndarray) and np.may_share_memory(a, g) for g in given
        ):
            a = a.copy()
        given.append(a)
    return a


def jsonable(a: object) -> object:
    """An array as nested lists, a scalar as a number; NaN and ±inf as strings.

    >>> jsonable(np.array([1.5, np.nan, -np.inf]))
    [1.5, 'NaN', '-Infinity']
    """
    a = np.asarray(a)
    if a.dtype == np.float32:
        # The shortest text that round-trips in float32, read back as a float64 number.
        a = a.astype(str).astype(np.float64)
    if a.dtype.kind != "f" or np.isfinite(a).all():
        return a.tolist()
    out = a.astype(object)
    out[np.isnan(a)] = "NaN"
    out[np.isposinf(a)] = "Infinity"
    out[np.isneginf(a)] = "-Infinity"
    return out.tolist()


@overload
def plain(x: dict) -> dict: ...
@overload
def plain(x: object) -> object: ...
def plain(x: object) -> object:
    """Any nesting of dicts, lists, arrays and numbers as JSON-ready values."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if x is None or isinstance(x, str):
        return x
    return jsonable(x)


def warning_docs(warnings: list) -> list[dict]:
    """Warnings (`GradcliError`s) as JSON documents list them: each one's JSON, without its
    type."""
    return [{k: v for k, v in w.to_json().items() if k != "type"} for w in warnings]
