"""Figures of an evaluation report (matplotlib, headless Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gifemo.atomic import atomic_write_bytes


def plot_confusion_matrix(
    counts: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Write a PNG with the confusion matrix twice: counts, and rows normalised to recall.

    Rows are true classes, columns predicted classes (scikit-learn's convention).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    counts = np.asarray(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    side = 3.0 + 0.65 * len(labels)
    figure, axes = plt.subplots(1, 2, figsize=(2 * side + 1.5, side), constrained_layout=True)
    panels = (
        (counts, "d", "Counts (GIFs)"),
        (normalized, ".2f", "Normalised by true class (recall)"),
    )
    for ax, (matrix, fmt, name) in zip(axes, panels, strict=True):
        display = ConfusionMatrixDisplay(matrix, display_labels=list(labels))
        display.plot(ax=ax, cmap="Blues", values_format=fmt, colorbar=False, xticks_rotation=45)
        ax.set_title(name)
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
