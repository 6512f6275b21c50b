"""CNN-LSTM (LRCN, Donahue et al. 2015): pooled ResNet18 features per frame -> LSTM -> FC."""

from __future__ import annotations

import torch
from torch import nn

from gifemo.models.backbones import resnet18_trunk
from gifemo.models.base import ClassifierHead, ClipClassifier, cpu_autocast_dtype
from gifemo.models.registry import register_model


class CNNLSTM(ClipClassifier):
    """``(B, T, 3, S, S) -> (B, num_classes)``.

    Each frame becomes a ``512``-vector (ResNet18 + global average pool), the LSTM reads the
    ``(B, T, 512)`` sequence, and the classifier sees the mean of its ``(B, T, hidden_size)``
    outputs. LRCN averages per-step predictions; the classifier being linear, classifying the
    mean is the same thing.
    """

    def __init__(
        self, *, num_classes: int, clip_len: int, hidden_size: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__(num_classes=num_classes, clip_len=clip_len)
        self.backbone = resnet18_trunk()
        self.lstm = nn.LSTM(
            self.backbone.out_channels, hidden_size, num_layers=num_layers, batch_first=True
        )
        self.head = ClassifierHead(hidden_size, num_classes, dropout=dropout)

    def _run_lstm(self, sequence: torch.Tensor) -> torch.Tensor:
        if sequence.is_cpu and cpu_autocast_dtype() == torch.float16:
            # oneDNN has no float16 LSTM on CPU (torch 2.14: "could not create a primitive
            # descriptor"), so under CPU float16 autocast the LSTM alone runs in float32.
            with torch.autocast("cpu", enabled=False):
                return self.lstm(sequence.float())[0]
        return self.lstm(sequence)[0]

    def forward_features(self, clip: torch.Tensor) -> torch.Tensor:
        per_frame = self.backbone(clip).mean(dim=(3, 4))
        return self._run_lstm(per_frame).mean(dim=1)


@register_model(
    paper="Donahue et al. 2015 (LRCN)",
    reference="Long-term Recurrent Convolutional Networks for Visual Recognition and Description",
    summary="ResNet18 pooled features per frame -> LSTM -> mean over time -> FC",
    backbone="resnet18",
)
def cnn_lstm(
    *,
    num_classes: int = 7,
    clip_len: int = 4,
    hidden_size: int = 512,
    num_layers: int = 1,
    dropout: float = 0.0,
) -> CNNLSTM:
    """The paper's CNN-LSTM baseline (LRCN with a ResNet18 frame encoder)."""
    return CNNLSTM(
        num_classes=num_classes,
        clip_len=clip_len,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
    )
