"""A contact sheet of the synthetic dataset: one row per GIF, grouped by class, then style.

The sheet shows GIFs ``0 .. gifs_per_class-1`` of each class and style exactly as the dataset
generated with the same seed, size and difficulty contains them (decoded, i.e. after
quantisation), at evenly spaced frames; frames near the expression's apex get a green border.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gifemo.atomic import atomic_write
from gifemo.data.synth.generate import item_seed, make_gif, parse_styles
from gifemo.data.synth.spec import DEFAULT_DIFFICULTY
from gifemo.data.synth.timeline import frame_times
from gifemo.labels import PAPER_EMOTIONS

_LABEL_WIDTH = 160
_GAP = 4
_APEX = (40, 200, 60)


def render_contact_sheet(
    dest: str | os.PathLike,
    *,
    seed: int = 0,
    size: int = 128,
    difficulty: float = DEFAULT_DIFFICULTY,
    gifs_per_class: int = 2,
    frames_per_gif: int = 8,
    labels: Sequence[str] = PAPER_EMOTIONS,
    styles: str | Sequence[str] = ("human",),
) -> Image.Image:
    """Render the sheet, write it to ``dest`` (PNG, atomically) and return it.

    ``gifs_per_class`` rows are shown per class and per style in ``styles``.
    """
    if gifs_per_class < 1 or frames_per_gif < 1:
        raise ValueError("gifs_per_class and frames_per_gif must be at least 1")
    styles = parse_styles(styles)
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=11)
    rows = len(labels) * len(styles) * gifs_per_class
    sheet = Image.new(
        "RGB",
        (_LABEL_WIDTH + frames_per_gif * (size + _GAP), rows * (size + _GAP) + _GAP),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(sheet)
    shown = [(lab, sty, i) for lab in labels for sty in styles for i in range(gifs_per_class)]
    for row, (label, style, i) in enumerate(shown):
        seed_i = item_seed(seed, PAPER_EMOTIONS.index(label), i, style)
        gif = make_gif(label, seed_i, size=size, difficulty=difficulty, style=style)
        frames = gif.encoding.frames
        y = _GAP + row * (size + _GAP)
        title = label if styles == ("human",) else f"{label} ({style})"
        draw.text((6, y + 4), title, fill=(0, 0, 0), font=font)
        lines = [
            f"#{i}: {len(frames)} fr, {gif.spec.delays_ms[0]} ms",
            "AUs " + "+".join(a[2:] for a in gif.spec.aus),
        ]
        if gif.spec.archetype:  # an emoji's recipe, cut to the label column
            lines.insert(1, gif.spec.archetype[:24])
        # Cue names, wrapped to the label column (three at most fit beside a small row).
        cues = [c["kind"] for c in gif.spec.cues.values()]
        lines += [" ".join(cues[j : j + 3]) for j in range(0, min(len(cues), 6), 3)]
        draw.multiline_text((6, y + 20), "\n".join(lines), fill=(90, 90, 90), font=small, spacing=1)
        strength = gif.spec.envelope(frame_times(gif.spec.delays_ms))
        picks = np.unique(np.linspace(0, len(frames) - 1, frames_per_gif).round().astype(int))
        for col, k in enumerate(picks):
            x = _LABEL_WIDTH + col * (size + _GAP)
            if strength[k] > 0.8:
                draw.rectangle((x - 2, y - 2, x + size + 1, y + size + 1), fill=_APEX)
            sheet.paste(Image.fromarray(frames[k]), (x, y))
    with atomic_write(dest, "wb") as handle:
        sheet.save(handle, format="PNG")
    return sheet
