"""Run every workload script in its own process (so one cannot warm up or disturb another).

python benchmarks/run_all.py [--quick] [--write] [--only W2 W3 ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = {
    "W1": "w1_startup.py",
    "W2": "w2_elementwise.py",
    "W3": "w3_jacobian.py",
    "W4": "w4_chain.py",
    "W5": "w5_points.py",
    "W6": "w6_hessian.py",
    "W7": "w7_columnar.py",
}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    p.add_argument("--only", nargs="+", choices=list(SCRIPTS), default=list(SCRIPTS))
    ns = p.parse_args()
    flags = [f for f, on in (("--quick", ns.quick), ("--write", ns.write)) if on]
    failed = []
    for key in ns.only:
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / SCRIPTS[key]), *flags])
        print(f"[{key} finished in {time.perf_counter() - t0:.0f} s, exit {rc}]", file=sys.stderr)
        if rc:
            failed.append(key)
    sys.exit(f"failed: {', '.join(failed)}" if failed else 0)


if __name__ == "__main__":
    main()
