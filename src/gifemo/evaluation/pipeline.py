"""``gifemo train``'s whole job: train, calibrate on the validation split if there is one, and
write the test report."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from gifemo.evaluation.calibrate import calibrate_run
from gifemo.evaluation.evaluate import evaluate_run

log = logging.getLogger(__name__)


def train_and_evaluate(
    config,
    run_dir: str | Path,
    *,
    progress: bool = True,
    calibrate: bool = True,
    **train_options: Any,
):
    """:func:`gifemo.training.fit.train`, then the run's test report (``report.json``...).

    With a validation split (``val_fraction > 0``) and ``calibrate``, the temperature is fitted
    on it first (:func:`gifemo.evaluation.calibrate.calibrate_run`), so the report gives the
    test calibration before and after; without one nothing is fitted (the paper's protocol
    has only the test GIFs, and fitting on them would flatter the test ECE).

    The evaluation runs in the precision the run trained in (``"auto"`` resolved for this
    machine), so that the report restates the run's last validation. ``train_options``
    (``resume``, ``callbacks``) go to ``train``. Returns its
    :class:`~gifemo.training.fit.FitResult` with ``report`` set, or ``None`` on the DDP ranks
    other than zero (which only train).
    """
    from gifemo.training.fit import train

    result = train(config, run_dir, progress=progress, **train_options)
    if result is None:
        return None
    precision = result.config.precision
    if calibrate and result.config.val_fraction > 0:
        try:
            calibrate_run(result.run_dir, precision=precision, evaluate=False, progress=progress)
        except ValueError as error:  # a report without calibration beats no report
            log.warning("%s: not calibrated: %s", result.run_dir, error)
    report = evaluate_run(result.run_dir, precision=precision, progress=progress)
    return dataclasses.replace(result, report=report)
