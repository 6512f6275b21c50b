"""Animated WebP, APNG and still images through Pillow, which composites their frames itself.

Pillow returns each WebP/APNG frame as the full composited canvas (it applies their dispose and
blend operations); what is left to do here is to flatten the alpha channel onto the fixed
background colour, exactly as the GIF path treats transparent pixels.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from gifemo.io.errors import (
    CanvasTooLargeError,
    CorruptGifError,
    NotAnImageError,
    TruncatedGifError,
    check_max_pixels,
)


def head_format(data) -> str:
    """A name for the format announced by the first bytes, for messages."""
    head = bytes(data[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    return "image"


def open_with_pillow(data, name: str, *, max_pixels: int | None) -> Image.Image:
    """Open (header only) with Pillow; our size check replaces Pillow's decompression-bomb check."""
    try:
        with warnings.catch_warnings():
            # Our max_pixels check below gives the clear message; Pillow's warning would be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError as error:
        raise CanvasTooLargeError(
            name, f"the image is too large to decode safely ({error})"
        ) from None
    except UnidentifiedImageError:
        head = bytes(data[:8])
        raise NotAnImageError(
            name, f"not a GIF nor another image format Pillow reads (starts with {head!r})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise TruncatedGifError(
            name, f"the {head_format(data)} data is incomplete or damaged ({error})"
        ) from None
    check_max_pixels(name, "the canvas", *image.size, max_pixels)
    return image


def frame_indices(image: Image.Image) -> range:
    """Pillow's frame numbers that a browser plays.

    An APNG whose default image is not part of the animation (``default_image``) shows it only
    where APNG is not supported; Pillow lists it as frame 0, browsers skip it.
    """
    total = int(getattr(image, "n_frames", 1))
    skip_default = image.format == "PNG" and bool(image.info.get("default_image")) and total > 1
    return range(1 if skip_default else 0, total)


def flatten_alpha(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """``(H, W, 4) uint8 -> (H, W, 3) uint8``: composite onto ``background``, rounded to nearest."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    bg = np.asarray(background, dtype=np.uint16)
    mixed = rgba[..., :3].astype(np.uint16) * alpha + bg * (255 - alpha) + 127
    return (mixed // 255).astype(np.uint8)


def iter_pillow_frames(
    image: Image.Image, name: str, background: tuple[int, int, int]
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``((H, W, 3) uint8 frame, raw duration in ms)`` for each frame.

    Raises :class:`TruncatedGifError` or :class:`CorruptGifError` at the first frame Pillow
    cannot decode; the frames yielded before it are complete.
    """
    for number, index in enumerate(frame_indices(image)):
        try:
            image.seek(index)
            rgba = np.asarray(image.convert("RGBA"))
        except (OSError, EOFError) as error:
            raise TruncatedGifError(name, f"frame {number} cannot be decoded: {error}") from None
        except (ValueError, SyntaxError) as error:
            raise CorruptGifError(name, f"frame {number} cannot be decoded: {error}") from None
        duration = image.info.get("duration", 0) or 0
        yield flatten_alpha(rgba, background), int(round(float(duration)))
