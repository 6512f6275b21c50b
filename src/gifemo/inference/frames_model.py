"""The inference graph of eager prediction and ONNX export: uint8 frames in, probabilities out.

Normalisation and softmax live inside the graph, so an exported ``.onnx`` file needs nothing
from gifemo at run time beyond decoding, resizing and cutting clips: any ONNX runtime can feed it
the RGB frames as they come out of the decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from gifemo.models.base import clip_probabilities
from gifemo.preprocess import PreprocessConfig, normalize_clip

INPUT_NAME = "frames"
OUTPUT_NAMES = ("probabilities", "logits")


class FramesToProbabilities(nn.Module):
    """``frames (B, T, S, S, 3) uint8 RGB -> (probabilities (B, C), logits (B, C))`` float32.

    ``frames`` are on the CPU; the outputs are on the model's device.

    ``model`` is a clip classifier taking normalised ``(B, T, 3, S, S)`` float clips; the
    normalisation is :func:`gifemo.preprocess.normalize_clip`, the one training uses. The model
    runs under the autocast of ``precision`` (``"32"``: none, as in the exported graph) and the
    softmax in float32 (:func:`gifemo.models.base.clip_probabilities`). ``temperature``: the
    probabilities are ``softmax(logits / temperature)`` (the run's calibration); the ``logits``
    output stays the model's raw logits.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: PreprocessConfig,
        precision: str = "32",
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.preprocess = preprocess
        self.precision = precision
        self.temperature = float(temperature)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # normalize_clip builds its mean/std constants on the CPU, so frames are normalised where
        # they are given (the CPU) and the float clip then moves to the model's device; on the
        # CPU, and in the exported graph, there is nothing to move.
        clip = normalize_clip(frames, self.preprocess.mean, self.preprocess.std)
        device = next(self.model.parameters()).device
        if clip.device != device:
            clip = clip.to(device, non_blocking=True)
        return clip_probabilities(self.model, clip, self.precision, temperature=self.temperature)
