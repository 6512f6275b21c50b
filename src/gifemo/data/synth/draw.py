"""Paint a face (and shoulders) from its landmarks with Pillow's ImageDraw.

Drawing happens on a supersampled canvas; ``render.py`` downsamples the frame afterwards, which
antialiases every edge. Semi-transparent marks (wrinkles, blush) are painted as solid colours
pre-mixed with the skin, which looks the same on skin and costs no alpha compositing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from gifemo.data.synth.face import Identity

Colour = tuple[int, int, int]

_DARK: Colour = (35, 25, 25)
_EYE_WHITE: Colour = (245, 242, 236)
_MOUTH: Colour = (70, 20, 25)
_TEETH: Colour = (245, 245, 235)
_LOWER_TEETH: Colour = (228, 228, 218)
_PUPIL: Colour = (15, 12, 12)
BLUSH: Colour = (240, 110, 130)


def mix(a, b, t: float) -> Colour:
    """Colour ``a`` blended towards ``b`` by ``t`` in [0, 1]."""
    t = min(max(float(t), 0.0), 1.0)
    mixed = (round(x * (1 - t) + y * t) for x, y in zip(a, b, strict=True))
    return tuple(mixed)  # type: ignore[return-value]


def ellipse_points(rx: float, ry: float, n: int = 20) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([rx * np.cos(t), ry * np.sin(t)], -1)


@dataclass(frozen=True)
class Placement:
    """Face units -> canvas pixels: rotate by ``roll`` (radians), scale, then move to (cx, cy)."""

    cx: float
    cy: float
    scale: float
    roll: float = 0.0

    def __post_init__(self) -> None:
        c, s = np.cos(self.roll) * self.scale, np.sin(self.roll) * self.scale
        object.__setattr__(self, "_matrix", np.array([[c, s], [-s, c]]))
        object.__setattr__(self, "_offset", np.array([self.cx, self.cy]))

    def __call__(self, pts) -> list[float]:
        """``(N, 2)`` face-unit points -> flat ``[x0, y0, x1, y1, ...]`` pixels for ImageDraw."""
        return (np.asarray(pts).reshape(-1, 2) @ self._matrix + self._offset).ravel().tolist()

    def px(self, length: float) -> int:
        return max(1, round(self.scale * length))


@dataclass(frozen=True)
class _Look:
    """An identity's derived colours and fixed shapes, computed once per identity."""

    shade: Colour
    line: Colour
    edge: Colour | None
    lid: Colour
    lash: Colour
    nostril: Colour
    bridge: Colour
    lip_upper: Colour
    lip_edge: Colour
    neck: Colour
    collar: Colour
    hair_back: Colour
    beard: Colour
    back_hair: np.ndarray | None
    bun: np.ndarray | None
    neck_shape: np.ndarray
    shoulders: np.ndarray
    collar_line: np.ndarray


@functools.lru_cache(maxsize=64)
def _look(ident: Identity) -> _Look:
    skin = ident.skin
    back_hair = None
    if ident.hair_style == "long":
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        c, s = np.cos(t), np.sin(t)
        n = np.where(s > 0, 4.0, 2.0)
        half_h = np.where(s > 0, ident.face_bot + 0.45, 1.1 * ident.face_top)
        back_hair = np.stack(
            [
                1.22 * ident.face_w * np.sign(c) * np.abs(c) ** (2 / n),
                half_h * np.sign(s) * np.abs(s) ** (2 / n),
            ],
            -1,
        )
    bun = (
        np.array([0, -ident.face_top - 0.12]) + ellipse_points(0.34, 0.34)
        if ident.hair_style == "bun"
        else None
    )
    y0 = ident.face_bot
    t = np.linspace(0, np.pi, 17)
    shoulders = np.stack([-2.3 * np.cos(t), y0 + 1.45 - 0.45 * np.sin(t)], -1)
    return _Look(
        shade=mix(skin, _DARK, 0.22),
        line=mix(skin, _DARK, 0.45),
        edge=mix(skin, _DARK, 0.8) if ident.style == "flat" else None,
        lid=mix(skin, _DARK, 0.08),
        lash=mix(ident.brow, _DARK, 0.5),
        nostril=mix(skin, _DARK, 0.6),
        bridge=mix(skin, _DARK, 0.25),
        lip_upper=mix(ident.lips, _DARK, 0.12),
        lip_edge=mix(ident.lips, _DARK, 0.5),
        neck=mix(skin, _DARK, 0.2),
        collar=mix(ident.shirt, _DARK, 0.4),
        hair_back=mix(ident.hair, _DARK, 0.15),
        beard=mix(ident.hair, skin, 0.15),
        back_hair=back_hair,
        bun=bun,
        neck_shape=np.array([[-0.36, 0.3], [0.36, 0.3], [0.4, y0 + 0.7], [-0.4, y0 + 0.7]]),
        shoulders=np.concatenate([shoulders, [[2.3, y0 + 3.0], [-2.3, y0 + 3.0]]]),
        collar_line=np.array([[-0.42, y0 + 0.55], [0.0, y0 + 0.95], [0.42, y0 + 0.55]]),
    )


def draw_body(draw: ImageDraw.ImageDraw, ident: Identity, at: Placement) -> None:
    """Neck and shoulders; they follow the head's position but not its roll."""
    look = _look(ident)
    draw.polygon(at(look.neck_shape), fill=look.neck)
    draw.polygon(at(look.shoulders), fill=ident.shirt)
    draw.line(at(look.collar_line), fill=look.collar, width=at.px(0.04), joint="curve")


def draw_face(
    draw: ImageDraw.ImageDraw,
    ident: Identity,
    lm: dict[str, np.ndarray],
    c: dict[str, float],
    at: Placement,
    *,
    blush: float = 0.0,
) -> None:
    """Paint one face: back hair, ears, head, wrinkles, eyes, brows, nose, mouth, hair, glasses."""
    look = _look(ident)
    edge_w = at.px(0.03) if look.edge else 0
    if look.back_hair is not None:
        draw.polygon(at(look.back_hair), fill=look.hair_back)
    if look.bun is not None:
        draw.polygon(at(look.bun), fill=ident.hair)
    for side in ("l", "r"):
        draw.polygon(at(lm[f"ear_{side}"]), fill=look.shade, outline=look.edge, width=edge_w)
    if look.edge:
        draw.polygon(at(lm["outline"]), fill=ident.skin, outline=look.edge, width=edge_w)
    else:
        # Cel shading: the head in shadow, then its lit part shifted towards the light.
        draw.polygon(at(lm["outline"]), fill=look.shade)
        draw.polygon(at(lm["outline"] * 0.93 + (0.08 * ident.light, -0.03)), fill=ident.skin)
    if blush > 0.02:
        colour = mix(ident.skin, BLUSH, 0.75 * blush)
        for s in (-1.0, 1.0):
            centre = (s * (ident.eye_dx + 0.06), ident.eye_y + 0.27)
            draw.ellipse(_box(at, centre, 0.15, 0.08), fill=colour)

    _wrinkles(draw, ident, look, lm, c, at)
    if ident.beard:
        _beard(draw, ident, look, lm, at)
    for side in ("l", "r"):
        _eye(draw, ident, look, lm, side, at)
        _brow(draw, ident, lm[f"brow_{side}"], at)
    _nose(draw, ident, look, lm, c, at)
    _mouth(draw, ident, look, lm, at)
    _hair_front(draw, ident, lm, at)
    if ident.glasses != "none":
        _glasses(draw, ident, lm, at)


def _box(at: Placement, centre, rx: float, ry: float) -> list[float]:
    """Pixel bounding box of an axis-aligned ellipse (roll is ignored: fine for round shapes)."""
    x, y = at(centre)
    return [x - rx * at.scale, y - ry * at.scale, x + rx * at.scale, y + ry * at.scale]


def faded_line(draw, pts, at: Placement, skin, line, strength: float, width: float) -> None:
    """A wrinkle line whose visibility follows ``strength`` (0 invisible, 1 full)."""
    if strength > 0.08:
        draw.line(
            at(pts), fill=mix(skin, line, min(strength, 1.0)), width=at.px(width), joint="curve"
        )


_FOREHEAD = np.array([[-1, 0.015], [-0.5, -0.005], [0, 0.01], [0.5, -0.005], [1, 0.015]])


def _wrinkles(draw, ident: Identity, look: _Look, lm, c, at) -> None:
    skin, line = ident.skin, look.line
    brow_top = min(lm["brow_l"][:, 1].min(), lm["brow_r"][:, 1].min())
    for k in range(3):
        pts = _FOREHEAD * (0.42 - 0.06 * k, 1) + (0, brow_top - 0.09 - 0.065 * k)
        faded_line(draw, pts, at, skin, line, 1.4 * c["forehead_lines"] - 0.25 * k, 0.018)
    inner_y = lm["brow_l"][0, 1]
    for s in (-1.0, 1.0):
        pts = ((s * 0.045, inner_y - 0.03), (s * 0.035, inner_y + 0.09))
        faded_line(draw, pts, at, skin, line, 1.3 * c["glabella_lines"], 0.02)
    for side in ("l", "r"):
        faded_line(draw, lm[f"fold_{side}"], at, skin, line, 0.1 + 0.9 * c["nasolabial"], 0.022)
        faded_line(draw, lm[f"cheek_{side}"], at, skin, line, 0.9 * c["cheek_raise"], 0.018)
        crow = lm[f"crow_{side}"]
        for k in range(0, 6, 2):
            faded_line(draw, crow[k : k + 2], at, skin, line, 1.2 * c["crow_feet"], 0.014)


_LID_COVER = np.array([0.0, 0.16])


def _eye(draw, ident: Identity, look: _Look, lm, side: str, at: Placement) -> None:
    upper, lower = lm[f"eye_upper_{side}"], lm[f"eye_lower_{side}"]
    draw.polygon(at(np.concatenate([upper, lower[::-1]])), fill=_EYE_WHITE)
    iris = lm[f"iris_{side}"][0]
    r = ident.iris_r
    draw.ellipse(_box(at, iris, r, r), fill=ident.iris)
    draw.ellipse(_box(at, iris, 0.45 * r, 0.45 * r), fill=_PUPIL)
    draw.ellipse(_box(at, iris + (0.3 * r, -0.35 * r), 0.22 * r, 0.22 * r), fill=(255, 255, 255))
    # Lids: skin above the upper curve and below the lower one hides the iris outside the
    # opening, so a closing lid really covers the eye.
    draw.polygon(at(np.concatenate([upper, (upper - _LID_COVER)[::-1]])), fill=look.lid)
    draw.polygon(at(np.concatenate([lower, (lower + _LID_COVER)[::-1]])), fill=ident.skin)
    draw.line(at(upper), fill=look.lash, width=at.px(0.028 if look.edge else 0.022), joint="curve")
    draw.line(at(lower), fill=look.line, width=at.px(0.01))


_BROW_TAPER = np.linspace(0.6, 0.3, 7)[:, None]


def _brow(draw, ident: Identity, centre: np.ndarray, at: Placement) -> None:
    """A brow as a filled band around its centre line, thickest at the inner end."""
    d = np.empty_like(centre)
    d[1:-1] = centre[2:] - centre[:-2]
    d[0], d[-1] = centre[1] - centre[0], centre[-1] - centre[-2]
    normal = np.stack([-d[:, 1], d[:, 0]], -1)
    normal /= np.sqrt((normal**2).sum(1, keepdims=True)) + 1e-9
    offset = ident.brow_thick * _BROW_TAPER * normal
    draw.polygon(at(np.concatenate([centre + offset, (centre - offset)[::-1]])), fill=ident.brow)


def _nose(draw, ident: Identity, look: _Look, lm, c, at) -> None:
    if not look.edge:
        draw.line(at(lm["nose_bridge"]), fill=look.bridge, width=at.px(0.025), joint="curve")
    draw.line(at(lm["nose_base"]), fill=look.line, width=at.px(0.022), joint="curve")
    for centre in lm["nose_nostrils"]:
        draw.ellipse(_box(at, centre, 0.028, 0.016), fill=look.nostril)
    wr = lm["nose_wrinkles"]
    for k in range(0, len(wr), 3):
        faded_line(draw, wr[k : k + 3], at, ident.skin, look.line, 1.3 * c["nose_wrinkle"], 0.016)


def _mouth(draw, ident: Identity, look: _Look, lm, at: Placement) -> None:
    ui, li = lm["lip_upper_inner"], lm["lip_lower_inner"]
    uo, lo = lm["lip_upper_outer"], lm["lip_lower_outer"]
    gap = float((li[:, 1] - ui[:, 1]).max())
    if gap > 0.01:
        # Mouth interior, then teeth, then the lips drawn over the teeth's ends.
        draw.polygon(at(np.concatenate([ui, li[::-1]])), fill=_MOUTH)
        inner = slice(2, len(ui) - 2)
        upper_teeth = np.concatenate([ui[inner], (ui[inner] + (0, min(0.05, gap * 0.6)))[::-1]])
        draw.polygon(at(upper_teeth), fill=_TEETH)
        if gap > 0.06:
            draw.polygon(
                at(np.concatenate([li[inner], (li[inner] - (0, 0.035))[::-1]])), fill=_LOWER_TEETH
            )
    draw.polygon(at(np.concatenate([uo, ui[::-1]])), fill=look.lip_upper)
    draw.polygon(at(np.concatenate([li, lo[::-1]])), fill=ident.lips)
    if gap <= 0.01:
        draw.line(at(ui), fill=look.lip_edge, width=at.px(0.018), joint="curve")
    if look.edge:
        draw.line(
            at(np.concatenate([uo, lo[::-1], uo[:1]])),
            fill=look.lip_edge,
            width=at.px(0.012),
            joint="curve",
        )


_HAIRLINE_X = np.linspace(1.02, -1.02, 9)


def _hair_front(draw, ident: Identity, lm, at: Placement) -> None:
    style = ident.hair_style
    if style == "bald":
        return
    outline = lm["outline"]
    top = outline[outline[:, 1] < -0.05]
    top = top[np.argsort(np.arctan2(top[:, 1], top[:, 0]))] * (1.06, 1.08)
    hairline_y = {"fringe": lm["brow_l"][:, 1].min() - 0.06, "long": -0.62, "curly": -0.7}.get(
        style, -0.66
    )
    xs = _HAIRLINE_X * ident.face_w
    hy = hairline_y + 0.08 * np.abs(_HAIRLINE_X) ** 3 * (1 if style == "fringe" else 3.5)
    hy = np.minimum(hy, ident.eye_y - 0.12)
    draw.polygon(at(np.concatenate([top, np.stack([xs, hy], -1)])), fill=ident.hair)
    if style == "curly":
        for pt in top[::3]:
            draw.ellipse(_box(at, pt, 0.2, 0.2), fill=ident.hair)


def _beard(draw, ident: Identity, look: _Look, lm, at: Placement) -> None:
    outline = lm["outline"]
    lower = outline[outline[:, 1] > ident.nose_y - 0.1]
    lower = lower[np.argsort(np.arctan2(lower[:, 1], lower[:, 0]))] * 1.02
    mouth_top = lm["lip_upper_outer"][:, 1].min()
    upper = np.array(
        [
            [-ident.face_w * 0.9, ident.nose_y + 0.05],
            [-0.3, mouth_top - 0.03],
            [0.0, mouth_top - 0.06],
            [0.3, mouth_top - 0.03],
            [ident.face_w * 0.9, ident.nose_y + 0.05],
        ]
    )
    draw.polygon(at(np.concatenate([lower, upper])), fill=look.beard)


def _glasses(draw, ident: Identity, lm, at: Placement) -> None:
    width = at.px(0.035 if ident.glasses == "square" else 0.025)
    rx, ry = ident.eye_w * 1.35, ident.eye_w * 1.05
    rims = []
    for side in ("l", "r"):
        centre = lm[f"eye_lower_{side}"][[0, -1]].mean(axis=0) + (0.0, 0.01)
        if ident.glasses == "round":
            rim = centre + ellipse_points(rx, ry, 24)
        else:
            rim = centre + np.array([[-rx, -ry], [rx, -ry], [rx, ry * 0.8], [-rx, ry * 0.8]])
        rims.append(rim)
        draw.line(
            at(np.concatenate([rim, rim[:1]])),
            fill=ident.glasses_colour,
            width=width,
            joint="curve",
        )
    y = rims[0][:, 1].mean() - 0.04
    bridge = ((rims[0][:, 0].max(), y), (rims[1][:, 0].min(), y))
    draw.line(at(bridge), fill=ident.glasses_colour, width=width)


@dataclass(frozen=True)
class FaceFrame:
    """Face units -> canvas pixels for one frame: features slide by ``shift`` (a turned or
    nodding head), then everything is squashed by ``squash`` (x, y) and placed by ``at``."""

    at: Placement
    squash: tuple[float, float]
    shift: tuple[float, float]

    def local(self, pts) -> np.ndarray:
        """Feature points in the squashed head's face units, ``(N, 2)``."""
        return (np.asarray(pts, float).reshape(-1, 2) + self.shift) * self.squash

    def feat(self, pts) -> list[float]:
        """Feature points -> flat pixel list for ImageDraw."""
        return self.at(self.local(pts))

    def head(self, pts) -> list[float]:
        """Head-outline points (which do not slide) -> flat pixel list."""
        return self.at(np.asarray(pts, float).reshape(-1, 2) * self.squash)

    def px(self, length: float) -> int:
        return self.at.px(length)
