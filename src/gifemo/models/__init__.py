"""gifemo.models: the paper's ResNet-ConvGRU and its four baselines, behind one registry.

>>> from gifemo.models import create_model, list_models
>>> list_models()
['c3d', 'cnn_lstm', 'resnet3d', 'resnet_convgru', 'vgg_convgru']
>>> model = create_model("resnet_convgru", num_classes=7, clip_len=4)  # doctest: +SKIP
>>> logits = model(clips)  # (B, T, 3, S, S) -> (B, 7)                 # doctest: +SKIP
"""

from __future__ import annotations

from gifemo.models.base import ClassifierHead, ClipClassifier, check_clip, clip_probabilities
from gifemo.models.convgru import ConvGRU, ConvGRUCell, ConvGRUConfig
from gifemo.models.registry import ModelCard, create_model, list_models, model_info, register_model
from gifemo.models.weights import WeightsError, WeightsLoadReport, load_pretrained

# Importing the model modules registers them.
from gifemo.models import c3d, cnn_lstm, convgru_net, resnet3d  # noqa: F401  isort: skip

__all__ = [
    "ClassifierHead",
    "ClipClassifier",
    "ConvGRU",
    "ConvGRUCell",
    "ConvGRUConfig",
    "ModelCard",
    "WeightsError",
    "WeightsLoadReport",
    "check_clip",
    "clip_probabilities",
    "create_model",
    "list_models",
    "load_pretrained",
    "model_info",
    "register_model",
]
