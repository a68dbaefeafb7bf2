"""Limits, measured (the tests assert none of these times): what the run's clock costs a
chain of cheap operations, how fast the parser refuses texts nested too deeply, how long
`^` takes to parse, and where hostile runs stop under `--time-limit`.

    python benchmarks/limits.py            # prints one line per measurement
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import harness  # (first: it sets the threads before NumPy loads)

import numpy as np

import gradcli as gc
from gradcli.engine import clock
from gradcli.errors import GradcliError
from gradcli.lang.parse import parse

N = 100_000
GRADCLI = Path(sys.executable).parent / "gradcli"


def best(fn, repeat: int = 5) -> float:
    """The fastest of `repeat` calls of fn(), in seconds."""
    return harness.bench(fn, repeat=repeat, min_repeat=repeat, min_sample=0, budget=1e9).min


def chain() -> None:
    y = gc.tensor(0.5, requires_grad=True)
    with np.errstate(all="ignore"):
        for _ in range(N):
            y = y * 2
        y.backward()


def under_deadline() -> None:
    with clock.limit(600):
        chain()


def refuse(text: str) -> float:
    def once():
        with contextlib.suppress(GradcliError):
            parse(text)

    return best(once, 3)


def wall(*args: str) -> str:
    start = time.perf_counter()
    p = subprocess.run([str(GRADCLI), *args], capture_output=True, text=True, timeout=600)
    return f"{time.perf_counter() - start:.2f} s (exit {p.returncode})"


def main() -> None:
    print(
        f"y*2 chain of 1e5, forward+backward: {best(chain) / N * 1e6:.2f} µs/op without a "
        f"deadline, {best(under_deadline) / N * 1e6:.2f} µs/op under one"
    )
    for op in ("^", "**"):
        text = "sum([" + ", ".join(f"x{op}{k % 7 + 1}" for k in range(24_000)) + "])"
        print(
            f"parse 24,000 x{op}k terms ({len(text)} characters): "
            f"{best(lambda text=text: parse(text, max_length=10**6), 1):.2f} s"
        )
    for text in ("x+" * 49_000 + "x", "+".join(["x"] * 700), "x+" * 5_000_000):
        print(f"refuse a flat sum of {len(text)} characters: {refuse(text) * 1e3:.0f} ms")
    loop = "y = eye(3000)\nfor i in range(140):\n    y = y @ eye(3000)\nsum(y)"
    print(
        "140 products of eye(3000), --time-limit 5:",
        wall("eval", loop, "--time-limit", "5", "--json"),
    )
    spin = "y = x\nwhile y > 0:\n    y = y + 1\ny"
    print(
        "an endless loop, --time-limit 5:",
        wall(
            "eval",
            spin,
            "--at",
            "x=1",
            "--time-limit",
            "5",
            "--max-iterations",
            "1000000000",
            "--json",
        ),
    )
    print(
        "a five-operand einsum of 100 x 100:",
        wall(
            "eval",
            'einsum("ab,bc,cd,de,ef->af", a, a, a, a, a) | sum',
            "--at",
            "a=ones(100,100)",
            "--json",
        ),
    )


if __name__ == "__main__":
    main()
