"""Everything around the face: backgrounds, captions, hearts, camera, lighting and noise."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

BACKGROUNDS = ("gradient", "blobs", "stripes", "bokeh", "room", "tiles")

# Meaningless syllables: captions are there to occlude and distract, not to carry meaning.
_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "si",
    "pe",
    "da",
    "zu",
    "ho",
    "ri",
    "an",
    "el",
)


def _random_colour(rng: np.random.Generator, lo: float = 20, hi: float = 235) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


def render_background(rng: np.random.Generator, kind: str, size: int) -> Image.Image:
    """A ``size x size`` RGB textured background of the given kind."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    a, b = _random_colour(rng), _random_colour(rng)
    if kind == "gradient":
        ang = rng.uniform(0, 2 * np.pi)
        t = (np.cos(ang) * xx + np.sin(ang) * yy + 1) / 2
        img = a + (b - a) * t[..., None]
    elif kind == "blobs":
        cells = rng.integers(3, 7)
        grid = Image.fromarray(rng.uniform(30, 225, (cells, cells, 3)).astype(np.uint8))
        img = np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), float)
    elif kind == "stripes":
        ang, freq = rng.uniform(0, np.pi), rng.uniform(3, 14)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(ang) * xx + np.sin(ang) * yy))
        t = t if rng.random() < 0.5 else (t > 0.5).astype(float)
        img = a + (b - a) * t[..., None]
    elif kind == "tiles":
        n = rng.integers(4, 12)
        t = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
        img = a + (b - a) * 0.35 * t
    else:
        img = np.broadcast_to(a, (size, size, 3)).copy()
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    if kind == "bokeh":
        for _ in range(rng.integers(8, 25)):
            r = rng.uniform(0.03, 0.15) * size
            x, y = rng.uniform(0, size, 2)
            draw.ellipse(
                (x - r, y - r, x + r, y + r),
                fill=tuple(int(v) for v in _random_colour(rng, 60, 255)),
            )
        canvas = canvas.filter(ImageFilter.GaussianBlur(size * 0.015))
    elif kind == "room":
        floor = rng.uniform(0.6, 0.85) * size
        draw.rectangle((0, floor, size, size), fill=tuple(int(v) for v in b))
        for _ in range(rng.integers(1, 4)):
            w, h = rng.uniform(0.1, 0.35, 2) * size
            x, y = rng.uniform(0, size - w), rng.uniform(0, floor - h)
            frame = tuple(int(v) for v in _random_colour(rng))
            draw.rectangle(
                (x, y, x + w, y + h),
                fill=tuple(int(v) for v in _random_colour(rng)),
                outline=frame,
                width=max(1, size // 80),
            )
    grain = rng.normal(0, rng.uniform(0, 8), (size // 4, size // 4, 1))
    texture = Image.fromarray(np.clip(128 + grain[..., 0], 0, 255).astype(np.uint8))
    texture = (
        np.asarray(texture.resize((size, size), Image.Resampling.BILINEAR), float)[..., None] - 128
    )
    return Image.fromarray(np.clip(np.asarray(canvas, float) + texture, 0, 255).astype(np.uint8))


def caption_text(rng: np.random.Generator) -> str:
    words = ["".join(rng.choice(_SYLLABLES, rng.integers(1, 4))) for _ in range(rng.integers(1, 5))]
    text = " ".join(words)
    return text.upper() if rng.random() < 0.5 else text


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(size, 6))


def draw_caption(
    draw: ImageDraw.ImageDraw, canvas: int, text: str, *, style: str, top: bool
) -> None:
    """A caption: a ``"bar"`` with text on it, or ``"meme"`` white text with a black outline."""
    height = int(canvas * 0.15)
    y0 = 0 if top else canvas - height
    font = _font(int(height * 0.6))
    if style == "bar":
        draw.rectangle((0, y0, canvas, y0 + height), fill=(0, 0, 0))
        fill, stroke = (255, 255, 255), 0
    else:
        fill, stroke = (255, 255, 255), max(1, height // 14)
    draw.text(
        (canvas / 2, y0 + height / 2),
        text,
        font=font,
        fill=fill,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=(0, 0, 0),
    )


def heart(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """A heart polygon centred at (cx, cy) with half-width about r."""
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return list(zip((cx + r * x / 16).tolist(), (cy + r * y / 16).tolist(), strict=True))


def lighting_field(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    """A static directional light falloff, ``(size, size, 1)`` float32 around 1."""
    yy, xx = (np.mgrid[0:size, 0:size] / size - 0.5).astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    return (1 + strength * (np.cos(ang) * xx + np.sin(ang) * yy))[..., None].astype(np.float32)


def noise_bank(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray | None:
    """Sensor noise for a whole GIF: one ``(2 size, 2 size, 3)`` field that frames crop from at
    random offsets (much cheaper than fresh noise per frame, and just as unpredictable)."""
    if sigma <= 0:
        return None
    return rng.standard_normal((2 * size, 2 * size, 3), dtype=np.float32) * np.float32(sigma)


def finish_frame(
    frame: Image.Image,
    *,
    gain: np.ndarray,
    field: np.ndarray,
    noise: np.ndarray | None,
    blur: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Camera and lighting on a rendered frame: blur (a low-resolution source), light, noise.

    ``gain`` is a per-channel ``(3,)`` factor for this frame (brightness and tint), ``field``
    the ``(H, W, 1)`` light falloff, ``noise`` a ``noise_bank``; returns ``(H, W, 3) uint8``.
    """
    w, h = frame.size
    if blur is not None:
        small = frame.resize(
            (max(8, int(w * blur)), max(8, int(h * blur))), Image.Resampling.BILINEAR
        )
        frame = small.resize((w, h), Image.Resampling.BILINEAR)
    out = np.asarray(frame, np.float32) * (field * gain.astype(np.float32))
    if noise is not None:
        y, x = rng.integers(0, noise.shape[0] - h + 1), rng.integers(0, noise.shape[1] - w + 1)
        out += noise[y : y + h, x : x + w]
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)
