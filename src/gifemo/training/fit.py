"""``train(config, run_dir)``: one Lightning run, from a dataset to a run dir with a report.

Run dir layout::

    config.yaml              the resolved TrainConfig
    labels.txt               the label set, one per line, in class-index order
    split.csv                the GIF-level split (path, label, split, sha256)
    checkpoints/last.ckpt    written at the end of every epoch
    checkpoints/best.ckpt    the epoch with the highest val/gif_acc so far
    metrics.csv              one row per finished epoch (train/val loss and accuracy, time)
    logs/version_N/          Lightning's CSVLogger, per step, one version per (re)start
    tensorboard/             with --tensorboard
    predictions.csv, report.json, report.md, confusion_matrix.png   the final evaluation

Resumption (``resume=True``) restarts from ``checkpoints/last.ckpt``, written at the end of an
epoch: an epoch interrupted by a kill is redone from its start. Because every random draw of an
epoch is a function of ``(seed, epoch)`` (clip sampling, shuffling, augmentation) or of
``(seed, global step, rank)`` (dropout), the redone epoch is the one the killed process was
running, and the run ends with the same weights and metrics as an uninterrupted one (same
hardware, thread count and software).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.hardware import ComputeChoice, resolve_compute
from gifemo.training.checkpoint import BEST_NAME, CHECKPOINT_DIR, LAST_NAME, checkpoint_paths
from gifemo.training.config import TrainConfig

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "metrics.csv"
LOG_DIR = "logs"
TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class FitResult:
    """What :func:`train` leaves behind (on the global rank zero process)."""

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    val_metrics: dict[str, float]
    report: dict[str, Any] | None


def launch_rank() -> int:
    """This process's global rank as set by a DDP launcher (0 for a plain process)."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def resolve_accelerator(config: TrainConfig) -> str:
    """``"cpu"`` or ``"gpu"``; raises ``ValueError`` for ``--accelerator gpu`` without CUDA."""
    import torch

    accelerator = config.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("--accelerator gpu: no CUDA device is available (use --accelerator cpu)")
    return accelerator


def resolve_config(config: TrainConfig) -> tuple[TrainConfig, str, ComputeChoice]:
    """``config`` with ``precision``/``channels_last`` resolved for the machine that trains it,
    the accelerator, and the choice made (with its reason). Raises ``ValueError`` for a setting
    the machine cannot run (``16-mixed`` without CUDA)."""
    accelerator = resolve_accelerator(config)
    choice = resolve_compute(
        config.precision, config.channels_last, device="cuda" if accelerator == "gpu" else "cpu"
    )
    return config.replace(precision=choice.precision, channels_last=choice.channels_last), accelerator, choice


def read_labels(run_dir: str | Path) -> tuple[str, ...]:
    path = Path(run_dir) / LABELS_FILE
    return tuple(line for line in path.read_text(encoding="utf-8").splitlines() if line)


def check_run_dir(run_dir: Path, *, resume: bool) -> None:
    """Refuse to start a fresh run in a directory that holds anything."""
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        hint = f"resume it with `gifemo train --resume {run_dir}`" if (run_dir / CONFIG_FILE).exists() else ""
        raise FileExistsError(f"{run_dir}: not empty, refusing to overwrite a run; {hint or 'use a new --out'}")


def load_run_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The saved config of a run to resume, with the allowed ``overrides`` applied."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {CONFIG_FILE}, not a gifemo run directory")
    return TrainConfig.load(path).resume_with(overrides or {}, source=str(run_dir))


def training_summary(run_dir: Path, config: TrainConfig, metadata: dict[str, Any]) -> dict[str, Any]:
    """The training facts a report states: schedule, optimisation, hardware, wall time."""
    from gifemo.training.callbacks import read_history

    history_path = run_dir / HISTORY_FILE
    rows = read_history(history_path) if history_path.is_file() else []
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


def build_datamodule(config: TrainConfig, run_dir: Path, *, resume: bool, rank: int, progress: bool):
    """The data pipeline of a run, set up; a resumed run reuses its saved split and label order."""
    from gifemo.training.sharding import TrainingDataModule

    saved_split = run_dir / SPLIT_FILE
    reuse = resume and saved_split.is_file()
    datamodule = TrainingDataModule(
        config.data,
        size=config.size,
        clip_len=config.clip_len,
        batch_size=config.batch_size,
        workers=config.workers,
        seed=config.seed,
        test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
        max_clips_per_gif=config.max_clips_per_gif,
        augment=config.augment,
        cache_dir=config.cache_dir,
        split_csv=saved_split if reuse else None,
        run_dir=run_dir if rank == 0 else None,
        labels=read_labels(run_dir) if reuse and (run_dir / LABELS_FILE).is_file() else None,
        progress=progress and rank == 0,
    )
    datamodule.setup("fit")
    if not len(datamodule.datasets["val"]):
        raise ValueError(f"{config.data}: the validation split holds no clip (too few GIFs per class?)")
    return datamodule


def build_trainer(
    config: TrainConfig, run_dir: Path, *, accelerator: str, steps_per_epoch: int, callbacks: list, progress: bool
):
    """The Lightning Trainer of a run: checkpoints, loggers, precision, DDP."""
    if config.precision == "auto":
        config, _, _ = resolve_config(config)
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    from gifemo.training.callbacks import EpochHistory, RunCheckpoint
    from gifemo.training.checkpoint_io import AtomicCheckpointIO
    from gifemo.training.lightning_module import MONITOR

    ckpt_dir = run_dir / CHECKPOINT_DIR
    # Both save at the end of each training epoch (after its validation, if any), also when
    # val_every > 1, where Lightning would otherwise defer saving to validation ends.
    best = RunCheckpoint(
        dirpath=ckpt_dir, filename=BEST_NAME, monitor=MONITOR, mode="max", save_top_k=1,
        auto_insert_metric_name=False, enable_version_counter=False, save_on_train_epoch_end=True,
    )
    # A second, unmonitored callback writes last.ckpt every epoch: ModelCheckpoint(save_last=True)
    # only refreshes it in epochs where the top-k checkpoint changed.
    last = RunCheckpoint(
        dirpath=ckpt_dir, filename=LAST_NAME, monitor=None, save_top_k=1, every_n_epochs=1,
        enable_version_counter=False, save_on_train_epoch_end=True,
    )
    loggers: list = [CSVLogger(save_dir=run_dir, name=LOG_DIR)]
    # A progress bar written into a log file is noise: there, one line per epoch instead.
    bar = progress and sys.stdout.isatty()  # where Lightning's bar writes
    if config.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run_dir, name=TENSORBOARD_DIR))
    strategy: Any = "auto"
    if config.devices > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="gloo" if accelerator == "cpu" else "nccl")
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=config.epochs,
        check_val_every_n_epoch=config.val_every,
        accelerator=accelerator,
        devices=config.devices,
        strategy=strategy,
        precision=config.precision,
        logger=loggers,
        # ModelCheckpoint callbacks run after the others: the history row is in the checkpoint.
        callbacks=[EpochHistory(run_dir / HISTORY_FILE, echo=progress and not bar), best, last, *callbacks],
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # TrainingDataModule shards by rank itself
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
        enable_progress_bar=bar,
        enable_model_summary=progress,
    )


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: list | None = None,
    progress: bool = True,
    evaluate: bool = True,
) -> FitResult | None:
    """Train ``config`` into ``run_dir`` (or continue it, ``resume=True``), then evaluate.

    With ``devices > 1`` Lightning's DDP launcher re-runs the calling command once per extra
    rank (the ``gifemo train`` command line; from Python, the calling script), so call this from
    a script or the CLI, not from an interactive session. Returns the :class:`FitResult` on
    global rank zero and ``None`` on the other ranks.
    """
    import lightning.pytorch as pl
    import torch

    from gifemo.training.lightning_module import GifEmotionModule

    run_dir = Path(run_dir).expanduser().resolve()
    config, accelerator, choice = resolve_config(config)
    if config.tensorboard and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ValueError("--tensorboard needs the tensorboard package: pip install tensorboard")
    rank = launch_rank()
    if rank == 0:
        check_run_dir(run_dir, resume=resume)
        print(f"gifemo: training on {accelerator}, {choice.describe()}", file=sys.stderr, flush=True)
    if accelerator == "gpu":
        torch.set_float32_matmul_precision("high")
    elif config.devices > 1:
        # N processes on one CPU: share the cores instead of oversubscribing them N times.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // config.devices))
    pl.seed_everything(config.seed, workers=True, verbose=False)

    datamodule = build_datamodule(config, run_dir, resume=resume, rank=rank, progress=progress)
    labels = datamodule.labels
    if rank == 0:
        # Written once the data is known to load, so a typo in DATA leaves no half-made run.
        config.save(run_dir / CONFIG_FILE)
        atomic_write_text(run_dir / LABELS_FILE, "".join(f"{label}\n" for label in labels))
    module = GifEmotionModule(
        model_name=config.model,
        model_kwargs=config.model_kwargs,
        labels=labels,
        preprocess=datamodule.preprocess.to_dict(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        # A resumed run takes every weight from its checkpoint.
        pretrained=None if resume else config.pretrained,
        channels_last=config.channels_last,
        seed=config.seed,
        run_config=config.to_dict(),
        compute=choice.to_dict(),
    )
    steps = math.ceil(len(datamodule.datasets["train"]) / config.devices / config.batch_size)
    trainer = build_trainer(
        config, run_dir, accelerator=accelerator, steps_per_epoch=steps, callbacks=callbacks or [],
        progress=progress,
    )
    last_ckpt = checkpoint_paths(run_dir)[LAST_NAME]
    ckpt_path = last_ckpt if resume and last_ckpt.is_file() else None
    if resume and ckpt_path is None:
        log.warning("%s: no %s yet (killed during the first epoch); starting over", run_dir, last_ckpt.name)
    with warnings.catch_warnings():
        # Resuming into the run's own checkpoint directory is the point, not a mistake.
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        # Lightning 2.6 calls a torch API that torch 2.14 deprecated; nothing a user can act on.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        if config.val_every > 1:
            # best.ckpt skips the epochs that do not validate, as it should.
            warnings.filterwarnings("ignore", message=r".*could not find the monitored key")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)

    if not trainer.is_global_zero:
        return None
    report = None
    if evaluate:
        from gifemo.evaluation.evaluate import evaluate_run

        # In the run's own precision, so that the report restates its last validation.
        report = evaluate_run(run_dir, precision=config.precision, progress=progress)
    paths = checkpoint_paths(run_dir)
    return FitResult(
        run_dir=run_dir,
        best_checkpoint=paths[BEST_NAME] if paths[BEST_NAME].is_file() else None,
        last_checkpoint=paths[LAST_NAME] if paths[LAST_NAME].is_file() else None,
        val_metrics={k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")},
        report=report,
    )
