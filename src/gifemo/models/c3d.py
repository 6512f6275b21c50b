"""C3D (Tran et al. 2015) adapted to short clips (T = 2..8) and 64-224 px frames.

The layers are the paper's: eight 3x3x3 convolutions (64, 128, 256, 256, 512, 512, 512, 512
channels), five max pools, fc6 and fc7 of 4096 with dropout, then the classifier. Two
changes let it take GIF clips instead of 16-frame 112 px videos:

- pools 2-4 use ``ceil_mode``, so a time axis already down to one step passes through
  (16 frames were needed to survive four halvings; 2 frames now reach fc6);
- pool5 is an adaptive max pool to ``(1, 4, 4)``: at any T and S, fc6 sees the
  ``512 x 1 x 4 x 4 = 8192`` inputs it has in the original (where pool5 yields 1x4x4 from
  16x112x112), so converted Sports-1M weights keep their shapes.

Layer names follow the common PyTorch port of the Sports-1M weights (``conv1``, ``conv3a``...
``fc6``, ``fc7``), so such a state dict loads with ``pretrained=PATH`` (its ``fc8`` is
reported unexpected). torchvision ships no C3D weights.
"""

from __future__ import annotations

import torch
from torch import nn

from gifemo.models.backbones import he_init_
from gifemo.models.base import ClassifierHead, VideoClassifier
from gifemo.models.registry import register_model

#: (name, output channels) of the convolutions, grouped by the pool that follows them.
_STAGES: tuple[tuple[tuple[str, int], ...], ...] = (
    (("conv1", 64),),
    (("conv2", 128),),
    (("conv3a", 256), ("conv3b", 256)),
    (("conv4a", 512), ("conv4b", 512)),
    (("conv5a", 512), ("conv5b", 512)),
)


class C3DTrunk(nn.Module):
    """``(B, 3, T, H, W) -> (B, 4096)``: the convolutions, pools, fc6 and fc7."""

    def __init__(self, *, dropout: float) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.layer_names: list[str] = []
        in_ch = 3
        for stage, convs in enumerate(_STAGES, start=1):
            for name, out_ch in convs:
                self.add_module(name, nn.Conv3d(in_ch, out_ch, kernel_size=3, padding=1))
                self.layer_names.append(name)
                in_ch = out_ch
            if (
                stage == 1
            ):  # pool1 keeps time (Tran et al.: "not to merge the temporal signal too early")
                pool = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
            elif stage < len(_STAGES):
                pool = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
            else:
                pool = nn.AdaptiveMaxPool3d((1, 4, 4))
            self.add_module(f"pool{stage}", pool)
            self.layer_names.append(f"pool{stage}")
        self.fc6 = nn.Linear(512 * 4 * 4, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.dropout = nn.Dropout(dropout)
        he_init_(self)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = video
        for name in self.layer_names:
            layer = getattr(self, name)
            x = self.relu(layer(x)) if isinstance(layer, nn.Conv3d) else layer(x)
        x = self.dropout(self.relu(self.fc6(x.flatten(1))))
        return self.dropout(self.relu(self.fc7(x)))


class C3D(VideoClassifier):
    """``(B, T, 3, S, S) -> (B, num_classes)``; the clip is read as a video ``(B, 3, T, S, S)``."""

    def __init__(self, *, num_classes: int, clip_len: int, dropout: float) -> None:
        super().__init__(num_classes=num_classes, clip_len=clip_len)
        self.backbone = C3DTrunk(dropout=dropout)
        self.head = ClassifierHead(4096, num_classes)


@register_model(
    paper="Tran et al. 2015 (C3D)",
    reference="Learning Spatiotemporal Features with 3D Convolutional Networks",
    summary="C3D: 8 conv3d, 5 pools, fc6/fc7 4096 -> FC; ceil-mode time pools, adaptive pool5",
    backbone="c3d",
)
def c3d(*, num_classes: int = 7, clip_len: int = 4, dropout: float = 0.5) -> C3D:
    """The paper's C3D baseline; ``dropout`` (0.5 in Tran et al.) follows fc6 and fc7."""
    return C3D(num_classes=num_classes, clip_len=clip_len, dropout=dropout)
