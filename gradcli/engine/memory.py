"""Memory: glibc's malloc settings for large derivatives (made once); the memory budget
of a recorded graph and the sizes that set it."""

from __future__ import annotations

import math
import os

from ..errors import UsageError

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


def default_budget() -> int:
    """The default memory budget of a recorded graph: 4 GiB, or half the physical memory
    where that is less (so that a small machine refuses before it swaps)."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30
    return min(4 << 30, physical // 2) if physical > 0 else 4 << 30


_UNITS = {
    "": 1,
    "B": 1,
    "K": 1 << 10,
    "KB": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1 << 20,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GB": 1 << 30,
    "GIB": 1 << 30,
    "T": 1 << 40,
    "TB": 1 << 40,
    "TIB": 1 << 40,
}


def as_bytes(value) -> int:
    """A memory size: a number of bytes, or text such as "4GB", "512 MiB", "1.5G" (binary
    units: 1 GB = 2**30 bytes, as memory is counted)."""
    if isinstance(value, str):
        text = value.strip().upper()
        number = text.rstrip("KMGTIB ")
        unit = text[len(number) :].strip()
        try:
            n = float(number) * _UNITS[unit]
        except (ValueError, KeyError):
            n = math.nan
    else:
        try:
            n = float(value)
        except (TypeError, ValueError):
            n = math.nan
    if not (math.isfinite(n) and n >= 1):
        raise UsageError(
            f"invalid memory size {value!r}",
            hint="give bytes, or a number with a unit: 512MB, 4GB, 1.5GiB",
        )
    return int(n)
