"""W1 start-up: whole processes, run round-robin in one go; ms and ratio to `import numpy`.
Where valgrind is installed, also the instructions each process executes (callgrind): a
count that a busy machine does not move, beside the times that it does."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

PY = sys.executable
GRADCLI = shutil.which("gradcli", path=str(Path(PY).parent)) or "gradcli"
NUMPY_KEY = "python -c 'import numpy'"
GC_KEY = "gradcli grad 'x**2' --at x=3 --json"
CASES = {
    NUMPY_KEY: [PY, "-c", "import numpy"],
    "python -c 'import numpy, rich, typer'": [PY, "-c", "import numpy, rich, typer"],
    "python -c 'import sympy'": [PY, "-c", "import sympy"],
    GC_KEY: [GRADCLI, "grad", "x**2", "--at", "x=3", "--json"],
    "python -m gradcli grad 'x**2' --at x=3 --json": [
        PY,
        "-m",
        "gradcli",
        "grad",
        "x**2",
        "--at",
        "x=3",
        "--json",
    ],
    "HIPS autograd one-shot grad": [
        PY,
        "-c",
        "from autograd import grad; print(grad(lambda x: x**2)(3.0))",
    ],
    "JAX one-shot grad": [PY, "-c", "import jax; print(jax.grad(lambda x: x**2)(3.0))"],
    "PyTorch one-shot grad": [
        PY,
        "-c",
        "import torch; x = torch.tensor(3.0, dtype=torch.float64, "
        "requires_grad=True); (x**2).backward(); print(x.grad.item())",
    ],
}


def run_once(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """One run, from a neutral folder: from the repository, `python -m gradcli` would import
    the source tree (uncompiled where bytecode is not written) rather than the install."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir()
    )
    return time.perf_counter() - t0, proc


COUNTED = (NUMPY_KEY, GC_KEY, "HIPS autograd one-shot grad")


def instructions(cmd: list[str]) -> int | str:
    """Instructions a process executes under callgrind, on one BLAS thread (idle pool
    threads spin, and their count would vary from run to run); same to 0.1% run to run."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return harness.na("valgrind is not installed")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode or not found:
        return harness.na(harness.process_error(proc))
    return int(found.group(1))


def instruction_lines() -> str:
    counts = {name: instructions(CASES[name]) for name in COUNTED}
    base = counts[NUMPY_KEY]
    rows = [
        [
            f"`{name}`",
            f"{n / 1e6:,.0f} M · {n / base:.2f}×"
            if isinstance(n, int) and isinstance(base, int)
            else str(n),
        ]
        for name, n in counts.items()
    ]
    body = harness.table(
        ["process", "instructions (callgrind, one BLAS thread) · ratio to import numpy"], rows
    )
    gc = counts[GC_KEY]
    ratio = gc / base if isinstance(gc, int) and isinstance(base, int) else None
    return body + (
        "\n\ngradcli console script / import numpy, in instructions: "
        f"{harness.verdict(ratio, 1.5)}\n"
    )


def main() -> None:
    ns = harness.args(__doc__)
    runs = 3 if ns.quick else 10
    samples: dict[str, list[float]] = {}
    results: dict[str, object] = {}
    outputs: dict[str, str] = {}
    for name, cmd in CASES.items():  # warm-up (page cache, .pyc) and failure detection
        try:
            _, proc = run_once(cmd)
        except (OSError, subprocess.TimeoutExpired) as e:
            results[name] = harness.reason(e)
            continue
        if proc.returncode:
            results[name] = harness.na(harness.process_error(proc))
            continue
        samples[name] = []
        outputs[name] = proc.stdout.strip()
    for _ in range(runs):  # round-robin so that drift hits every case alike
        for name in samples:
            samples[name].append(run_once(CASES[name])[0])
    for name, s in samples.items():
        results[name] = harness.Timing(min(s), statistics.median(s))
    base = results[NUMPY_KEY]
    rows = [[f"`{name}`", harness.cell(results[name], base)] for name in CASES]
    body = harness.table(["process", f"median (min) of {runs} runs · ratio to import numpy"], rows)
    gc = results[GC_KEY]
    ratio = (
        gc.median / base.median
        if isinstance(gc, harness.Timing) and isinstance(base, harness.Timing)
        else None
    )
    body += f"\n\ngradcli console script / import numpy: {harness.verdict(ratio, 1.5)}\n"
    if GC_KEY in outputs:
        body += f"\ngradcli output: `{outputs[GC_KEY][:200]}`\n"
    if not ns.quick:
        body += "\n" + instruction_lines()
    harness.emit("W1", "W1 — start-up (whole processes)", body, ns)


if __name__ == "__main__":
    main()
