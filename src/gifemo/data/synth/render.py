"""Turn a ``GifSpec`` into frames, and frames into GIF bytes.

Both styles share the per-frame tracks (AUs, pose, gaze, camera, light), the frame loop, hearts,
captions and the camera/light/noise finish; only the subject differs: a person (``draw.py``)
or an emoji (``emoji.EmojiPainter``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import ImageDraw

from gifemo.data.synth.action_units import PROTOTYPES, au_controls
from gifemo.data.synth.draw import Placement, draw_body, draw_face
from gifemo.data.synth.emoji import EmojiPainter, emoji_background
from gifemo.data.synth.face import face_landmarks, sample_identity
from gifemo.data.synth.scene import (
    draw_caption,
    finish_frame,
    heart,
    lighting_field,
    noise_bank,
    render_background,
)
from gifemo.data.synth.spec import GifSpec
from gifemo.data.synth.timeline import blink_curve, frame_times, smooth_noise, speech_curve
from gifemo.io.encode import GifEncoding, write_gif

#: Frames are drawn at this multiple of the output size and box-downsampled (antialiasing).
SUPERSAMPLE = 2


def au_curves(spec: GifSpec, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-AU intensity over the frames, ``AU -> (T,)``: expression, leak and blinks."""
    curves: dict[str, np.ndarray] = {}
    for source in (spec.aus, spec.confuser):
        for au, apex in source.items():
            curves[au] = curves.get(au, 0.0) + apex * spec.envelope(t - spec.au_lag[au])
    for au, level in spec.leak.items():
        curves[au] = curves.get(au, 0.0) + level * (1 + smooth_noise(rng, t, 0.5, 0.1, 0.6))
    curves["AU45"] = blink_curve(rng, t, spec.blink_rate)
    return {au: np.clip(v, 0.0, 1.0) for au, v in curves.items()}


def _saccades(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Gaze ``(T, 2)`` in [-1, 1]: fixations held for 0.3-2 s with quick jumps between them."""
    gaze = np.zeros((len(t), 2))
    target, next_jump = rng.uniform(-0.6, 0.6, 2) * (rng.random() < 0.6), 0.0
    for k, tk in enumerate(t):
        if tk >= next_jump:
            target = (
                rng.uniform(-0.8, 0.8, 2) * np.array([1.0, 0.5])
                if rng.random() < 0.7
                else np.zeros(2)
            )
            next_jump = tk + rng.uniform(0.3, 2.0)
        gaze[k] = target
    return gaze


def head_pose(spec: GifSpec, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-frame head pose: random motion plus the class gesture scaled by the envelope."""
    m, g = spec.motion, spec.gesture
    e = spec.envelope(t)
    nod = g["nod"] * np.sin(2 * np.pi * g["nod_hz"] * t) + g["bob"] * np.sin(
        2 * np.pi * g["bob_hz"] * t
    )
    return {
        "roll": smooth_noise(rng, t, m["roll"]) + g["roll"] * e,
        "yaw": smooth_noise(rng, t, m["yaw"]) + g["yaw"] * e,
        "pitch": smooth_noise(rng, t, m["pitch"]) + (g["pitch"] + nod) * e,
        "scale": 1 + smooth_noise(rng, t, m["scale"]) + g["scale"] * e,
        "dx": smooth_noise(rng, t, m["shift"]),
        "dy": smooth_noise(rng, t, m["shift"] * 0.6),
    }


@dataclass
class _Track:
    """Per-frame values of one GIF, each indexed by frame."""

    t: np.ndarray
    envelope: np.ndarray
    aus: dict[str, np.ndarray]
    speech: np.ndarray
    pose: dict[str, np.ndarray]
    gaze: np.ndarray
    camera: np.ndarray  # (T, 2) integer canvas offsets
    gains: np.ndarray  # (T, 3) light gain per channel


def _track(spec: GifSpec, rng: np.random.Generator, canvas: int, margin: int) -> _Track:
    t = frame_times(spec.delays_ms)
    env = spec.envelope(t)
    aus = au_curves(spec, t, rng)
    speech = speech_curve(rng, t, spec.speech) if spec.speech else np.zeros_like(t)
    pose = head_pose(spec, t, rng)
    gaze = _saccades(rng, t)
    gaze[:, 1] += spec.gesture["gaze_y"] * env
    cam = spec.camera
    camera = np.stack([cam["pan_x"] * t, cam["pan_y"] * t], -1) * canvas
    camera += rng.normal(0, cam["shake_px"] * SUPERSAMPLE, (len(t), 2))
    camera = np.clip(np.round(camera), -margin, margin).astype(int)
    light = spec.lighting
    tint = 1 + rng.uniform(-light["tint"], light["tint"], 3)
    gains = light["gain"] * (1 + smooth_noise(rng, t, light["flicker"], 0.2, 3.0))[:, None] * tint
    return _Track(t, env, aus, speech, pose, gaze, camera, gains)


def render_frames(spec: GifSpec) -> np.ndarray:
    """Render the GIF described by ``spec``: ``(T, size, size, 3) uint8``."""
    size = spec.size
    canvas = size * SUPERSAMPLE
    margin = int(canvas * 0.08) + 2  # room for camera motion
    rng = np.random.default_rng([spec.seed, 1])  # per-frame randomness, apart from the spec's
    track = _track(spec, rng, canvas, margin)
    emoji = spec.style == "emoji"
    paint_background = emoji_background if emoji else render_background
    background = paint_background(rng, spec.background, canvas + 2 * margin)
    field = lighting_field(rng, size, spec.lighting["falloff"])
    noise = noise_bank(rng, size, spec.noise)
    other = _second_face(spec, canvas)
    caption_switch = int(rng.integers(1, len(track.t) + 1))
    hearts = [
        (
            rng.uniform(0, 2 * np.pi),
            rng.uniform(1.3, 1.8),
            rng.uniform(0.12, 0.22),
            rng.uniform(0, 1),
        )
        for _ in range(spec.hearts)
    ]
    # Emoji fill their frame: their hearts float close around the head instead of beside it.
    spread = 0.7 if emoji else 1.0
    if emoji:
        subject = EmojiPainter(spec, track, canvas, rng)
    else:

        def subject(img, draw, k):
            return _draw_subject(draw, spec, track, k, canvas)

    frames = np.empty((len(track.t), size, size, 3), np.uint8)
    for k in range(len(track.t)):
        ox, oy = track.camera[k]
        img = background.crop(
            (margin + ox, margin + oy, margin + ox + canvas, margin + oy + canvas)
        )
        draw = ImageDraw.Draw(img)
        if other is not None:
            o_ident, o_c, o_at = other
            shifted = Placement(o_at.cx - ox, o_at.cy - oy, o_at.scale, o_at.roll)
            draw_body(draw, o_ident, shifted)
            draw_face(draw, o_ident, face_landmarks(o_ident, o_c), o_c, shifted)
        at = subject(img, draw, k)
        if track.envelope[k] > 0.3:
            for ang, dist, r, phase in hearts:
                rise = ((track.t[k] * 0.5 + phase) % 1.0) * 0.8
                hx, hy = spread * dist * np.cos(ang), spread * dist * np.sin(ang) * 0.7 - rise
                draw.polygon(
                    heart(at.cx + hx * at.scale, at.cy + hy * at.scale, r * at.scale),
                    fill=(230, 40, 70),
                )
        if spec.caption:
            texts = spec.caption["texts"]
            text = texts[0] if k < caption_switch or len(texts) == 1 else texts[1]
            draw_caption(draw, canvas, text, style=spec.caption["style"], top=spec.caption["top"])
        frames[k] = finish_frame(
            img.reduce(SUPERSAMPLE),
            gain=track.gains[k],
            field=field,
            noise=noise,
            blur=spec.blur,
            rng=rng,
        )
    return frames


def _draw_subject(
    draw: ImageDraw.ImageDraw, spec: GifSpec, track: _Track, k: int, canvas: int
) -> Placement:
    """Draw the main person at frame ``k``; returns the head's placement."""
    c = au_controls({au: float(v[k]) for au, v in track.aus.items()})
    c["speech"] = float(track.speech[k])
    pose, place = track.pose, spec.placement
    ox, oy = track.camera[k]
    cx = (place["x"] + pose["dx"][k]) * canvas - ox
    cy = (place["y"] + pose["dy"][k]) * canvas - oy
    scale = place["half_width"] * canvas * pose["scale"][k]
    draw_body(draw, spec.identity, Placement(cx, cy, scale))
    at = Placement(cx, cy, scale, float(pose["roll"][k]))
    lm = face_landmarks(
        spec.identity,
        c,
        yaw=float(pose["yaw"][k]),
        pitch=float(pose["pitch"][k]),
        gaze=(float(track.gaze[k, 0]), float(track.gaze[k, 1])),
    )
    draw_face(draw, spec.identity, lm, c, at, blush=spec.blush * float(track.envelope[k]))
    return at


def _second_face(spec: GifSpec, canvas: int):
    """A bystander beside the main face, partly out of frame: ``(identity, controls, at)``."""
    sf = spec.second_face
    if sf is None:
        return None
    ident = sample_identity(np.random.default_rng(sf["seed"]))
    aus = {} if sf["expression"] == "neutral" else PROTOTYPES[sf["expression"]]
    c = au_controls({au: w * sf["intensity"] for au, w in aus.items()})
    c["speech"] = 0.0
    scale = spec.placement["half_width"] * sf["scale"] * canvas
    at = Placement((0.5 + 0.45 * sf["side"]) * canvas, (spec.placement["y"] + 0.05) * canvas, scale)
    return ident, c, at


def encode(spec: GifSpec, frames: np.ndarray, dest: str | os.PathLike | BinaryIO) -> GifEncoding:
    """Write ``frames`` as a GIF with the spec's delays and encoder settings."""
    return write_gif(dest, frames, spec.delays_ms, **spec.encoder)
