"""Diagonal batches of tangents or cotangents, kept symbolic while they propagate.

A Jacobian starts from a basis: the identity, pushed back (or forward) as one batch.
`Diag` stands for a batch of shape (N,) + S whose entry [k, idx] is d[idx] where idx is the
k-th element of S (N = size of S) and 0 elsewhere. Elementwise rules keep it diagonal
(`g * f'(x)` scales d), a matrix product with it costs what scaling rows or columns costs,
and anything else makes it dense through `.data`, so every rule stays correct.
Diag never records a graph: it is used only when the backward pass is not recorded.
"""

from __future__ import annotations

import math

import numpy as np

from .tensor import Tensor


class Diag(Tensor):
    __slots__ = ("d", "_dense")
    _dense: np.ndarray | None

    def __init__(self, d: np.ndarray):
        self.d = d
        self._dense = None
        self.requires_grad = False
        self.grad_fn = None

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]  # derived from d: read-only
        """The dense batch (made once, when a rule needs it)."""
        if self._dense is None:
            n = self.d.size
            dense = np.zeros((n, n), dtype=self.d.dtype)
            dense[np.arange(n), np.arange(n)] = self.d.reshape(-1)
            self._dense = dense.reshape((n, *self.d.shape))
        return self._dense

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.d.size, *self.d.shape)

    @property
    def ndim(self) -> int:
        return 1 + self.d.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.d.dtype

    def _scale(self, other):
        """d times `other` if that keeps the batch diagonal, else None."""
        if isinstance(other, Diag):
            return other.d if other.d.shape == self.d.shape else None
        if isinstance(other, (int, float)):
            return other  # a Python number keeps the dtype (NumPy's weak scalars)
        o = other.data if isinstance(other, Tensor) else np.asarray(other)
        if (
            o.shape == self.d.shape
            or not o.ndim
            or (
                o.ndim <= self.d.ndim and np.broadcast_shapes(o.shape, self.d.shape) == self.d.shape
            )
        ):
            return o
        return None

    def __mul__(self, other):
        o = self._scale(other)
        return Tensor.__mul__(self, other) if o is None else Diag(self.d * o)

    def __rmul__(self, other):
        o = self._scale(other)
        return Tensor.__rmul__(self, other) if o is None else Diag(o * self.d)

    def __truediv__(self, other):
        o = None if isinstance(other, Diag) else self._scale(other)
        return Tensor.__truediv__(self, other) if o is None else Diag(self.d / o)

    def __neg__(self):
        return Diag(-self.d)

    def __add__(self, other):
        if isinstance(other, Diag) and other.d.shape == self.d.shape:
            return Diag(self.d + other.d)
        o = other.data if isinstance(other, Tensor) else np.asarray(other)
        if o.shape != self.shape:
            return Tensor.__add__(self, other)
        n = self.d.size
        # a C-ordered copy: reshaping it is a view, so the diagonal is added in place
        # (a copy of a broadcast or transposed `o` keeps its strides' order otherwise)
        out = np.array(o, dtype=np.result_type(o, self.d), order="C")
        out.reshape(n, n)[np.arange(n), np.arange(n)] += self.d.reshape(-1)
        return Tensor.wrap(out)

    __radd__ = __add__

    def reshaped(self, shape: tuple[int, ...]) -> Tensor | None:
        """The same batch seen with element shape shape[1:], if it stays diagonal."""
        if shape[:1] == (self.d.size,) and math.prod(shape[1:]) == self.d.size:
            return Diag(self.d.reshape(shape[1:]))
        return None

    def __matmul__(self, other):
        m = _matrix(other)
        if m is None or m.ndim != 2 or self.d.ndim != 2:
            return Tensor.__matmul__(self, other)
        # element k = (i, j): d[i, j] e_i e_jᵀ @ M, whose row i is d[i, j] M[j, :]
        (r, p), c = self.d.shape, m.shape[1]
        if r == 1:  # a row vector: the batch is M with its rows scaled
            return Tensor.wrap((self.d[0, :, None] * m)[:, None, :])
        out = np.zeros((r, p, r, c), dtype=np.result_type(m, self.d))
        for i in range(r):
            out[i, :, i, :] = self.d[i, :, None] * m
        return Tensor.wrap(out.reshape(r * p, r, c))

    def __rmatmul__(self, other):
        m = _matrix(other)
        if m is None or m.ndim != 2 or self.d.ndim != 2:
            return Tensor.__rmatmul__(self, other)
        # element k = (i, j): M @ d[i, j] e_i e_jᵀ, whose column j is d[i, j] M[:, i]
        (p, q), rows = self.d.shape, m.shape[0]
        if q == 1:  # a column vector: the batch is M with its columns scaled, transposed
            return Tensor.wrap((self.d[:, 0, None] * m.T)[:, :, None])
        out = np.zeros((p, q, rows, q), dtype=np.result_type(m, self.d))
        for j in range(q):
            out[:, j, :, j] = self.d[:, j, None] * m.T
        return Tensor.wrap(out.reshape(p * q, rows, q))


def _matrix(other) -> np.ndarray | None:
    """The dense array of a matrix product's other operand (None: a Diag)."""
    if other.__class__ is np.ndarray:  # (the rules of a plain backward pass give arrays)
        return other
    return other.data if isinstance(other, Tensor) and not isinstance(other, Diag) else None


def identity(shape: tuple[int, ...], dtype) -> Diag:
    """The basis of a Jacobian: the identity over the elements of `shape`."""
    return Diag(np.ones(shape, dtype=dtype))
