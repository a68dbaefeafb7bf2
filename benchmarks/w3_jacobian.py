"""W3: dense Jacobians of tanh(A @ x) + x**2 and of (x+1)**2; ratio to hand-written NumPy.
Every Jacobian is checked with np.allclose against the hand-written one. Also the first
call of a fresh process (the target counts it), each in a process of its own."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import harness  # first: it sets the thread counts before NumPy loads
from harness import need

import numpy as np

# case -> (build(module, A) -> f(x) in that module's terms, hand-written Jacobian(A, x))
CASES = {
    "tanh(A @ x) + x**2": (
        lambda m, A: lambda x: m.tanh(A @ x) + x**2,
        lambda A, x: (1 - np.tanh(A @ x) ** 2)[:, None] * A + np.diag(2 * x),
    ),
    "(x+1)**2": (lambda m, A: lambda x: (x + 1) ** 2, lambda A, x: np.diag(2 * (x + 1))),
}


def data(n):
    return np.random.default_rng(0).standard_normal((n, n)) / np.sqrt(n), np.linspace(-1.0, 1.0, n)


def impls(build, ref) -> dict:
    def numpy_(n):
        A, x = data(n)
        return lambda: ref(A, x)

    def torch_(how):
        def factory(n):
            torch, (A, x) = need("torch"), data(n)
            f, xt = build(torch, torch.from_numpy(A)), torch.from_numpy(x)
            if how == "jacrev":
                jf = torch.func.jacrev(f)
                return lambda: jf(xt)
            return lambda: torch.autograd.functional.jacobian(f, xt)

        return factory

    def jax_(kind, mode):
        def factory(n):
            jax, (A, x) = need("jax"), data(n)
            jnp = jax.numpy
            jf, xj = getattr(jax, kind)(build(jnp, jnp.asarray(A))), jnp.asarray(x)
            if mode == "first":
                return lambda: jax.block_until_ready(jax.jit(lambda x: jf(x))(xj))
            jf = jax.jit(jf) if mode == "jit" else jf
            return lambda: jax.block_until_ready(jf(xj))

        return factory

    def hips(n):
        ag, anp, (A, x) = need("autograd"), need("autograd.numpy"), data(n)
        jf = ag.jacobian(build(anp, A))
        return lambda: jf(x)

    def gradcli(n):
        gc, (A, x) = need("gradcli"), data(n)
        f, xt = build(gc, gc.tensor(A)), gc.tensor(x)
        return lambda: gc.functional.jacobian(f, xt)

    return {
        "NumPy hand-written (baseline)": numpy_,
        "gradcli functional.jacobian": gradcli,
        "torch.func.jacrev": torch_("jacrev"),
        "torch.autograd.functional.jacobian": torch_("functional"),
        "JAX jacfwd eager": jax_("jacfwd", "eager"),
        "JAX jacrev eager": jax_("jacrev", "eager"),
        "JAX jit(jacfwd)": jax_("jacfwd", "jit"),
        "JAX jit(jacrev)": jax_("jacrev", "jit"),
        "JAX jit(jacfwd) first call": jax_("jacfwd", "first"),
        "JAX jit(jacrev) first call": jax_("jacrev", "first"),
        "HIPS autograd jacobian": hips,
    }


FIRST = [
    "NumPy hand-written (baseline)",
    "gradcli functional.jacobian",
    "torch.func.jacrev",
    "JAX jit(jacrev) first call",
]


def first_call(name: str, n: int) -> None:
    """In this fresh process (`--first NAME N`): build the row's function for J of
    tanh(A @ x) + x**2, time its first call, check it, print the seconds."""
    build, ref = CASES["tanh(A @ x) + x**2"]
    fn = impls(build, ref)[name](n)
    t0 = time.perf_counter()
    got = fn()
    seconds = time.perf_counter() - t0
    harness.check_close(got, ref(*data(n)))
    print(seconds)


def first_calls(sizes) -> str:
    """The first-call table: median (min) of 5 fresh processes per cell."""
    rows, base = [], {}
    for name in FIRST:
        row = [name.removesuffix(" first call").removesuffix(" (baseline)")]
        for n in sizes:
            times = []
            for _ in range(5):
                proc = subprocess.run(
                    [sys.executable, __file__, "--first", name, str(n)],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if proc.returncode:
                    times = harness.na(harness.process_error(proc))
                    break
                times.append(float(proc.stdout.split()[-1]))
            t = (
                times
                if isinstance(times, str)
                else harness.Timing(min(times), statistics.median(times))
            )
            base.setdefault(n, t)
            row.append(harness.cell(t, base[n]))
            print(f"  first call n={n} {name}: {row[-1]}", file=sys.stderr)
        rows.append(row)
    return harness.table(
        ["first call in a fresh process"] + [f"n = {harness.size_label(n)}" for n in sizes], rows
    )


def main() -> None:
    if sys.argv[1:2] == ["--first"]:
        return first_call(sys.argv[2], int(sys.argv[3]))
    ns = harness.args(__doc__)
    sizes = [100, 300] if ns.quick else [100, 300, 1000]
    parts = []
    for (case, (build, ref)), case_sizes in zip(CASES.items(), [sizes, sizes[-1:]], strict=True):
        _, md = harness.grid(
            impls(build, ref),
            case_sizes,
            base="NumPy hand-written (baseline)",
            want=lambda n, ref=ref: ref(*data(n)),
            budget=1.5,
            first_calls=["JAX jit(jacfwd) first call", "JAX jit(jacrev) first call"],
        )
        parts.append(f"### J of `{case}`\n\n{md}")
    parts.insert(
        1,
        "First calls of `tanh(A @ x) + x**2`, each in a new process that has "
        "imported only its library (JAX's includes its trace and compile):\n\n"
        + first_calls(sizes[1:]),
    )
    rows = impls(*CASES["tanh(A @ x) + x**2"])
    lines = [
        harness.paired_verdict(
            f"gradcli ÷ hand-written, J of `tanh(A @ x) + x**2` at n = {n}",
            lambda n=n: rows["gradcli functional.jacobian"](n),
            lambda n=n: rows["NumPy hand-written (baseline)"](n),
            2.0,
        )
        for n in sizes[1:]
    ]
    parts.append(f"Targets, from paired samples ({harness.PAIRED_NOTE}):\n\n" + "\n".join(lines))
    body = (
        "A = standard_normal((n, n)) / sqrt(n) (seed 0), x = linspace(-1, 1, n), float64; "
        "ratio to the hand-written NumPy Jacobian.\n\n" + "\n\n".join(parts)
    )
    harness.emit("W3", "W3 — Jacobians", body, ns)


if __name__ == "__main__":
    main()
