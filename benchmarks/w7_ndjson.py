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


def once(path: Path, jobs: str | None, tree: str | None) -> tuple[float, int, int, str]:
    """(seconds, peak RSS KiB, largest worker's KiB, the output's digest) of one run."""
    import time

    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree
    argv = [sys.executable, "-c", CHILD, "grad", TEXT, "--points", str(path)]
    if jobs:
        argv += ["--jobs", jobs]
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, timeout=600)
        seconds = time.perf_counter() - start
        out.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()
    rss = [line for line in proc.stderr.decode().splitlines() if line.startswith("RSS")][-1]
    _, own, children = rss.split()
    return seconds, int(own), int(children), digest


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
            digests = {r[3] for runs in got.values() for r in runs}
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
