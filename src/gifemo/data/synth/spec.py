"""Sample everything one synthetic GIF is made of, from its label, seed, style and difficulty.

``sample_spec`` is the only place where the difficulty knob acts: it scales AU intensity
ranges, the "leak" of other AUs and of a confusable expression, how much of the GIF is neutral,
and every nuisance (head motion, talking, camera shake, lighting, noise, blur, captions, a
second face, palette size).

Two styles share the expression, timing, motion, caption and encoder draws (the helpers
below): ``"human"`` cartoon people (``face.py``) and ``"emoji"`` round emoji heads with their
stylised cues (``emoji.py``, ``cues.py``). The human style's draws are in the order of the
first generator version, so its GIFs keep their bytes (except the laughing ones, which
version 2 drew with an open mouth).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gifemo.data.synth.action_units import CONFUSABLE, EXPRESSIVE_AUS, PROTOTYPES
from gifemo.data.synth.archetypes import sample_archetype, sample_cues
from gifemo.data.synth.emoji import (
    EMOJI_BACKGROUND_P,
    EMOJI_BACKGROUNDS,
    EmojiFace,
    sample_emoji_face,
)
from gifemo.data.synth.face import Identity, sample_identity
from gifemo.data.synth.scene import BACKGROUNDS, caption_text
from gifemo.data.synth.timeline import (
    Envelope,
    frame_times,
    sample_delays,
    sample_envelope,
    sample_frame_count,
)

#: The default difficulty (see docs/synthetic-data.md for what it changes).
DEFAULT_DIFFICULTY = 0.25
#: 2: happy human faces that bob with laughter open their mouths (:data:`LAUGH_JAW`).
GENERATOR_VERSION = 2
#: Rendering styles: ``human`` cartoon people, ``emoji`` emoji and sticker faces.
STYLES: tuple[str, ...] = ("human", "emoji")
#: Share of emoji-style GIFs whose expression is held throughout (``Envelope.floor`` drawn
#: from ``EMOJI_FLOOR_RANGE``); the rest play a whole episode from a neutral face, as people do.
EMOJI_HELD_P = 0.8
EMOJI_FLOOR_RANGE: tuple[float, float] = (0.4, 0.9)
#: A laughing human face (happiness with a bobbing head, half of them) drops its jaw (AU26) to
#: this share of its smile (AU12). Laughter opens the mouth, in reaction GIFs and in every emoji
#: set's grins; without it the human style drew happiness and like as the same closed smile at
#: two strengths, and taught the mixed model that an open mouth says nothing about joy.
LAUGH_JAW = 0.8


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


@dataclass(frozen=True)
class GifSpec:
    """All random choices behind one GIF (rendering adds only per-frame noise).

    ``identity`` is an ``Identity`` (human style) or an ``EmojiFace`` (emoji style); ``cues``
    holds the emoji style's stylised cues and ``archetype`` the face emoji it draws
    (``archetypes.py``); both are empty for humans.
    """

    label: str
    seed: int
    size: int
    difficulty: float
    delays_ms: tuple[int, ...]
    aus: dict[str, float]  # the label's prototype AUs (emoji: the archetype's) at apex intensity
    leak: dict[str, float]  # other AUs, a constant low activation
    confuser: dict[str, float]  # a confusable expression following the same envelope
    envelope: Envelope
    au_lag: dict[str, float]  # per-AU delay (s) against the envelope
    identity: Identity | EmojiFace
    gesture: dict[str, float]  # class-typical head movement, scaled by the envelope
    motion: dict[str, float]  # random head motion amplitudes
    placement: dict[str, float]  # face centre (fraction of the frame) and half-width
    blink_rate: float
    speech: float  # talking amplitude (0: silent)
    camera: dict[str, float]
    background: str
    lighting: dict[str, float]
    noise: float
    blur: float | None
    caption: dict | None
    second_face: dict | None
    blush: float
    hearts: int
    encoder: dict = field(default_factory=dict)
    style: str = "human"
    cues: dict = field(default_factory=dict)
    archetype: str = ""

    @property
    def n_frames(self) -> int:
        return len(self.delays_ms)

    def params(self) -> dict:
        """The generator parameters recorded in labels.csv (floats rounded).

        Human-style GIFs record exactly the keys of the first version; emoji-style ones add
        ``style``, ``archetype`` and ``cues``.
        """
        env = self.envelope
        t = frame_times(self.delays_ms)
        extra = {}
        if self.style != "human":
            extra = {"style": self.style, "archetype": self.archetype, "cues": self.cues}
        return _rounded(
            {
                "version": GENERATOR_VERSION,
                "difficulty": self.difficulty,
                "size": self.size,
                "aus": self.aus,
                "leak": self.leak,
                "confuser": self.confuser,
                "envelope": env.to_dict(),
                "apex_frames": int((env(t) > 0.8).sum()),
                "delays_ms": sorted(set(self.delays_ms)),
                "identity": self.identity.summary(),
                "gesture": {k: v for k, v in self.gesture.items() if v},
                "motion": self.motion,
                "speech": self.speech,
                "blink_rate": self.blink_rate,
                "camera": self.camera,
                "background": self.background,
                "lighting": self.lighting,
                "noise": self.noise,
                "blur": self.blur,
                "caption": self.caption,
                "second_face": self.second_face,
                "blush": self.blush,
                "hearts": self.hearts,
                "encoder": self.encoder,
                **extra,
            }
        )

    def params_json(self) -> str:
        return json.dumps(self.params(), sort_keys=True, separators=(",", ":"))


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


def apex_scale(rng: np.random.Generator, d: float) -> float:
    """One GIF's overall expression strength, lower at higher difficulty ``d``."""
    return float(rng.uniform(_lerp(0.75, 0.5, d), _lerp(1.0, 0.95, d)))


def apex_intensities(
    rng: np.random.Generator, weights: Mapping[str, float], scale: float
) -> dict[str, float]:
    """The apex intensity of each AU of an expression (``AU -> weight``) at strength ``scale``,
    with a little jitter per AU."""
    return {au: float(min(1.0, w * scale * rng.uniform(0.85, 1.1))) for au, w in weights.items()}


def sample_expression(
    rng: np.random.Generator, label: str, d: float
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """``(aus, leak, confuser)`` intensities for one GIF of class ``label`` at difficulty ``d``."""
    scale = apex_scale(rng, d)
    aus = apex_intensities(rng, PROTOTYPES[label], scale)
    leak = {}
    for au in EXPRESSIVE_AUS:
        if au not in aus and rng.random() < _lerp(0.05, 0.2, d):
            leak[au] = float(rng.uniform(0.05, _lerp(0.15, 0.28, d)))
    confuser = {}
    if rng.random() < _lerp(0.0, 0.3, d):
        strength = rng.uniform(0.2, 0.6)
        other = CONFUSABLE[label]
        confuser = {
            au: float(w * strength * scale) for au, w in PROTOTYPES[other].items() if au not in aus
        }
    return aus, leak, confuser


def _gesture(rng: np.random.Generator, label: str) -> dict[str, float]:
    """Head movement that comes with the expression (scaled by the envelope when rendered).

    ``roll`` (radians) tilts, ``pitch``/``yaw`` turn (face units), ``scale`` leans in or out,
    ``nod``/``nod_hz`` and ``bob``/``bob_hz`` oscillate the pitch, ``gaze_y`` looks down.
    """
    g = dict.fromkeys(
        ("roll", "pitch", "yaw", "scale", "nod", "nod_hz", "bob", "bob_hz", "gaze_y"), 0.0
    )
    sign = float(rng.choice([-1.0, 1.0]))
    if label == "like":
        kind = rng.choice(["tilt", "nod", "both"], p=[0.5, 0.35, 0.15])
        if kind in ("tilt", "both"):
            g["roll"] = sign * np.deg2rad(rng.uniform(6, 14))
        if kind in ("nod", "both"):
            g["nod"], g["nod_hz"] = rng.uniform(0.1, 0.2), rng.uniform(0.6, 1.5)
    elif label == "happiness" and rng.random() < 0.5:
        g["bob"], g["bob_hz"] = rng.uniform(0.03, 0.07), rng.uniform(2.5, 4.0)  # laughing
    elif label == "surprise":
        g["pitch"], g["scale"] = -rng.uniform(0.03, 0.1), rng.uniform(0.0, 0.04)
    elif label == "sadness":
        g["pitch"], g["gaze_y"] = rng.uniform(0.04, 0.12), rng.uniform(0.3, 1.0)
    elif label == "anger":
        g["pitch"], g["scale"] = rng.uniform(0.0, 0.06), rng.uniform(0.0, 0.05)
    elif label == "disgust":
        g["yaw"], g["pitch"] = sign * rng.uniform(0.05, 0.18), -rng.uniform(0.0, 0.05)
    elif label == "fear":
        g["scale"], g["yaw"] = -rng.uniform(0.0, 0.05), sign * rng.uniform(0.0, 0.1)
    return {k: float(v) for k, v in g.items()}


def _encoder(rng: np.random.Generator, d: float) -> dict:
    palette = "global" if rng.random() < 0.6 else "local"
    colors = int(
        rng.choice([256, 128, 64, 32], p=[0.55 - 0.2 * d, 0.2, 0.15 + 0.1 * d, 0.1 + 0.1 * d])
    )
    optimize = bool(rng.random() < 0.8)
    disposal = str(rng.choice(["auto", "keep", "background", "none"], p=[0.45, 0.3, 0.1, 0.15]))
    return {
        "palette": palette,
        "dither": bool(rng.random() < 0.4),
        "colors": colors,
        "method": "fastoctree",
        "optimize": optimize,
        "disposal": disposal,
        "transparency": bool(rng.random() < 0.85),
    }


@dataclass(frozen=True)
class _Episode:
    """The draws both styles share, in the order the first generator version made them."""

    delays: tuple[int, ...]
    aus: dict[str, float]
    leak: dict[str, float]
    confuser: dict[str, float]
    envelope: Envelope
    au_lag: dict[str, float]
    motion: dict[str, float]


def _episode(rng: np.random.Generator, label: str, d: float) -> _Episode:
    """Frame delays, the expression and its timing, and the random head motion amplitudes."""
    delays = sample_delays(rng, sample_frame_count(rng))
    duration = sum(delays) / 1000.0
    aus, leak, confuser = sample_expression(rng, label, d)
    envelope = sample_envelope(
        rng, duration, pad_max=_lerp(0.3, 1.0, d), apex_in_window=_lerp(1.0, 0.9, d)
    )
    au_lag = {au: float(rng.normal(0, 0.08)) for au in sorted({*aus, *confuser})}
    k = _lerp(0.3, 1.0, d)
    motion = {
        "roll": float(np.deg2rad(4) * k * rng.uniform(0.2, 1)),
        "yaw": 0.15 * k * rng.uniform(0.2, 1),
        "pitch": 0.1 * k * rng.uniform(0.2, 1),
        "shift": 0.03 * k * rng.uniform(0.2, 1),
        "scale": 0.04 * k * rng.uniform(0.2, 1),
    }
    return _Episode(delays, aus, leak, confuser, envelope, au_lag, motion)


def _laughing(ep: _Episode) -> _Episode:
    """The episode with the jaw dropping as the smile rises (no random draw: the GIFs after
    this one keep their bytes)."""
    aus = {**ep.aus, "AU26": float(min(1.0, LAUGH_JAW * ep.aus["AU12"]))}
    au_lag = {**ep.au_lag, "AU26": ep.au_lag["AU12"]}
    return dataclasses.replace(ep, aus=aus, au_lag=au_lag)


def _placement(
    rng: np.random.Generator, half_width: float, off: float, y: float = 0.45
) -> dict[str, float]:
    """Face centre (fractions of the frame; people sit a little above the middle, leaving room
    for the shoulders) and its half-width."""
    return {
        "x": 0.5 + rng.uniform(-off, off),
        "y": y + rng.uniform(-off, off) * 0.6,
        "half_width": half_width,
    }


def _camera(rng: np.random.Generator, shake_chance: float, k: float) -> dict[str, float]:
    shake = rng.uniform(0.3, 2.5) if rng.random() < shake_chance else 0.0
    return {"shake_px": shake, "pan_x": rng.normal(0, 0.02 * k), "pan_y": rng.normal(0, 0.01 * k)}


def _caption(rng: np.random.Generator, chance: float) -> dict | None:
    if rng.random() >= chance:
        return None
    return {
        "style": str(rng.choice(["bar", "meme"])),
        "top": bool(rng.random() < 0.3),
        "texts": [caption_text(rng) for _ in range(rng.integers(1, 3))],
    }


def _check(label: str, difficulty: float, style: str) -> None:
    if label not in PROTOTYPES:
        raise ValueError(f"unknown label {label!r}; the synthetic set has {sorted(PROTOTYPES)}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {list(STYLES)}")


def sample_spec(
    label: str,
    seed: int,
    *,
    size: int = 128,
    difficulty: float = DEFAULT_DIFFICULTY,
    style: str = "human",
) -> GifSpec:
    """Everything one GIF of class ``label`` is made of; a function of its arguments only."""
    _check(label, difficulty, style)
    if style == "emoji":
        return _emoji_spec(label, seed, size, float(difficulty))
    d = float(difficulty)
    rng = np.random.default_rng(seed)
    ep = _episode(rng, label, d)
    k = _lerp(0.3, 1.0, d)
    half_width = rng.uniform(_lerp(0.36, 0.26, d), _lerp(0.44, 0.4, d))
    placement = _placement(rng, half_width, _lerp(0.03, 0.1, d))
    camera = _camera(rng, _lerp(0.1, 0.4, d), k)
    lighting = {
        "gain": rng.uniform(_lerp(0.9, 0.8, d), _lerp(1.1, 1.2, d)),
        "tint": rng.uniform(0, _lerp(0.04, 0.08, d)),
        "falloff": rng.uniform(0, _lerp(0.1, 0.3, d)),
        "flicker": rng.uniform(0, _lerp(0.03, 0.1, d)),
    }
    caption = _caption(rng, _lerp(0.05, 0.25, d))
    second_face = None
    if rng.random() < _lerp(0.0, 0.15, d):
        other = str(rng.choice(["neutral", *PROTOTYPES]))
        second_face = {
            "side": float(rng.choice([-1.0, 1.0])),
            "scale": rng.uniform(0.6, 0.85),
            "expression": other,
            "intensity": rng.uniform(0.2, 0.6),
            "seed": int(rng.integers(2**31)),
        }
    blush = 0.0
    if (label == "like" and rng.random() < 0.45) or (
        label == "happiness" and rng.random() < 0.1 * d
    ):
        blush = rng.uniform(0.4, 1.0)
    hearts = int(rng.integers(1, 5)) if label == "like" and rng.random() < 0.3 else 0
    identity = sample_identity(rng)
    gesture = _gesture(rng, label)
    if label == "happiness" and gesture["bob"] > 0:
        ep = _laughing(ep)
    return _assemble(
        label,
        seed,
        size,
        d,
        ep,
        identity=identity,
        gesture=gesture,
        placement=placement,
        blink_rate=float(rng.uniform(0.15, 0.45)),
        speech=float(rng.uniform(0.3, 0.8)) if rng.random() < _lerp(0.05, 0.35, d) else 0.0,
        camera=camera,
        background=str(rng.choice(BACKGROUNDS)),
        lighting=lighting,
        noise=float(rng.uniform(0, _lerp(2, 8, d))),
        blur=float(rng.uniform(0.4, 0.8)) if rng.random() < _lerp(0.05, 0.25, d) else None,
        caption=caption,
        second_face=second_face,
        blush=float(blush),
        hearts=hearts,
        encoder=_encoder(rng, d),
    )


def _assemble(label: str, seed: int, size: int, d: float, ep: _Episode, **choices) -> GifSpec:
    """A ``GifSpec`` from the shared episode and a style's own choices.

    The choices are evaluated by the caller in keyword order, which is the order the random
    numbers are drawn in.
    """
    for name in ("placement", "camera", "lighting"):
        choices[name] = {k: float(v) for k, v in choices[name].items()}
    return GifSpec(
        label=label,
        seed=int(seed),
        size=int(size),
        difficulty=d,
        delays_ms=ep.delays,
        aus=ep.aus,
        leak=ep.leak,
        confuser=ep.confuser,
        envelope=ep.envelope,
        au_lag=ep.au_lag,
        motion={k: float(v) for k, v in ep.motion.items()},
        **choices,
    )


def _emoji_spec(label: str, seed: int, size: int, d: float) -> GifSpec:
    """An emoji GIF: the human style's expression, timing and encoder draws; its own design,
    cues, framing (a big centred head), cleaner digital look and mostly plain backgrounds."""
    rng = np.random.default_rng(seed)
    ep = _episode(rng, label, d)
    # Most animated emoji hold their expression from the first frame to the last and animate
    # around it (noto's heart eyes never leave the face); some stickers start from neutral.
    # Both numbers are drawn either way, so the draws after them do not depend on the coin.
    held, floor = rng.random() < EMOJI_HELD_P, rng.uniform(*EMOJI_FLOOR_RANGE)
    if held:
        ep = dataclasses.replace(ep, envelope=dataclasses.replace(ep.envelope, floor=floor))
    k = _lerp(0.3, 1.0, d)
    half_width = rng.uniform(_lerp(0.38, 0.3, d), _lerp(0.47, 0.44, d))
    placement = _placement(rng, half_width, _lerp(0.02, 0.08, d), y=0.5)
    camera = _camera(rng, _lerp(0.03, 0.15, d), 0.5 * k)
    # Drawn, not filmed: little light change, no flicker.
    lighting = {
        "gain": rng.uniform(0.95, 1.05),
        "tint": rng.uniform(0, 0.02),
        "falloff": rng.uniform(0, _lerp(0.0, 0.15, d)),
        "flicker": 0.0,
    }
    caption = _caption(rng, _lerp(0.03, 0.12, d))
    # The face emoji this GIF is (archetypes.py): its own AUs replace the class prototype's,
    # at the intensity the episode drew, and its cue odds replace the class's.
    archetype = sample_archetype(rng, label)
    aus = apex_intensities(rng, archetype.aus, apex_scale(rng, d))
    confuser = {au: v for au, v in ep.confuser.items() if au not in aus}
    au_lag = {au: ep.au_lag.get(au, float(rng.normal(0, 0.08))) for au in sorted({*aus, *confuser})}
    ep = dataclasses.replace(ep, aus=aus, confuser=confuser, au_lag=au_lag)
    cues = sample_cues(rng, archetype)
    blush = cues["blush"]["amount"] if "blush" in cues else 0.0
    hearts = 1 + int(rng.integers(0, 4)) if "hearts" in cues else 0
    face = sample_emoji_face(rng)
    p_bg = np.array(EMOJI_BACKGROUND_P)
    return _assemble(
        label,
        seed,
        size,
        d,
        ep,
        identity=face,
        gesture=_gesture(rng, label),
        placement=placement,
        blink_rate=float(rng.uniform(0.1, 0.4)),
        speech=float(rng.uniform(0.3, 0.8)) if rng.random() < _lerp(0.03, 0.15, d) else 0.0,
        camera=camera,
        background=str(rng.choice(EMOJI_BACKGROUNDS, p=p_bg / p_bg.sum())),
        lighting=lighting,
        noise=float(rng.uniform(0, _lerp(1.5, 6, d))) if rng.random() < 0.3 else 0.0,
        blur=float(rng.uniform(0.35, 0.8)) if rng.random() < _lerp(0.05, 0.25, d) else None,
        caption=caption,
        second_face=None,
        blush=float(blush),
        hearts=hearts,
        encoder=_encoder(rng, d),
        style="emoji",
        cues=cues,
        archetype=archetype.name,
    )
