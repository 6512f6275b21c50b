"""The two ways to run a model on clips, behind one small interface.

A backend maps a batch of clips ``(N, T, S, S, 3) uint8 RGB`` (frames already resized to the
model's size) to class probabilities ``(N, C) float32``. It also tells what the model expects
(``preprocess``), what it outputs (``labels``) and what it is (``info``).

* :class:`TorchBackend`: eager PyTorch from a trained checkpoint, in float32 or with bfloat16
  (or, on CUDA, float16) autocast, channels-last weights or not: by default what is fast on the
  machine (:func:`gifemo.hardware.resolve_compute`).
* :class:`OnnxBackend`: ONNX Runtime on a model written by
  :func:`gifemo.inference.export.export_onnx`; everything it needs (labels, size, clip length,
  mean/std, temperature) is read from the file's metadata.

Both apply the model's temperature (its calibration: ``softmax(logits / T)``), so whoever calls a
backend, directly or through :class:`~gifemo.inference.Predictor`, gets calibrated
probabilities without doing anything; ``temperature`` tells which T that is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gifemo.hardware import resolve_compute
from gifemo.inference.prediction import PredictorInfo
from gifemo.inference.reliability import run_reliability
from gifemo.preprocess import PreprocessConfig

#: Keys of the ONNX ``metadata_props`` written at export and read back here.
META_PREFIX = "gifemo."
META_FORMAT = 1


class Backend(Protocol):
    labels: tuple[str, ...]
    preprocess: PreprocessConfig
    info: PredictorInfo
    #: The logits are divided by it before the softmax (1: uncalibrated).
    temperature: float
    #: The test calibration of the model as it runs (``gifemo.inference.reliability``), or None.
    reliability: dict[str, Any] | None
    #: Seed of the clip padding (the training run's seed), so clips match its evaluation.
    clip_seed: int

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        """``(N, T, S, S, 3) uint8 -> (N, C) float32`` probabilities (rows sum to 1)."""
        ...


def training_seed(metadata: dict[str, Any]) -> int:
    """The run seed recorded in a checkpoint's metadata (0 when absent)."""
    config = metadata.get("config") or {}
    return int(config.get("seed", 0)) if isinstance(config, dict) else 0


class TorchBackend:
    """Eager PyTorch on a :class:`~gifemo.training.checkpoint.TrainedModel`.

    Args:
        trained: the loaded model (see :func:`gifemo.training.checkpoint.load_trained_model`).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        precision: ``"auto"``, ``"32"``, ``"bf16-mixed"`` (``"bf16"``) or ``"16-mixed"`` (CUDA):
            autocast; probabilities stay float32.
        channels_last: convert the weights to the model's channels-last memory format
            (``None``: where that is faster, see :func:`gifemo.hardware.resolve_compute`).
        compile: ``torch.compile`` the model (``None``: auto, see
            :func:`gifemo.models.compilation.resolve_compile`); the first batch of each batch
            size compiles.

    The backend owns ``trained.model``: moving it to ``device`` and converting its memory format
    happen in place (pass a copy to keep the original as it is).
    """

    def __init__(
        self,
        trained,
        *,
        device: str = "cpu",
        precision: str = "auto",
        channels_last: bool | None = None,
        compile: bool | None = None,
    ):
        import torch

        from gifemo.inference.frames_model import FramesToProbabilities
        from gifemo.models.compilation import compile_model, resolve_compile

        self.device = torch.device(device)
        self.compute = resolve_compute(precision, channels_last, device=self.device.type)
        self.precision = self.compute.precision
        channels_last = self.compute.channels_last
        self.labels = tuple(trained.labels)
        self.preprocess = trained.preprocess
        self.clip_seed = training_seed(trained.metadata)
        self.temperature = float(trained.temperature)
        self.reliability = run_reliability(trained)
        model = trained.model
        if channels_last:
            convert = getattr(model, "to_channels_last", None)
            model = (
                convert() if convert is not None else model.to(memory_format=torch.channels_last)
            )
        self.module = (
            FramesToProbabilities(model, self.preprocess, self.precision, self.temperature)
            .to(self.device)
            .eval()
        )
        self.compiled, _ = resolve_compile(compile, self.device.type)
        if self.compiled:
            compile_model(model, training=False)
        self.info = PredictorInfo(
            name=trained.model_name,
            backend="torch",
            path=str(trained.checkpoint_path),
            precision=self.precision,
            size=self.preprocess.size,
            clip_len=self.preprocess.clip_len,
            temperature=self.temperature,
        )

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        import torch

        frames = torch.from_numpy(np.ascontiguousarray(clips))
        with torch.inference_mode():
            probs, _ = self.module(frames)
        return probs.float().cpu().numpy()


class OnnxBackend:
    """ONNX Runtime on an exported ``.onnx`` file (weights inside, or in ``<file>.data`` beside it).

    Args:
        path: the ``.onnx`` file.
        device: ``"cpu"``, or ``"cuda"`` to use ONNX Runtime's CUDA provider when installed.
        num_threads: ONNX Runtime's intra-op threads (None: its default, one per core).
        calibrated: use the graph's ``probabilities`` (the temperature recorded at export is
            inside the graph); False: the softmax of its raw ``logits`` output instead.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str = "cpu",
        num_threads: int | None = None,
        calibrated: bool = True,
    ):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX model file")
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError(
                    "device='cuda' needs onnxruntime-gpu (CUDAExecutionProvider is not available)"
                )
            providers.insert(0, "CUDAExecutionProvider")
        try:
            # A path (not bytes) so that ONNX Runtime finds an external data file beside it.
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.path}: not a loadable ONNX model ({error})") from error
        meta = read_onnx_metadata(self.session.get_modelmeta().custom_metadata_map, self.path)
        self.labels = meta["labels"]
        self.preprocess = meta["preprocess"]
        self.clip_seed = meta["clip_seed"]
        self.temperature = meta["temperature"] if calibrated else 1.0
        self.reliability = meta["reliability"] if calibrated else None
        # Raw probabilities of a calibrated graph: the softmax of its untouched logits output.
        self._raw = not calibrated and meta["temperature"] != 1.0
        # "32", or "int8" for a file of gifemo.inference.quantize.export_int8.
        self.precision = meta["precision"]
        self._input = self.session.get_inputs()[0].name
        self.info = PredictorInfo(
            name=meta["model_name"],
            backend="onnxruntime",
            path=str(self.path),
            precision=self.precision,
            size=self.preprocess.size,
            clip_len=self.preprocess.clip_len,
            temperature=self.temperature,
        )

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        output = "logits" if self._raw else "probabilities"
        values = self.session.run(
            [output], {self._input: np.ascontiguousarray(clips, dtype=np.uint8)}
        )[0].astype(np.float32, copy=False)
        if self._raw:
            from scipy.special import softmax

            values = softmax(values, axis=-1).astype(np.float32)
        return values


def onnx_metadata(
    *,
    labels: tuple[str, ...],
    preprocess: PreprocessConfig,
    model_name: str,
    model_kwargs: dict[str, Any],
    clip_seed: int,
    opset: int,
    source: str,
    calibration: dict[str, Any] | None = None,
    reliability: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The ``metadata_props`` stored in an exported model (all values are strings).

    ``calibration``: ``{"temperature": T, ...}`` (what it was fitted on, the test ECE) when the
    graph divides the logits by ``T``; ``gifemo.temperature`` is 1 otherwise. ``reliability``:
    the test calibration of the graph as exported (:mod:`gifemo.inference.reliability`).
    """
    from gifemo import __version__

    values: dict[str, Any] = {
        "format": META_FORMAT,
        "labels": list(labels),
        "size": preprocess.size,
        "clip_len": preprocess.clip_len,
        "mean": list(preprocess.mean),
        "std": list(preprocess.std),
        "model_name": model_name,
        "model_kwargs": model_kwargs,
        "clip_seed": clip_seed,
        "opset": opset,
        "gifemo_version": __version__,
        "source_checkpoint": source,
        "input": "frames: (B, T, S, S, 3) uint8 RGB, T = clip_len, S = size",
        "outputs": "probabilities: (B, C) float32 softmax(logits / temperature); "
        "logits: (B, C) float32, the model's raw logits",
        "temperature": float((calibration or {}).get("temperature", 1.0)),
    }
    if calibration:
        values["calibration"] = calibration
    if reliability:
        values["reliability"] = reliability
    return {META_PREFIX + k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def read_onnx_metadata(props: dict[str, str], path: Path) -> dict[str, Any]:
    """Parse :func:`onnx_metadata`'s entries back; a clear error when the file lacks them."""
    try:
        fmt = int(props[META_PREFIX + "format"])
        if fmt != META_FORMAT:
            raise ValueError(f"metadata format {fmt}, this gifemo reads {META_FORMAT}")
        preprocess = PreprocessConfig.from_dict(
            {k: json.loads(props[META_PREFIX + k]) for k in ("size", "clip_len", "mean", "std")}
        )
        return {
            "labels": tuple(json.loads(props[META_PREFIX + "labels"])),
            "preprocess": preprocess,
            "model_name": props[META_PREFIX + "model_name"],
            "clip_seed": int(json.loads(props.get(META_PREFIX + "clip_seed", "0"))),
            "opset": int(json.loads(props.get(META_PREFIX + "opset", "0"))),
            # Files exported before calibration existed hold no temperature: theirs is 1.
            "temperature": float(json.loads(props.get(META_PREFIX + "temperature", "1"))),
            "calibration": json.loads(props.get(META_PREFIX + "calibration", "null")),
            "reliability": json.loads(props.get(META_PREFIX + "reliability", "null")),
            "precision": props.get(META_PREFIX + "precision", "32"),
        }
    except KeyError as error:
        raise ValueError(
            f"{path}: no gifemo metadata ({error.args[0]!r} missing); export it with `gifemo "
            "export`"
        ) from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: damaged gifemo metadata ({error})") from None
