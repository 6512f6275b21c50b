"""ResNet3D-18 (Hara et al. 2018; Tran et al. 2018): torchvision's ``r3d_18`` with a new head."""

from __future__ import annotations

from torch import nn
from torchvision.models.video import r3d_18

from gifemo.models.base import ClassifierHead, VideoClassifier
from gifemo.models.registry import register_model


class ResNet3D(VideoClassifier):
    """``(B, T, 3, S, S) -> (B, num_classes)``.

    The clip is read as a video ``(B, 3, T, S, S)``; the trunk downsamples space by 16 and
    time by 8 (a 2-frame clip ends as one time step), then averages to ``(B, 512)``.
    """

    def __init__(self, *, num_classes: int, clip_len: int, dropout: float) -> None:
        super().__init__(num_classes=num_classes, clip_len=clip_len)
        net = r3d_18(weights=None)
        # Identity has no parameters, so the backbone's state dict is torchvision's minus
        # fc.*: a full torchvision checkpoint loads with only fc.* unexpected.
        net.fc = nn.Identity()
        self.backbone = net
        self.head = ClassifierHead(512, num_classes, dropout=dropout)


@register_model(
    paper="Hara et al. 2018; Tran et al. 2018",
    reference=(
        "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?; "
        "A Closer Look at Spatiotemporal Convolutions for Action Recognition (torchvision r3d_18)"
    ),
    summary="torchvision r3d_18 (3D ResNet-18) -> new linear head; weights: Kinetics-400",
    backbone="r3d_18",
)
def resnet3d(*, num_classes: int = 7, clip_len: int = 4, dropout: float = 0.0) -> ResNet3D:
    """3D ResNet-18 baseline. torchvision's pretrained weights for it are Kinetics-400."""
    return ResNet3D(num_classes=num_classes, clip_len=clip_len, dropout=dropout)
