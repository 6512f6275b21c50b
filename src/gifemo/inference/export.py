"""Export a trained model to ONNX: one file that ``gifemo predict`` (or any ONNX runtime) can run.

The exported graph is :class:`~gifemo.inference.frames_model.FramesToProbabilities`: input
``frames`` ``(B, T, S, S, 3) uint8 RGB`` with a dynamic batch axis ``B``, outputs ``probabilities``
and ``logits`` ``(B, C) float32``. Normalisation, the run's temperature (``probabilities`` are
``softmax(logits / T)``; ``logits`` are raw) and the softmax are inside the graph. The labels, the
preprocessing (size, clip length, mean, std), the model name, the clip-padding seed, the opset and
the gifemo version are stored in the model's ``metadata_props`` (keys ``gifemo.*``).

torch's dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``, onnxscript) is used: it
handles every registered model, while the legacy TorchScript exporter writes an invalid
``Transpose`` for the channel move of the normalisation. Weights go inside the ``.onnx`` file
by default; ``external_data=True`` writes them to ``<file>.onnx.data`` beside it (needed past
2 GB), which must then travel with the ``.onnx`` file.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gifemo.inference.backends import onnx_metadata, training_seed
from gifemo.inference.frames_model import INPUT_NAME, OUTPUT_NAMES
from gifemo.inference.reliability import run_reliability

#: Largest |torch - onnxruntime| probability difference accepted by the post-export check.
DEFAULT_ATOL = 1e-4


class ExportError(RuntimeError):
    """The export failed, or the exported model disagrees with the eager one."""


@dataclass(frozen=True)
class ExportResult:
    path: Path  #: the ``.onnx`` file
    data_path: Path | None  #: the external weights file, when ``external_data=True``
    opset: int  #: the default-domain opset of the graph
    max_abs_diff: float | None  #: torch vs onnxruntime on the check batch (None: not checked)
    metadata: dict[str, str]  #: the ``metadata_props`` written


def export_onnx(
    model: Any,
    dest: str | os.PathLike,
    *,
    opset: int | None = None,
    external_data: bool = False,
    check: bool = True,
    atol: float = DEFAULT_ATOL,
    which: str = "auto",
) -> ExportResult:
    """Export ``model`` (run dir, ``.ckpt`` or loaded ``TrainedModel``) to the ONNX file ``dest``.

    Args:
        opset: target opset (None: the exporter's recommended one, recorded in the metadata).
        external_data: weights in ``<dest>.data`` instead of inside ``dest``.
        check: run the exported model with onnxruntime on a batch of 3 random clips (a batch size
            the export never saw, which exercises the dynamic axis) and compare with torch.
        atol: largest probability difference the check accepts.

    The files are written in a temporary folder beside ``dest`` and moved into place at the end:
    a failed export leaves any previous one untouched.
    """
    from gifemo.inference.frames_model import FramesToProbabilities

    if isinstance(model, (str, os.PathLike)):
        from gifemo.training.checkpoint import load_trained_model

        model = load_trained_model(model, which=which)
    trained = model
    dest = Path(dest)
    preprocess = trained.preprocess
    # The run's temperature goes into the graph: probabilities = softmax(logits / T).
    temperature = float(trained.temperature)
    module = FramesToProbabilities(trained.model, preprocess, temperature=temperature).eval()
    exportable = FramesToProbabilities(
        exportable_copy(trained.model), preprocess, temperature=temperature
    ).eval()
    shape = (preprocess.clip_len, preprocess.size, preprocess.size, 3)
    generator = torch.Generator().manual_seed(0)
    example = torch.randint(0, 256, (2, *shape), dtype=torch.uint8, generator=generator)

    program = _export(exportable, example, opset)
    graph_opset = int(program.model.opset_imports.get("", opset or 0))
    metadata = onnx_metadata(
        labels=tuple(trained.labels),
        preprocess=preprocess,
        model_name=trained.model_name,
        model_kwargs=dict(trained.model_kwargs),
        clip_seed=training_seed(trained.metadata),
        opset=graph_opset,
        source=str(trained.checkpoint_path),
        calibration=exported_calibration(trained),
        reliability=run_reliability(trained),
    )
    program.model.metadata_props.update(metadata)
    program.model.producer_name = "gifemo"

    dest.parent.mkdir(parents=True, exist_ok=True)
    data_dest = dest.with_name(dest.name + ".data")
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        staged = staging / dest.name
        program.save(staged, external_data=external_data)
        staged_data = staging / data_dest.name
        max_diff = None
        if check:
            check_batch = torch.randint(0, 256, (3, *shape), dtype=torch.uint8, generator=generator)
            max_diff = _compare(module, staged, check_batch)
            if not max_diff <= atol:
                raise ExportError(
                    f"{dest}: onnxruntime and torch disagree by {max_diff:.3g} (> {atol:g}) on the "
                    "check batch"
                )
        if staged_data.exists():
            os.replace(staged_data, data_dest)
        elif data_dest.exists():
            data_dest.unlink()  # a stale weights file from an earlier external-data export
        os.replace(staged, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(
        path=dest,
        data_path=data_dest if external_data else None,
        opset=graph_opset,
        max_abs_diff=max_diff,
        metadata=metadata,
    )


def exported_calibration(trained) -> dict[str, Any] | None:
    """What the ONNX metadata records of the model's temperature: T, the split it was fitted on
    and that split's size (None when T is 1)."""
    if trained.temperature == 1.0:
        return None
    record = trained.metadata.get("calibration") or {}
    return {
        "temperature": float(trained.temperature),
        "split": record.get("split"),
        "n_gifs": record.get("n_gifs"),
    }


class StaticAdaptiveMaxPool(nn.Module):
    """``nn.AdaptiveMaxPool{1,2,3}d`` as slices and ``amax``: same numbers, any input size.

    The ONNX exporter only converts an adaptive max pool whose input size is a multiple of its
    output size; C3D's pool5 (to ``1 x 4 x 4``) at 32, 112 or 224 px is not. The windows of an
    adaptive pool are ``[floor(i * n / o), ceil((i + 1) * n / o))`` along each axis independently,
    so pooling one axis after the other gives exactly the same maxima. Sizes are read from the
    tensor at trace time, where everything but the batch axis is static.
    """

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.ndim = int(type(pool).__name__[-2])
        size = pool.output_size
        self.output_size = tuple(size) if isinstance(size, (tuple, list)) else (size,) * self.ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, out in zip(range(x.dim() - self.ndim, x.dim()), self.output_size, strict=True):
            n = x.shape[axis]
            if out is None or out == n:
                continue
            windows = [((i * n) // out, -((-(i + 1) * n) // out)) for i in range(out)]
            x = torch.cat(
                [x.narrow(axis, a, b - a).amax(dim=axis, keepdim=True) for a, b in windows],
                dim=axis,
            )
        return x


def exportable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with :class:`StaticAdaptiveMaxPool` for its adaptive max pools (same
    outputs)."""
    model = copy.deepcopy(model)
    for name, child in list(model.named_modules()):
        if isinstance(child, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
            if child.return_indices:
                continue
            parent_name, _, attr = name.rpartition(".")
            setattr(
                model.get_submodule(parent_name) if parent_name else model,
                attr,
                StaticAdaptiveMaxPool(child),
            )
    return model


def _export(module, example, opset: int | None):
    batch = torch.export.Dim("batch", min=1)
    log = io.StringIO()
    try:
        # The exporter narrates its steps on stdout; keep stdout clean for the caller.
        with contextlib.redirect_stdout(log), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.onnx.export(
                module,
                (example,),
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes={"frames": {0: batch}},
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
    except Exception as error:
        tail = "\n".join(log.getvalue().strip().splitlines()[-5:])
        raise ExportError(
            f"ONNX export failed: {type(error).__name__}: {error}\n{tail}".strip()
        ) from error


def _compare(module, onnx_path: Path, frames) -> float:
    """Max |probability difference| between eager torch and onnxruntime on ``frames``."""
    import onnxruntime as ort

    with torch.inference_mode():
        expected = module(frames)[0].numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAMES[0]], {INPUT_NAME: frames.numpy()})[0]
    return float(np.abs(got - expected).max())
