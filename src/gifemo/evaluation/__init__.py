"""gifemo.evaluation: GIF-level metrics and reports.

>>> from gifemo.evaluation import evaluate_run, train_and_evaluate
>>> result = train_and_evaluate(TrainConfig(data="data/gifgif7"), "runs/paper")  # doctest: +SKIP
>>> report = evaluate_run("runs/paper", data="other/")  # doctest: +SKIP
>>> report["metrics"]["accuracy"]                         # doctest: +SKIP
"""

from __future__ import annotations

from gifemo.evaluation.calibrate import calibrate_run
from gifemo.evaluation.evaluate import evaluate_run, predict_gifs
from gifemo.evaluation.metrics import GifPredictions, accuracy_ci, compute_metrics
from gifemo.evaluation.pipeline import train_and_evaluate
from gifemo.evaluation.plots import plot_confusion_matrix, plot_reliability_diagram
from gifemo.evaluation.report import render_markdown, write_report

__all__ = [
    "GifPredictions",
    "accuracy_ci",
    "calibrate_run",
    "compute_metrics",
    "evaluate_run",
    "plot_confusion_matrix",
    "plot_reliability_diagram",
    "predict_gifs",
    "render_markdown",
    "train_and_evaluate",
    "write_report",
]
