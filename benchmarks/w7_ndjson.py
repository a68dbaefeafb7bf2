"""W7, NDJSON in → NDJSON out: `gradcli grad "x**2*y + sin(x*y)" --points FILE > /dev/null`,
whole processes, at 1e5 and 1e6 points; the default (worker processes on every usable core)
and `--jobs 1`, and with `--before DIR` the gradcli source tree DIR (on PYTHONPATH), the
runs alternating. Prints a Markdown table: median (best) seconds and points/s, peak RSS of
the process and of its largest worker; the outputs are compared byte for byte.

    python benchmarks/w7_ndjson.py [--runs 5] [--before ../old-checkout]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from w7_columnar import TEXT, write_points

# the child: gradcli's main; after it, its peak RSS and its children's (KiB) on stderr
CHILD = (
    "import resource, sys; from gradcli.cli import main; sys.argv[0] = 'gradcli'\n"
    "try:\n    main()\nfinally:\n"
    "    r = resource.getrusage\n"
    "    print('RSS', r(resource.RUSAGE_SELF).ru_maxrss, r(resource.RUSAGE_CHILDREN).ru_maxrss,"
    " file=sys.stderr)\n"
)


def _argv(path: Path, jobs: str | None, tree: str | None) -> tuple[list[str], dict]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree
    argv = [sys.executable, "-c", CHILD, "grad", TEXT, "--points", str(path)]
    return argv + (["--jobs", jobs] if jobs else []), env


def once(path: Path, jobs: str | None, tree: str | None) -> tuple[float, int, int]:
    """(seconds, peak RSS KiB, largest worker's KiB) of one run, its output to /dev/null."""
    argv, env = _argv(path, jobs, tree)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    seconds = time.perf_counter() - start
    rss = [line for line in proc.stderr.decode().splitlines() if line.startswith("RSS")][-1]
    _, own, children = rss.split()
    return seconds, int(own), int(children)


def digest(path: Path, jobs: str | None, tree: str | None) -> str:
    """The SHA-256 of a run's output (read from a pipe, as it comes)."""
    argv, env = _argv(path, jobs, tree)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    h = hashlib.sha256()
    assert proc.stdout is not None
    while block := proc.stdout.read(1 << 20):
        h.update(block)
    proc.wait()
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--before", help="a gradcli source tree to compare with")
    ns = p.parse_args()
    variants = [("default (workers)", None, None), ("--jobs 1", "1", None)]
    if ns.before:
        variants.append((f"before ({Path(ns.before).name})", None, ns.before))
    print("| points | run | median s (best) | points/s median (best) | peak RSS, worker |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10**5, 10**6):
            path = Path(tmp) / f"p{n}.ndjson"
            write_points(path, "ndjson", n)
            got: dict[str, list] = {label: [] for label, _, _ in variants}
            for _ in range(ns.runs):
                for label, jobs, tree in variants:
                    got[label].append(once(path, jobs, tree))
            digests = {digest(path, jobs, tree) for _, jobs, tree in variants}
            assert len(digests) == 1, "the outputs differ"
            for label, runs in got.items():
                times = [r[0] for r in runs]
                med, best = statistics.median(times), min(times)
                own, child = max(r[1] for r in runs), max(r[2] for r in runs)
                print(
                    f"| {n:.0e} | {label} | {med:.2f} ({best:.2f}) | "
                    f"{n / med:,.0f} ({n / best:,.0f}) | {own // 1024} MB, {child // 1024} MB |"
                )


if __name__ == "__main__":
    main()
