"""Callbacks specific to gifemo runs."""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint

from gifemo.atomic import atomic_write_text

#: Columns of ``RUN_DIR/metrics.csv`` (one row per finished epoch), in order.
HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "step",
    "train/epoch_loss",
    "train/epoch_acc",
    "val/loss",
    "val/clip_acc",
    "val/gif_acc",
    "time/epoch_s",
)


#: The validation columns, filled in epochs that validated (every ``val_every``-th).
VAL_COLUMNS: tuple[str, ...] = ("val/loss", "val/clip_acc", "val/gif_acc")


class EpochHistory(pl.Callback):
    """Keeps one row of metrics per finished epoch and rewrites ``path`` (CSV) after each.

    :func:`gifemo.training.run_dir.read_history` reads the file back.

    A row is made at the end of its training epoch (after that epoch's validation, if it had
    one): training loss and accuracy from the module's running metrics, the validation metrics
    of that epoch or empty cells, and the epoch's wall time, validation included. The rows
    travel in the checkpoints (callback state), so after ``--resume`` the table holds exactly the
    epochs of the checkpoint it resumed from, then the ones that follow: an epoch interrupted by
    a kill and redone appears once. Lightning's CSVLogger (``RUN_DIR/logs``) keeps the per-step
    detail of every attempt.
    """

    def __init__(self, path: str | Path, *, echo: bool = False) -> None:
        self.path = Path(path)
        self.echo = echo  # also print each row: the progress of a run whose output is a log file
        self.rows: list[dict[str, float | int]] = []
        self._started = time.perf_counter()
        self._validated: dict[str, float] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After a resume: drop rows of epochs the restored checkpoint had not reached.
        if trainer.is_global_zero and self.rows:
            self.write()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()
        self._validated = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            metrics = trainer.callback_metrics
            self._validated = {key: float(metrics[key]) for key in VAL_COLUMNS if key in metrics}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Called before the checkpoint callbacks (Lightning runs those last): the epoch's
        # checkpoint holds its row.
        row: dict[str, float | int] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        epoch_metrics = getattr(pl_module, "train_epoch_metrics", dict)()
        row.update({key: float(value) for key, value in epoch_metrics.items()})
        row.update(self._validated)
        row["time/epoch_s"] = time.perf_counter() - self._started
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        if trainer.is_global_zero:
            self.write()
            if self.echo:
                print(self.describe(row, trainer.max_epochs), file=sys.stderr, flush=True)

    @staticmethod
    def describe(row: dict[str, float | int], max_epochs: int | None) -> str:
        """One line for a row: ``epoch 3/8: train loss 1.712 acc 0.301 | val loss ... | 38 s``."""
        names = {
            "train/epoch_loss": "train loss",
            "train/epoch_acc": "acc",
            "val/loss": "| val loss",
            "val/clip_acc": "clip acc",
            "val/gif_acc": "GIF acc",
        }
        parts = [f"epoch {int(row['epoch']) + 1}/{max_epochs}:"]
        parts += [f"{name} {row[key]:.3f}" for key, name in names.items() if key in row]
        if "time/epoch_s" in row:
            parts.append(f"| {row['time/epoch_s']:.0f} s")
        return " ".join(parts)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def write(self) -> None:
        atomic_write_text(self.path, self.to_csv())

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]


class RunCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` whose state survives moving or copying the run dir.

    Lightning stores absolute checkpoint paths and, when the directory changed, forgets the best
    score, so a resumed run would take its next epoch as the best whatever its score. Here paths
    saved under another directory are rebased onto this one by file name.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and os.path.abspath(old) != os.path.abspath(self.dirpath):
            state_dict = dict(state_dict, dirpath=self.dirpath)
            for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
                if state_dict.get(key):
                    state_dict[key] = self._rebase(state_dict[key])
            if "best_k_models" in state_dict:
                state_dict["best_k_models"] = {
                    self._rebase(k): v for k, v in state_dict["best_k_models"].items()
                }
        super().load_state_dict(state_dict)

    def _rebase(self, path: str) -> str:
        return os.path.join(self.dirpath, os.path.basename(path))
