"""Benchmark: how fast `hdc --help` answers (target ≤ 0.5 s), beside a bare `python -c pass`.

Prints the median and best of N runs of each, and the difference (what the toolkit adds).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def timed(cmd: list[str]) -> list[float]:
    out = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    bare = timed([sys.executable, "-c", "pass"])
    hdc = timed([sys.executable, "-m", "hdc_toolkit", "--help"])
    print(f"{'command':<28}{'median s':>10}{'best s':>9}")
    print(f"{'python -c pass':<28}{statistics.median(bare):>10.3f}{min(bare):>9.3f}")
    print(f"{'hdc --help':<28}{statistics.median(hdc):>10.3f}{min(hdc):>9.3f}")
    print(f"toolkit adds {statistics.median(hdc) - statistics.median(bare):.3f} s (median); target: hdc --help <= 0.5 s")


if __name__ == "__main__":
    main()
