"""Central finite differences with Richardson extrapolation, and one-sided kink detection.

`func` maps a point (name → array) to an array; it is evaluated on plain NumPy values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

#: An evaluation this slow (seconds) times the others well enough to predict them.
SLOW = 0.1


class TimeUp(Exception):
    """The finite differences passed their deadline (time.monotonic()), or would: then the
    argument says how long they would take ("would take about 12 s,")."""


@dataclass
class FiniteJacobian:
    """d func / d var, shaped func's output + var's shape."""

    value: np.ndarray
    error: np.ndarray  # Richardson's error estimate, same shape
    kinks: list[tuple]  # element indices of var where one-sided differences disagree


def _on_time(deadline: float | None, need: float = 0.0, evaluations: int = 0) -> None:
    """Raise TimeUp if `deadline` has passed, or if `need` more seconds (for `evaluations`
    more evaluations) would pass it."""
    if deadline is None:
        return
    now = time.monotonic()
    if now > deadline:
        raise TimeUp
    if now + need > deadline:
        raise TimeUp(f"would take about {need:.2g} s more ({evaluations} evaluations),")


def step(dtype) -> float:
    """The central-difference step for a dtype: about eps ** (1/3)."""
    return float(np.finfo(dtype).eps) ** (1 / 3)


def jacobian(
    func, point: dict[str, np.ndarray], name: str, deadline: float | None = None
) -> FiniteJacobian:
    """Finite-difference Jacobian of `func` w.r.t. the variable `name`; raises TimeUp
    past `deadline`, checked before each evaluation, and at once when the first evaluation
    is slow (SLOW) and the others at its time would pass it."""
    x0 = point[name]
    h0 = step(x0.dtype)
    start = time.monotonic()
    f0 = np.asarray(func(point), dtype=np.float64)
    took = time.monotonic() - start
    if took >= SLOW:  # measurable: the evaluations left, at this one's time
        _on_time(deadline, 4 * x0.size * took, 4 * x0.size)
    noise = np.finfo(x0.dtype).eps * np.abs(f0)  # rounding in evaluating func
    cols, errs, kinks = [], [], []
    for idx in np.ndindex(x0.shape or ()):
        h = h0 * max(1.0, abs(float(x0[idx])))

        def at(delta, idx=idx):
            _on_time(deadline)
            x = x0.astype(np.float64).copy()
            x[idx] += delta
            return np.asarray(func({**point, name: x.astype(x0.dtype)}), dtype=np.float64)

        fp, fm, fp2, fm2 = at(h), at(-h), at(h / 2), at(-h / 2)
        d1 = (fp - fm) / (2 * h)
        d2 = (fp2 - fm2) / h
        cols.append((4 * d2 - d1) / 3)
        errs.append(np.abs(d2 - d1) / 3)
        # a kink: the one-sided slopes differ, and the gap does not shrink with the step
        gap1 = np.abs((fp - f0) / h - (f0 - fm) / h)
        gap2 = np.abs((fp2 - f0) / (h / 2) - (f0 - fm2) / (h / 2))
        scale = np.maximum(1e-3 * np.maximum(1.0, np.abs(d2)), 100 * noise / h)
        if np.any((gap2 > scale) & (gap2 > 0.75 * gap1)):
            kinks.append(idx)
    shape = f0.shape + x0.shape
    value = (
        np.moveaxis(np.array(cols).reshape((-1, *f0.shape)), 0, -1).reshape(shape)
        if cols
        else np.zeros(shape)
    )
    error = (
        np.moveaxis(np.array(errs).reshape((-1, *f0.shape)), 0, -1).reshape(shape)
        if errs
        else np.zeros(shape)
    )
    return FiniteJacobian(value, error, kinks)
