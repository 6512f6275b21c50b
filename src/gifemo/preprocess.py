"""The one preprocessing path shared by training, evaluation, prediction and export.

Frames are squashed to ``size x size`` (the paper resizes to 224x224 without keeping the
aspect ratio), kept as uint8 as long as possible (caches store them that way), and only
turned into normalised float tensors at the last step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

#: torchvision's ImageNet statistics, used with or without ImageNet weights so that a
#: backbone can be swapped for a pretrained one without retuning the input scale.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything needed to turn decoded frames into model input; travels with every model."""

    size: int = 224
    clip_len: int = 4
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    std: tuple[float, float, float] = field(default=IMAGENET_STD)

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be at least 16 px, got {self.size}")
        if self.clip_len < 1:
            raise ValueError(f"clip_len must be at least 1, got {self.clip_len}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessConfig:
        return cls(
            size=int(d["size"]),
            clip_len=int(d["clip_len"]),
            mean=tuple(float(x) for x in d.get("mean", IMAGENET_MEAN)),
            std=tuple(float(x) for x in d.get("std", IMAGENET_STD)),
        )


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """``(H, W, 3) uint8 -> (size, size, 3) uint8`` with Pillow's antialiased bilinear filter."""
    if frame.shape[0] == size and frame.shape[1] == size:
        return np.ascontiguousarray(frame)
    image = Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """``(T, H, W, 3) uint8 -> (T, size, size, 3) uint8``."""
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = resize_frame(frame, size)
    return out


def normalize_clip(clip, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """``(..., T, H, W, 3) uint8`` (numpy or torch) ``-> (..., T, 3, H, W) float32`` tensor.

    Scaled to [0, 1], then standardised per channel with ``mean``/``std``.
    """
    import torch

    tensor = torch.as_tensor(clip)
    if tensor.dtype != torch.uint8:
        raise TypeError(f"expected uint8 frames, got {tensor.dtype}")
    tensor = tensor.movedim(-1, -3).float().div_(255.0)
    # Constants on the clip's device, so uint8 frames can be sent to a GPU (4x less to copy).
    mean_t = torch.tensor(mean, dtype=torch.float32, device=tensor.device).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=tensor.device).view(3, 1, 1)
    return tensor.sub_(mean_t).div_(std_t)
