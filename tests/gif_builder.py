"""A byte-level GIF89a writer for tests: every structure a test needs, written exactly as asked.

Real encoders (Pillow, ImageMagick) optimise, merge and re-palettise frames; tests of the decoder
need the opposite: a chosen disposal method, a transparency index whose palette entry is a
"garbage" colour, a local palette, an interlaced frame, an offset smaller frame, a given delay,
a missing trailer. The LZW encoder is plain Python, fine for test-sized frames.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

Palette = Sequence[tuple[int, int, int]]

TRAILER = b"\x3b"


@dataclass
class FrameSpec:
    """One image block: ``indices`` is ``(h, w)`` palette indices placed at ``(left, top)``."""

    indices: np.ndarray
    left: int = 0
    top: int = 0
    local_palette: Palette | None = None
    transparent_index: int | None = None
    disposal: int = 0
    delay_cs: int = 10
    interlaced: bool = False
    graphic_control: bool = True
    min_code_size: int | None = None  # None: the smallest valid size for the palette
    n_pixels: int | None = None  # encode only the first n pixels: an LZW stream that ends early


def _table_bits(n_colors: int) -> int:
    """Smallest ``b`` with ``2 ** (b + 1) >= n_colors`` (the 3-bit size field of a colour table)."""
    bits = 0
    while (2 << bits) < n_colors:
        bits += 1
    return bits


def _color_table(palette: Palette) -> tuple[int, bytes]:
    bits = _table_bits(len(palette))
    padded = list(palette) + [(0, 0, 0)] * ((2 << bits) - len(palette))
    return bits, b"".join(bytes(color) for color in padded)


def lzw_encode(pixels: bytes, min_code_size: int) -> bytes:
    """GIF-flavoured LZW: variable-width codes, LSB first, clear code at start and when full."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    bit_buffer = bit_count = 0

    def emit(code: int, width: int) -> None:
        nonlocal bit_buffer, bit_count
        bit_buffer |= code << bit_count
        bit_count += width
        while bit_count >= 8:
            out.append(bit_buffer & 0xFF)
            bit_buffer >>= 8
            bit_count -= 8

    def reset() -> tuple[dict[bytes, int], int, int]:
        return {bytes([i]): i for i in range(clear)}, end + 1, min_code_size + 1

    table, next_code, width = reset()
    emit(clear, width)
    prefix = b""
    for value in pixels:
        candidate = prefix + bytes([value])
        if candidate in table:
            prefix = candidate
            continue
        emit(table[prefix], width)
        if next_code == 4096:
            emit(clear, width)
            table, next_code, width = reset()
        else:
            table[candidate] = next_code
            next_code += 1
            # The decoder adds its entries one code later, so widen once the entry 2**width exists.
            if next_code > (1 << width) and width < 12:
                width += 1
        prefix = bytes([value])
    if prefix:
        emit(table[prefix], width)
    emit(end, width)
    if bit_count:
        out.append(bit_buffer & 0xFF)
    return bytes(out)


def sub_blocks(data: bytes) -> bytes:
    """Split into size-prefixed blocks of at most 255 bytes, then the zero-length terminator."""
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(bytes([len(c)]) + c for c in chunks) + b"\x00"


def interlace_rows(height: int) -> list[int]:
    """The order in which an interlaced GIF stores its rows (passes of 8, 8, 4, 2)."""
    return [*range(0, height, 8), *range(4, height, 8), *range(2, height, 4), *range(1, height, 2)]


def encode_frame(spec: FrameSpec, n_colors: int) -> bytes:
    """Graphic control extension (optional) + image descriptor + local palette + LZW data."""
    indices = np.asarray(spec.indices, dtype=np.uint8)
    height, width = indices.shape
    out = bytearray()
    if spec.graphic_control:
        packed = (spec.disposal & 0x07) << 2 | (1 if spec.transparent_index is not None else 0)
        out += struct.pack(
            "<BBBBHBB", 0x21, 0xF9, 4, packed, spec.delay_cs, spec.transparent_index or 0, 0
        )
    packed = 0x40 if spec.interlaced else 0
    local = b""
    if spec.local_palette is not None:
        bits, local = _color_table(spec.local_palette)
        packed |= 0x80 | bits
        n_colors = len(spec.local_palette)
    out += struct.pack("<BHHHHB", 0x2C, spec.left, spec.top, width, height, packed) + local
    rows = interlace_rows(height) if spec.interlaced else range(height)
    pixels = indices[list(rows)].tobytes()[: spec.n_pixels]
    min_code_size = spec.min_code_size or max(2, _table_bits(n_colors) + 1)
    out += bytes([min_code_size]) + sub_blocks(lzw_encode(pixels, min_code_size))
    return bytes(out)


def gif_header(
    *,
    width: int,
    height: int,
    global_palette: Palette | None = None,
    background_index: int = 0,
    loop: int | None = 0,
) -> bytes:
    """Signature, logical screen descriptor, global colour table and looping extension."""
    packed, table = 0, b""
    if global_palette is not None:
        bits, table = _color_table(global_palette)
        packed = 0x80 | 0x70 | bits  # 0x70: 8 bits of colour resolution
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, packed, background_index, 0) + table
    if loop is not None:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"
    return out


def build_gif(
    *,
    width: int,
    height: int,
    frames: Sequence[FrameSpec],
    global_palette: Palette | None = None,
    background_index: int = 0,
    loop: int | None = 0,
    trailer: bool = True,
) -> bytes:
    """A complete GIF89a file; ``loop=None`` leaves out the NETSCAPE2.0 looping extension."""
    out = bytearray(
        gif_header(
            width=width,
            height=height,
            global_palette=global_palette,
            background_index=background_index,
            loop=loop,
        )
    )
    n_colors = len(global_palette) if global_palette is not None else 2
    for spec in frames:
        out += encode_frame(spec, n_colors)
    if trailer:
        out += TRAILER
    return bytes(out)


def solid(height: int, width: int, index: int) -> np.ndarray:
    """``(height, width)`` block of one palette index."""
    return np.full((height, width), index, dtype=np.uint8)


def pattern(height: int, width: int, n_colors: int, seed: int = 0) -> np.ndarray:
    """Random indices in ``[0, n_colors)``: every pixel checks the palette lookup."""
    return np.random.default_rng(seed).integers(0, n_colors, size=(height, width), dtype=np.uint8)


# ---- Named scenarios shared by the decoder tests and the ImageMagick comparison ----------------

#: Eight colours; index 4 is the transparency index of the scenarios and holds a "garbage" colour
#: that must never appear in a decoded frame.
PALETTE: list[tuple[int, int, int]] = [
    (220, 20, 60),
    (34, 139, 34),
    (30, 144, 255),
    (255, 215, 0),
    (255, 0, 255),
    (255, 140, 0),
    (128, 128, 128),
    (250, 250, 250),
]
TRANSPARENT = 4
GARBAGE = PALETTE[TRANSPARENT]
W, H = 12, 10


def patch(height: int, width: int, left: int, top: int, seed: int, **options) -> FrameSpec:
    """A random ``height x width`` frame at ``(left, top)`` whose index 4 pixels are transparent."""
    return FrameSpec(
        pattern(height, width, 8, seed=seed),
        left=left,
        top=top,
        transparent_index=TRANSPARENT,
        **options,
    )


def scenario_gif(frames: Sequence[FrameSpec], width: int = W, height: int = H) -> bytes:
    """A GIF on the test palette."""
    return build_gif(width=width, height=height, global_palette=PALETTE, frames=frames)


def disposal_gif(disposal: int, *, partial_first: bool = False) -> bytes:
    """Four frames; frames 1 and 2 overlap, carry transparent pixels and use ``disposal``.

    With ``partial_first`` the first frame covers only part of the canvas, has transparent
    pixels and uses ``disposal`` too, so the initial (transparent) canvas shows.
    """
    first = (
        patch(5, 6, 2, 1, seed=1, disposal=disposal)
        if partial_first
        else FrameSpec(pattern(H, W, 8, seed=1))
    )
    return scenario_gif(
        [
            first,
            patch(4, 5, 3, 2, seed=2, disposal=disposal),
            patch(3, 3, 1, 5, seed=3, disposal=disposal),
            FrameSpec(solid(2, 2, 6), left=9, top=7),
        ]
    )


@functools.cache
def scenarios() -> Mapping[str, bytes]:
    """GIFs on which browsers and ImageMagick's ``-coalesce`` agree, by name.

    Every scenario whose frames leave part of the canvas uncovered declares a transparency index:
    without one, ImageMagick paints the uncovered canvas with the GIF's background colour, where
    browsers leave it transparent (tested separately).
    """
    full = FrameSpec(pattern(H, W, 8, seed=1))
    cases = {f"disposal-{d}": disposal_gif(d) for d in range(4)}
    for d in range(4):
        cases[f"disposal-{d}-partial-first-frame"] = disposal_gif(d, partial_first=True)
    cases["transparent-first-frame"] = scenario_gif([patch(H, W, 0, 0, seed=1)])
    local = [(9, 9, 9), (250, 1, 1), (255, 0, 255), (100, 100, 200)]
    cases["local-palettes"] = scenario_gif(
        [
            full,
            FrameSpec(
                pattern(6, 7, 4, seed=2), left=2, top=2, transparent_index=2, local_palette=local
            ),
            FrameSpec(pattern(3, 3, 8, seed=3), left=8, top=6),
        ]
    )
    cases["interlaced"] = scenario_gif(
        [
            FrameSpec(pattern(13, 7, 8, seed=1), interlaced=True),
            patch(11, 5, 1, 2, seed=4, interlaced=True),
        ],
        width=7,
        height=13,
    )
    cases["partial-offsets"] = scenario_gif(
        [
            patch(3, 4, 0, 0, seed=1),
            patch(2, 3, 9, 8, seed=2),
            patch(1, 12, 0, 5, seed=3, disposal=2),
            patch(10, 1, 6, 0, seed=4),
        ]
    )
    cases["later-frame-clipped"] = scenario_gif(
        [full, FrameSpec(pattern(6, 6, 8, seed=2), left=9, top=7)]
    )
    cases["no-graphic-control"] = scenario_gif(
        [
            FrameSpec(pattern(H, W, 8, seed=1), graphic_control=False),
            FrameSpec(pattern(3, 3, 8, seed=2), left=2, top=2, graphic_control=False),
        ]
    )
    big = pattern(64, 80, 256, seed=5)
    cases["lzw-table-resets-256-colours"] = build_gif(
        width=80,
        height=64,
        global_palette=[(i, (7 * i) % 256, (13 * i) % 256) for i in range(256)],
        frames=[
            FrameSpec(big),
            FrameSpec(big[::-1].copy(), transparent_index=0, disposal=3),
            FrameSpec(pattern(20, 30, 256, seed=6), left=7, top=9),
        ],
    )
    return MappingProxyType(cases)  # built once, shared by the tests: read-only
