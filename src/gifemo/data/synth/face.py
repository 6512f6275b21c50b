"""Face identity and geometry: rig controls -> landmark polylines.

Coordinates are *face units*: origin between the eyes' level and the nose, x to the image
right, y down, the head half-width about 1. ``face_landmarks`` returns every feature as an
``(N, 2)`` float array in those units; ``draw.py`` maps them to pixels and paints them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HAIR_STYLES = ("bald", "short", "long", "bun", "curly", "fringe")
GLASSES = ("none", "round", "square")
STYLES = ("flat", "shaded")

# Skin tones from light to dark, plus cartoon yellows used only by the flat style.
SKIN_TONES = np.array(
    [
        (255, 224, 196),
        (241, 194, 160),
        (224, 172, 130),
        (198, 134, 96),
        (161, 102, 68),
        (120, 74, 48),
        (86, 54, 38),
    ],
    float,
)
_CARTOON_SKINS = np.array([(255, 204, 77), (250, 190, 60), (255, 218, 120)], float)
_HAIR_COLOURS = np.array(
    [
        (30, 22, 18),
        (60, 40, 25),
        (110, 70, 40),
        (170, 120, 60),
        (220, 190, 120),
        (140, 140, 140),
        (150, 40, 30),
        (40, 40, 60),
    ],
    float,
)
_IRIS_COLOURS = np.array(
    [(60, 40, 25), (90, 60, 30), (50, 90, 140), (70, 110, 70), (40, 30, 25)], float
)


@dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic person look like themselves (fixed over a GIF)."""

    face_w: float
    face_top: float
    face_bot: float
    jaw_n: float
    jaw_w: float
    skin: tuple[int, int, int]
    eye_dx: float
    eye_y: float
    eye_w: float
    eye_up: float
    eye_lo: float
    eye_tilt: float
    iris_r: float
    iris: tuple[int, int, int]
    brow_gap: float
    brow_thick: float
    brow_arch: float
    brow: tuple[int, int, int]
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_up: float
    lip_lo: float
    lips: tuple[int, int, int]
    hair_style: str
    hair: tuple[int, int, int]
    glasses: str
    glasses_colour: tuple[int, int, int]
    beard: bool
    style: str
    shirt: tuple[int, int, int]
    light: float  # light direction for the shaded style: -1 from the left, 1 from the right

    def summary(self) -> dict:
        """The categorical parts, for labels.csv."""
        return {
            k: v
            for k, v in asdict(self).items()
            if k in ("hair_style", "glasses", "beard", "style")
        }


def to_rgb(c) -> tuple[int, int, int]:
    return tuple(round(float(v)) for v in np.clip(c, 0, 255))  # type: ignore[return-value]


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a random identity: face shape, skin, eye/brow/mouth geometry, hair, glasses, style."""
    style = STYLES[int(rng.random() < 0.55)]
    if style == "flat" and rng.random() < 0.25:
        skin = _CARTOON_SKINS[rng.integers(len(_CARTOON_SKINS))]
    else:
        i = rng.uniform(0, len(SKIN_TONES) - 1)
        lo = int(i)
        skin = SKIN_TONES[lo] + (i - lo) * (
            SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[lo]
        )
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    eye_w = rng.uniform(0.17, 0.22)
    lip_base = skin * np.array([0.85, 0.55, 0.55]) + rng.uniform(0, 60) * np.array([1.0, 0.1, 0.15])
    glasses = GLASSES[rng.choice(3, p=[0.72, 0.16, 0.12])]
    return Identity(
        face_w=rng.uniform(0.88, 1.02),
        face_top=rng.uniform(1.15, 1.3),
        face_bot=rng.uniform(1.12, 1.32),
        jaw_n=rng.uniform(1.7, 2.6),
        jaw_w=rng.uniform(0.82, 0.97),
        skin=to_rgb(skin),
        eye_dx=rng.uniform(0.36, 0.44),
        eye_y=rng.uniform(-0.1, 0.0),
        eye_w=eye_w,
        eye_up=rng.uniform(0.075, 0.1),
        eye_lo=rng.uniform(0.04, 0.06),
        eye_tilt=rng.uniform(-0.015, 0.03),
        iris_r=min(rng.uniform(0.075, 0.095), 0.55 * eye_w),
        iris=to_rgb(_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]),
        brow_gap=rng.uniform(0.15, 0.2),
        brow_thick=rng.uniform(0.045, 0.075),
        brow_arch=rng.uniform(0.01, 0.045),
        brow=to_rgb(hair * 0.8),
        nose_y=rng.uniform(0.24, 0.34),
        nose_w=rng.uniform(0.08, 0.12),
        mouth_y=rng.uniform(0.54, 0.62),
        mouth_w=rng.uniform(0.28, 0.36),
        lip_up=rng.uniform(0.035, 0.055),
        lip_lo=rng.uniform(0.045, 0.075),
        lips=to_rgb(lip_base),
        hair_style=HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=[0.08, 0.3, 0.24, 0.1, 0.12, 0.16])],
        hair=to_rgb(hair),
        glasses=glasses,
        glasses_colour=to_rgb(
            rng.choice([20, 60, 120, 170]) * np.ones(3) + rng.uniform(-15, 15, 3)
        ),
        beard=bool(rng.random() < 0.12),
        style=style,
        shirt=to_rgb(rng.uniform(20, 235, 3)),
        light=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)),
    )


def _bezier_weights(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return np.stack([(1 - t) ** 2, 2 * (1 - t) * t, t**2], -1)


_BEZIER = {n: _bezier_weights(n) for n in (5, 6, 7)}


def bezier(p0, p1, p2, n: int = 7) -> np.ndarray:
    """Quadratic Bezier through control points ``p0, p1, p2``: ``(n, 2)``."""
    return _BEZIER[n] @ np.array([p0, p1, p2], float)


_OUTLINE_THETA = np.linspace(0, 2 * np.pi, 48, endpoint=False)
_OUTLINE_COS, _OUTLINE_SIN = np.cos(_OUTLINE_THETA), np.sin(_OUTLINE_THETA)


def head_outline(
    a: float, b_top: float, b_bot: float, n_bot: float, jaw_w: float = 1.0
) -> np.ndarray:
    """Head outline: an ellipse above, a superellipse (exponent ``n_bot``) below: ``(48, 2)``."""
    c, s = _OUTLINE_COS, _OUTLINE_SIN
    lower = s > 0
    n = np.where(lower, n_bot, 2.0)
    # The jaw narrows towards the chin.
    x = a * np.sign(c) * np.abs(c) ** (2 / n) * np.where(lower, 1 - (1 - jaw_w) * s, 1.0)
    y = np.where(lower, b_bot, b_top) * np.sign(s) * np.abs(s) ** (2 / n)
    return np.stack([x, y], -1)


def face_landmarks(
    ident: Identity,
    c: dict[str, float],
    *,
    yaw: float = 0.0,
    pitch: float = 0.0,
    gaze: tuple[float, float] = (0.0, 0.0),
) -> dict[str, np.ndarray]:
    """Landmark polylines for rig controls ``c`` (see ``action_units.CONTROLS``).

    ``yaw``/``pitch`` (about -0.5..0.5) shift the inner features against the outline to fake
    a turned or nodding head; ``gaze`` moves the irises. Returns name -> ``(N, 2)`` array; the
    ``*_l``/``*_r`` pairs are the features on the image's left and right.
    """
    lm: dict[str, np.ndarray] = {}
    jaw_open = 0.2 * c["jaw_drop"] + 0.06 * c["speech"]
    lm["outline"] = head_outline(
        ident.face_w, ident.face_top, ident.face_bot + 0.55 * jaw_open, ident.jaw_n, ident.jaw_w
    )
    for side, s in (("l", -1.0), ("r", 1.0)):
        lm[f"ear_{side}"] = _EAR + (s * (ident.face_w - 0.02), ident.eye_y + 0.12)
        _eye(lm, ident, c, side, s, gaze)
        _brow(lm, ident, c, side, s)
    _nose(lm, ident, c)
    _mouth(lm, ident, c)

    # Fake 3D: the features slide over the head outline as it turns; the nose, which sticks
    # out, slides further.
    for name, pts in lm.items():
        if name == "outline" or name.startswith("ear_"):
            continue
        depth = 1.5 if name.startswith("nose") else 1.0
        lm[name] = pts + np.array([0.22 * yaw * depth, 0.16 * pitch * depth])
    for side in ("l", "r"):
        lm[f"ear_{side}"] = lm[f"ear_{side}"] + np.array([-0.12 * yaw, -0.1 * pitch])
    return lm


_EAR = np.stack([0.1 * np.cos(_OUTLINE_THETA[::3]), 0.17 * np.sin(_OUTLINE_THETA[::3])], -1)


_EYE_U = np.linspace(-1, 1, 11)  # -1 inner corner, 1 outer corner
_UPPER_LID = (1 - _EYE_U**2) ** 0.7 * (1 - 0.15 * _EYE_U)  # peaks a little inwards
_LOWER_LID = (1 - _EYE_U**2) ** 0.9
_CHEEK_U = np.linspace(-1, 1, 7)


def _eye(lm, ident: Identity, c, side: str, s: float, gaze) -> None:
    u = _EYE_U
    x = s * (ident.eye_dx + u * ident.eye_w)
    base = ident.eye_y - ident.eye_tilt * u
    hu = ident.eye_up * (
        1 + 0.9 * c["upper_lid_raise"] - 0.35 * c["lid_tighten"] - 0.3 * c["cheek_raise"]
    )
    hl = ident.eye_lo * (1 - 0.8 * c["lid_tighten"] - 1.4 * c["cheek_raise"])
    upper = base - hu * _UPPER_LID
    lower = base + hl * _LOWER_LID
    close = min(max(c["eye_close"], 0.0), 1.0)
    upper = np.minimum(upper * (1 - close) + lower * close, lower)
    lm[f"eye_upper_{side}"] = np.stack([x, upper], -1)
    lm[f"eye_lower_{side}"] = np.stack([x, lower], -1)
    iris_c = np.array(
        [s * ident.eye_dx + gaze[0] * 0.4 * ident.eye_w, ident.eye_y + 0.012 + 0.02 * gaze[1]]
    )
    lm[f"iris_{side}"] = iris_c[None]
    # Cheek contour under the eye, pushed up by AU6.
    cu = _CHEEK_U
    cheek_y = ident.eye_y + ident.eye_lo + 0.1 - 0.05 * c["cheek_raise"] + 0.03 * cu**2
    lm[f"cheek_{side}"] = np.stack(
        [s * (ident.eye_dx + 0.05 + cu * ident.eye_w * 1.1), cheek_y], -1
    )
    ox = s * (ident.eye_dx + ident.eye_w + 0.03)
    lm[f"crow_{side}"] = np.array(
        [
            [ox, ident.eye_y - 0.03],
            [ox + s * 0.07, ident.eye_y - 0.06],
            [ox, ident.eye_y],
            [ox + s * 0.08, ident.eye_y],
            [ox, ident.eye_y + 0.03],
            [ox + s * 0.07, ident.eye_y + 0.06],
        ]
    )


def _brow(lm, ident: Identity, c, side: str, s: float) -> None:
    top = ident.eye_y - ident.eye_up - ident.brow_gap + 0.06
    lower, inner_up, outer_up = c["brow_lower"], c["brow_inner_raise"], c["brow_outer_raise"]
    inner = (
        s * (ident.eye_dx - ident.eye_w * 0.9 - 0.05 * c["brow_squeeze"]),
        top + 0.12 * lower - 0.15 * inner_up,
    )
    mid = (
        s * (ident.eye_dx + 0.01),
        top - ident.brow_arch * 2 + 0.06 * lower - 0.06 * inner_up - 0.1 * outer_up,
    )
    outer = (s * (ident.eye_dx + ident.eye_w * 1.25), top + 0.035 + 0.02 * lower - 0.13 * outer_up)
    lm[f"brow_{side}"] = bezier(inner, mid, outer, 7)


def _nose(lm, ident: Identity, c) -> None:
    ny, nw = ident.nose_y, ident.nose_w
    raise_ = c["nostril_raise"]
    lm["nose_bridge"] = bezier((0.03, ident.eye_y + 0.02), (0.05, ny - 0.15), (0.02, ny - 0.05), 5)
    lm["nose_base"] = bezier(
        (-nw - 0.02 * raise_, ny - 0.03 * raise_),
        (0.0, ny + 0.05 - 0.02 * raise_),
        (nw + 0.02 * raise_, ny - 0.03 * raise_),
        7,
    )
    lm["nose_nostrils"] = np.array(
        [[-nw * 0.5, ny + 0.01 - 0.03 * raise_], [nw * 0.5, ny + 0.01 - 0.03 * raise_]]
    )
    wy = np.linspace(ident.eye_y + 0.08, ny - 0.09, 3)
    lm["nose_wrinkles"] = np.concatenate(
        [[[-nw * 0.7, y], [0, y - 0.015], [nw * 0.7, y]] for y in wy]
    )


_LIP_U = np.linspace(-1, 1, 15)  # -1 left corner, 1 right corner
_LIP_ABS = np.abs(_LIP_U)
# Upper lip thickness profile, with the cupid's bow dip at the centre.
_UPPER_LIP = (1 - _LIP_ABS**1.8) * (1 - 0.4 * np.exp(-((_LIP_U / 0.18) ** 2)))
_LOWER_LIP = 1 - _LIP_ABS**1.6


def _mouth(lm, ident: Identity, c) -> None:
    up, down, out = c["lip_corner_up"], c["lip_corner_down"], c["lip_corner_out"]
    stretch, tight, jaw, speech = c["lip_stretch"], c["lip_tighten"], c["jaw_drop"], c["speech"]
    width = ident.mouth_w * (
        1 + 0.2 * out + 0.3 * stretch - 0.28 * tight + 0.04 * speech - 0.2 * jaw
    )
    gap = (
        0.24 * jaw
        + 0.06 * speech
        + 0.05 * c["lower_lip_down"]
        + 0.1 * max(0.0, up - 0.45)
        + 0.025 * stretch
        + 0.02 * c["upper_lip_raise"]
    )
    centre = ident.mouth_y - 0.035 * c["upper_lip_raise"] - 0.012 * up
    corner = ident.mouth_y - 0.13 * up + 0.11 * down + 0.015 * stretch + 0.25 * gap
    x = _LIP_U * width
    upper_inner = corner + (centre - corner) * (1 - _LIP_ABS**2)
    squareness = 2 + 3 * c["lower_lip_down"] + 3 * stretch
    lower_inner = corner + (centre + gap - corner) * (1 - _LIP_ABS**squareness)
    thin = 1 - 0.55 * tight - 0.3 * stretch
    t_up = ident.lip_up * max(thin - 0.25 * up, 0.25)
    t_lo = ident.lip_lo * max(thin, 0.3)
    lm["lip_upper_outer"] = np.stack([x, upper_inner - t_up * _UPPER_LIP], -1)
    lm["lip_upper_inner"] = np.stack([x, upper_inner], -1)
    lm["lip_lower_inner"] = np.stack([x, lower_inner], -1)
    lm["lip_lower_outer"] = np.stack([x, lower_inner + t_lo * _LOWER_LIP], -1)
    lm["mouth_corners"] = np.array([[x[0], corner], [x[-1], corner]])
    for side, s in (("l", -1.0), ("r", 1.0)):
        lm[f"fold_{side}"] = bezier(
            (s * (ident.nose_w + 0.04), ident.nose_y - 0.02),
            (s * (width + 0.1), (ident.nose_y + corner) / 2),
            (s * (width + 0.04), corner + 0.06),
            6,
        )
