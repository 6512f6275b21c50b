"""Time ``gifemo data synth``: the issue's target is 2,100 GIFs at 128 px in under 5 minutes on
2 cores. Generates into a temporary folder (or --out), then prints GIFs/s, frames/s, the
CPU time actually used and the machine it ran on (with its load: the cores may be shared).

    .venv/bin/python benchmarks/synth_speed.py [--per-class 300] [--size 128] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import tempfile
import time
from pathlib import Path

from gifemo.data.synth import DEFAULT_DIFFICULTY, generate_dataset
from gifemo.hardware import benchmark_header


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, help="keep the dataset here instead of a temporary folder"
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        summary = generate_dataset(
            out,
            per_class=args.per_class,
            size=args.size,
            seed=args.seed,
            difficulty=args.difficulty,
            workers=args.workers,
        )
        wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
        with open(summary.labels_csv, newline="") as f:
            frames = sum(int(r["frames"]) for r in csv.DictReader(f))
        megabytes = sum(p.stat().st_size for p in out.rglob("*.gif")) / 1e6
    print(benchmark_header())
    print(f"load average before {load_before[0]:.2f}")
    print(
        f"generated {summary.written} GIFs ({frames} frames, {megabytes:.1f} MB) "
        f"at {args.size} px, "
        f"difficulty {args.difficulty}, {args.workers} workers"
    )
    print(f"wall {wall:.1f} s: {summary.written / wall:.2f} GIFs/s, {frames / wall:.0f} frames/s")
    print(
        f"CPU {cpu:.1f} s: {1000 * cpu / summary.written:.0f} ms per GIF, "
        f"{1000 * cpu / frames:.2f} ms per frame (on free cores: {cpu / args.workers:.0f} s wall)"
    )
    if summary.failures:
        print(f"{len(summary.failures)} failures, first: {summary.failures[0]}")


if __name__ == "__main__":
    main()
