"""Time ``gifemo data gifgif rank`` on a synthetic file the size of the GIFGIF release.

The public release has ~1.1 M rows over 6,170 GIFs and 17 metrics. This script writes a file of
that shape (Bradley-Terry votes from known strengths, 10 % "neither", 0.1 % empty ids, gzip as
the release ships it) in a temporary folder, then runs the whole command in-process (read +
score + select + write) for all 17 metrics and for the paper's seven, and prints the times and
how well the top 300 match the true top 300.

    .venv/bin/python benchmarks/gifgif_rank.py [--rows 1100000] [--gifs 6170] [--method bt]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_100_000)
    parser.add_argument("--gifs", type=int, default=6170)
    parser.add_argument("--top", type=int, default=300)
    parser.add_argument("--method", choices=("bt", "trueskill"), default="bt")
    args = parser.parse_args()

    import numpy as np

    from gifemo.cli import app
    from gifemo.data.gifgif.comparisons import read_comparisons
    from gifemo.data.gifgif.rank import DEFAULT_EMOTIONS, gifgif_label, score_metric, select_top
    from gifemo.data.gifgif.simulate import simulate_comparisons
    from gifemo.hardware import benchmark_header

    print(benchmark_header())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gifgif-synthetic.csv.gz"
        t0 = time.perf_counter()
        truth = simulate_comparisons(
            path, n_gifs=args.gifs, n_rows=args.rows, corrupt_rate=0.001, seed=0
        )
        print(
            f"generated {truth.n_rows:,} rows, {args.gifs:,} GIFs, 17 metrics "
            f"({path.stat().st_size / 2**20:.1f} MiB gzip) in {time.perf_counter() - t0:.1f} s"
        )
        for emotions in ("all", ",".join(DEFAULT_EMOTIONS)):
            out = Path(tmp) / "manifest.csv"
            argv = [
                "data",
                "gifgif",
                "rank",
                str(path),
                "--out",
                str(out),
                "--top",
                str(args.top),
                "--emotions",
                emotions,
                "--method",
                args.method,
            ]
            t0 = time.perf_counter()
            app(argv, standalone_mode=False)
            seconds = time.perf_counter() - t0
            n = 17 if emotions == "all" else len(DEFAULT_EMOTIONS)
            print(f"RESULT rank --method {args.method}, {n} emotions: {seconds:.1f} s wall")

        # Quality (the paper's seven): how many of the true top N each list holds, before the
        # conflict rule (each emotion's own top N) and after it (the manifest just written).
        ids = {gif_id: k for k, gif_id in enumerate(truth.ids)}
        with open(out, newline="") as handle:
            rows = list(csv.DictReader(handle))
        data = read_comparisons(path, metrics=DEFAULT_EMOTIONS)
        order = np.array([ids[g] for g in data.ids])  # reader index -> truth index
        print(f"true top {args.top} found: own top {args.top} / manifest list (after conflicts)")
        for metric in DEFAULT_EMOTIONS:
            true_top = set(np.argsort(-truth.strengths[metric])[: args.top].tolist())
            scores = score_metric(data.votes[metric], len(data.ids), method=args.method, alpha=0.5)
            own = order[select_top({metric: scores}, top=args.top)[metric]]
            kept = [ids[r["id"]] for r in rows if r["label"] == gifgif_label(metric)]
            print(
                f"  {metric:13s} {len(true_top.intersection(own.tolist())):3d} / "
                f"{len(true_top.intersection(kept)):3d}"
            )


if __name__ == "__main__":
    main()
