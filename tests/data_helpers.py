"""Small labelled GIF datasets for the data-pipeline tests, written with Pillow.

Every frame of every GIF differs (Pillow would merge identical consecutive frames, changing the
frame count) and every GIF differs from every other one (distinct content hashes) unless a test
copies a file on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

NOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"


def noto_or_skip() -> Path:
    if not (NOTO / "labels.csv").is_file():
        pytest.skip(f"real GIFs not found at {NOTO} (the repository's sibling shared/ folder)")
    return NOTO


def write_test_gif(
    path: Path,
    n_frames: int,
    *,
    seed: int = 0,
    size: tuple[int, int] = (20, 16),
    duration_ms: int = 40,
) -> Path:
    """An animated GIF of ``n_frames`` distinct frames (``size`` is width, height)."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=3)
    images = []
    for i in range(n_frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:] = (base + 41 * i) % 256
        # A bar whose length encodes the frame index: a non-uniform picture for the resize check.
        frame[: height // 2, : 1 + i % width] = (255 - frame[0, 0]).astype(np.uint8)
        images.append(Image.fromarray(frame))
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


def make_tree(root: Path, layout: dict[str, list[int]], *, seed: int = 0) -> dict[str, int]:
    """Write ``root/<label>/g<i>.gif`` with the given frame counts; return ``{rel: n_frames}``."""
    written = {}
    for label, frame_counts in layout.items():
        for i, n in enumerate(frame_counts):
            rel = f"{label}/g{i}.gif"
            write_test_gif(root / rel, n, seed=seed + len(written))
            written[rel] = n
    return written
