"""The run directory: every file a run holds, by name, and reading them back.

``gifemo train`` (:func:`gifemo.training.fit.train`) fills a run directory; evaluation,
prediction, ``gifemo reproduce`` and the demo read it. They all take the names from here::

    config.yaml              the resolved TrainConfig
    labels.txt               the label set, one per line, in class-index order
    split.csv                the GIF-level split (path, label, split, sha256)
    checkpoints/last.ckpt    written at the end of every epoch
    checkpoints/best.ckpt    the epoch with the highest val/gif_acc so far
    metrics.csv              one row per finished epoch (train/val loss and accuracy, time)
    logs/version_N/          Lightning's CSVLogger, per step, one version per (re)start
    tensorboard/             with --tensorboard
    calibration.json         the temperature fitted on a split (gifemo calibrate), see below
    predictions.csv, report.json, report.md, confusion_matrix.png, reliability_diagram.png
                             the test evaluation
    evaluations/<name>/      other evaluations (other data or split), the same files

A report directory (the run itself, or one under ``evaluations/``) holds the report files
named by :data:`PREDICTIONS_CSV`, :data:`REPORT_JSON`, :data:`REPORT_MD`,
:data:`CONFUSION_PNG` and :data:`RELIABILITY_PNG`. ``calibration.json`` belongs to one
checkpoint (its file name and global step are recorded): loading another checkpoint of the run
ignores it. This module imports neither torch nor Lightning.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.training.config import TrainConfig

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "metrics.csv"
LOG_DIR = "logs"
TENSORBOARD_DIR = "tensorboard"
#: Where a run keeps its checkpoints, their names and suffix: ``checkpoints/best.ckpt``.
CHECKPOINT_DIR = "checkpoints"
BEST_NAME = "best"
LAST_NAME = "last"
CHECKPOINT_SUFFIX = ".ckpt"
#: The files of an evaluation report, in the run dir (test split) or under ``evaluations/``.
PREDICTIONS_CSV = "predictions.csv"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CONFUSION_PNG = "confusion_matrix.png"
RELIABILITY_PNG = "reliability_diagram.png"
EVALUATIONS_DIR = "evaluations"
#: The temperature scaling of the run's checkpoint (``gifemo calibrate``).
CALIBRATION_FILE = "calibration.json"
#: Version of ``calibration.json``'s layout.
CALIBRATION_FORMAT = 1


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (which may not exist yet)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def labels_file(self) -> Path:
        return self.path / LABELS_FILE

    @property
    def split_file(self) -> Path:
        return self.path / SPLIT_FILE

    @property
    def history_file(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def log_dir(self) -> Path:
        return self.path / LOG_DIR

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD_DIR

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    def checkpoint(self, name: str) -> Path:
        """``checkpoints/<name>.ckpt`` (``name``: :data:`BEST_NAME` or :data:`LAST_NAME`)."""
        return self.checkpoint_dir / f"{name}{CHECKPOINT_SUFFIX}"

    @property
    def predictions_csv(self) -> Path:
        return self.path / PREDICTIONS_CSV

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    @property
    def confusion_png(self) -> Path:
        return self.path / CONFUSION_PNG

    @property
    def calibration_file(self) -> Path:
        return self.path / CALIBRATION_FILE

    def evaluation_dir(self, name: str) -> Path:
        """``evaluations/<name>``: the report directory of another evaluation of this run."""
        return self.path / EVALUATIONS_DIR / name

    @property
    def is_run(self) -> bool:
        """Whether training got far enough to write ``config.yaml``."""
        return self.config_file.is_file()

    @property
    def is_evaluated(self) -> bool:
        """Whether the run holds its test report (training finished and was evaluated)."""
        return self.report_json.is_file()


def read_labels(run_dir: str | Path) -> tuple[str, ...]:
    """The label set of a run, in class-index order (``labels.txt``)."""
    text = RunDir(run_dir).labels_file.read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def write_labels(run_dir: str | Path, labels: Iterable[str]) -> Path:
    path = RunDir(run_dir).labels_file
    atomic_write_text(path, "".join(f"{label}\n" for label in labels))
    return path


def check_run_dir(run_dir: str | Path, *, resume: bool) -> None:
    """Refuse to start a fresh run in a directory that holds anything."""
    run = RunDir(run_dir)
    if not resume and run.path.exists() and any(run.path.iterdir()):
        hint = (
            f"resume it with `gifemo train --resume {run.path}`" if run.config_file.exists() else ""
        )
        raise FileExistsError(
            f"{run.path}: not empty, refusing to overwrite a run; {hint or 'use a new --out'}"
        )


def load_run_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The saved config of a run to resume, with the allowed ``overrides`` applied."""
    run = RunDir(run_dir)
    if not run.config_file.is_file():
        raise FileNotFoundError(f"{run.path}: no {CONFIG_FILE}, not a gifemo run directory")
    return TrainConfig.load(run.config_file).resume_with(overrides or {}, source=str(run.path))


def read_history(path: str | Path) -> list[dict[str, float]]:
    """The rows of a ``metrics.csv`` written by :class:`~gifemo.training.callbacks.EpochHistory`
    (empty cells dropped)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(handle)
        ]


def run_history(run_dir: str | Path) -> list[dict[str, float]]:
    """The ``metrics.csv`` rows of a run (none before its first epoch ends)."""
    path = RunDir(run_dir).history_file
    return read_history(path) if path.is_file() else []


def read_report(report_dir: str | Path) -> dict[str, Any]:
    """The ``report.json`` of a report directory (a run dir or one of its evaluations)."""
    return json.loads((Path(report_dir) / REPORT_JSON).read_text(encoding="utf-8"))


def write_calibration(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``calibration.json`` atomically (``record`` gets the layout's ``format``)."""
    path = RunDir(run_dir).calibration_file
    atomic_write_text(path, json.dumps({"format": CALIBRATION_FORMAT, **record}, indent=2) + "\n")
    return path


def read_calibration(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``calibration.json`` (None when the run was never calibrated).

    Raises ``ValueError`` naming the file when it is damaged or of another format.
    """
    path = RunDir(run_dir).calibration_file
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        temperature = float(record["temperature"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a readable calibration file ({error})") from error
    if record.get("format") != CALIBRATION_FORMAT:
        raise ValueError(
            f"{path}: calibration format {record.get('format')!r}, this gifemo reads "
            f"{CALIBRATION_FORMAT}"
        )
    if not temperature > 0:
        raise ValueError(f"{path}: temperature must be positive, got {temperature}")
    return record


def training_summary(
    run_dir: str | Path, config: TrainConfig, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The training facts a report states: schedule, optimisation, hardware, wall time."""
    rows = run_history(run_dir)
    return {
        "epochs": config.epochs,
        "epochs_done": len(rows),
        "batch_size": config.batch_size,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "precision": config.precision,
        "precision_reason": (metadata.get("compute") or {}).get("reason"),
        "channels_last": config.channels_last,
        "devices": config.devices,
        "size": config.size,
        "clip_len": config.clip_len,
        "pretrained": config.pretrained,
        "hardware": metadata.get("hardware"),
        "wall_time_s": sum(r.get("time/epoch_s", 0.0) for r in rows) if rows else None,
    }
