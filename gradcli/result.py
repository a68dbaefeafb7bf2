"""The plain result objects the library returns and the command line renders."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DomainError


@dataclass
class Result:
    """What one command computed at one point.

    Exactly the derivative field of the command is set (`gradient` for grad, …);
    `intermediates` holds the gradients of a program's assigned names when asked for.
    """

    command: str  # eval | grad | vjp | jvp | jacobian | hessian
    expression: str
    point: dict[str, np.ndarray]
    value: np.ndarray
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
