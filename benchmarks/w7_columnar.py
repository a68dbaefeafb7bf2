"""W7: batches in files, whole processes: `gradcli grad TEXT --points IN [--output OUT]` per
format, points/s and peak RSS; the peers read the same Parquet file with pyarrow, compute
both partials and write Parquet (a PyTorch and a JAX script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness  # first: it sets the thread counts before NumPy loads

import numpy as np

TEXT = "x**2*y + sin(x*y)"
#: Runs a command and prints its peak RSS (KiB) on the last line of stderr.
PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)
TORCH = """
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq, torch
t = pq.read_table(sys.argv[1])
x = torch.from_numpy(t.column("x").to_numpy()).requires_grad_()
y = torch.from_numpy(t.column("y").to_numpy()).requires_grad_()
v = x**2 * y + torch.sin(x * y)
v.sum().backward()
pq.write_table(pa.table({"value": v.detach().numpy(), "gradient.x": x.grad.numpy(),
                         "gradient.y": y.grad.numpy()}), sys.argv[2])
"""
JAX = """
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq, jax
jax.config.update("jax_enable_x64", True)
t = pq.read_table(sys.argv[1])
f = lambda x, y: x**2 * y + jax.numpy.sin(x * y)
g = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=(0, 1))))
v, (gx, gy) = g(t.column("x").to_numpy(), t.column("y").to_numpy())
pq.write_table(pa.table({"value": np.asarray(v), "gradient.x": np.asarray(gx),
                         "gradient.y": np.asarray(gy)}), sys.argv[2])
"""


def write_points(path: Path, fmt: str, p: int) -> None:
    import pyarrow as pa

    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2, 2, p), rng.uniform(-2, 2, p)
    table = pa.table({"x": x, "y": y})
    if fmt == "ndjson":
        import orjson

        with open(path, "wb") as f:
            for start in range(0, p, 1 << 16):
                f.write(
                    b"".join(
                        orjson.dumps({"x": a, "y": b}) + b"\n"
                        for a, b in zip(
                            x[start : start + (1 << 16)].tolist(),
                            y[start : start + (1 << 16)].tolist(),
                            strict=True,
                        )
                    )
                )
    elif fmt == "csv":
        import pyarrow.csv as pc

        pc.write_csv(table, path)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "arrow":
        import pyarrow.feather as pf

        pf.write_feather(table, path)
    else:
        np.savez(path, x=x, y=y)


EXT = {"ndjson": "ndjson", "csv": "csv", "parquet": "parquet", "arrow": "arrow", "npz": "npz"}


def run_row(label: str, argv: list[str], p: int) -> list[str]:
    peak = []

    def once():
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, *argv], capture_output=True, text=True, timeout=900
        )
        if proc.returncode not in (0,):
            raise RuntimeError(harness.process_error(proc))
        peak.append(int(proc.stderr.strip().splitlines()[-1]))

    t = harness.measure(
        label, lambda: once, warmup=False, repeat=3, min_repeat=1, min_sample=0, budget=30
    )
    rate = f"{p / t.median:,.0f}" if isinstance(t, harness.Timing) else "—"
    rss = f"{max(peak) / 1024:,.0f} MB" if peak else "—"
    row = [label, harness.size_label(p), harness.cell(t), rate, rss]
    print(f"  {row}", file=sys.stderr)
    return row


def main() -> None:
    ns = harness.args(__doc__)
    exe = shutil.which("gradcli", path=str(Path(sys.executable).parent)) or "gradcli"
    cases = [
        ("ndjson", None, 10**5),
        ("ndjson", None, 10**6),
        ("ndjson", "parquet", 10**6),
        ("csv", "csv", 10**6),
        ("arrow", "arrow", 10**6),
        ("npz", "npz", 10**6),
        ("parquet", "parquet", 10**6),
        ("parquet", "parquet", 10**7),
    ]
    if ns.quick:
        cases = [(i, o, 10**4) for i, o, _ in cases[1:]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fin, fout, p in cases:
            src = Path(tmp) / f"p{p}.{EXT[fin]}"
            if not src.exists():
                write_points(src, fin, p)
            argv = [exe, "grad", TEXT, "--points", str(src)]
            if fout:
                argv += ["--output", str(Path(tmp) / f"out.{EXT[fout]}")]
            label = f"gradcli {fin} → {fout or 'NDJSON on stdout'}"
            if not fout:
                argv = ["sh", "-c", '"$0" "$@" > /dev/null', *argv]
            rows.append(run_row(label, argv, p))
        src = Path(tmp) / f"p{cases[-1][2]}.parquet"
        for name, script in (("PyTorch", TORCH), ("JAX jit(vmap(value_and_grad))", JAX)):
            try:
                harness.need("torch" if name == "PyTorch" else "jax")
            except harness.Missing:
                rows.append(
                    [
                        f"{name}: pyarrow Parquet → Parquet",
                        harness.size_label(cases[-1][2]),
                        "not installed",
                        "—",
                        "—",
                    ]
                )
                continue
            rows.append(
                run_row(
                    f"{name}: pyarrow Parquet → Parquet",
                    [sys.executable, "-c", script, str(src), str(Path(tmp) / "peer.parquet")],
                    cases[-1][2],
                )
            )
    body = (
        f"`gradcli grad '{TEXT}' --points IN [--output OUT]`, whole processes; x, y ~ "
        f"uniform(-2, 2) (seed 0), float64; peak RSS of the process.\n\n"
        + harness.table(
            ["run", "points", "whole process, median (min)", "points / s", "peak RSS"], rows
        )
    )
    harness.emit("W7", "W7 — batches in files (whole processes)", body, ns)


if __name__ == "__main__":
    main()
