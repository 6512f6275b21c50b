"""GIF frames composited as a browser shows them.

Pillow does the LZW decompression of each frame (into palette indices); the compositing is done
here so that it follows Chromium (Skia + Wuffs), which agrees with Firefox on these points:

- The canvas starts fully transparent; the GIF's background colour index is ignored.
- A pixel whose index is the frame's transparency index leaves the canvas unchanged.
- Disposal 0 (unspecified) and 1 (do not dispose) keep the frame; 2 clears the frame's rectangle
  to transparent (not to the GIF's background colour); 3, and 4 which some encoders write for
  it, restore the rectangle to what it was before the frame was drawn; 5-7 act like 0.
- A frame's rectangle is clipped to the canvas; the canvas is the logical screen, grown to hold
  the first frame (see :mod:`gifemo.io.gif_layout`).
- A frame whose LZW stream ends before its rectangle is full changes only the pixels it decoded.
- Palette entries past the colour table's length, and every entry of a frame without any colour
  table, are opaque black.

"Transparent" is the fixed ``background`` colour: the canvas is kept as opaque RGB.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from gifemo.io.errors import CorruptGifError
from gifemo.io.gif_layout import GifFrameRecord, GifLayout

_DISPOSE_BACKGROUND = 2
_DISPOSE_PREVIOUS = (3, 4)

_NOT_ENOUGH_DATA = "not enough image data"  # Pillow's ValueError message for a short stream


def _run_lzw(image: Image.Image, payload: bytes, record: GifFrameRecord) -> bool:
    """Decode ``payload`` into ``image`` (mode L: indices); return whether it wrote every pixel."""
    try:
        image.frombytes(payload, "gif", record.lzw_min_code_size, int(record.interlaced))
    except ValueError as error:
        if str(error) == _NOT_ENOUGH_DATA:
            return False
        raise
    return True


def decode_indices(data, record: GifFrameRecord, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(height, width) uint8`` palette indices of one frame, and a mask of the pixels written.

    The mask is None when the LZW stream filled the whole rectangle (the usual case). Otherwise
    the frame is decoded a second time onto a different fill value: the pixels that differ
    between the two runs are those the stream never reached.
    """
    payload = bytes(data[record.data_start : record.data_end])
    size = (record.width, record.height)
    try:
        first = Image.new("L", size, 0)
        if _run_lzw(first, payload, record):
            return np.asarray(first), None
        second = Image.new("L", size, 255)
        _run_lzw(second, payload, record)
    except ValueError as error:
        raise CorruptGifError(
            name, f"frame {record.index} has invalid LZW data ({error})"
        ) from None
    indices, other = np.asarray(first), np.asarray(second)
    return indices, indices == other


class GifCompositor:
    """Holds the ``(H, W, 3) uint8`` canvas and applies frames and their disposal in order."""

    def __init__(self, layout: GifLayout, data, background: tuple[int, int, int]) -> None:
        self.layout = layout
        self.data = data
        self.background = np.asarray(background, dtype=np.uint8)
        self.canvas = np.empty((layout.height, layout.width, 3), dtype=np.uint8)
        self.canvas[:] = self.background
        self._global = (
            layout.global_palette.to_array(data)
            if layout.global_palette is not None
            else np.zeros((256, 3), dtype=np.uint8)
        )
        self._pending: tuple[int, tuple[slice, slice], np.ndarray | None] | None = None

    def _clip(self, record: GifFrameRecord) -> tuple[slice, slice]:
        height, width = self.layout.height, self.layout.width
        rows = slice(min(record.top, height), min(record.top + record.height, height))
        cols = slice(min(record.left, width), min(record.left + record.width, width))
        return rows, cols

    def draw(self, record: GifFrameRecord, name: str) -> np.ndarray:
        """Dispose the previous frame, draw ``record``; return the canvas (a view: copy to keep)."""
        if self._pending is not None:
            disposal, rect, saved = self._pending
            if disposal == _DISPOSE_BACKGROUND:
                self.canvas[rect] = self.background
            elif saved is not None:
                self.canvas[rect] = saved
        rows, cols = self._clip(record)
        region = self.canvas[rows, cols]
        saved = region.copy() if record.disposal in _DISPOSE_PREVIOUS else None
        if region.size:
            indices, written = decode_indices(self.data, record, name)
            indices = indices[: region.shape[0], : region.shape[1]]
            palette = (
                record.local_palette.to_array(self.data)
                if record.local_palette is not None
                else self._global
            )
            mask = None if written is None else written[: region.shape[0], : region.shape[1]]
            if record.transparent_index is not None:
                opaque = indices != record.transparent_index
                mask = opaque if mask is None else mask & opaque
            colors = np.take(palette, indices, axis=0)  # several times faster than palette[indices]
            if mask is None:
                region[...] = colors
            else:
                # A mask as large as the colours: copyto with a broadcast (h, w, 1) mask is slower.
                np.copyto(region, colors, where=np.repeat(mask[..., None], 3, axis=2))
        self._pending = (record.disposal, (rows, cols), saved)
        return self.canvas


def iter_gif_canvases(
    layout: GifLayout, data, name: str, background: tuple[int, int, int]
) -> Iterator[tuple[GifFrameRecord, np.ndarray]]:
    """Yield ``(record, canvas)`` per frame; the canvas array is reused, so copy what you keep."""
    compositor = GifCompositor(layout, data, background)
    for record in layout.frames:
        yield record, compositor.draw(record, name)
