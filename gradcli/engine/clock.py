"""One clock for a run: the deadline of `--time-limit`, and the pause of the garbage collector.

A run (a command line, or one call of a compiled program's method) sets a `Deadline`; the
engine checks it between primitives (`tick`, from `tensor.apply` and the backward pass),
the interpreter in every loop iteration. Cheap primitives read the clock every so many units
of estimated work (elements, plus a per-operation share), so that a chain of tiny operations
pays a counter, not a clock read; expensive ones (matrix products, solves, einsum) are
estimated in flops from their shapes first, and refused when even a fast machine could not
finish them in the time left.
"""

from __future__ import annotations

import gc
import math
import os
import re
import threading
import time
from contextlib import contextmanager

import numpy as np

from ..errors import LimitError

#: Work between clock reads, in elements (about 10 ms of elementwise work).
BATCH = 10_000_000
#: An operation's own share of work, in elements (its Python overhead, ~1 µs).
PER_OP = 1_000
#: Fast rates (flops per second): an expensive operation is refused when even at this
#: rate it would not finish in the time left. BLAS-backed linear algebra; einsum's loops.
BLAS_RATE = 1e12
EINSUM_RATE = 1e10
#: Operations above this many flops calibrate the rate for the next (below, Python's own
#: overhead would weigh in the time they take).
SEEN = 1e9


class Deadline:
    """The end of a run's time: `seconds` from now."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.budget = BATCH
        # the last large expensive operation: (flops, start, its rate)
        self.last: tuple[float, float, float] | None = None
        self.seen: dict = {}  # rate → twice the rate seen, where one ran

    def check(self, what: str = "the run", span=None) -> None:
        """Raise the LimitError if the time is up."""
        if time.monotonic() > self.end:
            raise self.over(what, span)

    def over(self, what: str, span=None) -> LimitError:
        return LimitError(
            f"{what} took longer than the time limit of {self.seconds:g} s",
            hint="simplify the work, or raise the limit (--time-limit SECONDS)",
            span=span,
        )

    def afford(self, flops: float, rate: float, what: str) -> None:
        """Refuse work that `rate` flops per second could not finish in the time left (or
        twice the rate seen since the last large operation of its kind began: the time
        since then bounds that operation's own)."""
        now = time.monotonic()
        left = self.end - now
        if left < 0:
            raise self.over("the run")
        if self.last is not None and now > self.last[1]:
            done, began, kind = self.last
            self.seen[kind] = 2 * done / (now - began)
        self.last = (flops, now, rate) if flops > SEEN else None
        if flops / min(rate, self.seen.get(rate, rate)) > left:
            raise LimitError(
                f"{what} would take about {flops:.2g} floating-point operations, "
                f"more than the {left:.3g} s left of the time limit of "
                f"{self.seconds:g} s",
                hint="use smaller arrays, or raise the limit (--time-limit SECONDS)",
            )

    def tick(self, name: str, inputs, params) -> None:
        """Before a primitive (its input Tensors): estimate an expensive one, count a cheap
        one."""
        cost = COSTS.get(name)
        if cost is not None:
            flops, rate = cost(inputs, params)
            if flops > PER_OP:
                self.afford(flops, rate, name)
                return
        self.budget -= PER_OP + (inputs[0].data.size if inputs else 0)
        if self.budget < 0:
            self.budget = BATCH
            self.check()


class _Run(threading.local):
    """The run in this thread (blocks of one evaluation may run in threads)."""

    deadline: Deadline | None = (
        None  # its Deadline, checked before each primitive; None: no time limit
    )


#: Read by `tensor.apply` and the backward pass before each primitive.
run = _Run()


def current() -> Deadline | None:
    """The deadline of the run in this thread, if any."""
    return run.deadline


@contextmanager
def limit(seconds: float | None):
    """Run the block under a deadline `seconds` from now, unless an earlier one is set."""
    outer = run.deadline
    if seconds is None or (outer is not None and outer.end <= time.monotonic() + seconds):
        yield outer
        return
    run.deadline = Deadline(seconds)
    try:
        yield run.deadline
    finally:
        run.deadline = outer


def check(what: str = "the run") -> None:
    """Raise the LimitError if this thread's deadline has passed (none set: nothing)."""
    deadline = current()
    if deadline is not None:
        deadline.check(what)


# -- costs of expensive primitives: (flops, rate) from the inputs' shapes --------------------


def _batch(*shapes) -> int:
    """The broadcast size of the leading (batch) axes of matrices."""
    try:
        return math.prod(np.broadcast_shapes(*(s[:-2] for s in shapes)))
    except ValueError:
        return 1


def _matmul(arrays, params):
    a, b = arrays[0].shape, arrays[1].shape
    if len(a) < 2 or len(b) < 2:
        return 0, BLAS_RATE
    return 2.0 * _batch(a, b) * a[-2] * a[-1] * b[-1], BLAS_RATE


def _cubic(factor):
    def cost(arrays, params):
        a = arrays[0].shape
        if len(a) < 2:
            return 0, BLAS_RATE
        n = a[-1]
        rhs = arrays[1].shape[-1] if len(arrays) > 1 and arrays[1].ndim > 1 else 1
        return factor * _batch(*(x.shape for x in arrays)) * n**2 * (n + rhs), BLAS_RATE

    return cost


def einsum_sizes(spec: str, shapes) -> dict:
    """The length of each index letter of `spec` (no '...') in the operands' `shapes` (the
    longest, where a length of 1 broadcasts)."""
    sizes: dict = {}
    for sub, shape in zip(spec.split("->")[0].split(","), shapes, strict=False):
        for c, n in zip(sub, shape, strict=False):
            sizes[c] = max(sizes.get(c, n), n)
    return sizes


def einsum_flops(spec: str, arrays, optimize: bool = False) -> float:
    """The operations of np.einsum: of its single loop over every index (its naive count,
    from the shapes) or, `optimize`d, of the pairwise contractions of np.einsum_path's
    greedy order (it reads the shapes only)."""
    if not optimize and "." not in spec:
        sizes = einsum_sizes(spec, [x.shape for x in arrays])
        return float(len(arrays)) * math.prod(sizes.values())
    label = "Optimized" if optimize else "Naive"
    try:
        text = np.einsum_path(
            spec,
            *[np.broadcast_to(0.0, x.shape) for x in arrays],
            optimize="greedy" if optimize else False,
        )[1]
        found = re.search(label + r" FLOP count:\s*(\S+)", text)
        return float(found.group(1)) if found else 0.0
    except (ValueError, TypeError, AttributeError):
        return 0.0


def _einsum(arrays, params):
    spec = params["spec"]
    flops = einsum_flops(spec, arrays)
    if flops > OPTIMIZE:
        flops = min(flops, einsum_flops(spec, arrays, optimize=True) or flops)
    return flops, EINSUM_RATE


#: Above this naive count, einsum contracts pairwise in the order of np.einsum_path.
OPTIMIZE = 1e6

COSTS = {
    "matmul": _matmul,
    "solve": _cubic(2.0),
    "inv": _cubic(2.0),
    "det": _cubic(2.0 / 3.0),
    "einsum": _einsum,
}


# -- the garbage collector, paused while a graph is built or walked ---------------------------

_pause_lock = threading.Lock()
_pauses = 0
_resume = False


def _new_lock() -> None:
    """In a forked child (the check's sympy work), a lock another thread held at the fork
    would stay held: take a new one."""
    global _pause_lock
    _pause_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


@contextmanager
def gc_paused():
    """Keep the garbage collector off inside the block (a recorded graph stays alive:
    rescanning it only costs time). Counted under a lock, so that blocks in several threads
    nest: the last to leave turns it back on, if it was on when the first came in."""
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
