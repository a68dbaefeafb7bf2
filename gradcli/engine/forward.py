"""Forward mode: tangents pushed through the JVP rules as the primal is computed.

A tangent of a tensor of shape S has shape B + S (B: batch axes, a whole tangent basis at
once for Jacobians). Broadcasting is handled here, once: an input of lower rank gets its
tangent padded with unit axes, and a partial result is expanded to the output's shape.
"""

from __future__ import annotations

from .arrays import expand, reshape
from .tensor import state


class forward_mode:
    """Context manager under which tensors with `_tangent` set propagate it (JVP rules):
    `apply` calls `push_tangent` for every primitive with an input that carries one."""

    def __enter__(self):
        self._prev, state.push_tangent = state.push_tangent, push_tangent

    def __exit__(self, *exc):
        state.push_tangent = self._prev


def push_tangent(prim, out, inputs, params):
    """The tangent of `out` from the tangents of `inputs` (rules run in plain mode)."""
    push, state.push_tangent = state.push_tangent, None
    try:
        total, lead = None, ()
        for i, x in enumerate(inputs):
            t = x.tangent
            if t is None or prim.jvp[i] is None:
                continue
            lead = t.shape[: t.ndim - x.ndim]
            if prim.broadcast and x.ndim < out.ndim:
                t = reshape(t, lead + (1,) * (out.ndim - x.ndim) + x.shape)
            ti = prim.jvp[i](t, out, *inputs, **params)
            total = ti if total is None else total + ti
        if total is not None and total.shape != lead + out.shape:
            total = expand(total, lead + out.shape)
        return total
    finally:
        state.push_tangent = push
