"""The emotion timeline of one GIF as a PNG: each emotion's intensity, clip by clip, over time.

Each clip's intensities hold from its first frame's start to the next clip's start (a step
chart): the x axis is in seconds, from the GIF's effective frame delays. The legend gives each
emotion's GIF-level intensity (the mean over clips).
"""

from __future__ import annotations

import os
from pathlib import Path

from gifemo.atomic import atomic_write
from gifemo.inference.prediction import Prediction

#: One colour per paper emotion, shared by the timeline and the annotated GIF's bar chart.
EMOTION_COLORS: dict[str, tuple[int, int, int]] = {
    "happiness": (242, 169, 0),
    "like": (227, 119, 194),
    "surprise": (23, 190, 207),
    "sadness": (31, 119, 180),
    "anger": (214, 39, 40),
    "disgust": (44, 160, 44),
    "fear": (148, 103, 189),
}
_FALLBACK = [(140, 86, 75), (127, 127, 127), (188, 189, 34), (255, 127, 14), (174, 199, 232)]


def label_colors(labels: tuple[str, ...]) -> dict[str, tuple[int, int, int]]:
    """RGB colour per label: the fixed ones for the paper's emotions, a cycle for others."""
    colors, spare = {}, 0
    for label in labels:
        if label in EMOTION_COLORS:
            colors[label] = EMOTION_COLORS[label]
        else:
            colors[label] = _FALLBACK[spare % len(_FALLBACK)]
            spare += 1
    return colors


def plot_timeline(
    prediction: Prediction, dest: str | os.PathLike, *, title: str | None = None, dpi: int = 120
) -> Path:
    """Write the timeline of ``prediction`` to the PNG ``dest`` (atomically); return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    clips = prediction.clips
    # Step chart: clip i's value holds on [start_i, start_{i+1}); the last one until its end.
    xs = [clip.start_s for clip in clips] + [clips[-1].end_s]
    colors = label_colors(prediction.labels)

    figure = Figure(figsize=(8, 4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for label in prediction.labels:
        ys = [clip.intensities[label] for clip in clips]
        ax.step(
            xs,
            ys + ys[-1:],
            where="post",
            color=[c / 255 for c in colors[label]],
            linewidth=2.2 if label == prediction.top_label else 1.3,
            label=f"{label} ({prediction.intensities[label]:.0%})",
        )
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("intensity (clip probability)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    name = Path(prediction.source).name if "://" not in prediction.source else prediction.source
    ax.set_title(
        title
        or f"{name}: {prediction.top_label} {prediction.top_score:.0%} "
        f"({len(clips)} clips, {prediction.n_frames} frames)",
        fontsize=10,
    )
    dest = Path(dest)
    with atomic_write(dest, "wb") as handle:
        figure.savefig(handle, format="png")
    return dest
