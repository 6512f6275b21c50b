"""A byte-level scan of a GIF's block structure: canvas, palettes, and where each frame lies.

The scan reads headers and skips over the compressed pixel data, so it is cheap (no LZW
decoding) and lets the decoder refuse a hostile file (huge canvas, too many frames, truncated
data) before it allocates or decompresses anything. Structure as in the GIF89a specification:
header, logical screen descriptor, optional global colour table, then extensions and images
until the trailer byte ``0x3B``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gifemo.io.errors import (
    CorruptGifError,
    GifError,
    TooManyFramesError,
    TruncatedGifError,
    check_max_pixels,
)

GIF_SIGNATURES = (b"GIF87a", b"GIF89a")

_EXTENSION = 0x21
_IMAGE = 0x2C
_TRAILER = 0x3B
_GRAPHIC_CONTROL = 0xF9

# GIF stores delays in centiseconds.
_MS_PER_DELAY_UNIT = 10


def is_gif(data) -> bool:
    return bytes(data[:6]) in GIF_SIGNATURES


@dataclass(frozen=True)
class ColorTable:
    """Where a colour table lies in the file: ``offset`` of its first byte, ``size`` entries."""

    offset: int
    size: int

    def to_array(self, data) -> np.ndarray:
        """``(256, 3) uint8``; entries past the table are opaque black, as Chromium (Wuffs) does."""
        table = np.zeros((256, 3), dtype=np.uint8)
        raw = np.frombuffer(bytes(data[self.offset : self.offset + 3 * self.size]), dtype=np.uint8)
        table[: self.size] = raw.reshape(self.size, 3)
        return table


@dataclass(frozen=True)
class GifFrameRecord:
    """One image of the GIF as described by its headers (pixels still compressed).

    ``data_start:data_end`` spans the LZW sub-blocks (size-prefixed, with the terminator), the
    form Pillow's GIF decoder reads.
    """

    index: int
    left: int
    top: int
    width: int
    height: int
    interlaced: bool
    local_palette: ColorTable | None
    disposal: int  # raw 3-bit value from the graphic control extension (0 if absent)
    delay_ms: int
    transparent_index: int | None
    lzw_min_code_size: int
    data_start: int
    data_end: int


@dataclass
class GifLayout:
    """The scanned structure; ``frames`` holds only frames whose data is complete.

    ``error`` is the problem that stopped the scan early (truncated or corrupt data), or None.
    ``width``/``height`` are the canvas: the logical screen grown to contain the first frame,
    as Chromium does.
    """

    screen_width: int
    screen_height: int
    width: int
    height: int
    global_palette: ColorTable | None
    frames: list[GifFrameRecord] = field(default_factory=list)
    error: GifError | None = None
    has_trailer: bool = False


class _End(Exception):
    """Internal: the scan stopped at a truncation or corruption (carried in ``error``)."""

    def __init__(self, error: GifError) -> None:
        self.error = error


def _u16(data, pos: int) -> int:
    return data[pos] | (data[pos + 1] << 8)


class _Scanner:
    def __init__(self, data, name: str) -> None:
        self.data = data
        self.name = name
        self.n = len(data)

    def need(self, pos: int, count: int, what: str) -> None:
        if pos + count > self.n:
            raise _End(TruncatedGifError(self.name, f"the data ends inside {what} (offset {pos})"))

    def skip_sub_blocks(self, pos: int, what: str) -> int:
        """Return the offset just past the zero-length block that ends a sub-block chain."""
        data, n = self.data, self.n
        while True:
            if pos >= n:
                raise _End(TruncatedGifError(self.name, f"the data ends inside {what}"))
            size = data[pos]
            pos += 1 + size
            if size == 0:
                return pos
            if pos > n:
                raise _End(TruncatedGifError(self.name, f"the data ends inside {what}"))


def scan_gif(
    data,
    name: str,
    *,
    max_pixels: int | None,
    max_frames: int | None = None,
) -> GifLayout:
    """Scan the GIF in ``data`` (bytes-like).

    Raises :class:`CanvasTooLargeError` / :class:`TooManyFramesError` as soon as the header or the
    frame count exceeds the limits, and :class:`TruncatedGifError` when the data ends before the
    first frame's header. Later truncation or corruption is returned in ``layout.error`` with the
    complete frames before it, so the caller chooses between strict and lenient handling.
    """
    scanner = _Scanner(data, name)
    try:
        scanner.need(0, 13, "the header")
    except _End as end:
        raise end.error from None
    screen_w, screen_h = _u16(data, 6), _u16(data, 8)
    check_max_pixels(name, "the canvas", screen_w, screen_h, max_pixels)
    flags = data[10]
    pos = 13
    global_palette = None
    if flags & 0x80:
        global_palette = ColorTable(pos, 2 << (flags & 0x07))
        pos += 3 * global_palette.size
    layout = GifLayout(screen_w, screen_h, screen_w, screen_h, global_palette)
    try:
        scanner.need(13, pos - 13, "the global colour table")
        _scan_blocks(scanner, layout, pos, max_pixels=max_pixels, max_frames=max_frames)
    except _End as end:
        layout.error = end.error
    return layout


def _scan_blocks(
    scanner: _Scanner,
    layout: GifLayout,
    pos: int,
    *,
    max_pixels: int | None,
    max_frames: int | None,
) -> None:
    data, name = scanner.data, scanner.name
    disposal, delay_ms, transparent = 0, 0, None
    while pos < scanner.n:
        block = data[pos]
        if block == _TRAILER:
            layout.has_trailer = True
            return
        if block == _EXTENSION:
            scanner.need(pos, 2, "an extension")
            label = data[pos + 1]
            if label == _GRAPHIC_CONTROL and pos + 7 <= scanner.n and data[pos + 2] >= 4:
                packed = data[pos + 3]
                disposal = (packed >> 2) & 0x07
                delay_ms = _u16(data, pos + 4) * _MS_PER_DELAY_UNIT
                transparent = data[pos + 6] if packed & 0x01 else None
            pos = scanner.skip_sub_blocks(pos + 2, f"extension 0x{label:02X}")
            continue
        if block != _IMAGE:
            raise _End(
                CorruptGifError(
                    name,
                    f"unexpected byte 0x{block:02X} at offset {pos} where a block should start "
                    f"(after {len(layout.frames)} frame(s))",
                )
            )
        index = len(layout.frames)
        what = f"frame {index}"
        scanner.need(pos, 10, f"the descriptor of {what}")
        left, top = _u16(data, pos + 1), _u16(data, pos + 3)
        width, height = _u16(data, pos + 5), _u16(data, pos + 7)
        packed = data[pos + 9]
        pos += 10
        if max_frames is not None and index >= max_frames:
            raise TooManyFramesError(name, f"has more than max_frames={max_frames} frames")
        check_max_pixels(name, f"{what}", width, height, max_pixels)
        if index == 0:
            # Chromium (Wuffs) grows the canvas to hold the first frame; later frames are clipped.
            layout.width = max(layout.screen_width, left + width)
            layout.height = max(layout.screen_height, top + height)
            check_max_pixels(name, "the canvas", layout.width, layout.height, max_pixels)
        local_palette = None
        if packed & 0x80:
            local_palette = ColorTable(pos, 2 << (packed & 0x07))
            scanner.need(pos, 3 * local_palette.size, f"the colour table of {what}")
            pos += 3 * local_palette.size
        scanner.need(pos, 1, f"the pixel data of {what}")
        min_code_size = data[pos]
        if min_code_size > 8:
            raise _End(
                CorruptGifError(name, f"{what} has an invalid LZW code size {min_code_size}")
            )
        data_start = pos + 1
        pos = scanner.skip_sub_blocks(data_start, f"the pixel data of {what}")
        layout.frames.append(
            GifFrameRecord(
                index=index,
                left=left,
                top=top,
                width=width,
                height=height,
                interlaced=bool(packed & 0x40),
                local_palette=local_palette,
                disposal=disposal,
                delay_ms=delay_ms,
                transparent_index=transparent,
                lzw_min_code_size=min_code_size,
                data_start=data_start,
                data_end=pos,
            )
        )
        disposal, delay_ms, transparent = 0, 0, None
    # The data ends without a trailer. Browsers play such a file when its last frame is complete
    # (several encoders omit the trailer), so only a file without any frame is truncated.
    if not layout.frames:
        raise _End(TruncatedGifError(name, "the data ends before the first frame"))
