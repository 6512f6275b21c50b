"""gifemo.evaluation: GIF-level metrics and reports.

>>> from gifemo.evaluation import evaluate_run
>>> report = evaluate_run("runs/paper")                  # doctest: +SKIP
>>> report["metrics"]["accuracy"]                         # doctest: +SKIP
"""

from __future__ import annotations

from gifemo.evaluation.evaluate import evaluate_run, predict_gifs
from gifemo.evaluation.metrics import GifPredictions, accuracy_ci, compute_metrics, pool_clips
from gifemo.evaluation.plots import plot_confusion_matrix
from gifemo.evaluation.report import render_markdown, write_report

__all__ = [
    "GifPredictions",
    "accuracy_ci",
    "compute_metrics",
    "evaluate_run",
    "plot_confusion_matrix",
    "pool_clips",
    "predict_gifs",
    "render_markdown",
    "write_report",
]
