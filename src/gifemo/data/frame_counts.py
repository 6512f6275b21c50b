"""Dataset statistics: GIFs per class, frames per GIF, and the paper's Fig. 5 histogram.

Frame counts come from :func:`gifemo.io.probe`, which reads only the headers of a GIF, so
statistics of a large dataset take seconds and need no frame cache.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gifemo.atomic import atomic_write
from gifemo.data.sources import GifDataset


@dataclass(frozen=True)
class FrameSummary:
    """Frames per GIF over a group of GIFs."""

    n_gifs: int
    min: int
    median: float
    mean: float
    max: int

    @classmethod
    def of(cls, counts: list[int]) -> FrameSummary | None:
        if not counts:
            return None
        return cls(
            len(counts),
            min(counts),
            statistics.median(counts),
            statistics.fmean(counts),
            max(counts),
        )


@dataclass(frozen=True)
class DatasetStats:
    """Frame counts of a dataset: ``frames[label]`` lists the frame count of each readable GIF."""

    labels: tuple[str, ...]
    frames: dict[str, list[int]]
    failures: list[tuple[str, str]]  # (rel_path, error) of files whose headers cannot be read

    @property
    def all_frames(self) -> list[int]:
        return [n for label in self.labels for n in self.frames[label]]

    def summary(self, label: str | None = None) -> FrameSummary | None:
        """Frames per GIF for one class, or overall when ``label`` is None (None if no GIF)."""
        return FrameSummary.of(self.all_frames if label is None else self.frames[label])

    def to_dict(self) -> dict:
        def as_dict(s: FrameSummary | None) -> dict | None:
            return None if s is None else s.__dict__.copy()

        return {
            "labels": list(self.labels),
            "gifs_per_class": {label: len(self.frames[label]) for label in self.labels},
            "frames_per_gif": {
                "overall": as_dict(self.summary()),
                **{label: as_dict(self.summary(label)) for label in self.labels},
            },
            "failures": [{"path": p, "error": e} for p, e in self.failures],
        }


def compute_stats(dataset: GifDataset) -> DatasetStats:
    """Probe every GIF of ``dataset`` for its frame count (unreadable files go to ``failures``)."""
    from gifemo.io import GifError, probe

    frames: dict[str, list[int]] = {label: [] for label in dataset.labels}
    failures: list[tuple[str, str]] = []
    for record in dataset.records:
        try:
            frames[record.label].append(probe(record.path, strict=False).n_frames)
        except GifError as error:
            failures.append((record.rel_path, f"{type(error).__name__}: {error.reason}"))
    return DatasetStats(dataset.labels, frames, failures)


def histogram_edges(counts: list[int], bin_width: int | None = None) -> np.ndarray:
    """Bin edges from 0 past the longest GIF; default width 10 frames, wider for very long GIFs
    so that the plot keeps about 40 bars at most."""
    top = max(counts, default=1)
    width = bin_width or max(10, 10 * math.ceil(top / 400))
    return np.arange(0, top + width + 1, width)


def plot_frame_histogram(
    stats: DatasetStats, path: str | Path, *, bin_width: int | None = None, title: str | None = None
) -> Path:
    """Draw the frame-count histogram (the paper's Fig. 5) and write it atomically to ``path``.

    The image format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    """
    # A bare Figure on the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    counts = stats.all_frames
    edges = histogram_edges(counts, bin_width)
    summary = stats.summary()
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(counts, bins=edges, color="#4c72b0", edgecolor="white")
    ax.set_xlabel("frames per GIF")
    ax.set_ylabel("number of GIFs")
    default_title = "Frame-count distribution"
    if summary is not None:
        default_title += (
            f" ({summary.n_gifs} GIFs; min {summary.min}, median {summary.median:g}, "
            f"max {summary.max})"
        )
    ax.set_title(title or default_title)
    ax.set_xlim(0, edges[-1])
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format=path.suffix.lstrip(".").lower() or "png")
    return path
