"""A GIF's frames as files: the paper's input step (section 3.1), ``gifemo frames``.

:func:`extract_frames` decodes an animated GIF (or WebP/APNG) into its composited frames and
writes them in time order as ``000000.png``, ``000001.png``, ... (RGB), plus ``frames.json``
with the delays. Frames are decoded one at a time, so a long animation needs memory for one
frame only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write, atomic_write_text

FRAME_NAME = "{:06d}.png"
FRAME_FILE = re.compile(r"^\d{6}\.png$")
MANIFEST_NAME = "frames.json"


def extract_frames(
    gif: str | Path,
    out_dir: str | Path,
    *,
    size: int | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
    strict: bool = True,
    max_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the frames of ``gif`` as PNGs into ``out_dir`` and return the ``frames.json`` content.

    ``size`` resizes every frame to ``size x size`` (:func:`gifemo.preprocess.resize_frame`, as
    training does); ``progress(done, total)`` is called before the first frame and after each.
    Every file is written atomically and ``frames.json`` last, so a directory holding a
    ``frames.json`` is complete. Numbered PNGs left by an earlier, longer extraction are removed.
    Raises :class:`gifemo.io.GifError` (naming the file) for input that cannot be read.
    """
    from PIL import Image

    from gifemo.io.decode import iter_frames
    from gifemo.preprocess import resize_frame

    gif, out_dir = Path(gif), Path(out_dir)
    names, durations, effective = [], [], []
    with iter_frames(gif, background=background, strict=strict, max_frames=max_frames) as frames:
        if progress:
            progress(0, frames.n_frames)
        out_dir.mkdir(parents=True, exist_ok=True)
        for frame in frames:
            image = frame.image if size is None else resize_frame(frame.image, size)
            name = FRAME_NAME.format(frame.index)
            with atomic_write(out_dir / name, "wb") as handle:
                Image.fromarray(image, mode="RGB").save(handle, format="PNG")
            names.append(name)
            durations.append(frame.duration_ms)
            effective.append(frame.effective_duration_ms)
            if progress:
                progress(len(names), frames.n_frames)
        manifest = {
            "source": str(gif),
            "format": frames.format,
            "n_frames": len(names),
            "original_width": frames.width,
            "original_height": frames.height,
            "width": size or frames.width,
            "height": size or frames.height,
            "size": size,
            "background": list(background),
            "frames": names,
            "durations_ms": durations,
            "effective_durations_ms": effective,
            "truncated": frames.truncated,
            "error": None if frames.error is None else frames.error.reason,
        }
    written = set(names)
    for stale in out_dir.iterdir():
        if FRAME_FILE.match(stale.name) and stale.name not in written:
            stale.unlink()
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest
