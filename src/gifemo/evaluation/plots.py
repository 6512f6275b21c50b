"""Figures of an evaluation report (matplotlib, headless Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    return save_png(figure, path, dpi=120)


def save_png(figure, path: str | Path, *, dpi: int) -> Path:
    """Write a matplotlib figure to ``path`` as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_reliability_diagram(
    calibration: dict[str, Any], path: str | Path, *, title: str = ""
) -> Path:
    """Write a PNG reliability diagram of a report's ``calibration`` section.

    Left: accuracy against confidence per bin (the diagonal is perfect calibration; bars under
    it are over-confident), for the model as it predicts and, when it has a temperature, the
    raw model. Right: how many GIFs fall in each bin.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_bins = int(calibration["n_bins"])
    width = 1.0 / n_bins
    temperature = float(calibration.get("temperature", 1.0))
    curves = []
    if "uncalibrated" in calibration:
        curves.append(("uncalibrated (T = 1)", calibration["uncalibrated"], "#bbbbbb"))
    name = f"T = {temperature:.2f}" if temperature != 1.0 else "T = 1"
    curves.append((name, calibration, "#1f77b4"))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(9.5, 4.2), constrained_layout=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    left.plot([0, 1], [0, 1], "--", color="#444444", lw=1, label="perfect calibration")
    for i, (label, values, color) in enumerate(curves):
        bins = values["reliability"]
        offset = (i - (len(curves) - 1) / 2) * width / len(curves)
        left.bar(
            [b["low"] + width / 2 + offset for b in bins],
            [b["accuracy"] for b in bins],
            width=width / len(curves),
            color=color,
            edgecolor="white",
            label=f"{label}: ECE {values['ece']['value']:.3f}",
        )
        left.plot(
            [b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color=color, ms=3
        )
        right.bar(
            [b["low"] + width / 2 + offset for b in bins],
            [b["count"] for b in bins],
            width=width / len(curves),
            color=color,
            label=label,
        )
    left.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top intensity)", ylabel="accuracy")
    left.set_title("Reliability (dots: mean confidence of the bin)")
    left.legend(loc="upper left", fontsize=8)
    right.set(xlim=(0, 1), xlabel="confidence (top intensity)", ylabel="GIFs")
    right.set_title(f"GIFs per bin ({n_bins} bins)")
    if len(curves) > 1:
        right.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return save_png(figure, path, dpi=110)
