"""The paper's clip rule (section 4.3): cut a GIF's frames into fixed-length clips, and pool the
clips' outputs back into one per GIF.

"Every 4 images were input into the model as an image sequence according to the time sequence ...
sequences that were less than 4 images were supplemented randomly, while longer image sequences
were split." Made precise here, for clip length ``T`` and a GIF of ``n`` frames:

* ``n < T``: one clip. The ``T - n`` missing frames are drawn at random from the GIF's own frames
  (without replacement while possible, so ``n = 2, T = 4`` repeats each frame once) and merged in
  time order: ``n = 3`` may give ``[0, 1, 1, 2]``.
* ``n >= T``: consecutive clips starting at ``0, s, 2s, ...`` (stride ``s``, default ``T``: no
  overlap) as long as a full clip fits.
* Remainder: the window after the last full clip holds ``m < T`` frames. It becomes one more clip,
  padded as above, when it adds frames not seen yet and ``m >= min_remainder`` (default
  ``ceil(T / 2)``: with ``T = 4``, ``n = 7`` gives 2 clips, ``n = 5`` 1, ``n = 303`` 76);
  otherwise those last frames are dropped. ``min_remainder=1`` keeps every remainder,
  ``min_remainder=T`` drops them all.

The padding is the only randomness. Evaluation seeds it from the GIF's content hash
(:func:`gif_seed`), so a GIF always yields the same clips, in any process, on any machine.
"""

from __future__ import annotations

import math

import numpy as np

SeedLike = int | tuple[int, ...] | list[int] | np.random.Generator | None


def make_clips(
    n_frames: int,
    clip_len: int = 4,
    *,
    stride: int | None = None,
    min_remainder: int | None = None,
    seed: SeedLike = 0,
) -> list[np.ndarray]:
    """Frame indices of every clip of a GIF with ``n_frames`` frames, in time order.

    Returns:
        A non-empty list of ``(clip_len,)`` int64 arrays, each sorted (time order kept).

    ``seed`` seeds the padding draws (an int, a sequence of ints, or a ``numpy`` Generator that is
    used as is).
    """
    if n_frames < 1:
        raise ValueError(f"a GIF has at least one frame, got n_frames={n_frames}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    stride = clip_len if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    min_remainder = math.ceil(clip_len / 2) if min_remainder is None else min_remainder
    if not 1 <= min_remainder <= clip_len:
        raise ValueError(f"min_remainder must be in [1, clip_len={clip_len}], got {min_remainder}")
    rng = np.random.default_rng(seed)

    if n_frames < clip_len:
        return [pad_window(np.arange(n_frames), clip_len, rng)]
    starts = range(0, n_frames - clip_len + 1, stride)
    clips = [np.arange(s, s + clip_len) for s in starts]
    next_start = starts[-1] + stride
    seen_end = starts[-1] + clip_len
    tail = n_frames - next_start
    if n_frames > seen_end and tail >= min_remainder:
        clips.append(pad_window(np.arange(next_start, n_frames), clip_len, rng))
    return clips


def count_clips(
    n_frames: int, clip_len: int = 4, *, stride: int | None = None, min_remainder: int | None = None
) -> int:
    """``len(make_clips(...))`` without drawing anything."""
    return len(make_clips(n_frames, clip_len, stride=stride, min_remainder=min_remainder, seed=0))


def pad_window(window: np.ndarray, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """Pad the frame indices ``window`` (sorted, shorter than ``clip_len``) with random repeats.

    The ``clip_len - len(window)`` extra indices are drawn from ``window`` itself, without
    replacement as far as it goes (a frame is repeated at most once more than any other), then
    everything is sorted so that time order holds.
    """
    missing = clip_len - len(window)
    full_rounds, rest = divmod(missing, len(window))
    extra = [np.tile(window, full_rounds), rng.choice(window, size=rest, replace=False)]
    return np.sort(np.concatenate([window, *extra])).astype(np.int64)


def sample_clips(
    clips: list[np.ndarray], max_clips: int | None, rng: np.random.Generator
) -> list[np.ndarray]:
    """Up to ``max_clips`` of ``clips``, drawn uniformly without replacement, in their time order.

    ``max_clips=None`` keeps them all. Each clip is kept with probability
    ``max_clips / len(clips)``.
    """
    if max_clips is None or len(clips) <= max_clips:
        return list(clips)
    if max_clips < 1:
        raise ValueError(f"max_clips must be >= 1 or None, got {max_clips}")
    chosen = np.sort(rng.choice(len(clips), size=max_clips, replace=False))
    return [clips[i] for i in chosen]


def gif_seed(sha256: str, seed: int = 0) -> tuple[int, ...]:
    """A stable seed sequence for one GIF: its content hash mixed with a run seed.

    Python's ``hash()`` is salted per process, so it cannot make clips repeat across runs; the
    content hash can.
    """
    return (seed, int(sha256[:16], 16))


def pool_clips(gif_index, probs, targets):
    """Average clip probabilities per GIF.

    Args:
        gif_index: ``(N,)`` int tensor, the GIF each clip comes from.
        probs: ``(N, C)`` float tensor of clip class probabilities.
        targets: ``(N,)`` int tensor of class indices (the same for every clip of a GIF).

    Returns:
        ``(gif_ids (G,), gif_probs (G, C) float64, gif_targets (G,), n_clips (G,),
        clip_correct (G,))`` as tensors, GIFs in increasing ``gif_index`` order; ``clip_correct``
        counts the clips whose own argmax is right.
    """
    import torch

    gif_ids, inverse = torch.unique(gif_index, sorted=True, return_inverse=True)
    n = len(gif_ids)
    sums = torch.zeros(n, probs.shape[1], dtype=torch.float64).index_add_(
        0, inverse, probs.double()
    )
    n_clips = torch.zeros(n, dtype=torch.long).index_add_(0, inverse, torch.ones_like(inverse))
    correct = (probs.argmax(dim=1) == targets).long()
    clip_correct = torch.zeros(n, dtype=torch.long).index_add_(0, inverse, correct)
    gif_targets = torch.zeros(n, dtype=torch.long).scatter_(0, inverse, targets.long())
    return gif_ids, sums / n_clips.unsqueeze(1), gif_targets, n_clips, clip_correct
