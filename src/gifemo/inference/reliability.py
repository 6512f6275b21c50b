"""How reliable a loaded model's intensities are: the calibration its run's test report measured.

``gifemo serve`` shows it on the page, ``gifemo export`` copies it into the ONNX metadata. It is
the report's calibration section **at the temperature the model runs with**, and only when the
report is of this very checkpoint (same file name and epoch): a number measured on another
checkpoint, or at another temperature, would not describe what is being served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The metrics copied from the report's calibration section.
METRICS = ("ece", "classwise_ece", "brier", "nll")


def run_reliability(trained) -> dict[str, Any] | None:
    """The test calibration of a :class:`~gifemo.training.checkpoint.TrainedModel` from its
    run's ``report.json``, or None (no report, another checkpoint, another temperature).

    Returns ``{"split", "n_gifs", "temperature", "fitted_on", "optimistic", "ece": {"value",
    "ci_low", "ci_high"}, "classwise_ece", "brier", "nll"}``.
    """
    from gifemo.training.run_dir import CHECKPOINT_DIR, RunDir, read_report

    ckpt = Path(trained.checkpoint_path)
    if ckpt.parent.name != CHECKPOINT_DIR or not RunDir(ckpt.parent.parent).is_evaluated:
        return None
    try:
        report = read_report(ckpt.parent.parent)
        context, metrics = report["context"], report["metrics"]
        calibration = metrics.get("calibration")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not calibration:
        return None
    same_checkpoint = Path(str(context.get("checkpoint", ""))).name == ckpt.name and context.get(
        "checkpoint_epoch"
    ) == trained.metadata.get("epochs_done")
    if not same_checkpoint:
        return None
    temperature = float(trained.temperature)
    if abs(float(calibration.get("temperature", 1.0)) - temperature) < 1e-9:
        values, fitted_on = calibration, calibration.get("fitted_on")
    elif temperature == 1.0 and "uncalibrated" in calibration:
        values, fitted_on = calibration["uncalibrated"], None
    else:
        return None
    return {
        "split": context.get("split"),
        "n_gifs": metrics.get("n_gifs"),
        "temperature": temperature,
        "fitted_on": fitted_on,
        "optimistic": bool(fitted_on and calibration.get("optimistic")),
        **{name: dict(values[name]) for name in METRICS},
    }
