"""What every gifemo model shares: the clip-in, logits-out interface, the classifier head, and
:func:`clip_probabilities`, the one forward pass that scores clips outside training."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import torch
from torch import nn

from gifemo.hardware import autocast_dtype


def cpu_autocast_dtype() -> torch.dtype | None:
    """The dtype of the active CPU autocast region, or None outside one."""
    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None


def clip_probabilities(
    model: nn.Module, clip: torch.Tensor, precision: str = "32", *, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T, 3, S, S)`` normalised clips -> ``(probabilities, logits)``, both ``(B, C)`` float32.

    The model runs under the autocast of ``precision`` (resolved: ``"32"``, ``"bf16-mixed"`` or
    ``"16-mixed"``, see :mod:`gifemo.hardware`) on the clip's device; the softmax runs in
    float32 whatever that precision. Validation, evaluation, the torch predictor and the
    exported ONNX graph all score clips through here, so they cannot drift apart.

    ``temperature`` (temperature scaling, Guo et al. 2017): the probabilities are
    ``softmax(logits / temperature)``; the logits returned are the model's own.
    """
    dtype = autocast_dtype(precision)
    region = (
        torch.autocast(clip.device.type, dtype=dtype)
        if dtype is not None
        else contextlib.nullcontext()
    )
    with region:
        logits = model(clip)
    logits = logits.float()
    # At 1 the division is skipped, so an uncalibrated graph stays exactly what it was.
    scaled = logits if temperature == 1.0 else logits / temperature
    return scaled.softmax(dim=-1), logits


def check_clip(clip: torch.Tensor) -> None:
    """Refuse anything that is not a batch of RGB clips ``(B, T, 3, H, W)``."""
    if clip.dim() != 5 or clip.shape[2] != 3:
        raise ValueError(
            f"expected a batch of RGB clips shaped (B, T, 3, H, W), got {tuple(clip.shape)}"
        )
    if clip.shape[1] < 1:
        raise ValueError(f"a clip needs at least one frame, got shape {tuple(clip.shape)}")


class ClassifierHead(nn.Module):
    """``(B, D) -> (B, num_classes)`` logits.

    With ``hidden`` set this is the paper's eq. 5 without the softmax:
    ``W_soft · tanh(W_l · F + b_l) + b_soft``. Without it, a single linear layer. ``dropout``
    applies just before the output layer. Softmax is left to the loss and to prediction.
    """

    def __init__(
        self, in_features: int, num_classes: int, *, hidden: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features = in_features
        self.hidden = hidden
        if hidden is None:
            self.fc, self.act, width = nn.Identity(), nn.Identity(), in_features
        else:
            self.fc, self.act, width = nn.Linear(in_features, hidden), nn.Tanh(), hidden
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, num_classes)

    def reset(self, num_classes: int) -> None:
        """Replace the output layer by a freshly initialised one with ``num_classes`` outputs."""
        old = self.out.weight
        self.out = nn.Linear(self.out.in_features, num_classes, device=old.device, dtype=old.dtype)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.act(self.fc(features))))


class ClipClassifier(nn.Module):
    """Base class: ``forward(clip (B, T, 3, S, S)) -> logits (B, num_classes)``.

    Subclasses set ``self.backbone`` (the part pretrained weights load into), ``self.head``
    (a :class:`ClassifierHead`) and implement :meth:`forward_features` ``-> (B, D)``.
    ``clip_len`` is the number of frames the model is meant to see (the data pipeline and
    export read it); every model accepts any ``T >= 1`` at run time. ``default_cfg`` holds
    the registry's metadata (name, paper, input, frame range, backbone weights).
    """

    #: The memory format that turns this model's convolutions into channels-last kernels.
    memory_format: ClassVar[torch.memory_format] = torch.channels_last

    backbone: nn.Module
    head: ClassifierHead

    def __init__(self, *, num_classes: int, clip_len: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        if clip_len < 1:
            raise ValueError(f"clip_len must be at least 1, got {clip_len}")
        self.num_classes = num_classes
        self.clip_len = clip_len
        self.default_cfg: dict[str, Any] = {}
        self.weights_report = None  # set by pretrained loading, see gifemo.models.weights

    def forward_features(self, clip: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, S, S) -> (B, D)`` pooled clip features, before the classifier."""
        raise NotImplementedError

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        check_clip(clip)
        return self.head(self.forward_features(clip))

    def get_classifier(self) -> nn.Linear:
        return self.head.out

    def reset_classifier(self, num_classes: int) -> None:
        """New output layer for ``num_classes`` (fine-tuning on another label set)."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.head.reset(num_classes)
        self.num_classes = num_classes

    def to_channels_last(self) -> ClipClassifier:
        """Convert the weights to the channels-last format that suits this model (in place)."""
        return self.to(memory_format=self.memory_format)


class VideoClassifier(ClipClassifier):
    """Base class of the 3D-convolution models: the backbone reads ``(B, 3, T, S, S)`` videos.

    Training under CPU bfloat16 autocast runs the backbone in float32 instead: in torch
    2.14.1 (oneDNN 3.12) the bfloat16 weight gradient of ``conv3d`` comes back NaN when the
    time axis is 2 deep, which every clip of 2-8 frames reaches inside these networks.
    Inference (no grad) keeps bfloat16, whose forward pass is correct.
    """

    memory_format = torch.channels_last_3d

    def forward_features(self, clip: torch.Tensor) -> torch.Tensor:
        video = clip.transpose(1, 2)
        if clip.is_cpu and torch.is_grad_enabled() and cpu_autocast_dtype() == torch.bfloat16:
            with torch.autocast("cpu", enabled=False):
                return self.backbone(video.float())
        return self.backbone(video)
