"""The cross-check at its default cap (issue 14): `gradcli grad` of an elementwise sum of one
64-element variable, with the default check (human output). Wall time of the whole command,
and the time of the check's sympy and finite-difference parts (the `seconds` the check
reports, from the same command with --json --check). --write puts the result line, with the
machine and the date, in RESULTS.md (section CHECK; the machine header is left as it is)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

EXPR = "sin(x)*exp(-x**2/2)+log(1+x**2)+tanh(x)*cosh(x)+x | sum"
AT = "x=linspace(-1,1,64)"
GRADCLI = shutil.which("gradcli", path=str(Path(sys.executable).parent)) or "gradcli"
#: The same command on main before the generic-element check (commit ebf0e05), measured by
#: hand: sympy skipped at the 5 s limit; without the limit it needed about 250 s.
BEFORE = (
    "before (ebf0e05): wall 6.1–6.3 s, sympy skipped at the 5 s limit "
    "(the whole command with --check-timeout 300: 256 s)"
)


def once(*extra: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [GRADCLI, "grad", EXPR, "--at", AT, *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tempfile.gettempdir(),
    )
    return time.perf_counter() - t0, proc


def library_sympy_seconds(runs: int) -> float:
    """The median time of the check's sympy part through the library, sympy imported
    before (the child inherits it) and its cache cleared each time."""
    import numpy as np
    import sympy

    import gradcli as gc

    f = gc.compile(EXPR)
    result = f.grad(x=np.linspace(-1, 1, 64))
    times = []
    for _ in range(runs):
        sympy.core.cache.clear_cache()
        f.check(result)
        times.append(result.check["symbolic"]["seconds"])
    return statistics.median(times)


def main() -> None:
    ns = harness.args(__doc__)
    runs = 2 if ns.quick else 5
    walls, sympy_s, fd_s, statuses = [], [], [], set()
    for _ in range(runs):
        wall, proc = once()
        if "✓ agree" not in proc.stdout:
            raise SystemExit(f"the default check did not agree:\n{proc.stdout}{proc.stderr}")
        walls.append(wall)
        _, proc = once("--json", "--check")
        check = json.loads(proc.stdout)["check"]
        statuses.add(check["status"])
        sympy_s.append(check["symbolic"].get("seconds", float("inf")))  # inf: skipped
        fd_s.append(check["finite_differences"].get("seconds", float("inf")))
    work = library_sympy_seconds(runs)
    line = (
        f'- `gradcli grad "{EXPR}" --at "{AT}"` (default check): wall '
        f"{statistics.median(walls):.2f} s median (min {min(walls):.2f}) of {runs}; the "
        f"check's sympy part {statistics.median(sympy_s):.3f} s (its child, sympy's "
        f"import included), finite differences {statistics.median(fd_s):.3f} s; the "
        f"sympy work alone (library, sympy imported, a cold cache) {work:.3f} s; "
        f"verdict {', '.join(sorted(statuses))}. Machine: {harness.cpu_model()}, "
        f"nproc {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}, {platform.platform()}, Python "
        f"{platform.python_version()}.\n- {BEFORE}."
    )
    harness.emit("CHECK", "The cross-check at its 64-input cap", line, ns, machine=False)


if __name__ == "__main__":
    main()
