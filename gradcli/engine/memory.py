"""Keeping freed memory: glibc's malloc settings for large derivatives, made once."""

from __future__ import annotations

import os

LARGE = 1 << 16  # elements: a derivative this large sets them before it runs

_done = False


def keep_freed_memory() -> None:
    """Once per process, before the first large derivative: glibc's malloc gives freed
    memory back to the system as soon as 128 KiB lie free at the top of a heap (and maps
    arrays above its threshold afresh), so each pass's temporaries fault their pages in
    again. Measured here: 300,000 page faults and twice the time for one blocked gradient
    at n = 1e7, and twice the time of a 300 × 300 Jacobian called in a loop. Take arrays
    below 32 MiB from the heap and keep up to 64 MiB freed: the most that glibc's own
    adjustment reaches, reached at once. A MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_
    in the environment is the user's choice: then nothing changes; elsewhere than glibc,
    neither."""
    global _done
    if _done:
        return
    _done = True
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
