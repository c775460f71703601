"""Start-up benchmark: `preflight --help` against a bare `python -c pass` in the same interpreter.

    python benchmarks/startup.py [--runs N]

Prints the median wall time of each (N runs, alternating) and their ratio; the goal is <= 8x. What
`--help` must not import is asserted by tests/unit/test_startup.py, not timed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wall(argv: list) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=False)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args(argv)
    bare, helped = [], []
    for _ in range(args.runs):
        bare.append(_wall([sys.executable, "-c", "pass"]))
        helped.append(_wall([sys.executable, "-m", "preflight", "--help"]))
    b, h = statistics.median(bare), statistics.median(helped)
    print(f"python -c pass     {b * 1000:7.0f} ms (median of {args.runs})")
    print(f"preflight --help   {h * 1000:7.0f} ms")
    print(f"ratio              {h / b:7.1f}x (goal <= 8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
