"""Read what the runs of ``gifemo reproduce`` left on disk: one :class:`RunResult` per finished run.

A run is finished when it holds its ``config.yaml`` and its test ``report.json``; the others are
listed as unfinished (interrupted, or still training).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gifemo.experiments.layout import RUNS_DIR, ood_report_dir
from gifemo.training.run_dir import RunDir, read_report, run_history


@dataclass(frozen=True)
class RunResult:
    """A finished run: its config, its test report and its per-epoch history."""

    name: str
    run_dir: Path
    config: dict[str, Any]
    report: dict[str, Any]
    history: list[dict[str, float]]
    split_sha256: str | None
    ood_report: dict[str, Any] | None = None

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def clip_len(self) -> int:
        return int(self.config["clip_len"])

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def metrics(self) -> dict[str, Any]:
        return self.report["metrics"]

    @property
    def accuracy(self) -> float:
        """Test GIF accuracy of the run's checkpoint: the last epoch's when the run has no
        validation split (as the paper), so no choice was made on the test GIFs."""
        return float(self.metrics["accuracy"]["value"])

    @property
    def best_epoch_accuracy(self) -> float | None:
        """The highest test GIF accuracy over the epochs: with no validation split the epoch is
        chosen on the test GIFs themselves, so this is optimistic (shown for comparison only)."""
        scores = [float(row["val/gif_acc"]) for row in self.history if "val/gif_acc" in row]
        return max(scores) if scores else None

    @property
    def train_seconds(self) -> float:
        return float(self.report["context"].get("training", {}).get("wall_time_s") or 0.0)

    @property
    def eval_seconds(self) -> float:
        return float(self.report["context"].get("wall_time_s") or 0.0)

    def per_class(self) -> dict[str, dict[str, float]]:
        return {row["label"]: row for row in self.metrics["per_class"]}


def collect_runs(
    results_dir: str | Path, *, ood_name: str | None = None
) -> tuple[list[RunResult], list[str]]:
    """Finished runs under ``RESULTS/runs`` (sorted by name) and the names of unfinished ones.

    With ``ood_name`` (the out-of-domain dataset's folder name), each run's report on it is
    loaded too, when there is one.
    """
    runs, unfinished = [], []
    root = Path(results_dir) / RUNS_DIR
    for run_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        run = RunDir(run_dir)
        if not (run.is_evaluated and run.is_run):
            unfinished.append(run_dir.name)
            continue
        split_path = run.split_file
        ood_dir = ood_report_dir(run_dir, ood_name) if ood_name else None
        runs.append(
            RunResult(
                name=run_dir.name,
                run_dir=run_dir,
                config=yaml.safe_load(run.config_file.read_text(encoding="utf-8")),
                report=read_report(run_dir),
                history=run_history(run_dir),
                split_sha256=hashlib.sha256(split_path.read_bytes()).hexdigest()
                if split_path.is_file()
                else None,
                ood_report=read_report(ood_dir)
                if ood_dir and RunDir(ood_dir).is_evaluated
                else None,
            )
        )
    return runs, unfinished


def check_splits(runs: Sequence[RunResult]) -> dict[int, set[str | None]]:
    """``{seed: {sha256 of split.csv}}``: one hash per seed means every run of it used one split."""
    splits: dict[int, set[str | None]] = defaultdict(set)
    for r in runs:
        splits[r.seed].add(r.split_sha256)
    return dict(sorted(splits.items()))
