"""``train(config, run_dir)``: one Lightning run, from a dataset to a run dir.

The run dir's layout is :mod:`gifemo.training.run_dir`'s. ``train`` leaves its checkpoints,
``config.yaml``, ``labels.txt``, ``split.csv`` and ``metrics.csv`` there; the test report is
:func:`gifemo.evaluation.train_and_evaluate`'s (``gifemo train`` calls that).

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

from gifemo.hardware import ComputeChoice, resolve_compute
from gifemo.training.config import TrainConfig
from gifemo.training.run_dir import (
    BEST_NAME,
    LAST_NAME,
    LOG_DIR,
    TENSORBOARD_DIR,
    RunDir,
    check_run_dir,
    read_labels,
    write_labels,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    """What :func:`train` leaves behind (on the global rank zero process).

    ``config`` is the run's config as trained, ``precision`` and ``channels_last`` resolved for
    the machine. ``report`` is the test report of :func:`gifemo.evaluation.train_and_evaluate`
    (``None`` from :func:`train` alone).
    """

    run_dir: Path
    config: TrainConfig
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    val_metrics: dict[str, float]
    report: dict[str, Any] | None = None


def launch_rank(devices: int = 1) -> int:
    """This process's global rank as set by a DDP launcher (0 for a plain process), read from
    the environment Lightning will use (known before the Trainer exists).

    torchrun sets ``RANK`` and srun ``SLURM_PROCID`` (both global); Lightning's own launcher
    and a hand-made multi-node launch set ``NODE_RANK`` and ``LOCAL_RANK``, for a global rank
    of ``NODE_RANK * devices + LOCAL_RANK`` with ``devices`` processes per node (also inside an
    interactive SLURM allocation, where Lightning does not use SLURM's variables).
    """
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect():
        return int(os.environ["RANK"])
    if SLURMEnvironment.detect():
        return int(os.environ["SLURM_PROCID"])
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))
    return node * devices + int(os.environ.get("LOCAL_RANK", 0))


def world_size(config: TrainConfig) -> int:
    """DDP processes of a run: ``devices`` on each of ``num_nodes`` machines."""
    return config.devices * config.num_nodes


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
    from gifemo.models.compilation import resolve_compile

    accelerator = resolve_accelerator(config)
    device = "cuda" if accelerator == "gpu" else "cpu"
    choice = resolve_compute(config.precision, config.channels_last, device=device)
    compiled, _ = resolve_compile(config.compile, device)
    return (
        config.replace(
            precision=choice.precision,
            channels_last=choice.channels_last,
            compile=compiled,
            device_transforms=(
                device == "cuda" if config.device_transforms is None else config.device_transforms
            ),
        ),
        accelerator,
        choice,
    )


def build_datamodule(
    config: TrainConfig, run_dir: Path, *, resume: bool, rank: int, progress: bool
):
    """The data pipeline of a run, set up; a resumed run reuses its saved split and label order."""
    from gifemo.training.sharding import TrainingDataModule

    run = RunDir(run_dir)
    saved_split = run.split_file
    reuse = resume and saved_split.is_file()
    datamodule = TrainingDataModule.from_config(
        config,
        split_csv=saved_split if reuse else None,
        save_split=saved_split if rank == 0 else None,
        labels=read_labels(run_dir) if reuse and run.labels_file.is_file() else None,
        progress=progress and rank == 0,
    )
    datamodule.setup("fit")
    if not len(datamodule.datasets["val"]):
        raise ValueError(
            f"{config.data}: the validation split holds no clip (too few GIFs per class?)"
        )
    return datamodule


def build_trainer(
    config: TrainConfig,
    run_dir: Path,
    *,
    accelerator: str,
    steps_per_epoch: int,
    callbacks: list,
    progress: bool,
):
    """The Lightning Trainer of a run: checkpoints, loggers, precision, DDP."""
    if config.precision == "auto":
        config, _, _ = resolve_config(config)
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    from gifemo.training.callbacks import EpochHistory, RunCheckpoint
    from gifemo.training.checkpoint_io import AtomicCheckpointIO
    from gifemo.training.lightning_module import MONITOR

    run = RunDir(run_dir)
    ckpt_dir = run.checkpoint_dir
    # Both save at the end of each training epoch (after its validation, if any), also when
    # val_every > 1, where Lightning would otherwise defer saving to validation ends.
    best = RunCheckpoint(
        dirpath=ckpt_dir,
        filename=BEST_NAME,
        monitor=MONITOR,
        mode="max",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    # A second, unmonitored callback writes last.ckpt every epoch: ModelCheckpoint(save_last=True)
    # only refreshes it in epochs where the top-k checkpoint changed.
    last = RunCheckpoint(
        dirpath=ckpt_dir,
        filename=LAST_NAME,
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    loggers: list = [CSVLogger(save_dir=run_dir, name=LOG_DIR)]
    # A progress bar written into a log file is noise: there, one line per epoch instead.
    bar = progress and sys.stdout.isatty()  # where Lightning's bar writes
    if config.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run_dir, name=TENSORBOARD_DIR))
    strategy: Any = "auto"
    if world_size(config) > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="gloo" if accelerator == "cpu" else "nccl")
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=config.epochs,
        check_val_every_n_epoch=config.val_every,
        accelerator=accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=strategy,
        precision=config.precision,
        logger=loggers,
        # ModelCheckpoint callbacks run after the others: the history row is in the checkpoint.
        callbacks=[
            EpochHistory(run.history_file, echo=progress and not bar),
            best,
            last,
            *callbacks,
        ],
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
) -> FitResult | None:
    """Train ``config`` into ``run_dir`` (or continue it, ``resume=True``).

    :func:`gifemo.evaluation.train_and_evaluate` also writes the test report afterwards.

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
    if config.tensorboard and not any(
        importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")
    ):
        raise ValueError("--tensorboard needs the tensorboard package: pip install tensorboard")
    rank = launch_rank(config.devices)
    if rank == 0:
        check_run_dir(run_dir, resume=resume)
        compiled = ", compiled (torch.compile)" if config.compile else ""
        print(
            f"gifemo: training on {accelerator}, {choice.describe()}{compiled}",
            file=sys.stderr,
            flush=True,
        )
    if accelerator == "gpu":
        torch.set_float32_matmul_precision("high")
    elif config.devices > 1:
        # N processes on one CPU: share the cores instead of oversubscribing them N times.
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
        torch.set_num_threads(max(1, cores // config.devices))
    pl.seed_everything(config.seed, workers=True, verbose=False)

    datamodule = build_datamodule(config, run_dir, resume=resume, rank=rank, progress=progress)
    labels = datamodule.labels
    if rank == 0:
        # Written once the data is known to load, so a typo in DATA leaves no half-made run.
        config.save(RunDir(run_dir).config_file)
        write_labels(run_dir, labels)
    module = GifEmotionModule(
        model_name=config.model,
        model_kwargs=config.model_kwargs,
        labels=labels,
        preprocess=datamodule.preprocess.to_dict(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        lr_schedule=config.lr_schedule,
        # A resumed run takes every weight from its checkpoint.
        pretrained=None if resume else config.pretrained,
        channels_last=config.channels_last,
        compile=config.compile,
        seed=config.seed,
        run_config=config.to_dict(),
        compute=choice.to_dict(),
    )
    steps = math.ceil(len(datamodule.datasets["train"]) / world_size(config) / config.batch_size)
    trainer = build_trainer(
        config,
        run_dir,
        accelerator=accelerator,
        steps_per_epoch=steps,
        callbacks=callbacks or [],
        progress=progress,
    )
    last_ckpt = RunDir(run_dir).checkpoint(LAST_NAME)
    ckpt_path = last_ckpt if resume and last_ckpt.is_file() else None
    if resume and ckpt_path is None:
        log.warning(
            "%s: no %s yet (killed during the first epoch); starting over", run_dir, last_ckpt.name
        )
    with warnings.catch_warnings():
        # Resuming into the run's own checkpoint directory is the point, not a mistake.
        warnings.filterwarnings(
            "ignore", message=r"Checkpoint directory .* exists and is not empty"
        )
        # Lightning 2.6 calls a torch API that torch 2.14 deprecated; nothing a user can act on.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        # The module's on_after_batch_transfer (device transforms) is meant to win over the
        # DataModule, as Lightning says it does.
        warnings.filterwarnings("ignore", message=r".*overridden `on_after_batch_transfer`")
        if config.val_every > 1:
            # best.ckpt skips the epochs that do not validate, as it should.
            warnings.filterwarnings("ignore", message=r".*could not find the monitored key")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)

    if not trainer.is_global_zero:
        return None
    best, last = (RunDir(run_dir).checkpoint(name) for name in (BEST_NAME, LAST_NAME))
    return FitResult(
        run_dir=run_dir,
        config=config,
        best_checkpoint=best if best.is_file() else None,
        last_checkpoint=last if last.is_file() else None,
        val_metrics={
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")
        },
    )
