"""Checkpoints: crash-safe writing, and loading a trained model without the dataset.

A gifemo checkpoint is a Lightning checkpoint (``state_dict``, optimizer and loop states, so a
run can resume) plus one dedicated key, ``"gifemo"``, holding everything needed to rebuild the
model for inference::

    checkpoint["gifemo"] = {
        "format": 1,
        "model_name": "resnet_convgru",
        "model_kwargs": {...},                 # builder keyword arguments
        "labels": ["happiness", ...],          # class-index order
        "preprocess": {"size", "clip_len", "mean", "std"},
        "metadata": {"epoch", "global_step", "metrics", "config", "gifemo_version", ...},
    }

The model's weights are ``state_dict`` entries under the ``model.`` prefix (the LightningModule
attribute). :func:`load_trained_model` rebuilds the architecture with
``create_model(name, pretrained=None, ...)`` and loads those weights: no dataset, no
pretrained download, no Lightning module needed.

:class:`gifemo.training.checkpoint_io.AtomicCheckpointIO` writes every checkpoint atomically.
This module does not import Lightning, so that inference loads models quickly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from gifemo.labels import validate_label_set
from gifemo.preprocess import PreprocessConfig
from gifemo.training.run_dir import (
    BEST_NAME,
    CALIBRATION_FILE,
    CHECKPOINT_DIR,
    CHECKPOINT_SUFFIX,
    LAST_NAME,
    RunDir,
    read_calibration,
)

log = logging.getLogger(__name__)

#: The checkpoint key holding the model's rebuild recipe and run metadata.
CHECKPOINT_KEY = "gifemo"
#: Version of the layout under :data:`CHECKPOINT_KEY`; bump on incompatible changes.
CHECKPOINT_FORMAT = 1
#: Prefix of the model's weights in the Lightning ``state_dict`` (the module's attribute name).
MODEL_PREFIX = "model."


class CheckpointError(ValueError):
    """A checkpoint (or run dir) cannot be found or is not a gifemo checkpoint; names the file."""


@dataclass(frozen=True)
class ModelSpec:
    """What rebuilds a trained model: registry name, builder kwargs, labels, input."""

    model_name: str
    model_kwargs: dict[str, Any]
    labels: tuple[str, ...]
    preprocess: PreprocessConfig

    def build(self) -> nn.Module:
        """The architecture with freshly initialised weights (``pretrained=None``)."""
        from gifemo.models import create_model

        return create_model(
            self.model_name,
            num_classes=len(self.labels),
            clip_len=self.preprocess.clip_len,
            pretrained=None,
            **self.model_kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_kwargs": dict(self.model_kwargs),
            "labels": list(self.labels),
            "preprocess": self.preprocess.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        return cls(
            model_name=str(values["model_name"]),
            model_kwargs=dict(values.get("model_kwargs") or {}),
            labels=validate_label_set(values["labels"]),
            preprocess=PreprocessConfig.from_dict(values["preprocess"]),
        )


@dataclass(frozen=True)
class TrainedModel:
    """A trained model ready for inference.

    ``model`` maps ``(B, T, 3, S, S)`` float clips (normalised with ``preprocess.mean/std``) to
    ``(B, len(labels))`` logits; it is on the CPU, in eval mode, in the default (contiguous)
    memory format. ``metadata`` holds the epoch, global step, validation metrics and training
    config of the checkpoint, and under ``"calibration"`` the run's ``calibration.json`` when
    its temperature applies to this checkpoint.

    ``temperature`` (1: none) divides the logits before the softmax wherever probabilities are
    made from this model: prediction (every backend), serving, ONNX export, evaluation.
    ``model`` itself returns the raw logits.
    """

    model: nn.Module
    labels: tuple[str, ...]
    preprocess: PreprocessConfig
    model_name: str
    model_kwargs: dict[str, Any]
    checkpoint_path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.model_name, self.model_kwargs, self.labels, self.preprocess)


def checkpoint_payload(spec: ModelSpec, metadata: dict[str, Any]) -> dict[str, Any]:
    """The value stored under ``checkpoint["gifemo"]``."""
    return {"format": CHECKPOINT_FORMAT, **spec.to_dict(), "metadata": metadata}


def find_checkpoint(path: str | Path, which: str = "auto") -> Path:
    """The checkpoint file that ``path`` designates.

    ``path`` is a ``.ckpt`` file (returned as is) or a run dir: ``which="auto"`` picks
    ``checkpoints/best.ckpt`` when the run chose it on a validation split (``val_fraction > 0``),
    else ``checkpoints/last.ckpt`` (see :func:`auto_order`); ``"best"``/``"last"`` ask for one.
    """
    path = Path(path)
    if which not in ("auto", BEST_NAME, LAST_NAME):
        raise ValueError(f"which must be 'auto', 'best' or 'last', got {which!r}")
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    run = RunDir(path)
    wanted = auto_order(path) if which == "auto" else (which,)
    for name in wanted:
        if run.checkpoint(name).is_file():
            return run.checkpoint(name)
    raise CheckpointError(
        f"{path}: no {' or '.join(f'{CHECKPOINT_DIR}/{n}{CHECKPOINT_SUFFIX}' for n in wanted)} "
        "(is this a gifemo run directory, and did its first epoch finish?)"
    )


def auto_order(run_dir: str | Path) -> tuple[str, str]:
    """The checkpoints ``which="auto"`` tries, in order, for a run dir.

    Without a validation split (``val_fraction`` 0, the paper's protocol) validation runs on the
    test split, so ``best.ckpt`` was chosen on test GIFs and its test score is optimistic: the last
    epoch is the honest default there. With a validation split, the best epoch is.
    """
    from gifemo.training.config import TrainConfig

    try:
        val_fraction = TrainConfig.load(RunDir(run_dir).config_file).val_fraction
    except (
        OSError,
        ValueError,
        TypeError,
        yaml.YAMLError,
    ):  # no or a foreign config: no val split known
        val_fraction = 0.0
    return (BEST_NAME, LAST_NAME) if val_fraction > 0 else (LAST_NAME, BEST_NAME)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file onto the CPU with ``weights_only=True`` (no code runs)."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(
            f"{path}: not a gifemo checkpoint (no {CHECKPOINT_KEY!r} entry; was it written by "
            "gifemo train?)"
        )
    payload = checkpoint[CHECKPOINT_KEY]
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {payload.get('format')!r}, this gifemo reads "
            f"{CHECKPOINT_FORMAT}"
        )
    return checkpoint


def model_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's own weights from a Lightning ``state_dict`` (``model.`` prefix removed)."""
    state = checkpoint.get("state_dict", {})
    return {k[len(MODEL_PREFIX) :]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}


def checkpoint_calibration(ckpt_path: Path, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The run's ``calibration.json`` if it was fitted for this very checkpoint, else None.

    A checkpoint inside a run (``RUN/checkpoints/<name>.ckpt``) is matched by file name and
    global step: the other checkpoint of the run, or the same file after ``--resume`` trained
    it further, is not what the temperature was fitted on, so it is left uncalibrated (logged).
    """
    if ckpt_path.parent.name != CHECKPOINT_DIR:
        return None
    run = ckpt_path.parent.parent
    record = read_calibration(run)
    if record is None:
        return None
    fitted = (record.get("checkpoint_name"), record.get("checkpoint_global_step"))
    current = (ckpt_path.name, metadata.get("global_step"))
    if fitted != current:
        log.warning(
            "%s: fitted for %s at step %s, not %s at step %s; the temperature is not applied "
            "(run `gifemo calibrate %s` again)",
            run / CALIBRATION_FILE,
            *fitted,
            *current,
            run,
        )
        return None
    return record


def load_trained_model(
    path: str | os.PathLike, *, which: str = "auto", calibrated: bool = True
) -> TrainedModel:
    """Rebuild the model of a run dir or ``.ckpt`` file, on the CPU, in eval mode.

    ``path``: a run dir (``which="auto"``: see :func:`find_checkpoint`) or a checkpoint file.
    ``calibrated``: pick up the run's ``calibration.json`` temperature when it was fitted for
    this checkpoint (:func:`checkpoint_calibration`); False gives the raw model (temperature 1).
    Raises :class:`CheckpointError` (a ``ValueError``) naming the file when it is missing, not
    a gifemo checkpoint, or its weights do not fit the architecture it names.
    """
    ckpt_path = find_checkpoint(path, which)
    checkpoint = read_checkpoint(ckpt_path)
    payload = checkpoint[CHECKPOINT_KEY]
    try:
        spec = ModelSpec.from_dict(payload)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{ckpt_path}: damaged {CHECKPOINT_KEY!r} entry ({error})") from error
    model = spec.build()
    try:
        model.load_state_dict(model_state_dict(checkpoint), strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{ckpt_path}: weights do not match model {spec.model_name!r} "
            f"with {spec.model_kwargs}: {error}"
        ) from error
    model.eval()
    metadata = dict(payload.get("metadata") or {})
    calibration = checkpoint_calibration(ckpt_path, metadata) if calibrated else None
    if calibration is not None:
        metadata["calibration"] = calibration
    return TrainedModel(
        model=model,
        labels=spec.labels,
        preprocess=spec.preprocess,
        model_name=spec.model_name,
        model_kwargs=spec.model_kwargs,
        checkpoint_path=ckpt_path,
        metadata=metadata,
        temperature=float(calibration["temperature"]) if calibration else 1.0,
    )
