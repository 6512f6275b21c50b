"""``gifemo calibrate``: fit a run's temperature on held-out GIFs and store it with the run.

The temperature is fitted on the clip logits of one split (:func:`score_split`, the raw model)
by minimising the NLL of the GIF-level pooled probabilities
(:func:`gifemo.evaluation.calibration.fit_temperature`), and written to the run's
``calibration.json`` (:func:`gifemo.training.run_dir.write_calibration`) with the split, the
checkpoint it belongs to, and the split's NLL/ECE/Brier before and after. From then on
:func:`gifemo.training.checkpoint.load_trained_model`, and so ``gifemo.load``, predict, serve,
export and evaluate, apply it. The run's test report is then written again, so that it says
what the model now predicts, with the calibration before and after.

Which split: the validation split (``val_fraction > 0``). A run trained with the paper's
protocol has none (its "validation" is the test split); calibrating it on its test GIFs is
allowed only when asked for by name (``split="test"``), and every report made after it says
that its calibrated test numbers are optimistic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gifemo.evaluation.calibration import (
    TEMPERATURE_BOUNDS,
    ClipLogits,
    expected_calibration_error,
    fit_temperature,
)

log = logging.getLogger(__name__)

#: The splits a temperature may be fitted on.
CALIBRATION_SPLITS = ("val", "test")
OPTIMISTIC_WARNING = (
    "the temperature was fitted on the test GIFs (the run has no validation split): the test "
    "ECE, NLL and Brier score after it are optimistic"
)


@dataclass(frozen=True)
class CalibrationResult:
    record: dict[str, Any]  #: what ``calibration.json`` holds
    path: Path  #: ``calibration.json``
    report: dict[str, Any] | None  #: the test report written afterwards (None: not asked)

    @property
    def temperature(self) -> float:
        return float(self.record["temperature"])

    @property
    def warning(self) -> str | None:
        return self.record.get("warning")


def split_summary(clips: ClipLogits, temperature: float) -> dict[str, float]:
    """Point values of the split at ``temperature``: NLL, ECE, Brier score, accuracy."""
    from gifemo.evaluation.calibration import brier_terms

    pooled = clips.pooled(temperature)
    return {
        "nll": clips.pooled_nll(temperature),
        "ece": float(expected_calibration_error(pooled.probs, pooled.targets)),
        "brier": float(brier_terms(pooled.probs, pooled.targets).mean()),
        "accuracy": float(np.mean(pooled.predicted == pooled.targets)),
    }


def calibrate_run(
    run: str | Path,
    *,
    split: str = "val",
    which: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    cache_dir: str | Path | None = None,
    evaluate: bool = True,
    n_resamples: int = 1000,
    progress: bool = True,
) -> CalibrationResult:
    """Fit the temperature of run dir ``run``'s checkpoint on its ``split`` GIFs and store it.

    Args:
        split: ``"val"`` (default; an error naming the run when it has no validation split) or
            ``"test"`` (allowed, with :data:`OPTIMISTIC_WARNING` logged and recorded).
        which: the checkpoint (``auto``: as everywhere, see
            :func:`gifemo.training.checkpoint.find_checkpoint`); the temperature belongs to it.
        evaluate: write the run's test report again, calibrated (``report.json``...).
        precision: default: the run's own (as its report), so that the temperature is fitted on
            the logits the run's evaluation sees.
        batch_size, workers, device, cache_dir: as for :func:`gifemo.evaluation.evaluate_run`.
    """
    from gifemo import __version__
    from gifemo.evaluation.evaluate import evaluate_run, score_split
    from gifemo.training.config import TrainConfig
    from gifemo.training.run_dir import CONFIG_FILE, RunDir, write_calibration

    run_dir = RunDir(run)
    if not run_dir.is_run:
        raise ValueError(f"{run_dir.path}: no {CONFIG_FILE}; calibrate a gifemo run directory")
    if split not in CALIBRATION_SPLITS:
        raise ValueError(f"split must be one of {', '.join(CALIBRATION_SPLITS)}, got {split!r}")
    config = TrainConfig.load(run_dir.config_file)
    precision = precision or config.precision
    if split == "val" and config.val_fraction <= 0:
        raise ValueError(
            f"{run_dir.path}: no validation split (trained with --val-fraction 0, the paper's "
            "protocol, where validation runs on the test GIFs). Fit the temperature on held-out "
            "GIFs: train with --val-fraction 0.1; or calibrate with --split test, and read the "
            "test ECE after it as optimistic"
        )
    options = {
        "which": which,
        "batch_size": batch_size,
        "workers": workers,
        "device": device,
        "precision": precision,
        "cache_dir": cache_dir,
        "progress": progress,
    }
    scored = score_split(run_dir.path, split=split, calibrated=False, **options)
    fit = fit_temperature(scored.clips)
    warning = OPTIMISTIC_WARNING if split == "test" else None
    if warning:
        log.warning("%s: %s", run_dir.path, warning)
    if fit.at_bound:
        log.warning(
            "%s: the fitted temperature %.3g is at the end of the range %s",
            run_dir.path,
            fit.temperature,
            TEMPERATURE_BOUNDS,
        )
    meta = scored.trained.metadata
    record = {
        "temperature": fit.temperature,
        "split": split,
        "n_gifs": len(scored.clips.paths),
        "n_clips": len(scored.clips.gif),
        "objective": "NLL of the GIF-level intensities (mean of the clips' softmax(logits / T))",
        "bounds": list(TEMPERATURE_BOUNDS),
        "at_bound": fit.at_bound,
        "checkpoint_name": scored.trained.checkpoint_path.name,
        "checkpoint_global_step": meta.get("global_step"),
        "checkpoint_epoch": meta.get("epochs_done"),
        "precision": scored.choice.precision,
        "before": split_summary(scored.clips, 1.0),
        "after": split_summary(scored.clips, fit.temperature),
        "warning": warning,
        "gifemo_version": __version__,
    }
    path = write_calibration(run_dir.path, record)
    report = None
    if evaluate:
        report = evaluate_run(run_dir.path, n_resamples=n_resamples, **options)
    return CalibrationResult(record=record, path=path, report=report)
