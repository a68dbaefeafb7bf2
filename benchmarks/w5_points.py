"""W5: per-point gradient of g(x, y) = x**2*y + sin(x*y) over P points; ratio to the NumPy
forward time.  Also the whole `gradcli grad ... --points FILE --json` process, points/s."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness  # first: it sets the thread counts before NumPy loads
from harness import need

import numpy as np

TEXT = "x**2*y + sin(x*y)"


def points(p):
    rng = np.random.default_rng(0)
    return rng.uniform(-2, 2, p), rng.uniform(-2, 2, p)


def grad_ref(x, y):
    c = np.cos(x * y)
    return 2 * x * y + y * c, x**2 + x * c


def numpy_forward(p):
    x, y = points(p)
    return lambda: x**2 * y + np.sin(x * y)


def numpy_grad(p):
    x, y = points(p)
    return lambda: grad_ref(x, y)


def numexpr_grad(p):
    ne, (x, y) = need("numexpr"), points(p)
    env = {"x": x, "y": y}
    return lambda: (
        ne.evaluate("2*x*y + y*cos(x*y)", local_dict=env),
        ne.evaluate("x**2 + x*cos(x*y)", local_dict=env),
    )


def torch_sum(p):
    torch, (x0, y0) = need("torch"), points(p)

    def run():
        x, y = torch.from_numpy(x0).requires_grad_(), torch.from_numpy(y0).requires_grad_()
        (x**2 * y + torch.sin(x * y)).sum().backward()
        return x.grad, y.grad

    return run


def torch_vmap(p):
    torch, (x, y) = need("torch"), points(p)
    g = torch.func.vmap(torch.func.grad(lambda x, y: x**2 * y + torch.sin(x * y), argnums=(0, 1)))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return lambda: g(xt, yt)


def _jax_g():
    jax = need("jax")
    return jax, jax.vmap(jax.grad(lambda x, y: x**2 * y + jax.numpy.sin(x * y), argnums=(0, 1)))


def jax_jit(p):
    (jax, g), (x, y) = _jax_g(), points(p)
    f, xj, yj = jax.jit(g), jax.numpy.asarray(x), jax.numpy.asarray(y)
    return lambda: jax.block_until_ready(f(xj, yj))


def jax_first(p):
    (jax, g), (x, y) = _jax_g(), points(p)
    xj, yj = jax.numpy.asarray(x), jax.numpy.asarray(y)
    return lambda: jax.block_until_ready(jax.jit(lambda x, y: g(x, y))(xj, yj))


def hips(p):
    ag, anp, (x, y) = need("autograd"), need("autograd.numpy"), points(p)
    g = ag.elementwise_grad(lambda x, y: x**2 * y + anp.sin(x * y), (0, 1))
    return lambda: g(x, y)


def gradcli_vjp(p):
    gc, (x, y) = need("gradcli"), points(p)
    prog, ones = gc.compile(TEXT), np.ones(p)

    def run():
        g = prog.vjp(x=x, y=y, v=ones).vjp
        return g["x"], g["y"]

    return run


def gradcli_sum_text(p):
    gc, (x, y) = need("gradcli"), points(p)
    prog = gc.compile(f"sum({TEXT})")

    def run():
        g = prog.grad(x=x, y=y).gradient
        return g["x"], g["y"]

    return run


def gradcli_points(p):
    gc, (x, y) = need("gradcli"), points(p)
    prog = gc.compile(TEXT)

    def run():
        g = prog.grad_points(x=x, y=y).gradient
        return g["x"], g["y"]

    return run


def gradcli_points_only(p):
    gc, (x, y) = need("gradcli"), points(p)
    prog = gc.compile(TEXT)

    def run():
        g = prog.grad_points(x=x, y=y, value=False).gradient
        return g["x"], g["y"]

    return run


def gradcli_sum(p):
    gc, (x0, y0) = need("gradcli"), points(p)

    def run():
        x, y = gc.tensor(x0, requires_grad=True), gc.tensor(y0, requires_grad=True)
        (x**2 * y + gc.sin(x * y)).sum().backward()
        return x.grad, y.grad

    return run


IMPLS = {
    "NumPy forward only (baseline)": numpy_forward,
    "NumPy hand-written gradient": numpy_grad,
    "gradcli compile(text).vjp(v=ones)": gradcli_vjp,
    "gradcli compile('sum(text)').grad": gradcli_sum_text,
    "gradcli compile(text).grad_points (columns)": gradcli_points,
    "gradcli grad_points(value=False) (gradients only)": gradcli_points_only,
    "gradcli sum trick (tensors)": gradcli_sum,
    "numexpr hand-written gradient": numexpr_grad,
    "PyTorch sum trick": torch_sum,
    "torch.func.vmap(grad)": torch_vmap,
    "JAX jit(vmap(grad))": jax_jit,
    "JAX jit(vmap(grad)) first call": jax_first,
    "HIPS autograd elementwise_grad": hips,
}


def cli_gradients(stdout: str):
    """The per-point gradients of the CLI's NDJSON output, in point order."""
    lines = sorted((json.loads(ln) for ln in stdout.splitlines()), key=lambda d: d["index"])
    return (
        np.array([d["gradient"]["x"] for d in lines]),
        np.array([d["gradient"]["y"] for d in lines]),
    )


def cli_rows(sizes) -> list[list[str]]:
    exe = shutil.which("gradcli", path=str(Path(sys.executable).parent)) or "gradcli"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in sizes:
            path = Path(tmp) / f"points{p}.ndjson"
            x, y = points(p)
            path.write_text(
                "".join(
                    f'{{"x": {a!r}, "y": {b!r}}}\n'
                    for a, b in zip(x.tolist(), y.tolist(), strict=True)
                )
            )
            last = {}

            def run(path=path, last=last):
                proc = subprocess.run(
                    [exe, "grad", TEXT, "--points", str(path), "--json"],
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
                if proc.returncode:
                    raise RuntimeError(harness.process_error(proc))
                last["stdout"] = proc.stdout

            t = harness.measure(
                f"CLI P={p}",
                lambda: run,
                warmup=False,
                repeat=3,
                min_repeat=1,
                min_sample=0,
                budget=20,
            )
            if isinstance(t, harness.Timing):  # check the output of the last timed run
                try:
                    harness.check_close(cli_gradients(last["stdout"]), grad_ref(x, y))
                except (harness.Mismatch, ValueError, KeyError) as e:
                    t = f"MISMATCH ({e})"
                    print(f"!!! CLI P={p}: {t}", file=sys.stderr)
            rate = f"{p / t.median:,.0f}" if isinstance(t, harness.Timing) else "—"
            rows.append([harness.size_label(p), harness.cell(t), rate])
            print(f"  CLI P={p}: {rows[-1]}", file=sys.stderr)
    return rows


def main() -> None:
    ns = harness.args(__doc__)
    sizes = [10**3, 10**4] if ns.quick else [10**3, 10**5, 10**6]
    _, md = harness.grid(
        IMPLS,
        sizes,
        base="NumPy forward only (baseline)",
        want=lambda p: grad_ref(*points(p)),
        unchecked=["NumPy forward only (baseline)"],
        first_calls=["JAX jit(vmap(grad)) first call"],
        budget=1.5,
    )
    gpo = IMPLS["gradcli grad_points(value=False) (gradients only)"]
    lines = [
        harness.paired_verdict(
            f"grad_points(value=False) ÷ {base} at {harness.size_label(p)} points",
            lambda p=p: gpo(p),
            lambda p=p, row=row: IMPLS[row](p),
            1.0,
        )
        for base, row in (
            ("hand-written gradient", "NumPy hand-written gradient"),
            ("PyTorch sum trick", "PyTorch sum trick"),
        )
        for p in sizes
        if p >= 10**5
    ]
    cli = harness.table(["P", "whole process, median (min)", "points / s"], cli_rows(sizes))
    body = (
        f"g = `{TEXT}`, x, y ~ uniform(-2, 2) (seed 0), float64; both partials at every "
        "point, checked against the hand-written ones; ratio to the NumPy forward time. "
        "gradcli's `compile(text).grad` needs a scalar output, so its per-point rows use "
        f"`vjp` with v = ones or `sum(...)`.\n\n{md}\n\n"
        f"`gradcli grad '{TEXT}' --points FILE --json` with an NDJSON file of P lines "
        '`{"x": .., "y": ..}`:'
        f"\n\n{cli}\n\nTargets, from paired samples ({harness.PAIRED_NOTE}):\n\n" + "\n".join(lines)
    )
    harness.emit("W5", "W5 — per-point gradients", body, ns)


if __name__ == "__main__":
    main()
