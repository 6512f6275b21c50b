"""Time in a synthetic GIF: frame counts, delays, the expression envelope, blinks, speech.

Everything here maps a random generator and frame times (seconds, ``(T,)``) to curves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Frame counts follow a log-normal clipped to [MIN, MAX], matching Fig. 5 of the paper
#: (GIFGIF: shortest 2 frames, longest 303, "mostly between 0 and 50", "most within 100"):
#: median 20 frames; about 85% of GIFs have at most 50 frames and about 3% more than 100.
FRAME_COUNT_MEDIAN = 20.0
FRAME_COUNT_SIGMA = 0.85
FRAME_COUNT_MIN = 2
FRAME_COUNT_MAX = 303

#: Per-frame delays seen in web GIFs (ms) and how often each is drawn; all within [20, 200].
COMMON_DELAYS_MS = (20, 30, 40, 50, 60, 70, 80, 100, 120, 150, 200)
_DELAY_WEIGHTS = np.array([4, 7, 16, 14, 12, 10, 10, 14, 6, 4, 3], float)
DELAY_MIN_MS, DELAY_MAX_MS = 20, 200


def sample_frame_count(rng: np.random.Generator) -> int:
    """A GIF length in frames: ``round(exp(N(ln 20, 0.85)))`` clipped to [2, 303]."""
    n = np.exp(rng.normal(np.log(FRAME_COUNT_MEDIAN), FRAME_COUNT_SIGMA))
    return int(np.clip(round(n), FRAME_COUNT_MIN, FRAME_COUNT_MAX))


def sample_delays(rng: np.random.Generator, n_frames: int) -> tuple[int, ...]:
    """Per-frame delays in ms: mostly one constant rate; sometimes jittered or a held last frame."""
    base = int(rng.choice(COMMON_DELAYS_MS, p=_DELAY_WEIGHTS / _DELAY_WEIGHTS.sum()))
    delays = np.full(n_frames, base)
    if rng.random() < 0.15:  # re-encoded from variable-rate video
        delays = delays + 10 * rng.integers(-1, 2, n_frames)
    if n_frames > 2 and rng.random() < 0.1:  # a pause on the last frame
        delays[-1] = base * rng.integers(2, 4)
    return tuple(int(d) for d in np.clip(delays, DELAY_MIN_MS, DELAY_MAX_MS))


def frame_times(delays_ms) -> np.ndarray:
    """Start time of each frame in seconds, ``(T,)``."""
    return np.concatenate([[0.0], np.cumsum(delays_ms)[:-1]]) / 1000.0


@dataclass(frozen=True)
class Envelope:
    """One expression episode (seconds): neutral, onset, apex, offset, residual; the GIF shows
    ``[window_start, window_start + duration)`` of it, repeating every ``period`` when set.

    ``floor`` lifts the whole curve, ``floor + (1 - floor) * episode``: an expression that never
    leaves the face (an animated emoji is its expression from the first frame to the last; the
    animation plays around it). 0, a neutral face between episodes, is the human style's.
    """

    pad_before: float
    onset: float
    apex: float
    offset: float
    pad_after: float
    residual: float
    window_start: float
    period: float | None
    floor: float = 0.0

    @property
    def length(self) -> float:
        return self.pad_before + self.onset + self.apex + self.offset + self.pad_after

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Expression strength in [0, 1] at GIF times ``t`` (seconds)."""
        tau = np.asarray(t, float) + self.window_start
        if self.period:
            tau = np.mod(tau, self.period)
        a = self.pad_before
        b = a + self.onset
        c = b + self.apex
        d = c + self.offset
        rise = smoothstep((tau - a) / self.onset)
        fall = smoothstep((tau - c) / self.offset)
        level = rise * (1 - fall * (1 - self.residual))
        episode = np.where(
            tau < b, rise, np.where(tau < c, 1.0, np.where(tau < d, level, self.residual))
        )
        return self.floor + (1.0 - self.floor) * episode

    def to_dict(self) -> dict:
        fields = asdict(self)
        if not self.floor:
            del fields["floor"]  # the human style's records keep the keys of the first version
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in fields.items()}


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def sample_envelope(
    rng: np.random.Generator, duration: float, *, pad_max: float, apex_in_window: float
) -> Envelope:
    """Place one onset-apex-offset episode against a GIF of ``duration`` seconds.

    ``pad_max`` bounds the neutral stretches around the episode; with probability
    ``apex_in_window`` a GIF shorter than the episode is cut so that it shows part of the apex
    (otherwise anywhere, so some short GIFs show only onset, offset or neutral frames).
    """
    onset, apex, offset = rng.uniform(0.15, 0.7), rng.uniform(0.4, 2.0), rng.uniform(0.25, 1.0)
    pad_before, pad_after = rng.uniform(0, pad_max, 2)
    residual = rng.uniform(0.0, 0.35)
    length = pad_before + onset + apex + offset + pad_after
    period = None
    if duration >= length:
        if rng.random() < 0.5:
            # A looping reaction GIF: the episode repeats and may start anywhere in it.
            period, residual = length, 0.0
            start = rng.uniform(0, length)
        else:
            extra = duration - length
            split = rng.random()
            pad_before, pad_after = pad_before + extra * split, pad_after + extra * (1 - split)
            start = 0.0
    elif rng.random() < apex_in_window:
        apex_point = pad_before + onset + rng.uniform(0, apex)
        start = rng.uniform(max(0.0, apex_point - duration), min(length - duration, apex_point))
    else:
        start = rng.uniform(0, length - duration)
    return Envelope(
        float(pad_before),
        float(onset),
        float(apex),
        float(offset),
        float(pad_after),
        float(residual),
        float(start),
        None if period is None else float(period),
    )


def smooth_noise(
    rng: np.random.Generator, t: np.ndarray, amplitude: float, fmin: float = 0.1, fmax: float = 1.2
) -> np.ndarray:
    """A smooth random wiggle: three sinusoids with random frequencies (Hz) and phases."""
    freqs = rng.uniform(fmin, fmax, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    weights = rng.dirichlet(np.ones(3))
    return amplitude * (
        weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])
    ).sum(0)


def blink_curve(rng: np.random.Generator, t: np.ndarray, rate: float) -> np.ndarray:
    """Eye closure (AU45) in [0, 1] at times ``t``: blinks as a Poisson process, ``rate``/s."""
    lo, hi = -0.25, float(t[-1]) + 0.25
    n = rng.poisson(rate * (hi - lo))
    if n == 0:
        return np.zeros_like(t)
    times = rng.uniform(lo, hi, n)
    widths = rng.uniform(0.12, 0.25, n)
    closure = 1 - np.abs(t[None, :] - times[:, None]) / (widths[:, None] / 2)
    return np.clip(closure.max(axis=0) * 1.6, 0, 1)


def speech_curve(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Mouth opening while talking: syllables at 2.5-5 per second, in phrases with pauses."""
    rate = rng.uniform(2.5, 5.0)
    phase = rng.uniform(0, np.pi)
    syllables = np.abs(np.sin(np.pi * rate * t + phase)) ** 1.5
    phrases = smoothstep(
        2.5 * (np.sin(2 * np.pi * rng.uniform(0.15, 0.5) * t + rng.uniform(0, 6.3)) + 0.3)
    )
    return amplitude * syllables * phrases
