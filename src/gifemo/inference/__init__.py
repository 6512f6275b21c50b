"""Prediction and export: ``gifemo.load(MODEL).predict(gif) -> Prediction``.

>>> import gifemo
>>> predictor = gifemo.load("runs/paper")  # a run dir, a .ckpt or an .onnx  # doctest: +SKIP
>>> prediction = predictor.predict("cat.gif")  # path, URL, bytes, file object  # doctest: +SKIP
>>> prediction.top_label, prediction.intensities  # doctest: +SKIP
"""

from __future__ import annotations

from gifemo.inference.fetch import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    FetchTooLargeError,
    fetch_url,
)
from gifemo.inference.inputs import NamedBytes, expand_inputs
from gifemo.inference.prediction import (
    ClipPrediction,
    Prediction,
    PredictionFailure,
    PredictionResult,
    PredictorInfo,
)
from gifemo.inference.predictor import Predictor, load

__all__ = [
    "BlockedAddressError",
    "ClipPrediction",
    "FetchError",
    "FetchTimeoutError",
    "FetchTooLargeError",
    "PredictorInfo",
    "NamedBytes",
    "Prediction",
    "PredictionFailure",
    "PredictionResult",
    "Predictor",
    "expand_inputs",
    "export_onnx",
    "fetch_url",
    "load",
]


def __getattr__(name: str):
    # The exporter pulls in torch.onnx and onnxscript: load it only when asked for.
    if name == "export_onnx":
        from gifemo.inference.export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'gifemo.inference' has no attribute {name!r}")
