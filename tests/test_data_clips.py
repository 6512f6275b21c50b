"""The paper's clip rule (section 4.3): padding, splitting, remainders, stride, sampling."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from gifemo.data.clips import count_clips, gif_seed, make_clips, pad_window, sample_clips

T = 4


def expected_clip_count(n: int, clip_len: int = T) -> int:
    """The documented rule, stated independently: full clips, plus a remainder >= ceil(T/2)."""
    if n < clip_len:
        return 1
    full, rest = divmod(n, clip_len)
    return full + (rest >= math.ceil(clip_len / 2))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 303])
def test_clip_rule_at_paper_sizes(n):
    clips = make_clips(n, T, seed=123)
    assert len(clips) == expected_clip_count(n) == count_clips(n, T)
    for clip in clips:
        assert clip.shape == (T,) and clip.dtype == np.int64
        assert np.all(np.diff(clip) >= 0), "time order must hold"
        assert clip.min() >= 0 and clip.max() < n
    full = [c for c in clips if len(set(c.tolist())) == T]
    # Full clips are consecutive, non-overlapping and cover the GIF from its first frame.
    for k, clip in enumerate(full):
        assert clip.tolist() == list(range(k * T, k * T + T))
    if n >= T:
        assert len(full) == n // T
    # Frames used: every frame of a short GIF; the kept remainder's frames; nothing else.
    used = sorted(set(np.concatenate(clips).tolist()))
    if n < T or n % T >= 2:
        assert used == list(range(n))
    else:
        assert used == list(range(n - n % T))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_short_gif_is_padded_with_its_own_frames_evenly(n):
    for seed in range(20):
        (clip,) = make_clips(n, T, seed=seed)
        counts = np.bincount(clip, minlength=n)
        assert counts.min() >= 1, "every frame of a short GIF is shown"
        assert counts.max() - counts.min() <= 1, "repeats are spread as evenly as possible"


def test_short_gif_exact_cases():
    assert make_clips(1, T)[0].tolist() == [0, 0, 0, 0]
    assert make_clips(2, T)[0].tolist() == [0, 0, 1, 1]
    # n = 3: one of the three frames is repeated, which one depends on the seed.
    seen = {tuple(make_clips(3, T, seed=s)[0].tolist()) for s in range(40)}
    assert seen == {(0, 0, 1, 2), (0, 1, 1, 2), (0, 1, 2, 2)}


def test_remainder_clip_is_padded_from_the_remainder_only():
    clips = make_clips(303, T, seed=5)
    assert clips[-1].min() >= 300 and set(clips[-1].tolist()) == {300, 301, 302}
    clips = make_clips(7, T, seed=5)
    assert set(clips[1].tolist()) == {4, 5, 6}


def test_min_remainder_options():
    assert len(make_clips(5, T, min_remainder=1)) == 2  # keep every remainder
    assert len(make_clips(7, T, min_remainder=T)) == 1  # drop every remainder
    assert len(make_clips(2, T, min_remainder=T)) == 1  # a short GIF still gives its one clip
    with pytest.raises(ValueError, match="min_remainder"):
        make_clips(7, T, min_remainder=0)


def test_stride_gives_overlapping_clips():
    clips = make_clips(10, T, stride=2)
    starts = [int(c[0]) for c in clips]
    assert starts == [0, 2, 4, 6]  # 6..9 is the last full window; nothing left after it
    clips = make_clips(9, T, stride=2)
    # Window [6, 9) adds frame 8, unseen by the full clips, and has 3 >= 2 frames: kept, padded.
    assert [c.tolist()[:1] for c in clips[:3]] == [[0], [2], [4]]
    assert set(clips[-1].tolist()) == {6, 7, 8}
    # A stride longer than the clip skips frames.
    assert [c.tolist() for c in make_clips(12, T, stride=6)] == [[0, 1, 2, 3], [6, 7, 8, 9]]


def test_padding_is_deterministic_per_seed_and_varies_across_seeds():
    a = make_clips(7, T, seed=gif_seed("ab" * 32, 0))
    b = make_clips(7, T, seed=gif_seed("ab" * 32, 0))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(30)]
    lasts = {tuple(make_clips(7, T, seed=gif_seed(sha))[-1].tolist()) for sha in shas}
    assert len(lasts) == 3  # which of frames 4, 5, 6 is repeated depends on the GIF


def test_gif_seed_is_stable_and_depends_on_hash_and_run_seed():
    sha = "0123456789abcdef" + "0" * 48
    assert gif_seed(sha, 7) == (7, 0x0123456789ABCDEF)
    assert gif_seed(sha, 7) != gif_seed(sha, 8)


def test_sample_clips_is_uniform_without_replacement():
    clips = make_clips(40, T)  # 10 clips
    rng = np.random.default_rng(0)
    draws = 4000
    hits = np.zeros(len(clips))
    for _ in range(draws):
        chosen = sample_clips(clips, 3, rng)
        starts = [int(c[0]) // T for c in chosen]
        assert len(set(starts)) == 3 and starts == sorted(starts)
        hits[starts] += 1
    expected = draws * 3 / len(clips)
    # Binomial sd is sqrt(4000 * 0.3 * 0.7) ~ 29; allow 5 sd.
    assert np.all(np.abs(hits - expected) < 5 * math.sqrt(draws * 0.3 * 0.7))


def test_sample_clips_keeps_all_when_under_the_cap():
    clips = make_clips(8, T)
    rng = np.random.default_rng(0)
    assert len(sample_clips(clips, None, rng)) == 2
    assert len(sample_clips(clips, 5, rng)) == 2


def test_pad_window_repeats_with_replacement_only_when_needed():
    rng = np.random.default_rng(0)
    assert pad_window(np.array([5]), 4, rng).tolist() == [5, 5, 5, 5]
    assert pad_window(np.array([1, 2]), 8, rng).tolist() == [1, 1, 1, 1, 2, 2, 2, 2]


@pytest.mark.parametrize(
    "bad", [dict(n_frames=0), dict(n_frames=3, clip_len=0), dict(n_frames=9, stride=0)]
)
def test_invalid_arguments(bad):
    with pytest.raises(ValueError):
        make_clips(**bad)
