"""Per-frame 2D trunk -> stacked ConvGRU -> pooled last state -> FC-tanh-FC (the paper's model).

``resnet_convgru`` is the paper's model (Zhang et al. 2022, Fig. 2): ResNet18 up to
``layer4`` on every frame, a stacked ConvGRU over the T feature maps, global average
pooling of the top layer's last state, then eq. 5 without the softmax. ``vgg_convgru`` is
the paper's VGGNet-ConvGRU comparison: the same with VGG19's convolutional trunk.
"""

from __future__ import annotations

import torch

from gifemo.models.backbones import FRAME_TRUNKS, FrameTrunk
from gifemo.models.base import ClassifierHead, ClipClassifier
from gifemo.models.convgru import ConvGRU, ConvGRUConfig
from gifemo.models.registry import register_model

PAPER = "Zhang et al. 2022"
REFERENCE = "Research on Animated GIFs Emotion Recognition Based on ResNet-ConvGRU"


class ConvGRUNet(ClipClassifier):
    """``(B, T, 3, S, S) -> (B, num_classes)`` logits.

    Shapes at S = 224 with the defaults: trunk ``(B, T, 512, 7, 7)`` -> ConvGRU last state
    ``(B, 256, 7, 7)`` -> pooled ``(B, 256)`` -> ``tanh(FC)`` ``(B, head_hidden)`` -> FC.
    """

    def __init__(
        self,
        *,
        trunk: FrameTrunk,
        num_classes: int,
        clip_len: int,
        convgru: ConvGRUConfig,
        head_hidden: int,
        dropout: float,
    ) -> None:
        super().__init__(num_classes=num_classes, clip_len=clip_len)
        self.backbone = trunk
        self.convgru = ConvGRU(trunk.out_channels, convgru)
        self.head = ClassifierHead(
            self.convgru.out_dim, num_classes, hidden=head_hidden, dropout=dropout
        )

    def forward_features(self, clip: torch.Tensor) -> torch.Tensor:
        _, last_states = self.convgru(self.backbone(clip))
        return last_states[-1].mean(dim=(2, 3))


def _builder(backbone: str, name: str, doc: str):
    """A keyword-only builder of a ConvGRUNet on the ``backbone`` trunk."""

    def build(
        *,
        num_classes: int = 7,
        clip_len: int = 4,
        hidden_dim: int | tuple[int, ...] = 256,
        num_layers: int = 2,
        kernel_size: int = 3,
        head_hidden: int = 256,
        dropout: float = 0.0,
    ) -> ConvGRUNet:
        return ConvGRUNet(
            trunk=FRAME_TRUNKS[backbone](),
            num_classes=num_classes,
            clip_len=clip_len,
            convgru=ConvGRUConfig(
                hidden_dim=hidden_dim, num_layers=num_layers, kernel_size=kernel_size
            ),
            head_hidden=head_hidden,
            dropout=dropout,
        )

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


_KNOBS = (
    "ConvGRU ``hidden_dim`` (one width or one per layer), ``num_layers``, odd ``kernel_size``; "
    "``head_hidden`` is the eq.-5 FC width, ``dropout`` applies before the last FC. The paper "
    "gives only the 3x3 kernel; the other defaults are gifemo's."
)

resnet_convgru = register_model(
    paper=PAPER,
    reference=REFERENCE,
    summary="ResNet18 per frame -> 2-layer ConvGRU -> GAP -> FC-tanh-FC (the paper's model)",
    backbone="resnet18",
)(_builder("resnet18", "resnet_convgru", f"The paper's ResNet-ConvGRU. {_KNOBS}"))

vgg_convgru = register_model(
    paper=f"{PAPER}; Simonyan & Zisserman 2015",
    reference=(
        f"{REFERENCE} (VGGNet-ConvGRU baseline); "
        "Very Deep Convolutional Networks for Large-Scale Image Recognition (VGG19)"
    ),
    summary="VGG19 conv trunk per frame -> 2-layer ConvGRU -> GAP -> FC-tanh-FC",
    backbone="vgg19",
)(_builder("vgg19", "vgg_convgru", f"The paper's VGGNet-ConvGRU comparison. {_KNOBS}"))
