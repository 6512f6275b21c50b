"""The results' figures: Table 2's F1 and Table 4's accuracy as bars, the clip-length ablation
as a line."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_bytes


def _figure(width: float = 7.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _err(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [row[f"{key}_ci95"] or 0.0 for row in rows]


def _clip_len_series(ax, rows: Sequence[dict[str, Any]], key: str, **style: Any) -> list:
    """Plot ``key`` (mean ± CI) against the clip length for the rows that have it; return them."""
    shown = [row for row in rows if row[f"{key}_n"]]
    ax.errorbar(
        [r["clip_len"] for r in shown],
        [r[key] for r in shown],
        yerr=_err(shown, key),
        capsize=4,
        **style,
    )
    return shown


def plot_ablation(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Accuracy against clip length: ours (mean ± CI) and the paper's."""
    figure = _figure()
    ax = figure.add_subplot()
    ours = _clip_len_series(ax, rows, "accuracy", marker="o", label="gifemo (mean ± 95% CI)")
    _clip_len_series(
        ax,
        ours,
        "best_epoch_accuracy",
        marker="s",
        linestyle="--",
        label="gifemo, best epoch chosen on test (optimistic)",
    )
    theirs = [row for row in rows if row["paper_accuracy"] is not None]
    ax.plot(
        [r["clip_len"] for r in theirs],
        [r["paper_accuracy"] for r in theirs],
        marker="^",
        color="black",
        label="paper (GIFGIF, 224 px, 100 epochs)",
    )
    ax.set_xlabel("frames per clip (T)")
    ax.set_ylabel("test GIF accuracy")
    ax.set_xticks(sorted({r["clip_len"] for r in rows}))
    ax.set_title("Clip-length ablation, ResNet-ConvGRU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(figure, path)


def plot_bars(
    labels: Sequence[str],
    ours: Sequence[dict[str, Any]],
    key: str,
    paper_key: str,
    path: Path,
    *,
    title: str,
    ylabel: str,
) -> Path:
    """Bars of our ``key`` (mean ± CI) per row, with the paper's values as markers."""
    figure = _figure(max(6.0, 1.0 * len(labels) + 2), 4.0)
    ax = figure.add_subplot()
    xs = range(len(labels))
    ax.bar(
        xs,
        [row[key] or 0.0 for row in ours],
        yerr=_err(ours, key),
        capsize=4,
        color="#4c72b0",
        label="gifemo (mean ± 95% CI)",
    )
    paper_x = [x for x, row in zip(xs, ours, strict=True) if row[paper_key] is not None]
    ax.scatter(
        paper_x,
        [ours[x][paper_key] for x in paper_x],
        marker="_",
        s=600,
        color="black",
        linewidths=2,
        label="paper",
        zorder=3,
    )
    ax.set_xticks(list(xs), labels, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(figure, path)
