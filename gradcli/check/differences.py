"""The cross-check's finite differences: a program as a numeric function of its point (each
detach(...) frozen at its value at the point), differenced as the command differentiates."""

from __future__ import annotations

import time

import numpy as np

from .. import finite
from ..engine import clock
from ..engine.tensor import Tensor, no_grad
from ..errors import LimitError
from ..lang.interpret import Interpreter, TensorBackend


def finite_values(compiled, result, deadline: float | None = None) -> tuple[dict, dict, list]:
    """Central differences (Richardson) of the same quantities; error estimates; kinks.
    Raises finite.TimeUp past `deadline`."""
    c, p = result.command, result.point
    if c == "eval":
        return {}, {}, []

    f = _numeric_function(compiled, p, deadline)

    values: dict = {}
    errors: dict = {}
    kinks: list = []
    if c == "hessian":
        for a in result.wrt:

            def grad_a(point, a=a):
                return compiled.grad(point, wrt=[a]).gradient[a]

            for b in result.wrt:
                fd = finite.jacobian(grad_a, p, b, deadline)
                values[f"{a},{b}"], errors[f"{a},{b}"] = fd.value, fd.error
                kinks += [(b, k) for k in fd.kinks]
        return values, errors, kinks
    out_ndim = np.ndim(result.value)
    total, total_err = None, None
    for n in result.wrt:
        fd = finite.jacobian(f, p, n, deadline)
        kinks += [(n, k) for k in fd.kinks]
        if c in ("grad", "jacobian"):
            shape = p[n].shape if c == "grad" else np.shape(result.value) + p[n].shape
            values[n], errors[n] = fd.value.reshape(shape), fd.error.reshape(shape)
        elif c == "vjp":
            v = np.asarray(result.cotangent, float)
            values[n] = np.tensordot(v, fd.value, axes=out_ndim)
            errors[n] = np.tensordot(np.abs(v), fd.error, axes=out_ndim)
        elif c == "jvp":
            t = np.asarray(result.tangents.get(n, np.zeros(p[n].shape)), float)
            part = np.tensordot(fd.value, t, axes=p[n].ndim)
            err = np.tensordot(fd.error, np.abs(t), axes=p[n].ndim)
            total = part if total is None else total + part
            total_err = err if total_err is None else total_err + err
    if c == "jvp":
        values["jvp"], errors["jvp"] = total, total_err
    return values, errors, kinks


class _FrozenDetach(TensorBackend):
    """Numbers, with each detach(...) giving its value at the base point (in call order),
    so that finite differences see the function autograd differentiates."""

    def __init__(self, dtype, frozen: list):
        super().__init__(dtype)
        self.frozen, self.seen = frozen, 0

    def call(self, name, args, kwargs):
        value = super().call(name, args, kwargs)
        if name == "detach":
            if self.seen < len(self.frozen) and self.frozen[self.seen].shape == value.shape:
                value = self.frozen[self.seen]
            self.seen += 1
        return value


def _numeric_function(compiled, base: dict, deadline: float | None = None):
    """The expression as a function of a point, for finite differences; an evaluation
    stops at `deadline` (finite.TimeUp) where the interpreter checks its clock."""
    frozen: list = []

    class Recording(TensorBackend):
        def call(self, name, args, kwargs):
            value = super().call(name, args, kwargs)
            if name == "detach":
                frozen.append(value)
            return value

    def run(backend, point):
        left = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise finite.TimeUp
        env = {n: Tensor.wrap(a) for n, a in point.items()}
        try:  # (the interpreter keeps the earlier of this deadline and its time limit)
            with no_grad(), clock.limit(left):
                return (
                    Interpreter(
                        compiled.program,
                        backend,
                        compiled.limits,
                        check_domain=False,
                        draws=compiled.draws,
                    )
                    .run(env)
                    .value.data
                )
        except LimitError:
            if deadline is not None and time.monotonic() >= deadline:
                raise finite.TimeUp from None
            raise

    if "detach" not in compiled.text:
        return lambda point: run(TensorBackend(compiled.dtype), point)
    run(Recording(compiled.dtype), base)
    return lambda point: run(_FrozenDetach(compiled.dtype, frozen), point)
