"""Reading (and writing) animated images.

>>> from gifemo.io import read_gif
>>> gif = read_gif("cat.gif")           # doctest: +SKIP
>>> gif.frames.shape                    # (T, H, W, 3) uint8, composited as a browser shows them
"""

from __future__ import annotations

from gifemo.io.decode import (
    DEFAULT_MAX_PIXELS,
    MIN_DELAY_MS,
    SLOW_DELAY_MS,
    DecodedGif,
    Frame,
    FrameIterator,
    ImageInfo,
    effective_duration_ms,
    iter_frames,
    probe,
    read_gif,
)
from gifemo.io.errors import (
    CanvasTooLargeError,
    CorruptGifError,
    EmptyGifError,
    GifError,
    NotAnImageError,
    TooManyFramesError,
    TruncatedGifError,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MIN_DELAY_MS",
    "SLOW_DELAY_MS",
    "CanvasTooLargeError",
    "CorruptGifError",
    "DecodedGif",
    "EmptyGifError",
    "Frame",
    "FrameIterator",
    "GifError",
    "ImageInfo",
    "NotAnImageError",
    "TooManyFramesError",
    "TruncatedGifError",
    "effective_duration_ms",
    "extract_frames",
    "iter_frames",
    "probe",
    "read_gif",
    "write_gif",
]


def __getattr__(name: str):
    # The writers live in their own modules (and pull in more of Pillow); load them on first use.
    if name == "write_gif":
        from gifemo.io.encode import write_gif

        return write_gif
    if name == "extract_frames":
        from gifemo.io.frame_files import extract_frames

        return extract_frames
    raise AttributeError(f"module 'gifemo.io' has no attribute {name!r}")
