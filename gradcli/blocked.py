"""Cache-blocked gradients of elementwise programs that end in a full `sum` or `mean`.

The whole expression is known in advance, so for `sum(f(x, y))` with f elementwise the
value and the gradient are computed block by block (forward and backward per block): the
temporaries of some thirty array passes stay in the CPU cache instead of streaming
through memory. Blocks run on a few threads (NumPy releases the GIL in its loops; grad
mode is per thread). Each block replays a tape recorded by one eager run on a few elements
(`engine/tape.py`: the same forwards and rules, without an interpreter, Tensor or Node per
block); where no tape can be recorded, each block runs the eager engine itself.
"""

from __future__ import annotations

import math
import os
import weakref

import numpy as np

from .engine.backward import run_backward
from .engine.memory import keep_freed_memory
from .engine.tape import Tape
from .engine.tensor import Tensor, enable_grad
from .errors import LimitError, UsageError
from .lang.analysis import split_reduction
from .lang.interpret import Interpreter, TensorBackend

BLOCK = 1 << 16  # elements at most: arrays of 512 KiB, a block's temporaries stay in cache
MIN_SIZE = 1 << 16  # elements at least: below, the eager run is as fast
PROBE = 16  # elements of the run that records the tape
# Blocks come in multiples of the threads and are as large as BLOCK allows: each block costs
# more than its Python (measured: a few hundred µs a block, as the threads pass the GIL back
# and forth between short NumPy calls), so smaller blocks are slower.


def blocked_grad(
    compiled,
    point: dict[str, np.ndarray],
    wrt: tuple[str, ...],
    elementwise: bool = False,
    cotangent: np.ndarray | None = None,
    value: bool = True,
):
    """Block by block: for a program ending in a full sum/mean, (value, gradients); with
    `elementwise`, for an elementwise program, (the values, each element's gradient: the
    VJP with `cotangent`, ones if not given); without `value`, (None, gradients), and the
    steps that only the value needs do not run. None when blocking does not apply (small
    or mixed-shape inputs, a cotangent of another shape, or a block whose result is not
    finite: the eager path then reports it)."""
    split = split_reduction(compiled.program)
    shapes = {a.shape for a in point.values() if a.size > 1}
    if split is None or len(shapes) != 1 or (split[1] is None) != elementwise:
        return None
    inner, reduction = split
    (shape,) = shapes
    n = math.prod(shape)
    if n < MIN_SIZE or (cotangent is not None and cotangent.shape != shape):
        return None
    cot = np.ascontiguousarray(cotangent).reshape(-1) if cotangent is not None else None
    pool, workers = _pool()
    blocks = workers * -(-n // (workers * BLOCK))
    size = -(-n // blocks)
    flat = {k: a.reshape(-1) if a.size > 1 else a for k, a in point.items()}
    scale = 1.0 / n if reduction == "mean" else 1.0
    grads = {k: np.empty(n, compiled.dtype) for k in wrt if flat[k].size > 1}
    values = np.empty(n, compiled.dtype) if elementwise and value else None
    backend = TensorBackend(compiled.dtype)

    def interpret(block: dict, leaf_names) -> tuple:
        """The output of the eager run on `block`, and its leaves."""
        env = {k: Tensor.wrap(a) for k, a in block.items()}
        leaves = {k: Tensor(block[k]).requires_grad_() for k in leaf_names}
        env.update(leaves)
        with enable_grad():
            out = Interpreter(inner, backend, compiled.limits, check_domain=False).run(env).value
        fits = isinstance(out, Tensor) and out.shape == block_shape(block)
        return (out if fits else None), leaves

    # The tape, recorded on a few elements with every variable a leaf (so that the work that
    # depends on them is recorded), and kept with the program for points with the same
    # arrays and the same scalar values: a scalar can still reach the tape as a constant,
    # through sign, detach or a comparison, which record nothing. The eager run per block
    # where there is no tape.
    key = (
        tuple(sorted((k, a.tobytes() if a.size == 1 else None) for k, a in flat.items())),
        tuple(wrt),
    )
    tapes = _tapes.setdefault(compiled, {})
    if key not in tapes:
        if len(tapes) >= 16:  # e.g. a scalar variable changing at every call
            tapes.clear()
        probe = {k: a[:PROBE] if a.size > 1 else a for k, a in flat.items()}
        out, leaves = interpret(probe, list(flat))
        tapes[key] = None if out is None else Tape.record(out, leaves, tuple(wrt))
    tape = tapes[key]

    def gradients(block: dict, cot: np.ndarray) -> tuple | None:
        """The output's values on the block and the wanted gradients (None: no gradient)."""
        if tape is not None:
            data, got = tape.replay(block, cot, value or not elementwise)
            return None if got is None else (data, got)
        out, leaves = interpret(block, wrt)
        if out is None:
            return None
        if not out.requires_grad:
            return out.data, {}
        got = run_backward(
            [out],
            [Tensor.wrap(np.broadcast_to(cot, out.shape))],
            retain_graph=False,
            create_graph=False,
            capture=list(leaves.values()),
            accumulate=False,
        )
        return out.data, {k: got[id(t)].data for k, t in leaves.items() if id(t) in got}

    def run_block(start: int):
        """(the block's sum, its share of each scalar variable's gradient), or None."""
        block = {k: a[start : start + size] if a.size > 1 else a for k, a in flat.items()}
        length = min(size, n - start)
        done = gradients(
            block,
            np.asarray(scale, dtype=compiled.dtype) if cot is None else cot[start : start + length],
        )  # (one number: see Tape.replay)
        if done is None:
            return None
        data, got = done
        total = (
            float(data.sum()) if data is not None else sum(float(np.sum(g)) for g in got.values())
        )  # (all finite, or not)
        if not math.isfinite(total):
            return None  # the eager path reports what made NaN or infinity
        if values is not None:
            values[start : start + length] = data
        shares = {}
        for k in wrt:
            g = got.get(k)
            if k in grads:
                grads[k][start : start + length] = 0 if g is None else g
            elif g is not None:
                shares[k] = g
        return total, shares

    try:
        parts = list(pool.map(run_block, range(0, n, size)))
    except RuntimeError as err:
        if "thread" not in str(err):
            raise
        raise LimitError(
            f"cannot start the {workers} threads of GRADCLI_THREADS: {err}",
            hint="set GRADCLI_THREADS lower, or unset it",
        ) from None
    if any(p is None for p in parts):
        return None
    result = {k: g.reshape(shape) for k, g in grads.items()}
    for k in wrt:
        if k not in grads:
            result[k] = np.asarray(
                sum((p[1].get(k, 0) for p in parts), 0.0), dtype=compiled.dtype
            ).reshape(flat[k].shape)
    if elementwise:
        return (values.reshape(shape) if values is not None else None), result
    return np.asarray(sum(p[0] for p in parts) * scale, dtype=compiled.dtype), result


_tapes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # program → {key: Tape|None}
_executor = None
_workers = 1


#: The most threads GRADCLI_THREADS may ask for.
MAX_THREADS = 256


def threads_wanted(text: str) -> int:
    """The threads GRADCLI_THREADS asks for (`text`), or one per core up to 4 if unset."""
    if not text:
        return min(4, os.cpu_count() or 1)
    if not text.isdecimal() or not 1 <= int(text) <= MAX_THREADS:
        raise UsageError(
            f"GRADCLI_THREADS={text[:20]!r} is not a number of threads from 1 to {MAX_THREADS}",
            hint="unset it for one thread per core (up to 4)",
        )
    return int(text)


def _pool():
    """Threads for the blocks (NumPy releases the GIL inside its loops): GRADCLI_THREADS,
    or one per core up to 4; and how many."""
    global _executor, _workers
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor

        keep_freed_memory()
        _workers = threads_wanted(os.environ.get("GRADCLI_THREADS", "").strip())
        _executor = ThreadPoolExecutor(max_workers=_workers)
    return _executor, _workers


def block_shape(block: dict) -> tuple[int, ...]:
    return max((a.shape for a in block.values()), key=len)
