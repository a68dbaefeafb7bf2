"""W6: Hessian of logsumexp(x), n = 500; ratio to the hand-written NumPy diag(p) - outer(p, p)."""

from __future__ import annotations

import harness  # first: it sets the thread counts before NumPy loads
from harness import need

import numpy as np


def xs(n):
    return np.random.default_rng(0).standard_normal(n)


def hess_ref(x):
    p = np.exp(x - x.max())
    p /= p.sum()
    return np.diag(p) - np.outer(p, p)


def numpy_(n):
    x = xs(n)
    return lambda: hess_ref(x)


def torch_(how):
    def factory(n):
        torch = need("torch")
        f, x = (lambda x: torch.logsumexp(x, 0)), torch.from_numpy(xs(n))
        if how == "func":
            h = torch.func.hessian(f)
            return lambda: h(x)
        return lambda: torch.autograd.functional.hessian(f, x)

    return factory


def jax_(mode):
    def factory(n):
        jax = need("jax")
        h, x = jax.hessian(jax.scipy.special.logsumexp), jax.numpy.asarray(xs(n))
        if mode == "first":
            return lambda: jax.block_until_ready(jax.jit(lambda x: h(x))(x))
        h = jax.jit(h) if mode == "jit" else h
        return lambda: jax.block_until_ready(h(x))

    return factory


def hips(n):
    ag, special = need("autograd"), need("autograd.scipy.special")
    h, x = ag.hessian(special.logsumexp), xs(n)
    return lambda: h(x)


def gradcli(n):
    gc = need("gradcli")
    x = gc.tensor(xs(n))
    return lambda: gc.functional.hessian(lambda x: gc.logsumexp(x), x)


IMPLS = {
    "NumPy hand-written (baseline)": numpy_,
    "gradcli functional.hessian": gradcli,
    "torch.func.hessian": torch_("func"),
    "torch.autograd.functional.hessian": torch_("functional"),
    "JAX hessian eager": jax_("eager"),
    "JAX jit(hessian)": jax_("jit"),
    "JAX jit(hessian) first call": jax_("first"),
    "HIPS autograd hessian": hips,
}


def main() -> None:
    ns = harness.args(__doc__)
    sizes = [100] if ns.quick else [500]
    res, md = harness.grid(
        IMPLS,
        sizes,
        base="NumPy hand-written (baseline)",
        want=lambda n: hess_ref(xs(n)),
        first_calls=["JAX jit(hessian) first call"],
        budget=3.0,
    )
    n = sizes[-1]
    t = res["gradcli functional.hessian"][n]
    ms = t.median * 1e3 if isinstance(t, harness.Timing) else None
    lines = [
        f"- gradcli functional.hessian at n = {n}: {harness.verdict(ms, 2.0, ' ms')}",
        harness.paired_verdict(
            f"gradcli ÷ torch.func.hessian at n = {n}",
            lambda: gradcli(n),
            lambda: IMPLS["torch.func.hessian"](n),
            1.0,
        ),
    ]
    body = (
        "x ~ standard normal (seed 0), float64; every Hessian checked against the "
        f"hand-written one.\n\n{md}"
        f"\n\nTargets (the ratio from paired samples: {harness.PAIRED_NOTE}):\n\n"
        + "\n".join(lines)
    )
    harness.emit("W6", "W6 — Hessian of logsumexp", body, ns)


if __name__ == "__main__":
    main()
