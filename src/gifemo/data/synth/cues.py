"""The stylised cues emoji and sticker artists draw on top of an expression, painted.

Real emoji do not only move brows and lips: a crying face gets streams of tears, an angry one
turns red and snorts steam, a loving one gets heart eyes. Which cues a GIF carries, and their
odds per class, is ``archetypes.py``'s business. The overlays that are not part of the face
(tears, sweat, steam, symbols, hands, vomit) are painted here; eye and mouth replacements,
tints, blush and motion are painted by ``emoji.py``.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from gifemo.data.synth.draw import Colour, FaceFrame, ellipse_points, mix

TEAR: Colour = (90, 175, 245)
_TEAR_EDGE: Colour = (40, 110, 210)
_STEAM: Colour = (238, 240, 245)
_STEAM_EDGE: Colour = (190, 195, 210)
_VEIN: Colour = (225, 35, 45)
_GLOOM: Colour = (95, 85, 200)
_SPARKLE: Colour = (255, 214, 40)
_SPARKLE_EDGE: Colour = (240, 140, 20)
_VOMIT: Colour = (120, 190, 60)
_VOMIT_EDGE: Colour = (70, 140, 40)


def _cycle(t: float, period: float, phase: float) -> float:
    """Where a repeating animation is, in [0, 1)."""
    return (t / period + phase) % 1.0


def teardrop(centre, r: float, n: int = 14) -> np.ndarray:
    """A drop pointing up: the lower part of a circle closed by an apex, ``(n + 1, 2)``."""
    ang = np.linspace(-np.pi / 6, 7 * np.pi / 6, n)
    pts = np.stack([r * np.cos(ang), r * np.sin(ang)], -1)
    return np.concatenate([pts, [[0.0, -2.1 * r]]]) + np.asarray(centre, float)


def _drop(draw: ImageDraw.ImageDraw, fr: FaceFrame, centre, r: float, outline: bool) -> None:
    draw.polygon(
        fr.feat(teardrop(centre, r)),
        fill=TEAR,
        outline=_TEAR_EDGE if outline else None,
        width=fr.px(0.02) if outline else 0,
    )
    shine = np.asarray(centre) + (-0.35 * r, 0.1 * r) + ellipse_points(0.22 * r, 0.32 * r, 8)
    draw.polygon(fr.feat(shine), fill=(235, 248, 255))


def draw_tears(draw, fr: FaceFrame, cue: dict, eyes, e: float, t: float) -> None:
    """Tears from the lower lids (``eyes``: ``[(x, y_bottom, outer_sign)]``) as they rise."""
    if e < 0.25:
        return
    kind, phase = cue["kind"], cue["amount"]
    sides = eyes if cue["amount"] > 0.6 else [eyes[int(cue["side"] > 0)]]
    for x, y, s in sides:
        if kind == "stream":
            ys = np.linspace(y, min(y + 0.2 + 1.2 * e, 1.15), 8)
            wob = 0.02 * np.sin(9 * ys + 12 * t)
            half = 0.05 + 0.05 * (ys - y)
            left = np.stack([x - half + wob, ys], -1)
            right = np.stack([x + half + wob, ys], -1)
            draw.polygon(fr.feat(np.concatenate([left, right[::-1]])), fill=TEAR)
        elif kind == "spray":
            for j in range(3):
                p = _cycle(t, 0.7, phase + j / 3)
                centre = (x + s * (0.08 + 0.5 * p), y - 0.08 - 0.35 * p + 0.6 * p * p)
                _drop(draw, fr, centre, 0.05 + 0.03 * e, outline=False)
        else:
            p = _cycle(t, 1.2, phase)
            _drop(draw, fr, (x + s * 0.04, y + 0.1 + 0.7 * p), 0.045 + 0.025 * e, outline=True)


def draw_sweat(draw, fr: FaceFrame, cue: dict, e: float, t: float) -> None:
    """A big drop on the side of the forehead, sliding down slowly."""
    if e < 0.2:
        return
    s = cue["side"]
    slide = 0.15 * _cycle(t, 3.0, cue["amount"])
    _drop(draw, fr, (s * 0.58, -0.5 + slide), 0.07 + 0.05 * min(1.0, 1.5 * e), outline=True)


def draw_steam(draw, fr: FaceFrame, cue: dict, nose_y: float, e: float, t: float) -> None:
    """Puffs blown from the nose outwards and down, growing as they go."""
    if e < 0.3:
        return
    for s in (-1.0, 1.0):
        for j in range(2):
            p = _cycle(t, 0.9, cue["amount"] + 0.5 * j)
            cx, cy = s * (0.15 + 0.8 * p), nose_y + 0.05 + 0.35 * p
            r = (0.06 + 0.14 * p) * e
            for dx, dy, k in ((0.0, 0.0, 1.0), (-0.7, 0.3, 0.7), (0.7, 0.35, 0.75)):
                blob = (cx + s * dx * r, cy + dy * r) + ellipse_points(k * r, k * r, 12)
                draw.polygon(fr.feat(blob), fill=_STEAM, outline=_STEAM_EDGE, width=fr.px(0.012))


def draw_symbol(draw, fr: FaceFrame, cue: dict, skin: Colour, ink: Colour, e: float, t: float):
    """The anger vein, gloom lines, sparkles or shock lines, fading in with the expression."""
    kind, s, amount = cue["kind"], cue["side"], cue["amount"]
    if e < 0.2:
        return
    if kind == "vein":
        r = 0.22 * (0.85 + 0.15 * np.sin(2 * np.pi * 3 * t)) * min(1.0, 1.5 * e)
        cx, cy = s * 0.6, -0.6
        for q in range(4):
            ang = q * np.pi / 2 + np.pi / 4
            u = np.linspace(-0.6, 0.6, 5)
            arc = (
                np.stack([np.cos(ang + u), np.sin(ang + u)], -1)
                * r
                * (0.55 + 0.45 * u[:, None] ** 2)
            )
            draw.line(fr.feat(arc + (cx, cy)), fill=_VEIN, width=fr.px(0.06), joint="curve")
    elif kind == "gloom":
        colour = mix(skin, _GLOOM, 0.8 * e)
        for x in np.linspace(-0.35, 0.35, 4 + int(amount > 0.75)):
            draw.line(fr.feat([(x, -0.92), (x, -0.5)]), fill=colour, width=fr.px(0.035))
    elif kind == "sparkles":
        for j in range(3):
            ang = -np.pi / 2 + s * (0.6 + 0.7 * j) + amount
            twinkle = 0.5 + 0.5 * np.sin(2 * np.pi * (2 * t + j / 3))
            r = (0.1 + 0.08 * twinkle) * e
            centre = 1.05 * np.array([np.cos(ang), np.sin(ang)])
            shape = fr.feat(star(centre, r, 0.3 * r, 4))
            draw.polygon(shape, fill=_SPARKLE, outline=_SPARKLE_EDGE, width=fr.px(0.015))
    elif kind == "shock":
        for ang in np.linspace(-np.pi * 0.85, -np.pi * 0.15, 5 + int(3 * amount)):
            d = np.array([np.cos(ang), np.sin(ang)])
            draw.line(fr.feat([1.12 * d, (1.12 + 0.25 * e) * d]), fill=ink, width=fr.px(0.04))


def star(centre, r_out: float, r_in: float, points: int = 5) -> np.ndarray:
    """A star polygon pointing up, ``(2 points, 2)``."""
    ang = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, r_out, r_in)
    return np.stack([r * np.cos(ang), r * np.sin(ang)], -1) + np.asarray(centre, float)


# A mitten hand pointing up (-y): palm and four fingers, in face units around its wrist.
_PALM = np.array([0.0, -0.2]) + ellipse_points(0.21, 0.22, 16)
_FINGERS = [
    np.array([x, -0.44 + 0.04 * abs(x) / 0.14]) + ellipse_points(0.06, 0.13, 10)
    for x in (-0.145, -0.05, 0.05, 0.145)
]


def draw_hands(
    draw, fr: FaceFrame, cue: dict, skin: Colour, edge: Colour, mouth_y: float, e: float
) -> None:
    """Hands raised with the expression: on both cheeks, one over the mouth, or held out."""
    if e < 0.25:
        return
    rise = 0.35 * (1 - min(1.0, 1.6 * e))  # they come up from below
    if cue["kind"] == "cheeks":
        hands = [(s * 0.8, mouth_y + 0.45 + rise, -s * 0.35) for s in (-1.0, 1.0)]
    elif cue["kind"] == "mouth":
        s = cue["side"]
        hands = [(s * 0.2, mouth_y + 0.38 + rise, -s * 0.6)]
    else:
        hands = [(s * 0.6, 0.95 + rise, s * 0.9) for s in (-1.0, 1.0)]
    for x, y, tilt in hands:
        rot = np.array([[np.cos(tilt), np.sin(tilt)], [-np.sin(tilt), np.cos(tilt)]])
        for part in (_PALM, *_FINGERS):
            pts = part @ rot + (x, y)
            draw.polygon(fr.feat(pts), fill=skin, outline=edge, width=fr.px(0.018))


def draw_vomit(draw, fr: FaceFrame, x: float, y: float, width: float, e: float, t: float) -> None:
    """A green stream pouring from the mouth (centre ``x``, lower lip ``y``) down off the head."""
    if e < 0.3:
        return
    m = min(1.0, (e - 0.3) / 0.4)
    ys = np.linspace(y - 0.05, y + 0.15 + 0.9 * m, 9)
    spread = width * (0.35 + 0.5 * (ys - ys[0]) / (ys[-1] - ys[0]))
    wob = 0.03 * np.sin(10 * ys - 14 * t)
    left = np.stack([x - spread + wob, ys], -1)
    right = np.stack([x + spread + wob, ys], -1)
    pts = fr.feat(np.concatenate([left, right[::-1]]))
    draw.polygon(pts, fill=_VOMIT, outline=_VOMIT_EDGE, width=fr.px(0.02))
