"""Values the user gives (a point's arrays, v, tangents, columns) as arrays of a dtype."""

from __future__ import annotations

import numpy as np

from .engine.tensor import Tensor
from .errors import ShapeError, UsageError


def numeric(value, dtype, what: str) -> np.ndarray:
    """A value the user gave (number, nested lists, array, Tensor) as an array of `dtype`."""
    if isinstance(value, Tensor):
        value = value.data
    try:
        arr = np.asarray(value)
    except ValueError:  # NumPy's "inhomogeneous shape"
        raise UsageError(
            f"{what} is not an array: the nested lists are ragged (rows of different lengths)",
            hint="give every row the same length",
        ) from None
    if arr.dtype.kind not in "biuf":
        raise UsageError(
            f"{what} is not numeric ({arr.dtype})",
            hint="give a number, nested lists of numbers or a NumPy array",
        )
    with np.errstate(over="ignore"):
        return arr.astype(dtype, copy=False)


def cotangent(v, out: Tensor) -> np.ndarray:
    """v as the cotangent of `out`: its dtype, its shape (a flat v of the right size for a
    vector or scalar output is accepted)."""
    cot = numeric(v, out.dtype, "v")
    if cot.shape != out.shape:
        if cot.size == out.data.size and cot.ndim <= 1 and out.ndim <= 1:
            return cot.reshape(out.shape)
        raise ShapeError(
            f"v has shape {cot.shape} but the output has shape {out.shape}",
            hint="give v the output's shape",
        )
    return cot
