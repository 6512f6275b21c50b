"""Errors raised while reading animated images.

Every error names the file (``source``) and says what is wrong with it (``reason``), so a batch
job can log it and go on to the next file. They subclass :class:`ValueError` because the problem
is always the input, never the program.
"""

from __future__ import annotations


class GifError(ValueError):
    """Base class: the input could not be read as an (animated) image.

    Attributes:
        source: the name of the file (its path, or ``"<bytes>"`` / the file object's name).
        reason: what is wrong, in words, without the file name.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")

    def __reduce__(self):  # keep pickling (multiprocessing workers) working with two arguments
        return (type(self), (self.source, self.reason))


class NotAnImageError(GifError):
    """The data is not a GIF nor any other image format Pillow can open."""


class TruncatedGifError(GifError):
    """The data ends before the image is complete (cut download, partial copy)."""


class CorruptGifError(GifError):
    """The data is a GIF but its structure or compressed pixels are invalid."""


class EmptyGifError(GifError):
    """The image is well-formed but holds no frame."""


class CanvasTooLargeError(GifError):
    """The canvas (or a frame) has more pixels than ``max_pixels``: refused before allocating it."""


class TooManyFramesError(GifError):
    """The animation has more frames than ``max_frames``."""


def check_max_pixels(
    source: str, what: str, width: int, height: int, max_pixels: int | None
) -> None:
    """Raise :class:`CanvasTooLargeError` when ``width * height`` is over ``max_pixels``."""
    if max_pixels is not None and width * height > max_pixels:
        raise CanvasTooLargeError(
            source,
            f"{what} is {width}x{height} = {width * height:,} pixels, over "
            f"max_pixels={max_pixels:,} (refused before decoding; raise max_pixels if the file "
            "is trusted)",
        )


__all__ = [
    "CanvasTooLargeError",
    "CorruptGifError",
    "EmptyGifError",
    "GifError",
    "NotAnImageError",
    "TooManyFramesError",
    "TruncatedGifError",
    "check_max_pixels",
]
