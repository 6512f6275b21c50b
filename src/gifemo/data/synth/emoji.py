"""Emoji and sticker faces: a round head in an emoji palette, features drawn as emoji draw them.

The same action-unit controls that move the human rig (``action_units.au_controls``) drive an
emoji's simplified features: dark oval or white eyes that widen (AU5), narrow (AU7), close into
arcs (AU6 with a smile, AU43/45) or get cut by an angry or worried lid (AU4, AU1); brows that
appear when they move; a mouth that is a stroke when closed and a filled shape (interior,
teeth, tongue) when open, curving with the corners (AU12, AU15), stretching (AU20), pressing
(AU23) and dropping open (AU26). On top come the cues of ``cues.py``, drawn with the
expression's envelope so they rise and fall with it.

Coordinates are face units as in ``face.py``: origin at the head's centre, x to the image
right, y down, head half-width 1. ``draw.FaceFrame`` maps them to canvas pixels for one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from gifemo.data.synth.action_units import au_controls
from gifemo.data.synth.cues import (
    draw_hands,
    draw_steam,
    draw_sweat,
    draw_symbol,
    draw_tears,
    draw_vomit,
    star,
)
from gifemo.data.synth.draw import (
    BLUSH,
    Colour,
    FaceFrame,
    Placement,
    ellipse_points,
    faded_line,
    mix,
)
from gifemo.data.synth.face import SKIN_TONES, bezier, head_outline, to_rgb
from gifemo.data.synth.scene import BACKGROUNDS, heart, render_background
from gifemo.data.synth.timeline import smoothstep

#: Emoji are usually cut out (a transparent background, which decoders flatten to white, or
#: to a flat colour), sometimes pasted onto the same textured backgrounds as the human style.
EMOJI_BACKGROUNDS: tuple[str, ...] = ("white", "plain", "dark", *BACKGROUNDS)
EMOJI_BACKGROUND_P: tuple[float, ...] = (0.6, 0.15, 0.05) + (0.2 / len(BACKGROUNDS),) * len(
    BACKGROUNDS
)
#: Tint levels the head's shading is cached at (a tint follows the expression smoothly).
_TINT_STEPS = 24
#: Emoji exaggerate: their features move this much further than a face's for the same AUs.
EXAGGERATION = 1.3

_YELLOWS = np.array(
    [(255, 204, 77), (255, 214, 51), (253, 197, 30), (255, 222, 110), (247, 185, 40)], float
)
_ORANGES = np.array([(255, 170, 50), (250, 150, 40), (255, 186, 90)], float)
_PASTELS = np.array(
    [(255, 182, 200), (175, 210, 255), (246, 246, 246), (214, 190, 255), (255, 236, 180)], float
)
_INKS = np.array([(72, 45, 28), (92, 58, 30), (50, 34, 24), (25, 22, 22), (60, 60, 66)], float)
_MOUTH_REDS = np.array([(125, 35, 45), (150, 45, 50), (95, 25, 30)], float)
_TONGUES = np.array([(240, 100, 120), (232, 78, 92), (255, 130, 150)], float)
_WHITE: Colour = (255, 255, 255)
_TEETH: Colour = (250, 250, 246)

TINTS: dict[str, Colour] = {"red": (236, 64, 40), "green": (140, 196, 76), "blue": (98, 116, 230)}
_HEART_RED: Colour = (234, 38, 72)
#: Star eyes in colours that stand out on a yellow head.
_STAR_COLOURS: tuple[Colour, ...] = ((236, 72, 56), (236, 80, 170), (150, 80, 230))
_INNER_EAR: Colour = (242, 160, 170)


@dataclass(frozen=True)
class EmojiFace:
    """One emoji design: palette, shading, line work and feature geometry (fixed over a GIF)."""

    palette: str  # yellow, orange, skin, pastel
    base: Colour
    rim: Colour  # shading goes from ``base`` towards ``rim`` at the edge away from the light
    shading: str  # flat, radial, linear
    shade: float  # 0..1, how far towards ``rim``
    light: tuple[float, float]  # unit vector towards the light (screen axes, y down)
    gloss: float  # strength of the glossy highlight, 0 for none
    outline: Colour | None
    outline_w: float
    aspect: float  # head height / width
    chin: float  # lower half of the head, relative to the upper
    squircle: float  # exponent of the lower half (2: round)
    ink: Colour  # eyes, brows, mouth strokes
    eye_style: str  # oval (dark ovals), dot, white (sclera and pupil)
    eye_dx: float
    eye_y: float
    eye_rx: float
    eye_ry: float
    pupil: float  # pupil radius as a fraction of the eye's, when the white shows
    shine: bool  # a white glint in the eyes
    brows: str  # always, expressive (drawn only while they move) or never
    brow_w: float
    brow_gap: float
    mouth_y: float
    mouth_w: float
    line_w: float
    mouth_fill: Colour
    tongue: Colour
    mouth_edge: bool
    kiss_style: str  # three (a "3"), o (a small pucker)
    sneer: float  # the side (-1, 1) that a sneer (AU9) lifts
    cat: bool  # cat ears and whiskers, as in the cat variants of emoji sets

    def summary(self) -> dict:
        """The categorical parts, for labels.csv."""
        return {
            "palette": self.palette,
            "shading": self.shading,
            "outline": self.outline is not None,
            "gloss": self.gloss > 0,
            "eye_style": self.eye_style,
            "brows": self.brows,
            "cat": self.cat,
        }


def sample_emoji_face(rng: np.random.Generator) -> EmojiFace:
    """Draw a random emoji design: mostly yellow round heads, with every common rendering."""
    palette = str(rng.choice(["yellow", "orange", "skin", "pastel"], p=[0.8, 0.06, 0.07, 0.07]))
    # Face emoji keep to the lighter skin tones: features are drawn dark on the head.
    table = {"yellow": _YELLOWS, "orange": _ORANGES, "skin": SKIN_TONES[:4], "pastel": _PASTELS}
    base = table[palette][rng.integers(len(table[palette]))] * rng.uniform(0.96, 1.03)
    # Emoji shade towards a darker, warmer rim rather than towards grey.
    rim = base * np.array([0.97, 0.72, 0.42]) * rng.uniform(0.85, 1.0)
    ink = _INKS[rng.integers(len(_INKS))] if rng.random() < 0.85 else base * 0.3
    outline_kind = rng.choice(["none", "rim", "ink"], p=[0.45, 0.35, 0.2])
    outline = {"none": None, "rim": to_rgb(rim * 0.8), "ink": to_rgb(ink)}[str(outline_kind)]
    eye_style = str(rng.choice(["oval", "dot", "white"], p=[0.55, 0.15, 0.3]))
    # Emoji draw features big and bold, readable at icon size.
    if eye_style == "oval":
        rx = rng.uniform(0.08, 0.13)
        ry = rx * rng.uniform(1.3, 1.9)
    elif eye_style == "dot":
        rx = rng.uniform(0.06, 0.095)
        ry = rx * rng.uniform(1.0, 1.25)
    else:
        rx = rng.uniform(0.13, 0.2)
        ry = rx * rng.uniform(1.0, 1.35)
    ang = -np.pi / 2 + rng.uniform(-0.9, 0.9)
    mouth_fill = ink if rng.random() < 0.5 else _MOUTH_REDS[rng.integers(len(_MOUTH_REDS))]
    return EmojiFace(
        palette=palette,
        base=to_rgb(base),
        rim=to_rgb(rim),
        shading=str(rng.choice(["flat", "radial", "linear"], p=[0.3, 0.45, 0.25])),
        shade=float(rng.uniform(0.35, 0.9)),
        light=(float(np.cos(ang)), float(np.sin(ang))),
        gloss=float(rng.uniform(0.3, 0.8)) if rng.random() < 0.35 else 0.0,
        outline=outline,
        outline_w=float(rng.uniform(0.025, 0.06)),
        aspect=float(rng.uniform(0.92, 1.06)),
        chin=float(rng.uniform(0.95, 1.06)),
        squircle=float(2.0 if rng.random() < 0.7 else rng.uniform(2.2, 3.0)),
        ink=to_rgb(ink),
        eye_style=eye_style,
        eye_dx=float(rng.uniform(0.3, 0.42)),
        eye_y=float(rng.uniform(-0.26, -0.05)),
        eye_rx=float(rx),
        eye_ry=float(ry),
        pupil=float(rng.uniform(0.4, 0.6)),
        shine=bool(rng.random() < 0.5),
        brows=str(rng.choice(["always", "expressive", "never"], p=[0.3, 0.45, 0.25])),
        brow_w=float(rng.uniform(0.045, 0.085)),
        brow_gap=float(rng.uniform(0.08, 0.18)),
        mouth_y=float(rng.uniform(0.26, 0.45)),
        mouth_w=float(rng.uniform(0.3, 0.56)),
        line_w=float(rng.uniform(0.055, 0.095)),
        mouth_fill=to_rgb(mouth_fill),
        tongue=to_rgb(_TONGUES[rng.integers(len(_TONGUES))]),
        mouth_edge=bool(rng.random() < 0.35),
        kiss_style=str(rng.choice(["three", "o"])),
        sneer=float(rng.choice([-1.0, 1.0])),
        cat=bool(rng.random() < 0.1),
    )


def emoji_background(rng: np.random.Generator, kind: str, size: int) -> Image.Image:
    """A ``size x size`` background: white, a flat light colour, near black, or a textured one."""
    if kind == "white":
        return Image.new("RGB", (size, size), _WHITE)
    if kind == "plain":
        return Image.new("RGB", (size, size), to_rgb(rng.uniform(165, 255, 3)))
    if kind == "dark":
        return Image.new("RGB", (size, size), to_rgb(np.full(3, rng.uniform(0, 45))))
    return render_background(rng, kind, size)


def _ramp(e: float, lo: float = 0.2, hi: float = 0.7) -> float:
    """0 below ``lo``, 1 above ``hi``, smooth between: how far a cue has appeared."""
    return float(smoothstep(np.float64((e - lo) / (hi - lo))))


def _clip_below(poly: np.ndarray, p0, p1) -> np.ndarray:
    """The part of convex polygon ``poly`` (``(N, 2)``) below the line through ``p0`` and ``p1``
    (y grows downwards): an eyelid cutting an eye."""
    p0 = np.asarray(p0, float)
    d = np.asarray(p1, float) - p0
    normal = np.array([-d[1], d[0]])
    normal = normal if normal[1] > 0 else -normal
    side = (poly - p0) @ normal
    out = []
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if side[i] >= 0:
            out.append(poly[i])
        if (side[i] >= 0) != (side[j] >= 0):
            out.append(poly[i] + (poly[j] - poly[i]) * (side[i] / (side[i] - side[j])))
    return np.array(out).reshape(-1, 2)


_MOUTH_S = np.linspace(-1.0, 1.0, 17)


@dataclass(frozen=True)
class MouthShape:
    """The mouth in face units: x, the closed line and the open upper/lower edges, ``(17,)``."""

    x: np.ndarray
    line: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    gap: float


def mouth_shape(face: EmojiFace, c: dict[str, float], extra_open: float, grimace: float):
    """Emoji mouth geometry from rig controls (see the module docstring).

    ``extra_open`` (face units) opens it beyond what the AUs do (the "open" cue), ``grimace``
    in [0, 1] squares it off (the "teeth" cue).
    """
    up, down, stretch = c["lip_corner_up"], c["lip_corner_down"], c["lip_stretch"]
    jaw, raise_ = c["jaw_drop"], c["upper_lip_raise"]
    width = face.mouth_w * (
        1
        + 0.3 * c["lip_corner_out"]
        + 0.45 * stretch
        + 0.35 * grimace
        - 0.45 * c["lip_tighten"]
        - 0.4 * jaw * (1 - min(stretch + grimace, 1.0))
        + 0.05 * c["speech"]
    )
    width = max(width, 0.06)
    s = _MOUTH_S
    # Corners up is a U, corners down an arch; a sneer lifts one side. Emoji draw a fearful
    # stretch (AU20) as an open arch and angry pressed lips (AU23) as a short frown.
    bend = 0.3 * down + 0.12 * stretch + 0.12 * c["lip_tighten"] - 0.32 * up
    line = face.mouth_y + bend * s**2
    line = line - 0.12 * raise_ * np.maximum(face.sneer * s, 0.0)
    gap = (
        0.6 * jaw
        + 0.15 * max(0.0, up - 0.4)
        + 0.18 * c["lower_lip_down"]
        + 0.12 * stretch
        + 0.08 * raise_
        + 0.16 * c["speech"]
        + extra_open
        + 0.16 * grimace
    )
    top = float(np.clip(0.5 - 0.35 * up + 0.3 * down + 0.15 * stretch, 0.12, 0.8))
    n = float(np.clip(2.0 - 0.5 * up + 1.2 * stretch + 3 * grimace, 1.4, 6.0))
    profile = (1 - np.abs(s) ** n) ** (1 / n)
    return MouthShape(
        s * width, line, line - top * gap * profile, line + (1 - top) * gap * profile, gap
    )


class EmojiPainter:
    """Paints the emoji of one GIF, frame by frame: ``painter(img, draw, k) -> Placement``.

    ``track`` is ``render._Track`` (per-frame AUs, pose, gaze, camera); ``rng`` draws the
    per-GIF animation details (motion phases, jitter).
    """

    def __init__(self, spec, track, canvas: int, rng: np.random.Generator) -> None:
        self.spec, self.track, self.canvas = spec, track, canvas
        self.face: EmojiFace = spec.identity
        self.cues: dict = spec.cues
        face = self.face
        self.outline = head_outline(1.0, face.aspect, face.aspect * face.chin, face.squircle)
        radius = spec.placement["half_width"] * canvas
        self._nominal = (
            max(2, round(2 * radius)),
            max(2, round((1 + face.chin) * face.aspect * radius)),
        )
        self._patches: dict[int, Image.Image] = {}
        t, e = track.t, track.envelope
        n = len(t)
        self.dx, self.dy, self.sy = np.zeros(n), np.zeros(n), np.ones(n)
        motion = self.cues.get("motion")
        if motion is not None:
            a = motion["amount"]
            if motion["kind"] == "shake":
                hz, phase = rng.uniform(2.5, 5.0), rng.uniform(0, 2 * np.pi)
                self.dx = 0.13 * a * np.sin(2 * np.pi * hz * t + phase) * e
            elif motion["kind"] == "tremble":
                self.dx = rng.normal(0, 0.035 * a, n) * e
                self.dy = rng.normal(0, 0.025 * a, n) * e
            else:
                period, phase = rng.uniform(0.3, 0.7), rng.uniform(0, 1)
                hop = np.abs(np.sin(np.pi * (t / period + phase)))
                self.dy = -0.2 * a * hop * e
                # Squash on landing, stretch in the air.
                self.sy = 1 - 0.2 * a * (1 - hop) ** 6 * e + 0.07 * a * hop * e
        tint = self.cues.get("tint")
        self.tint = None
        if tint is not None:
            form = "full" if tint["amount"] < 0.75 else "bottom"
            if tint["kind"] == "blue":
                form = "top" if tint["amount"] < 0.85 else "full"
            self.tint = (TINTS[tint["kind"]], 0.25 + 0.7 * tint["amount"], form)

    def __call__(self, img: Image.Image, draw: ImageDraw.ImageDraw, k: int) -> Placement:
        spec, track, face, canvas = self.spec, self.track, self.face, self.canvas
        c = au_controls({au: EXAGGERATION * float(v[k]) for au, v in track.aus.items()})
        c["eye_close"] = min(c["eye_close"] / EXAGGERATION, 1.0)  # a blink is a blink
        c["speech"] = float(track.speech[k])
        pose, place = track.pose, spec.placement
        ox, oy = track.camera[k]
        scale = place["half_width"] * canvas * float(pose["scale"][k])
        sy = float(self.sy[k])
        cx = (place["x"] + pose["dx"][k]) * canvas - ox + self.dx[k] * scale
        # A squashed head keeps its chin on the ground.
        cy = (place["y"] + pose["dy"][k]) * canvas - oy + (self.dy[k] + (1 - sy)) * scale
        at = Placement(float(cx), float(cy), scale, float(pose["roll"][k]))
        fr = FaceFrame(
            at,
            (1 / np.sqrt(sy), sy),
            (0.22 * float(pose["yaw"][k]), 0.16 * float(pose["pitch"][k])),
        )
        e, t = float(track.envelope[k]), float(track.t[k])
        skin = self._head(img, draw, fr, e)
        cues = self.cues
        if spec.blush > 0.02:
            self._blush(draw, fr, skin, spec.blush * e)
        if cues.get("symbol", {}).get("kind") == "gloom":
            draw_symbol(draw, fr, cues["symbol"], skin, face.ink, e, t)
        eyes = self._eyes(draw, fr, c, e, t, track.gaze[k])
        self._brows(draw, fr, c, skin)
        self._mouth(draw, fr, c, e, t)
        if "tears" in cues:
            draw_tears(draw, fr, cues["tears"], eyes, e, t)
        if "sweat" in cues:
            draw_sweat(draw, fr, cues["sweat"], e, t)
        if "steam" in cues:
            draw_steam(draw, fr, cues["steam"], (face.eye_y + face.mouth_y) / 2, e, t)
        if "hands" in cues:
            draw_hands(
                draw, fr, cues["hands"], face.base, face.outline or face.rim, face.mouth_y, e
            )
        if cues.get("symbol", {}).get("kind", "gloom") != "gloom":
            draw_symbol(draw, fr, cues["symbol"], skin, face.ink, e, t)
        if face.cat:
            for s in (-1.0, 1.0):
                for dy in (-0.06, 0.06):
                    whisker = [
                        (s * 0.55, face.mouth_y - 0.12 + dy),
                        (s * 1.12, face.mouth_y - 0.2 + 2.5 * dy),
                    ]
                    draw.line(fr.feat(whisker), fill=face.ink, width=fr.px(0.018))
        return at

    # ---------------------------------------------------------------- head

    def _head(self, img: Image.Image, draw: ImageDraw.ImageDraw, fr: FaceFrame, e: float):
        """Ears (cats), the shaded and tinted head, its outline; returns the mid-face colour."""
        face = self.face
        tint_level = 0.0 if self.tint is None else self.tint[1] * e
        if face.cat:
            for s in (-1.0, 1.0):
                ear = np.array([[s * 0.25, -0.85], [s * 0.95, -0.4], [s * 0.82, -1.22]])
                inner = ear * 0.8 + (s * 0.12, -0.12)
                draw.polygon(fr.head(ear), fill=face.rim, outline=face.outline, width=fr.px(0.02))
                draw.polygon(fr.head(inner), fill=_INNER_EAR)
        poly = np.asarray(fr.head(self.outline)).reshape(-1, 2)
        if face.shading == "flat" and not face.gloss and tint_level < 0.01:
            draw.polygon(poly.ravel().tolist(), fill=face.base)
        else:
            self._shaded(img, poly, tint_level)
        if face.outline is not None:
            closed = np.concatenate([poly, poly[:1]]).ravel().tolist()
            draw.line(closed, fill=face.outline, width=fr.px(face.outline_w), joint="curve")
        if self.tint is None:
            return face.base
        mid = {"full": 1.0, "top": 0.3, "bottom": 0.5}[self.tint[2]]
        return mix(face.base, self.tint[0], tint_level * mid)

    def _shaded(self, img: Image.Image, poly: np.ndarray, tint_level: float) -> None:
        """Paint the head with its gradient, tint and highlight, pasted through its outline.

        The shading is rendered once per tint step at the head's nominal size and resized to
        each frame's box: heads only move, scale and squash, and the light stays put on screen.
        """
        x0, y0 = np.floor(poly.min(0)).astype(int)
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
        box = (int(x1 - x0), int(y1 - y0))
        step = round(tint_level * _TINT_STEPS)
        if step not in self._patches:
            self._patches[step] = self._shading(step / _TINT_STEPS)
        mask = Image.new("L", box, 0)
        ImageDraw.Draw(mask).polygon((poly - (x0, y0)).ravel().tolist(), fill=255)
        patch = self._patches[step].resize(box, Image.Resampling.BILINEAR)
        img.paste(patch, (int(x0), int(y0)), mask)

    def _shading(self, tint_level: float) -> Image.Image:
        """The head's colours over its box, at the nominal size; ``u``, ``v`` run over
        [-1, 1] and [-1, chin] (face units over the half-width and half-height)."""
        face = self.face
        width, height = self._nominal
        u = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
        v = -1 + (np.arange(height, dtype=np.float32) + 0.5) / height * (1 + face.chin)
        u, v = u[None, :], v[:, None]
        lx, ly = face.light
        if face.shading == "radial":
            r = np.sqrt((u - 0.45 * lx) ** 2 + (v - 0.45 * ly) ** 2) / 1.45
            t = np.minimum(r, 1.0) ** 1.6 * face.shade
        elif face.shading == "linear":
            t = np.clip((1 - (u * lx + v * ly)) / 2, 0.0, 1.0) ** 1.3 * face.shade
        else:
            t = np.zeros((height, width), np.float32)
        base = np.array(face.base, np.float32)
        rgb = base + (np.array(face.rim, np.float32) - base) * t[..., None]
        if tint_level > 0:
            colour, _, form = self.tint
            if form == "top":
                m = smoothstep((0.4 - v) / 1.2)
            elif form == "bottom":
                m = smoothstep((v + 0.4) / 1.2)
            else:
                m = np.ones_like(v)
            rgb += (np.array(colour, np.float32) - rgb) * (tint_level * m)[..., None]
        if face.gloss:
            spot = ((u - 0.5 * lx) / 0.38) ** 2 + ((v - 0.62 * ly) / 0.24) ** 2
            rgb += (255 - rgb) * (face.gloss * np.exp(-2.5 * spot))[..., None]
        return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))

    def _blush(self, draw, fr: FaceFrame, skin: Colour, level: float) -> None:
        face = self.face
        for s in (-1.0, 1.0):
            centre = np.array([s * (face.eye_dx + 0.1), face.eye_y + face.eye_ry + 0.17])
            for rx, ry, k in ((0.19, 0.1, 0.35), (0.12, 0.065, 0.7)):
                pts = centre + ellipse_points(rx, ry, 16)
                draw.polygon(fr.feat(pts), fill=mix(skin, BLUSH, k * level))

    # ---------------------------------------------------------------- features

    def _eyes(self, draw, fr: FaceFrame, c, e: float, t: float, gaze) -> list[tuple]:
        """Both eyes; returns ``(x, y_bottom, outer_sign)`` per eye for tears."""
        face = self.face
        cue = self.cues.get("eyes", {}).get("kind")
        m = _ramp(e)
        rx, ry = face.eye_rx, face.eye_ry
        opening = float(
            np.clip(
                1 + 0.3 * c["upper_lid_raise"] - 0.55 * c["lid_tighten"] - 0.35 * c["cheek_raise"],
                0.2,
                1.5,
            )
        )
        close = min(c["eye_close"], 1.0)
        if cue in ("smile", "closed"):
            close = max(close, m)
        white = float(np.clip(1.3 * c["upper_lid_raise"] - 0.25 - 0.9 * c["lid_tighten"], 0, 1))
        look = np.asarray(gaze, float) * (0.5, 0.4)
        if cue == "roll":
            white = max(white, m)
            look = look * (1 - m) + m * np.array([0.5 * self.cues["eyes"]["side"], -0.85])
        if face.eye_style == "white":
            white = 1.0
        widen = 1 - 0.7 * c["upper_lid_raise"]
        cut_in = (
            float(
                np.clip(
                    0.55 * c["brow_lower"] + 0.25 * c["lid_tighten"] - 0.3 * c["brow_inner_raise"],
                    0,
                    0.6,
                )
            )
            * widen
        )
        # A worried lid comes with inner brows raised above the outer ones (AU1 without AU2);
        # both raised together (surprise) leave the eyes open and round.
        worry = max(0.0, c["brow_inner_raise"] - c["brow_outer_raise"])
        cut_out = float(np.clip(0.25 * c["lid_tighten"] + 0.3 * worry, 0, 0.5)) * widen
        if cue == "half":
            # A flat lid over the upper half, the pupils glancing to one side.
            cut_in, cut_out = max(cut_in, 0.5 * m), max(cut_out, 0.5 * m)
            look = look * (1 - m) + m * np.array([0.8 * self.cues["eyes"]["side"], 0.3])
            white = max(white, m * float(face.eye_style != "dot"))
        out = []
        for s in (-1.0, 1.0):
            centre = np.array([s * face.eye_dx, face.eye_y])
            out.append((centre[0], centre[1] + ry, s))
            if cue in ("hearts", "stars") and m > 0.3:
                r = max(rx, ry) * (1.3 + 0.5 * m) * (1 + 0.08 * np.sin(2 * np.pi * 2.5 * t))
                if cue == "hearts":
                    shape, colour = np.array(heart(centre[0], centre[1], r)), _HEART_RED
                else:
                    colour = _STAR_COLOURS[int(10 * self.cues["eyes"]["amount"]) % 3]
                    shape = star(centre, r * 1.15, r * 0.5)
                draw.polygon(fr.feat(shape), fill=colour)
                continue
            if cue == "squeeze" and m > 0.45:
                tip = centre - (s * rx, 0.0)
                arms = [centre + (s * rx, -0.9 * ry), tip, centre + (s * rx, 0.9 * ry)]
                draw.line(fr.feat(arms), fill=face.ink, width=fr.px(face.line_w), joint="curve")
                continue
            half_h = ry * opening * (1 - close)
            if half_h < 0.3 * ry:
                self._closed_eye(draw, fr, centre, smiling=cue == "smile" or c["cheek_raise"] > 0.3)
                continue
            top = centre[1] - half_h
            lid = (
                (centre[0] - s * 1.3 * rx, top + 2 * half_h * cut_in),
                (centre[0] + s * 1.3 * rx, top + 2 * half_h * cut_out),
            )
            if white > 0.1:
                grow = 1 + 0.45 * white if face.eye_style != "white" else 1.0
                sclera = centre + ellipse_points(rx * grow, half_h * grow, 24)
                draw.polygon(
                    fr.feat(_clip_below(sclera, *lid)),
                    fill=_WHITE,
                    outline=face.ink,
                    width=fr.px(0.015),
                )
                pr = min(rx, half_h) * (
                    face.pupil if face.eye_style == "white" else 1 - 0.4 * white
                )
                room = np.array([rx * grow - pr, half_h * grow - pr]) * 0.85
                pupil_c = centre + look * np.maximum(room, 0.0)
                pupil = pupil_c + ellipse_points(pr, pr * min(1.2, half_h / rx), 16)
            else:
                pupil_c = centre + look * 0.03
                pupil = pupil_c + ellipse_points(rx, half_h, 20)
                pr = rx
            clipped = _clip_below(pupil, *lid)
            if len(clipped) >= 3:
                draw.polygon(fr.feat(clipped), fill=face.ink)
            if face.shine and len(clipped) >= 3:
                glint = (
                    pupil_c
                    + (0.35 * pr, -0.4 * min(pr, half_h))
                    + ellipse_points(0.28 * pr, 0.28 * pr, 8)
                )
                draw.polygon(fr.feat(glint), fill=_WHITE)
        return out

    def _closed_eye(self, draw, fr: FaceFrame, centre: np.ndarray, *, smiling: bool) -> None:
        """A shut eye: an arch ("^", a smile pushing it up) or a relaxed cup."""
        rx, ry = self.face.eye_rx * 1.25, self.face.eye_ry
        if smiling:
            pts = bezier(
                centre + (-rx, 0.35 * ry), centre + (0, -0.9 * ry), centre + (rx, 0.35 * ry)
            )
        else:
            pts = bezier(centre + (-rx, 0.0), centre + (0, 0.6 * ry), centre + (rx, 0.0))
        draw.line(fr.feat(pts), fill=self.face.ink, width=fr.px(self.face.line_w), joint="curve")

    def _brows(self, draw, fr: FaceFrame, c, skin: Colour) -> None:
        """Brows slanting with AU1/2/4; 'expressive' designs only show them while they move."""
        face = self.face
        lower, inner_up, outer_up = c["brow_lower"], c["brow_inner_raise"], c["brow_outer_raise"]
        if face.brows == "never":
            return
        strength = 1.0
        if face.brows == "expressive":
            strength = float(np.clip((max(lower, inner_up, outer_up) - 0.1) * 3, 0, 1))
        if strength <= 0.08:
            return
        y0 = face.eye_y - face.eye_ry - face.brow_gap
        for s in (-1.0, 1.0):
            inner = (
                s * (face.eye_dx - face.eye_rx - 0.06 - 0.05 * c["brow_squeeze"]),
                y0 + 0.2 * lower - 0.25 * inner_up,
            )
            # AU1 alone slants the brows (worry); AU1 + AU2 lift them level, as high arches.
            outer = (
                s * (face.eye_dx + face.eye_rx + 0.08),
                y0 + 0.02 * lower - 0.25 * outer_up + 0.12 * max(0.0, inner_up - outer_up),
            )
            mid = (0.5 * (inner[0] + outer[0]), min(inner[1], outer[1]) - 0.04 - 0.04 * outer_up)
            pts = fr.local(bezier(inner, mid, outer))
            faded_line(draw, pts, fr.at, skin, face.ink, strength, face.brow_w)

    def _mouth(self, draw, fr: FaceFrame, c, e: float, t: float) -> None:
        face = self.face
        cue = self.cues.get("mouth", {}).get("kind")
        m = _ramp(e)
        if cue == "kiss" and m > 0.35:
            self._kiss(draw, fr)
            return
        if cue == "wavy" and m > 0.35:
            self._wavy(draw, fr, c)
            return
        extra = 0.3 * m if cue in ("open", "vomit") else 0.0
        grimace = m if cue == "teeth" else 0.0
        shape = mouth_shape(face, c, extra, grimace)
        x = shape.x
        if cue == "vomit":
            centre = float(np.mean(shape.lower))
            draw_vomit(draw, fr, 0.0, centre, 0.8 * float(shape.x[-1]), e, t)
        if shape.gap < 0.03:
            pts = np.stack([x, shape.line], -1)
            draw.line(fr.feat(pts), fill=face.ink, width=fr.px(face.line_w), joint="curve")
            if cue == "tongue" and m > 0.3:
                self._tongue_out(draw, fr, shape, m)
            return
        outline = np.concatenate(
            [np.stack([x, shape.upper], -1), np.stack([x, shape.lower], -1)[::-1]]
        )
        draw.polygon(fr.feat(outline), fill=face.mouth_fill)
        inner = np.abs(_MOUTH_S) < 0.88
        if grimace > 0.3:
            # Clenched teeth filling the mouth: a middle line and gaps between teeth.
            draw.polygon(fr.feat(outline), fill=_TEETH)
            mid = np.stack([x, 0.5 * (shape.upper + shape.lower)], -1)
            draw.line(fr.feat(mid), fill=face.ink, width=fr.px(0.02))
            for j in (3, 6, 10, 13):
                draw.line(
                    fr.feat([(x[j], shape.upper[j]), (x[j], shape.lower[j])]),
                    fill=face.ink,
                    width=fr.px(0.015),
                )
        else:
            teeth = float(
                np.clip(
                    1.3 * (c["lip_corner_up"] - 0.3)
                    + 0.6 * c["lip_stretch"]
                    + 1.2 * c["upper_lip_raise"],
                    0,
                    1,
                )
            )
            if teeth > 0.1 and shape.gap > 0.08:
                depth = shape.gap * (0.12 + 0.25 * teeth)
                bottom = np.minimum(shape.upper + depth, shape.lower)
                band = np.concatenate(
                    [
                        np.stack([x[inner], shape.upper[inner]], -1),
                        np.stack([x[inner], bottom[inner]], -1)[::-1],
                    ]
                )
                draw.polygon(fr.feat(band), fill=_TEETH)
            if shape.gap > 0.12 and (c["lip_corner_up"] > 0.4 or cue == "tongue"):
                sel = np.abs(_MOUTH_S) < 0.65
                u = _MOUTH_S[sel] / 0.65
                top = np.maximum(shape.lower[sel] - 0.45 * shape.gap * (1 - u**2), shape.upper[sel])
                tongue = np.concatenate(
                    [np.stack([x[sel], shape.lower[sel]], -1), np.stack([x[sel], top], -1)[::-1]]
                )
                draw.polygon(fr.feat(tongue), fill=face.tongue)
        if face.mouth_edge:
            closed = np.concatenate([outline, outline[:1]])
            draw.line(fr.feat(closed), fill=face.ink, width=fr.px(0.6 * face.line_w), joint="curve")
        if cue == "tongue" and m > 0.3:
            self._tongue_out(draw, fr, shape, m)

    def _tongue_out(self, draw, fr: FaceFrame, shape: MouthShape, m: float) -> None:
        """A tongue hanging out of the lower lip, off to the design's sneer side."""
        face = self.face
        x0 = 0.25 * face.sneer * float(shape.x[-1])
        y0 = float(np.interp(x0, shape.x, shape.lower))
        length, half = 0.22 * m, 0.11
        a = np.linspace(0, np.pi, 9)
        tip = np.stack([x0 + half * np.cos(a), y0 + length + half * np.sin(a)], -1)
        pts = np.concatenate([[[x0 - half, y0 - 0.01]], tip[::-1], [[x0 + half, y0 - 0.01]]])
        draw.polygon(fr.feat(pts), fill=face.tongue)
        draw.line(
            fr.feat([(x0, y0), (x0, y0 + 0.6 * length)]),
            fill=mix(face.tongue, face.ink, 0.35),
            width=fr.px(0.015),
        )

    def _wavy(self, draw, fr: FaceFrame, c) -> None:
        """A queasy zigzag mouth, as nauseated and confounded emoji draw it."""
        face = self.face
        half = face.mouth_w * (0.8 + 0.2 * c["lip_stretch"])
        x = np.linspace(-half, half, 7)
        y = face.mouth_y + 0.04 * c["lip_corner_down"] + 0.05 * (-1.0) ** np.arange(7)
        draw.line(
            fr.feat(np.stack([x, y], -1)), fill=face.ink, width=fr.px(face.line_w), joint="curve"
        )

    def _kiss(self, draw, fr: FaceFrame) -> None:
        face = self.face
        x0, y0 = 0.04 * face.sneer, face.mouth_y
        if face.kiss_style == "o":
            pts = (x0, y0) + ellipse_points(0.07, 0.06, 14)
            draw.polygon(fr.feat(pts), fill=face.mouth_fill, outline=face.ink, width=fr.px(0.03))
            return
        for dy in (-0.055, 0.055):
            arc = bezier(
                (x0 - 0.04, y0 + dy - 0.05), (x0 + 0.1, y0 + dy), (x0 - 0.04, y0 + dy + 0.05)
            )
            draw.line(fr.feat(arc), fill=face.ink, width=fr.px(face.line_w), joint="curve")
