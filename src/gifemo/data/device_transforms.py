"""Normalisation and augmentation of uint8 clip batches on the training device.

With ``device_transforms`` the DataLoader yields the frames as the cache holds them,
``(B, T, S, S, 3) uint8`` (4x fewer bytes to copy between processes and to the GPU than float32
clips), plus each clip's augmentation parameters drawn on the CPU exactly as the float path
draws them (:func:`draw_augmentation`, the same seeded generator and the same torchvision
calls). :func:`finish_batch` then does on the device what
:meth:`gifemo.data.dataset.ClipDataset.__getitem__` does per clip on the CPU: normalise
(:func:`gifemo.preprocess.normalize_clip`), then crop, resize and flip with the same torchvision
kernels. On the CPU the two paths give the same numbers (tested to 1e-6).
"""

from __future__ import annotations

import numpy as np
import torch

from gifemo.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize_clip

#: Columns of the per-clip augmentation parameters: crop box, flip; ``top < 0``: none.
AUGMENT_COLUMNS: tuple[str, ...] = ("top", "left", "height", "width", "flip")
NO_AUGMENTATION = (-1, -1, -1, -1, 0)


def augmentation_seed(seed: int, epoch: int, index: int) -> int:
    """The torch seed of item ``index``'s augmentation in ``epoch`` (both paths use it)."""
    return int(np.random.SeedSequence((seed, epoch, index)).generate_state(1)[0])


def draw_augmentation(augment, size: int, seed: int) -> torch.Tensor:
    """``(5,) int64``: the crop box and flip that ``augment`` (the dataset's
    ``RandomResizedCrop`` + ``RandomHorizontalFlip``) draws for an ``S x S`` clip from ``seed``.

    The draws are torchvision's own (``make_params``, then the flip's ``torch.rand(1) < p``),
    in the order ``Compose`` makes them, so they equal what the float path applies.
    """
    from torchvision import tv_tensors

    crop, flip = augment.transforms
    probe = tv_tensors.Image(torch.empty(1, size, size))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        box = crop.make_params([probe])
        flipped = not bool(torch.rand(1) >= flip.p)
    return torch.tensor(
        [box["top"], box["left"], box["height"], box["width"], int(flipped)], dtype=torch.int64
    )


def finish_batch(
    frames: torch.Tensor,
    augmentation: torch.Tensor | None = None,
    *,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
) -> torch.Tensor:
    """``(B, T, S, S, 3) uint8`` frames (on any device) ``-> (B, T, 3, S, S) float32`` clips.

    ``augmentation``: ``(B, 5)`` rows of :func:`draw_augmentation` (or
    :data:`NO_AUGMENTATION`), or None. Each clip is cropped to its box, resized back to
    ``S x S`` (bilinear, antialiased, as ``RandomResizedCrop``) and flipped if asked.
    """
    from torchvision.transforms.v2 import functional as TF

    clips = normalize_clip(frames, mean, std)
    if augmentation is None:
        return clips
    size = list(clips.shape[-2:])
    rows = augmentation.tolist()  # a few ints: one small device-to-host copy at most
    out = []
    for clip, (top, left, height, width, flip) in zip(clips, rows, strict=True):
        if top >= 0:
            clip = TF.resized_crop(clip, top, left, height, width, size=size, antialias=True)
        if flip:
            clip = TF.horizontal_flip(clip)
        out.append(clip)
    return torch.stack(out)
