"""Shared helpers for the gradcli benchmarks: timing, optional peers, tables, RESULTS.md.

Every measurement is a *cell*: a factory builds a zero-argument callable outside the
timer, the callable is run once (warm-up, result checked against a reference), then
timed.  A missing peer becomes "not installed"; anything else that fails (gradcli not
written yet, a feature missing, ...) becomes "n/a (reason)" instead of a crash.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One compute thread per library by default (BENCH_THREADS=N for N, =default for each
# library's own choice).  Set before NumPy, PyTorch, JAX or numexpr load, and inherited by
# child processes: on a shared 2-core machine, OpenMP teams of 2 collapse (PyTorch eager
# went ~100x slower at 1e5 elements while another process held one core).
THREADS = os.environ.get("BENCH_THREADS", "1")
if THREADS != "default":
    for _var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "GRADCLI_THREADS",
    ):
        os.environ.setdefault(_var, THREADS)
    os.environ.setdefault(
        "XLA_FLAGS",
        f"--xla_cpu_multi_thread_eigen={str(THREADS != '1').lower()} "
        f"intra_op_parallelism_threads={THREADS}",
    )


def _same_malloc_for_all() -> str:
    """glibc's malloc settings that gradcli makes before its first large derivative
    (gradcli/engine/memory.py), made here for every implementation alike: made by gradcli
    alone, they would also speed up whatever runs after it in the process. (Not imported
    from there: gradcli stays out of the peers' processes.)"""
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return "as in the environment"
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "the platform's default (not glibc)"
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    return "glibc mmap threshold 32 MiB, trim threshold 64 MiB, for every implementation"


MALLOC = _same_malloc_for_all()

import numpy as np  # noqa: E402 - after the thread settings

RESULTS = Path(__file__).with_name("RESULTS.md")


class Missing(Exception):
    """A peer library is not installed."""


class Mismatch(Exception):
    """A result disagrees with the reference."""


def need(name: str):
    """Import a peer; a missing peer raises Missing.  gradcli's ImportError passes through
    so that its cells say why (it is expected to be installed)."""
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        if name.split(".")[0] == "gradcli":
            raise
        raise Missing(name) from e
    if name == "jax":
        mod.config.update("jax_enable_x64", True)
    return mod


def to_numpy(v) -> np.ndarray:
    """Torch tensors, JAX arrays, gradcli tensors and NumPy values as float64 ndarrays."""
    if hasattr(v, "detach"):
        v = v.detach()
    if hasattr(v, "numpy") and not isinstance(v, np.ndarray):
        v = v.numpy()
    return np.asarray(v, dtype=np.float64)


def check_close(got, want, rtol=1e-7, atol=1e-9) -> None:
    """Compare a result (array or tuple of arrays) with the reference; raise Mismatch."""
    got_t = got if isinstance(got, (tuple, list)) else (got,)
    want_t = want if isinstance(want, (tuple, list)) else (want,)
    if len(got_t) != len(want_t):
        raise Mismatch(f"{len(got_t)} results, expected {len(want_t)}")
    for g, w in zip(got_t, want_t, strict=True):
        g = to_numpy(g)
        if g.shape != np.shape(w) or not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            err = (
                np.max(np.abs(g - w))
                if g.shape == np.shape(w)
                else f"shape {g.shape} vs {np.shape(w)}"
            )
            raise Mismatch(f"max abs err {err}")


# -- timing ------------------------------------------------------------------------------


@dataclass
class Timing:
    min: float
    median: float


def bench(fn, *, repeat=7, min_sample=0.02, budget=2.0, min_repeat=3) -> Timing:
    """Min and median seconds per call of fn() with time.perf_counter.

    Calls are batched so that one sample lasts >= min_sample; the number of samples is
    between min_repeat and repeat, fewer when the cell would exceed `budget` seconds.
    The caller has already made one warm-up call.
    """
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    number = 1 if once >= min_sample else min(10_000, math.ceil(min_sample / max(once, 1e-7)))
    reps = max(min_repeat, min(repeat, int(budget / (once * number + 1e-9))))
    samples = [once] if number == 1 else []  # a slow calibration call is a sample already
    while len(samples) < reps:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return Timing(min(samples), statistics.median(samples))


@dataclass
class Paired:
    median: float  # of the per-round ratios
    low: float
    high: float


def _calls_per_sample(fn, min_sample: float) -> int:
    t0 = time.perf_counter()
    fn()
    return max(1, math.ceil(min_sample / max(time.perf_counter() - t0, 1e-7)))


PAIRED_NOTE = (
    "15 rounds, each timing a batch of at least 50 ms of the row and one of its "
    "baseline, in alternating order; the median of the rounds' ratios"
)


def alternate(sample_a, sample_b, rounds: int) -> Paired:
    """The ratio a ÷ b from `rounds` rounds of one sample of each (seconds, from the
    zero-argument `sample_a` and `sample_b`), the order swapped every round: a slow spell
    of a noisy machine hits both sides of a ratio, where timing one row after the other
    lets it fall on either."""
    ratios = []
    for r in range(rounds):
        t = {}
        for key, sample in (
            (("a", sample_a), ("b", sample_b)) if r % 2 else (("b", sample_b), ("a", sample_a))
        ):
            t[key] = sample()
        ratios.append(t["a"] / t["b"])
    return Paired(statistics.median(ratios), min(ratios), max(ratios))


def paired(fn, base, *, rounds=15, min_sample=0.05) -> Paired:
    """time(fn) ÷ time(base) by `alternate`, each sample a batch of at least `min_sample`
    seconds of calls."""

    def sampler(f):
        number = _calls_per_sample(f, min_sample)

        def sample():
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            return (time.perf_counter() - t0) / number

        return sample

    return alternate(sampler(fn), sampler(base), rounds)


def paired_verdict(label: str, fn_factory, base_factory, limit: float) -> str:
    """A Markdown line: `label`, its paired ratio with the rounds' range, PASS or FAIL."""
    try:
        p = paired(fn_factory(), base_factory())
    except Exception as e:  # a failure becomes the line's text
        return f"- {label}: {reason(e)}"
    print(f"  paired {label}: {p.median:.2f}× ({p.low:.2f}–{p.high:.2f})", file=sys.stderr)
    return f"- {label}: {verdict(p.median, limit)}; rounds {p.low:.2f}–{p.high:.2f}×"


def na(msg: str) -> str:
    """An 'n/a (reason)' cell, the reason shortened to one line."""
    msg = re.sub(r"\s+", " ", msg).strip()
    return f"n/a ({msg if len(msg) <= 80 else msg[:77] + '...'})"


def process_error(proc) -> str:
    """Why a process failed: a JSON {"error": {"message"}} on stdout, else stderr's last
    non-hint line."""
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            return json.loads(line)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            break
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("hint:")]
    return lines[-1] if lines else f"exit {proc.returncode}"


def reason(e: BaseException) -> str:
    if isinstance(e, Missing):
        return "not installed"
    if isinstance(e, Mismatch):
        return f"MISMATCH ({e})"
    return na(f"{type(e).__name__}: {e}")


def measure(label: str, factory, *, want=None, warmup=True, **bench_kw):
    """Build fn = factory(), warm it up (unless warmup=False), check it against `want`, time it.

    Returns a Timing or a string explaining why there is no number.  For a first-call
    cost (jit compile), let the factory return a callable that builds afresh each call
    and pass repeat=3, min_sample=0.
    """
    try:
        fn = factory()
        if warmup or want is not None:
            got = fn()
            if want is not None:
                check_close(got, want)
        return bench(fn, **bench_kw)
    except Exception as e:  # any failure becomes a table cell
        text = reason(e)
        if isinstance(e, Mismatch):
            print(f"!!! {label}: {text}", file=sys.stderr)
        return text


# -- formatting --------------------------------------------------------------------------


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def cell(t, base=None) -> str:
    """'median (min) · ratio×' where ratio = median / base median."""
    if not isinstance(t, Timing):
        return t
    text = f"{fmt_time(t.median)} ({fmt_time(t.min)})"
    if isinstance(base, Timing):
        text += f" · {t.median / base.median:.2f}×"
    return text


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def grid(
    impls: dict, sizes: list[int], *, base: str, want=None, unchecked=(), first_calls=(), **bench_kw
):
    """Measure impls (name -> factory(n) -> fn) at every size; return (results, Markdown).

    `want(n)` gives the reference result at size n, checked for all rows but `unchecked`;
    rows are ratioed to row `base`.  Rows in `first_calls` time a fresh build+first call
    (jit compile), 3 times.
    """
    # Row by row, in the order given: a library's thread pool (PyTorch's, XLA's) left running
    # in this process slows the threaded rows measured after it, so scripts list gradcli's
    # rows before the peers, whose modules load only when their first row runs.
    results = {name: {} for name in impls}
    refs = {n: want(n) for n in sizes} if want else {}
    for name, factory in impls.items():
        for n in sizes:
            kw = dict(repeat=3, min_repeat=3, min_sample=0) if name in first_calls else bench_kw
            results[name][n] = measure(
                f"{name} n={n}",
                lambda factory=factory, n=n: factory(n),
                want=None if name in unchecked else refs.get(n),
                **kw,
            )
            print(
                f"  n={size_label(n)} {name}: {cell(results[name][n], results[base].get(n))}",
                file=sys.stderr,
            )
    rows = [[name] + [cell(results[name][n], results[base][n]) for n in sizes] for name in impls]
    return results, table(["implementation"] + [f"n = {size_label(n)}" for n in sizes], rows)


def size_label(n: int) -> str:
    e = round(math.log10(n)) if n > 0 else 0
    return f"1e{e}" if 10**e == n and n >= 1000 else str(n)


def verdict(value, limit: float, unit: str = "×") -> str:
    if not isinstance(value, (int, float)):
        return "not measured"
    return f"{value:.2f}{unit} — {'PASS' if value <= limit else 'FAIL'} (target ≤ {limit:g}{unit})"


# -- machine + RESULTS.md ----------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else platform's processor, else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> str:
    cpu = cpu_model()
    blas = "threadpoolctl not installed"
    try:
        from threadpoolctl import threadpool_info

        blas = (
            "; ".join(
                f"{i['internal_api']} {i['version']} ({i.get('architecture', '')}, "
                f"{i['num_threads']} threads)"
                for i in threadpool_info()
                if i["user_api"] == "blas" and "numpy" in i["filepath"]
            )
            or "none found"
        )
    except ImportError:
        pass
    versions = []
    for name in ("torch", "jax", "autograd", "numexpr", "gradcli"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return "\n".join(
        [
            f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
            f"- platform: {platform.platform()}, Python {platform.python_version()}",
            f"- CPU: {cpu}, nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} "
            "(other work on the machine shares these cores)",
            f"- NumPy {np.__version__}, BLAS: {blas}",
            f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
            f"- malloc: {MALLOC}",
            f"- threads per library: BENCH_THREADS={THREADS} ("
            + ", ".join(
                f"{v}={os.environ.get(v, '(unset)')}"
                for v in (
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS",
                    "GRADCLI_THREADS",
                    "XLA_FLAGS",
                )
            )
            + ")",
            f"- peers: {', '.join(versions)}",
            f"- gradcli's sin and cos: {_kernels()}",
        ]
    )


def _kernels() -> str:
    """Whose sin and cos gradcli computes with (gradcli/engine/kernels.py), told without
    importing gradcli."""
    try:
        version = importlib.metadata.version("mkl_umath")
    except importlib.metadata.PackageNotFoundError:
        return "NumPy's (mkl_umath not installed)"
    if os.environ.get("GRADCLI_KERNELS", "") == "numpy":
        return f"NumPy's (GRADCLI_KERNELS=numpy; mkl_umath {version} installed)"
    return f"MKL's vector math (mkl_umath {version}, the `mkl` extra)"


def _replace_block(text: str, key: str, body: str) -> str:
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def write_section(key: str, body: str, machine: bool = True) -> None:
    """Replace (or append) section `key` of RESULTS.md and refresh the machine header
    (`machine=False`: a section that names its own machine keeps the header as it is)."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else (
            "# gradcli benchmark results\n\nGenerated by `benchmarks/run_all.py`; see "
            "benchmarks/README.md. Cells: median (min) time · ratio to the table's baseline row.\n"
        )
    )
    if machine:
        text = _replace_block(text, "machine", "## Machine\n\n" + machine_info())
    text = _replace_block(text, key, body)
    RESULTS.write_text(text)
    print(f"wrote section {key} of {RESULTS}")


def args(description: str, extra=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    p.add_argument(
        "--write", action="store_true", help="replace this section of benchmarks/RESULTS.md"
    )
    if extra:
        extra(p)
    return p.parse_args()


def emit(key: str, title: str, body: str, ns: argparse.Namespace, machine: bool = True) -> None:
    """Print the section, and write it to RESULTS.md with --write (`machine`: as in
    `write_section`)."""
    stamp = f"_{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}" + (
        ", --quick_" if ns.quick else "_"
    )
    section = f"## {title}\n\n{stamp}\n\n{body.strip()}\n"
    print(section)
    if ns.write:
        write_section(key, section, machine)
