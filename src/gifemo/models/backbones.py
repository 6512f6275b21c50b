"""Per-frame 2D trunks taken from torchvision, run on every frame of a clip.

The trunks keep torchvision's parameter names (``conv1.weight``, ``layer1.0.bn1.running_mean``,
``features.0.weight``...), so torchvision state dicts load into them as they are; only the
classifier keys they lack (``fc.*``, ``classifier.*``) are reported unexpected.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.vgg import cfgs as vgg_cfgs
from torchvision.models.vgg import make_layers

from gifemo.models.small_maps import use_small_map_convs


class FrameTrunk(nn.Sequential):
    """A 2D image network applied to each frame: ``(B, T, 3, H, W) -> (B, T, C, h, w)``.

    Frames are folded into the batch, so one call runs all ``B * T`` frames and batch norm
    sees them together. ``out_channels`` is ``C``; ``stride`` is ``H / h``.
    """

    def __init__(
        self, layers: OrderedDict[str, nn.Module], *, out_channels: int, stride: int
    ) -> None:
        super().__init__(layers)
        # At 64 px the last stage works on 2x2 maps, where a matrix product beats oneDNN's
        # direct convolution on the CPU (gifemo.models.small_maps).
        use_small_map_convs(self)
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, t = clip.shape[:2]
        features = super().forward(clip.flatten(0, 1))
        return features.unflatten(0, (b, t))


def resnet18_trunk() -> FrameTrunk:
    """ResNet18 (He et al. 2016) up to ``layer4``: 512 channels at stride 32 (7x7 at 224 px)."""
    net = resnet18(weights=None)
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    return FrameTrunk(OrderedDict((n, getattr(net, n)) for n in names), out_channels=512, stride=32)


def he_init_(module: nn.Module) -> None:
    """He (fan-in) initialisation for plain conv stacks without normalisation (VGG, C3D).

    Fan-in scaling keeps the forward signal's variance through the ReLU stack, so a network
    trained from scratch starts with usable logits; torchvision's VGG init (fan-out, and
    N(0, 0.01) linear layers) shrinks it layer by layer and stalls from-scratch training.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def vgg19_trunk() -> FrameTrunk:
    """VGG19's 16 convolutions and 5 max pools (Simonyan & Zisserman 2015): 512 ch at stride 32."""
    # make_layers builds only VGG19's `features`; torchvision's vgg19() would also build and
    # initialise the 120M-parameter classifier that is thrown away here.
    features = make_layers(vgg_cfgs["E"], batch_norm=False)
    he_init_(features)
    return FrameTrunk(OrderedDict(features=features), out_channels=512, stride=32)


#: Trunk builders by backbone name (the names used by gifemo.models.weights).
FRAME_TRUNKS = {"resnet18": resnet18_trunk, "vgg19": vgg19_trunk}
