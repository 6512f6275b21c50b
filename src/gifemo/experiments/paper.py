"""The numbers and protocol reported by Zhang et al. (2022), for side-by-side comparison.

Every value is copied from the paper (``shared/paper/resnet-convgru-gif-emotion-2022.md``):
Table 1 (protocol), Table 2 (per-class results of ResNet-ConvGRU), Table 3 (ResNet-ConvGRU vs
VGGNet-ConvGRU), Table 4 (accuracy of the five models), the clip-length ablation of section 4.3
(given in the text, not in a table) and the facts stated about Fig. 5. The paper does not say how
many runs these numbers come from, nor give any spread: they are single numbers.
"""

from __future__ import annotations

from types import MappingProxyType

# Section 4.1, the seven of GIFGIF's 17 emotions in the paper's order, is gifemo's own label set:
# gifemo.labels.PAPER_EMOTIONS.

#: The five models of Table 4, in its row order, as gifemo registry names.
PAPER_MODELS: tuple[str, ...] = ("resnet_convgru", "vgg_convgru", "resnet3d", "cnn_lstm", "c3d")

#: The names the paper prints for them.
PAPER_MODEL_NAMES = MappingProxyType(
    {
        "resnet_convgru": "ResNet-ConvGRU",
        "vgg_convgru": "VGGNet-ConvGRU",
        "resnet3d": "ResNet3D",
        "cnn_lstm": "CNN-LSTM",
        "c3d": "C3D",
    }
)

#: The proposed model (Tables 2-4 and the ablation) and the model it is compared with in Table 3.
MAIN_MODEL = "resnet_convgru"
TABLE3_MODELS: tuple[str, ...] = ("resnet_convgru", "vgg_convgru")

#: Section 4.3: clips of 4 frames; the ablation tries 2, 4, 6 and 8.
PAPER_CLIP_LEN = 4
ABLATION_CLIP_LENS: tuple[int, ...] = (2, 4, 6, 8)

#: Table 1 and section 4: the training protocol.
PROTOCOL = MappingProxyType(
    {
        "data": "GIFGIF, 7 emotions, the first 300 GIFs of each (2,100 GIFs)",
        "split": "80% train / 20% test per class (no validation set)",
        "size": 224,
        "clip_len": PAPER_CLIP_LEN,
        "epochs": 100,
        "batch_size": 30,
        "optimizer": "Adam",
        "lr": 1e-4,
        "weight_decay": 1e-4,
        "loss": "cross-entropy",
        "hardware": "NVIDIA Tesla P100, Python 3.7, Torch 1.10.0",
    }
)

#: Table 2: precision, recall and F1 per class of ResNet-ConvGRU (the paper's row order).
TABLE2 = MappingProxyType(
    {
        "anger": (0.7976, 0.6331, 0.7059),
        "disgust": (0.5959, 0.6438, 0.6189),
        "fear": (0.6322, 0.6577, 0.6447),
        "happiness": (0.6384, 0.6215, 0.6299),
        "like": (0.6912, 0.8079, 0.7450),
        "sadness": (0.7121, 0.6403, 0.6743),
        "surprise": (0.6592, 0.6940, 0.6762),
    }
)

#: Table 3: precision, recall and F1 (averages over the classes) of the two ConvGRU models.
TABLE3 = MappingProxyType(
    {
        "resnet_convgru": (0.6752, 0.6712, 0.6707),
        "vgg_convgru": (0.6672, 0.6303, 0.6350),
    }
)

#: Table 4: accuracy of the five models.
TABLE4 = MappingProxyType(
    {
        "resnet_convgru": 0.6700,
        "vgg_convgru": 0.6349,
        "resnet3d": 0.6450,
        "cnn_lstm": 0.6427,
        "c3d": 0.6248,
    }
)

#: Section 4.3, text: ResNet-ConvGRU accuracy with clips of T frames.
ABLATION = MappingProxyType({2: 0.61, 4: 0.67, 6: 0.6656, 8: 0.6521})

#: Section 4.3 about Fig. 5 (frames per GIF on the 2,100 GIFs).
FIG5 = MappingProxyType(
    {
        "min_frames": 2,
        "max_frames": 303,
        "statement": "most GIFs have fewer than 100 frames, mostly between 0 and 50",
    }
)


def model_name(model: str) -> str:
    """The paper's name of a registry model (``"resnet_convgru" -> "ResNet-ConvGRU"``)."""
    return PAPER_MODEL_NAMES.get(model, model)
