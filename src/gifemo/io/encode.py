"""Write animated GIFs the way real encoders do.

``write_gif`` turns ``(T, H, W, 3) uint8`` frames into a GIF89a file:

1. **Palette quantisation** with Pillow: one *global* palette for the whole animation
   (gifsicle, ffmpeg's ``palettegen``) or one *local* palette per frame (Pillow's and
   ImageMagick's default), optionally with Floyd-Steinberg dithering.
2. **Partial-frame updates** (``optimize=True``): every frame after the first stores only the
   bounding box of the pixels that changed on screen, and pixels inside that box that did not
   change are written with a transparent index (as Pillow and ``gifsicle -O2`` do), which
   LZW compresses well.
3. **Disposal methods**: ``"none"`` writes method 0 (unspecified) as naive encoders do;
   ``"keep"`` leaves every frame in place (method 1, Pillow's choice); ``"background"`` restores
   every frame's rectangle to the background (method 2, as some exporters write), so the next
   frame repaints it; ``"auto"`` picks per frame between 1, 2 and 3 ("restore to previous")
   whichever makes the *next* frame's update rectangle smallest, as gifsicle's optimiser does
   (for opaque animations that is 1, or 3 after a transient frame such as a blink).

Whatever the options, a conforming decoder shows exactly ``GifEncoding.frames``: the quantised
frames, one displayed frame per input frame (identical consecutive frames become a 1x1 update
rather than being merged, so frame counts survive a round trip).

The container (header, colour tables, extensions, image descriptors) is written here; the LZW
image data comes from Pillow's GIF encoder.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image

from gifemo.atomic import atomic_write

__all__ = ["GifEncoding", "quantize_frames", "round_delay_cs", "write_gif"]

PaletteMode = Literal["global", "local"]
DisposalMode = Literal["none", "keep", "background", "auto"]
QuantizeMethod = Literal["fastoctree", "mediancut", "maxcoverage"]

_METHODS = {
    "fastoctree": Image.Quantize.FASTOCTREE,
    "mediancut": Image.Quantize.MEDIANCUT,
    "maxcoverage": Image.Quantize.MAXCOVERAGE,
}
# Pixels fed to a global palette search (octree: 128 frames of 128x128; median cut and max
# coverage are ~100x slower per pixel); longer GIFs are subsampled in time.
_GLOBAL_PALETTE_PIXELS = {"fastoctree": 1 << 21, "mediancut": 1 << 16, "maxcoverage": 1 << 16}
_MAX_CANVAS = 0xFFFF

_DISPOSE_NONE, _DISPOSE_KEEP, _DISPOSE_BACKGROUND, _DISPOSE_PREVIOUS = 0, 1, 2, 3


@dataclass(frozen=True)
class GifEncoding:
    """What was written.

    Attributes:
        frames: ``(T, H, W, 3) uint8``, the quantised frames: what a decoder shows.
        durations_ms: per-frame delays as stored (multiples of 10 ms).
        rects: per-frame update rectangle ``(x, y, width, height)``.
        disposals: per-frame GIF disposal method (0-3).
        palette_sizes: colours used by each frame's palette (the global one in global mode).
        transparent: per frame, whether it uses a transparent index for unchanged pixels.
        nbytes: size of the file.
    """

    frames: np.ndarray
    durations_ms: tuple[int, ...]
    rects: tuple[tuple[int, int, int, int], ...]
    disposals: tuple[int, ...]
    palette_sizes: tuple[int, ...]
    transparent: tuple[bool, ...]
    nbytes: int


def round_delay_cs(duration_ms: float) -> int:
    """Milliseconds -> the GIF's centiseconds, rounding half up (25 ms -> 3 cs = 30 ms).

    Clamped to the field's range ``[0, 65535]``. Note that browsers show delays under 20 ms as
    100 ms; that is a display convention, not applied here.
    """
    if not np.isfinite(duration_ms) or duration_ms < 0:
        raise ValueError(f"frame duration must be a finite number of ms >= 0, got {duration_ms!r}")
    return min(int(duration_ms / 10 + 0.5), 0xFFFF)


def _as_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) or (H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {arr.dtype}")
    t, h, w, _ = arr.shape
    if t == 0 or h == 0 or w == 0:
        raise ValueError(f"frames must be non-empty, got shape {arr.shape}")
    if h > _MAX_CANVAS or w > _MAX_CANVAS:
        raise ValueError(f"a GIF canvas is at most {_MAX_CANVAS} px a side, got {w}x{h}")
    return np.ascontiguousarray(arr)


def _as_durations(durations_ms, n: int) -> list[int]:
    if np.ndim(durations_ms) == 0:
        return [round_delay_cs(float(durations_ms))] * n
    durations = list(durations_ms)
    if len(durations) != n:
        raise ValueError(f"got {len(durations)} durations for {n} frames")
    return [round_delay_cs(float(d)) for d in durations]


def _pil_palette(img: Image.Image) -> np.ndarray:
    """``(256, 3) uint8``: a "P" image's palette, zero-padded."""
    palette = np.zeros((256, 3), np.uint8)
    raw = np.frombuffer(bytes(img.getpalette() or b""), np.uint8).reshape(-1, 3)[:256]
    palette[: len(raw)] = raw
    return palette


def _compact(
    index_images: list[np.ndarray], palette: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Drop palette entries no image uses; returns re-indexed images and the used colours."""
    counts = sum(np.bincount(i.ravel(), minlength=256) for i in index_images)
    used = np.flatnonzero(counts)
    lut = np.zeros(256, np.uint8)
    lut[used] = np.arange(len(used), dtype=np.uint8)
    return [lut[i] for i in index_images], palette[used]


def _quantize_one(
    img: Image.Image, colors: int, method: Image.Quantize, dither: bool
) -> tuple[np.ndarray, np.ndarray]:
    q = img.quantize(colors, method=method)
    if dither:
        # Pillow's adaptive quantisers map each pixel to its cluster without dithering, so
        # dithering is a second pass against the palette just found.
        q = img.quantize(palette=q, dither=Image.Dither.FLOYDSTEINBERG)
    (indices,), palette = _compact([np.asarray(q)], _pil_palette(q))
    return indices, palette


def _global_palette(frames: np.ndarray, colors: int, method: str) -> Image.Image:
    t, h, w, _ = frames.shape
    stride = max(1, -(-t * h * w // _GLOBAL_PALETTE_PIXELS[method]))
    mosaic = frames[::stride].reshape(-1, w, 3)
    return Image.fromarray(mosaic).quantize(colors, method=_METHODS[method])


def quantize_frames(
    frames,
    *,
    colors: int = 256,
    palette: PaletteMode = "global",
    dither: bool = False,
    method: QuantizeMethod = "fastoctree",
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Palette-quantise ``(T, H, W, 3) uint8`` frames.

    Returns ``(indices, palettes)``: per frame an ``(H, W) uint8`` index image and its
    ``(K, 3) uint8`` palette with ``K <= colors`` (in global mode every frame shares one palette
    object). ``palettes[t][indices[t]]`` is the quantised frame.
    """
    arr = _as_frames(frames)
    if not 2 <= colors <= 256:
        raise ValueError(f"colors must be in [2, 256], got {colors}")
    if palette not in ("global", "local"):
        raise ValueError(f"palette must be 'global' or 'local', got {palette!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    pil_method = _METHODS[method]
    if palette == "local":
        pairs = [_quantize_one(Image.fromarray(f), colors, pil_method, dither) for f in arr]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    t, h, w, _ = arr.shape
    if not dither and t * h * w <= _GLOBAL_PALETTE_PIXELS[method]:
        # All frames fit in one palette search, which also assigns every pixel its colour.
        ref = Image.fromarray(arr.reshape(t * h, w, 3)).quantize(colors, method=pil_method)
        raw = list(np.asarray(ref).reshape(t, h, w))
    else:
        ref = _global_palette(arr, colors, method)
        dither_mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
        raw = [
            np.asarray(Image.fromarray(f).quantize(palette=ref, dither=dither_mode)) for f in arr
        ]
    indices, shared = _compact(raw, _pil_palette(ref))
    return indices, [shared] * len(indices)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _rgb_keys(frames: np.ndarray) -> np.ndarray:
    """``(..., 3) uint8 -> (...) uint32``: one comparable number per pixel."""
    f = frames.astype(np.uint32)
    return (f[..., 0] << 16) | (f[..., 1] << 8) | f[..., 2]


#: Canvas key of a pixel cleared to the background (disposal 2): differs from every colour,
#: so the next frame always repaints it.
_CLEARED = np.uint32(0xFFFFFFFF)


def _union_area(box: tuple[int, int, int, int] | None, rect: tuple[int, int, int, int]) -> int:
    if box is None:
        return rect[2] * rect[3]
    x0, y0 = min(box[0], rect[0]), min(box[1], rect[1])
    x1 = max(box[0] + box[2], rect[0] + rect[2])
    y1 = max(box[1] + box[3], rect[1] + rect[3])
    return (x1 - x0) * (y1 - y0)


def _table_bits(n_entries: int) -> int:
    """GIF colour-table size field: the table holds ``2 ** (bits + 1)`` entries."""
    return max(0, int(np.ceil(np.log2(max(n_entries, 2)))) - 1)


def _color_table(palette: np.ndarray, bits: int) -> bytes:
    table = np.zeros((2 ** (bits + 1), 3), np.uint8)
    table[: len(palette)] = palette
    return table.tobytes()


def _lzw(indices: np.ndarray) -> bytes:
    """LZW-compressed image data in GIF sub-blocks (minimum code size 8, as Pillow writes)."""
    return bytes([8]) + Image.fromarray(indices, "P").tobytes("gif", "P") + b"\0"


def _plan_disposal(
    mode: DisposalMode,
    next_keys: np.ndarray | None,
    drawn: np.ndarray,
    rect: tuple[int, int, int, int],
    before: np.ndarray,
) -> int:
    """Frame t's disposal method; in ``"auto"`` mode the one giving frame t+1 the smallest update.

    ``drawn`` and ``before`` are the canvas (as ``_rgb_keys``) after and before frame t.
    """
    fixed = {"none": _DISPOSE_NONE, "keep": _DISPOSE_KEEP, "background": _DISPOSE_BACKGROUND}
    if mode in fixed:
        return fixed[mode]
    if next_keys is None:
        return _DISPOSE_KEEP
    keep_box = _bbox(next_keys != drawn)
    previous_box = _bbox(next_keys != before)
    costs = {
        _DISPOSE_KEEP: 1 if keep_box is None else keep_box[2] * keep_box[3],
        # Clearing the rectangle forces the next frame to repaint it as well.
        _DISPOSE_BACKGROUND: _union_area(keep_box, rect),
        _DISPOSE_PREVIOUS: 1 if previous_box is None else previous_box[2] * previous_box[3],
    }
    return min(costs, key=lambda d: (costs[d], d))


def _encode(
    arr: np.ndarray,
    delays_cs: list[int],
    *,
    loop: int | None,
    colors: int,
    dither: bool,
    palette: PaletteMode,
    method: QuantizeMethod,
    optimize: bool,
    disposal: DisposalMode,
    transparency: bool,
) -> tuple[bytes, GifEncoding]:
    t_count, height, width, _ = arr.shape
    use_transparency = optimize and transparency and t_count > 1
    # One palette slot stays free for the transparent index.
    content_colors = min(colors, 255) if use_transparency else colors
    indices, palettes = quantize_frames(
        arr, colors=content_colors, palette=palette, dither=dither, method=method
    )
    shown = np.stack([p[i] for i, p in zip(indices, palettes, strict=True)])

    global_palette = palettes[0]
    # Sized so that the transparent index (len(palette)) always lies inside the table.
    global_bits = _table_bits(len(global_palette) + use_transparency)
    out = [
        b"GIF89a",
        struct.pack("<HHBBB", width, height, 0x80 | 0x70 | global_bits, 0, 0),
        _color_table(global_palette, global_bits),
    ]
    if loop is not None and t_count > 1:
        if not 0 <= loop <= 0xFFFF:
            raise ValueError(f"loop must be None or in [0, 65535], got {loop}")
        out.append(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\0")

    keys = _rgb_keys(shown)
    canvas = np.full((height, width), _CLEARED)
    rects, disposals, transparent_flags = [], [], []
    for t in range(t_count):
        idx, pal = indices[t], palettes[t]
        before = canvas
        if t == 0 or not optimize:
            rect, paint = (0, 0, width, height), np.ones((height, width), bool)
        else:
            paint = keys[t] != canvas
            # An unchanged frame still gets a (1x1) update so that frame counts survive.
            rect = _bbox(paint) or (0, 0, 1, 1)
        x, y, w, h = rect
        tile = idx[y : y + h, x : x + w]
        transparent_index = None
        if use_transparency and t > 0 and not paint[y : y + h, x : x + w].all():
            transparent_index = len(pal)
            tile = np.where(paint[y : y + h, x : x + w], tile, np.uint8(transparent_index))

        drawn = keys[t]  # every pixel is now either repainted or already showed frame t
        nxt = keys[t + 1] if t + 1 < t_count else None
        dispose = _plan_disposal(disposal, nxt, drawn, rect, before)
        packed = (dispose << 2) | (transparent_index is not None)
        out.append(
            b"!\xf9\x04" + struct.pack("<BHB", packed, delays_cs[t], transparent_index or 0) + b"\0"
        )
        local = palette == "local" and t > 0 and not np.array_equal(pal, global_palette)
        if local:
            bits = _table_bits(len(pal) + (transparent_index is not None))
            out.append(b"," + struct.pack("<HHHHB", x, y, w, h, 0x80 | bits))
            out.append(_color_table(pal, bits))
        else:
            out.append(b"," + struct.pack("<HHHHB", x, y, w, h, 0))
        out.append(_lzw(np.ascontiguousarray(tile)))

        if dispose == _DISPOSE_BACKGROUND:
            canvas = drawn.copy()
            canvas[y : y + h, x : x + w] = _CLEARED
        elif dispose != _DISPOSE_PREVIOUS:
            canvas = drawn
        rects.append(rect)
        disposals.append(dispose)
        transparent_flags.append(transparent_index is not None)
    out.append(b";")

    data = b"".join(out)
    encoding = GifEncoding(
        frames=shown,
        durations_ms=tuple(10 * d for d in delays_cs),
        rects=tuple(rects),
        disposals=tuple(disposals),
        palette_sizes=(len(global_palette),) if palette == "global" else tuple(map(len, palettes)),
        transparent=tuple(transparent_flags),
        nbytes=len(data),
    )
    return data, encoding


def write_gif(
    dest: str | os.PathLike | BinaryIO,
    frames,
    durations_ms: float | Sequence[float] = 100,
    *,
    loop: int | None = 0,
    colors: int = 256,
    dither: bool = False,
    palette: PaletteMode = "global",
    method: QuantizeMethod = "fastoctree",
    optimize: bool = True,
    disposal: DisposalMode = "auto",
    transparency: bool = True,
) -> GifEncoding:
    """Encode ``frames`` as an animated GIF and write it to ``dest``.

    Args:
        dest: a path (written atomically: a crash leaves the old file or none) or a binary file
            object (written at its current position).
        frames: ``(T, H, W, 3) uint8`` (or one ``(H, W, 3)`` frame).
        durations_ms: one delay for all frames or one per frame. GIF stores centiseconds, so
            each is rounded half up to a multiple of 10 ms (``round_delay_cs``).
        loop: 0 loops forever; ``n`` asks viewers to repeat ``n`` more times; None plays once
            (no NETSCAPE extension).
        colors: palette size in ``[2, 256]``; with transparency one slot is kept free, so at
            most 255 colours are used for content.
        dither: Floyd-Steinberg dithering when mapping pixels to the palette.
        palette: ``"global"`` (one palette from all frames) or ``"local"`` (one per frame).
        method: Pillow quantiser that builds the palette(s).
        optimize: store only each frame's changed bounding box (see module docstring);
            otherwise every frame is stored whole.
        disposal: ``"none"`` (method 0), ``"keep"`` (1), ``"background"`` (2) for every frame,
            or ``"auto"`` (1, 2 or 3 per frame, whichever gives the smallest next update).
        transparency: with ``optimize``, write unchanged pixels inside the box as transparent.

    Returns:
        A ``GifEncoding`` whose ``frames`` are exactly what a decoder will show.
    """
    arr = _as_frames(frames)
    if disposal not in ("none", "keep", "background", "auto"):
        raise ValueError(
            f"disposal must be 'none', 'keep', 'background' or 'auto', got {disposal!r}"
        )
    delays = _as_durations(durations_ms, len(arr))
    data, encoding = _encode(
        arr,
        delays,
        loop=loop,
        colors=colors,
        dither=dither,
        palette=palette,
        method=method,
        optimize=optimize,
        disposal=disposal,
        transparency=transparency,
    )
    if isinstance(dest, (str, os.PathLike)):
        with atomic_write(dest, "wb") as handle:
            handle.write(data)
    elif isinstance(dest, io.TextIOBase):
        raise TypeError("dest must be a path or a binary file object, got a text stream")
    else:
        dest.write(data)
    return encoding
