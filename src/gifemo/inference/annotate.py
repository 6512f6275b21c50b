"""Write a GIF back with the emotions of the current clip drawn beside every frame.

Each output frame is the original frame (composited, at its own size) with a panel on its right:
one horizontal bar per emotion for the clip the frame belongs to, the top one marked. Frames
after the last clip (a remainder too short to make a clip) show the last clip. The original
frame delays are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gifemo.inference.prediction import ClipPrediction, Prediction
from gifemo.inference.timeline import label_colors

BACKGROUND = (255, 255, 255)
TEXT = (30, 30, 30)
TRACK = (228, 228, 228)


def frame_clip_index(prediction: Prediction) -> np.ndarray:
    """``(n_frames,)``: the clip each frame belongs to (its first clip; else the nearest one)."""
    owner = np.full(prediction.n_frames, -1, dtype=np.int64)
    for clip in reversed(prediction.clips):
        owner[list(clip.frame_indices)] = clip.index
    covered = np.flatnonzero(owner >= 0)
    for frame in np.flatnonzero(owner < 0):
        owner[frame] = owner[covered[np.abs(covered - frame).argmin()]]
    return owner


def render_panel(
    clip: ClipPrediction, labels: tuple[str, ...], n_clips: int, height: int, width: int
) -> np.ndarray:
    """``(height, width, 3) uint8``: the clip's intensities as labelled horizontal bars."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    rows = len(labels) + 1  # a header row, then one row per label
    row_h = height / rows
    font = ImageFont.load_default(size=max(8, int(row_h * 0.5)))
    pad = max(2, width // 40)
    draw.text(
        (pad, row_h * 0.2),
        f"clip {clip.index + 1}/{n_clips}  {clip.start_s:.2f}s",
        fill=TEXT,
        font=font,
    )
    label_w = max(draw.textlength(label, font=font) for label in labels) + 2 * pad
    value_w = draw.textlength("100%", font=font) + pad
    bar_w = max(4.0, width - label_w - value_w - pad)
    colors = label_colors(labels)
    top = clip.top_label
    for row, label in enumerate(labels, start=1):
        y0, y1 = row * row_h + row_h * 0.15, (row + 1) * row_h - row_h * 0.15
        value = clip.intensities[label]
        draw.text((pad, y0), label, fill=TEXT, font=font)
        draw.rectangle((label_w, y0, label_w + bar_w, y1), fill=TRACK)
        draw.rectangle((label_w, y0, label_w + bar_w * value, y1), fill=colors[label])
        if label == top:
            draw.rectangle(
                (label_w, y0, label_w + bar_w, y1), outline=TEXT, width=max(1, int(row_h // 12))
            )
        draw.text((label_w + bar_w + pad, y0), f"{value:.0%}", fill=TEXT, font=font)
    return np.asarray(image)


def annotate_frames(frames: np.ndarray, prediction: Prediction) -> np.ndarray:
    """``(T, H, W, 3) uint8 -> (T, H', W + P, 3) uint8``: frames with the clip's bar chart beside.

    ``H' = max(H, 120)`` (tiny GIFs get room for seven readable bars) and ``P`` scales with it.
    """
    n, h, w, _ = frames.shape
    if n != prediction.n_frames:
        raise ValueError(
            f"{prediction.source}: {n} frames given, the prediction saw {prediction.n_frames}"
        )
    height = max(h, 120)
    panel_w = max(150, int(height * 0.75))
    panels = [
        render_panel(c, prediction.labels, len(prediction.clips), height, panel_w)
        for c in prediction.clips
    ]
    out = np.empty((n, height, w + panel_w, 3), dtype=np.uint8)
    out[:] = BACKGROUND
    top = (height - h) // 2
    out[:, top : top + h, :w] = frames
    for i, clip_index in enumerate(frame_clip_index(prediction)):
        out[i, :, w:] = panels[clip_index]
    return out


def annotate_gif(prediction: Prediction, source, dest: str | os.PathLike) -> Path:
    """Decode ``source`` (the GIF ``prediction`` was made from), annotate it, write ``dest``.

    ``source``: a path, bytes or binary file object. The GIF is written atomically with
    :func:`gifemo.io.write_gif`, keeping the original delays.
    """
    from gifemo.io import read_gif, write_gif

    gif = read_gif(source, strict=not prediction.truncated)
    frames = gif.frames[: prediction.n_frames]
    write_gif(dest, annotate_frames(frames, prediction), gif.durations_ms[: prediction.n_frames])
    return Path(dest)
