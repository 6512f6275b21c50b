"""The paper's tables from the finished runs: one dict per row, our mean ± CI beside the paper's
value.

Each row is what ``<table>.csv`` holds; :mod:`gifemo.experiments.markdown` prints them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from gifemo.experiments import paper
from gifemo.experiments.collect import RunResult
from gifemo.experiments.summary import Summary, summarize


def _main_runs(runs: Sequence[RunResult], model: str) -> list[RunResult]:
    """Runs of ``model`` with the paper's clip length (the runs behind Tables 2-4)."""
    return [r for r in runs if r.model == model and r.clip_len == paper.PAPER_CLIP_LEN]


def _summary_columns(prefix: str, summary: Summary) -> dict[str, Any]:
    return {
        prefix: summary.mean if summary.values else None,
        f"{prefix}_ci95": summary.half_width,
        f"{prefix}_n": summary.n,
    }


def table2(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Per-class precision, recall and F1 of ResNet-ConvGRU (T=4), over seeds, paper alongside."""
    main = _main_runs(runs, paper.MAIN_MODEL)
    labels = list(main[0].per_class()) if main else list(paper.TABLE2)
    # The paper's row order first (alphabetical), then any other label.
    labels = [x for x in paper.TABLE2 if x in labels] + [x for x in labels if x not in paper.TABLE2]
    rows = []
    for label in labels:
        row: dict[str, Any] = {"label": label}
        ours = [r.per_class()[label] for r in main if label in r.per_class()]
        theirs = paper.TABLE2.get(label)
        for i, metric in enumerate(("precision", "recall", "f1")):
            row.update(_summary_columns(metric, summarize(x[metric] for x in ours)))
            row[f"paper_{metric}"] = theirs[i] if theirs else None
        rows.append(row)
    return rows


def table3(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Macro-averaged precision, recall and F1 of the two ConvGRU models (T=4)."""
    rows = []
    for model in paper.TABLE3_MODELS:
        selected = _main_runs(runs, model)
        row: dict[str, Any] = {"model": model, "name": paper.model_name(model)}
        for i, metric in enumerate(("precision", "recall", "f1")):
            row.update(
                _summary_columns(metric, summarize(r.metrics["macro"][metric] for r in selected))
            )
            row[f"paper_{metric}"] = paper.TABLE3[model][i]
        rows.append(row)
    return rows


def table4(
    runs: Sequence[RunResult], models: Sequence[str] = paper.PAPER_MODELS
) -> list[dict[str, Any]]:
    """Test accuracy of every model (T=4): the run's checkpoint and, for comparison, the best
    epoch."""
    extra = sorted({r.model for r in runs if r.clip_len == paper.PAPER_CLIP_LEN} - set(models))
    rows = []
    for model in (*models, *extra):
        selected = _main_runs(runs, model)
        row: dict[str, Any] = {"model": model, "name": paper.model_name(model)}
        row.update(_summary_columns("accuracy", summarize(r.accuracy for r in selected)))
        best = [r.best_epoch_accuracy for r in selected if r.best_epoch_accuracy is not None]
        row.update(_summary_columns("best_epoch_accuracy", summarize(best)))
        row["paper_accuracy"] = paper.TABLE4.get(model)
        row["seconds_per_run"] = (
            statistics.fmean(r.train_seconds + r.eval_seconds for r in selected)
            if selected
            else None
        )
        rows.append(row)
    return rows


def ablation(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """ResNet-ConvGRU test accuracy against the clip length T."""
    by_len: dict[int, list[RunResult]] = defaultdict(list)
    for r in runs:
        if r.model == paper.MAIN_MODEL:
            by_len[r.clip_len].append(r)
    rows = []
    for clip_len in sorted(set(by_len) | set(paper.ABLATION)):
        selected = by_len.get(clip_len, [])
        row: dict[str, Any] = {"clip_len": clip_len}
        row.update(_summary_columns("accuracy", summarize(r.accuracy for r in selected)))
        best = [r.best_epoch_accuracy for r in selected if r.best_epoch_accuracy is not None]
        row.update(_summary_columns("best_epoch_accuracy", summarize(best)))
        row["paper_accuracy"] = paper.ABLATION.get(clip_len)
        rows.append(row)
    return rows


def out_of_domain(
    runs: Sequence[RunResult], models: Sequence[str] = paper.PAPER_MODELS
) -> list[dict[str, Any]]:
    """Accuracy and macro F1 of each model (T=4) on the out-of-domain data, next to its in-domain
    test accuracy."""
    rows = []
    for model in (*models, *sorted({r.model for r in runs} - set(models))):
        selected = [r for r in _main_runs(runs, model) if r.ood_report is not None]
        row: dict[str, Any] = {"model": model, "name": paper.model_name(model)}
        row.update(
            _summary_columns(
                "accuracy",
                summarize(r.ood_report["metrics"]["accuracy"]["value"] for r in selected),
            )
        )
        row.update(
            _summary_columns(
                "macro_f1", summarize(r.ood_report["metrics"]["macro"]["f1"] for r in selected)
            )
        )
        row.update(_summary_columns("in_domain_accuracy", summarize(r.accuracy for r in selected)))
        row["gifs"] = selected[0].ood_report["metrics"]["n_gifs"] if selected else None
        rows.append(row)
    return rows


def run_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """``runs.csv``: every per-run number the tables are made of."""
    rows = []
    for r in runs:
        m, context = r.metrics, r.report["context"]
        rows.append(
            {
                "run": r.name,
                "model": r.model,
                "clip_len": r.clip_len,
                "seed": r.seed,
                "size": r.config.get("size"),
                "epochs": r.config.get("epochs"),
                "epochs_done": len(r.history),
                "checkpoint_epoch": context.get("checkpoint_epoch"),
                "accuracy": r.accuracy,
                "accuracy_bootstrap_low": m["accuracy"]["ci_low"],
                "accuracy_bootstrap_high": m["accuracy"]["ci_high"],
                "best_epoch_accuracy": r.best_epoch_accuracy,
                "clip_accuracy": m["clip_accuracy"],
                **{
                    f"{avg}_{k}": m[avg][k]
                    for avg in ("macro", "weighted")
                    for k in ("precision", "recall", "f1")
                },
                "test_gifs": m["n_gifs"],
                "test_clips": m["n_clips"],
                "train_seconds": r.train_seconds,
                "eval_seconds": r.eval_seconds,
                "ood_accuracy": r.ood_report["metrics"]["accuracy"]["value"]
                if r.ood_report
                else None,
                "ood_macro_f1": r.ood_report["metrics"]["macro"]["f1"] if r.ood_report else None,
                "split_sha256": r.split_sha256,
                "hardware": context.get("training", {}).get("hardware"),
            }
        )
    return rows


def per_class_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """``per_class.csv``: precision, recall, F1 and support per run and class."""
    return [
        {"run": r.name, "model": r.model, "clip_len": r.clip_len, "seed": r.seed, **row}
        for r in runs
        for row in r.metrics["per_class"]
    ]
