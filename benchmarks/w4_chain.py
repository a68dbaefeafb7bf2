"""W4: per-step cost of forward+backward through long scalar chains, and their memory.

Chains `y = y*2` (one op a step) and `y = sin(y)*1.0001 + 0.1` (three) from a scalar leaf 0.5.
Each cell runs in a fresh child process that imports only its own library (a process that
has imported every peer makes the garbage collector of each of them scan the others'
objects): time, then memory (tracemalloc peak, and growth of the peak RSS)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc

import harness  # first: it sets the thread counts before NumPy loads
from harness import need

import numpy as np

CHAINS = {
    "y = y*2": lambda m, y: y * 2,
    "y = sin(y)*1.0001 + 0.1": lambda m, y: m.sin(y) * 1.0001 + 0.1,
}
OPS = {"y = y*2": 1, "y = sin(y)*1.0001 + 0.1": 3}  # recorded operations per step
X0 = 0.5
# PyTorch's µs/op for `y = y*2` in the issue, on a quiet machine of this kind
ISSUE_TORCH_US = {10**4: 7.5, 10**5: 8.1}


def reference(chain: str, steps: int) -> float:
    """d y_steps / d x by forward-mode accumulation in plain floats."""
    y, d = X0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            if chain == "y = y*2":
                y, d = y * 2, d * 2.0
            else:
                y, d = np.sin(y) * 1.0001 + 0.1, d * np.cos(y) * 1.0001
    return d


def numpy_forward(chain, steps):
    step = CHAINS[chain]

    def run():
        y = np.float64(X0)
        for _ in range(steps):
            y = step(np, y)
        return y

    return run


def torch_(chain, steps):
    torch, step = need("torch"), CHAINS[chain]

    def run():
        x = y = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
        for _ in range(steps):
            y = step(torch, y)
        y.backward()
        return x.grad

    return run


def hips(chain, steps):
    ag, anp, step = need("autograd"), need("autograd.numpy"), CHAINS[chain]

    def f(y):
        for _ in range(steps):
            y = step(anp, y)
        return y

    g = ag.grad(f)
    return lambda: g(X0)


def gradcli(chain, steps):
    gc, step = need("gradcli"), CHAINS[chain]

    def run():
        x = y = gc.tensor(X0, requires_grad=True)
        for _ in range(steps):
            y = step(gc, y)
        y.backward()
        return x.grad

    return run


IMPLS = {
    "NumPy forward only": numpy_forward,
    "PyTorch": torch_,
    "HIPS autograd": hips,
    "gradcli": gradcli,
}
TRACED = {"NumPy forward only", "HIPS autograd", "gradcli"}  # tracemalloc sees their allocations


def peak_rss_kib() -> int:
    """This process's peak RSS.  VmHWM where /proc has it: ru_maxrss survives fork+exec on
    Linux, so in a child of a big parent it starts at the parent's size and hides growth."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(name: str, chain: str, steps: int) -> None:
    """Print {"rss_kib", "traced_bytes"} and {"median", "min"} (or {"na"}) for the chain:
    memory first, while the peak RSS is still the process's own start."""
    fn = IMPLS[name](chain, steps)
    IMPLS[name](chain, 10)()  # load lazy parts before the baseline
    before = peak_rss_kib()
    fn()
    rss = peak_rss_kib() - before
    traced = None
    if name in TRACED:
        tracemalloc.start()
        fn()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    want = None if name == "NumPy forward only" else reference(chain, steps)
    t = harness.measure(
        f"{name} {chain} {steps}",
        lambda: IMPLS[name](chain, steps),
        want=want,
        repeat=5,
        min_repeat=2,
        budget=3.0,
        min_sample=0.05,
    )
    timing = {"median": t.median, "min": t.min} if isinstance(t, harness.Timing) else {"na": t}
    print(json.dumps({**timing, "rss_kib": rss, "traced_bytes": traced}))


def child_once(name: str, chain: str, steps: int) -> None:
    """Print the seconds of one forward+backward, after a warm-up call."""
    fn = IMPLS[name](chain, steps)
    fn()
    t0 = time.perf_counter()
    fn()
    print(time.perf_counter() - t0)


def once(name: str, chain: str, steps: int) -> float:
    """The seconds of one forward+backward of `name` in a fresh process (`child_once`)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--once", name, chain, str(steps)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode:
        raise RuntimeError(harness.process_error(proc))
    return float(proc.stdout.strip().splitlines()[-1])


def normalised_lines(chain: str = "y = y*2") -> str:
    """The µs/op that gradcli's paired ratio to PyTorch gives on the issue's quiet machine,
    where PyTorch measured ISSUE_TORCH_US: an estimate that a slow hour does not move."""
    lines = []
    for steps, torch_us in ISSUE_TORCH_US.items():
        label = f"`{chain}`, {harness.size_label(steps)} steps"
        try:
            p = harness.alternate(
                lambda steps=steps: once("gradcli", chain, steps),
                lambda steps=steps: once("PyTorch", chain, steps),
                rounds=7,
            )
        except Exception as e:  # a failure becomes the line's text
            lines.append(f"- {label}: {harness.reason(e)}")
            continue
        print(f"  paired {label}: {p.median:.2f}× ({p.low:.2f}–{p.high:.2f})", file=sys.stderr)
        lines.append(
            f"- {label}: gradcli ÷ PyTorch {p.median:.2f}× (rounds {p.low:.2f}–"
            f"{p.high:.2f}×) × PyTorch's {torch_us} µs/op in the issue = "
            f"{harness.verdict(p.median * torch_us, 5.0, ' µs/op')}"
        )
    return "\n".join(lines)


def cell(name: str, chain: str, steps: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, chain, str(steps)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode:
        return {"na": harness.na((proc.stderr.strip().splitlines() or ["failed"])[-1])}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory(m: dict) -> str:
    if "rss_kib" not in m:
        return "—"
    traced = f"{m['traced_bytes'] / 2**20:.2f} MiB" if m["traced_bytes"] is not None else "—"
    return f"{traced} / {m['rss_kib'] / 1024:.1f} MiB"


def main() -> None:
    def extra(p):
        p.add_argument("--child", nargs=3, metavar=("IMPL", "CHAIN", "STEPS"))
        p.add_argument("--once", nargs=3, metavar=("IMPL", "CHAIN", "STEPS"))

    ns = harness.args(__doc__, extra)
    if ns.child or ns.once:
        name, chain, steps = ns.child or ns.once
        with np.errstate(over="ignore", invalid="ignore"):
            (child if ns.child else child_once)(name, chain, int(steps))
        return
    all_steps = [10**3, 10**4] if ns.quick else [10**3, 10**4, 10**5]
    labels = [harness.size_label(s) for s in all_steps]
    parts, gradcli_us = [], {}
    for chain in CHAINS:
        times, mems = [], []
        for name in IMPLS:
            trow, mrow = [name], [name]
            for steps in all_steps:
                m = cell(name, chain, steps)
                if "median" in m:
                    per = m["median"] / steps
                    trow.append(
                        f"{per * 1e6:.3g} µs (min {m['min'] / steps * 1e6:.3g}; total "
                        f"{harness.fmt_time(m['median'])})"
                    )
                    if name == "gradcli":
                        gradcli_us[(chain, steps)] = per * 1e6
                else:
                    trow.append(m["na"])
                mrow.append(memory(m))
                print(f"  {chain} {name} {steps}: {trow[-1]} | {mrow[-1]}", file=sys.stderr)
            times.append(trow)
            mems.append(mrow)
        parts.append(
            f"### `{chain}`: µs per step, median of forward+backward ÷ steps\n\n"
            + harness.table(["implementation"] + [f"{s} steps" for s in labels], times)
            + "\n\nPeak memory of one forward+backward in a fresh process: tracemalloc peak / "
            "peak-RSS growth (VmHWM; — = tracemalloc does not see that library's allocations)\n\n"
            + harness.table(["implementation"] + [f"{s} steps" for s in labels], mems)
        )
    target = (
        "\n".join(
            f"- gradcli, `{c}`, {harness.size_label(s)} steps ({OPS[c]} op/step): "
            f"{harness.verdict(v / OPS[c], 5.0, ' µs/op')}"
            for (c, s), v in gradcli_us.items()
        )
        or "- gradcli: not measured"
    )
    body = (
        "Leaf: a float64 scalar 0.5 requiring grad (NumPy: np.float64, no gradient). "
        "Gradients checked against forward-mode accumulation.\n\n"
        + "\n\n".join(parts)
        + "\n\nTarget ≤ 5 µs/op:\n"
        + target
    )
    if not ns.quick:
        body += (
            "\n\nThe same target on the issue's quiet machine, from gradcli's ratio to PyTorch "
            "(7 rounds of two fresh processes, one timed forward+backward each, the order "
            "swapped every round; the median ratio times PyTorch's µs/op in the issue):\n"
            + normalised_lines()
        )
    harness.emit("W4", "W4 — per-op overhead of long chains", body, ns)


if __name__ == "__main__":
    main()
