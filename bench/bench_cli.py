"""How fast the CLI answers `--help`: `hub-assets --help` and each command group's help,
against `python -c pass` measured in the same run (the interpreter's own start-up).

Each is started N times as a fresh process (what a user waits for); prints the median
wall time of each and `ratio_vs_python=` (the median `hub-assets --help` over the median
bare interpreter). Target: `hub-assets --help` under 1 s, ratio ≤ 10.

    .venv/bin/python bench/bench_cli.py [--runs 10] [--tiny]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "hub_assets.cli"]
COMMANDS = ["--help", "ingest --help", "models --help", "serve --help", "mirror --help"]


def median_s(argv: list[str], runs: int) -> float:
    """Median wall time of `runs` fresh processes of `argv` (each must exit 0)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tiny", action="store_true", help="2 runs each: the suite's check")
    args = parser.parse_args()
    runs = 2 if args.tiny else args.runs
    median_s(CLI + ["--help"], 1)  # warm the file cache outside the timings
    python_s = median_s([sys.executable, "-c", "pass"], runs)
    print(f"runs={runs} python_s={python_s:.3f}")
    results = {}
    for command in COMMANDS:
        results[command] = median_s(CLI + command.split(), runs)
        print(f"hub-assets {command}: {results[command]:.3f} s")
    print(f"ratio_vs_python={results['--help'] / python_s:.1f}")


if __name__ == "__main__":
    main()
