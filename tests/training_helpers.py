"""Shared pieces of the training, checkpoint and evaluation tests.

* :func:`tiny_dataset`: a small built-in synthetic dataset (7 classes), generated once per session.
* :func:`tiny_config`: a :class:`TrainConfig` small enough for 2 CPU cores.
* :func:`build_trained_run`: one 64 px training run, shared by every test module that needs a
  trained model (the session fixture ``trained_run`` of ``conftest.py`` builds it once).
* :func:`start_training` / ``python training_helpers.py JSON``: training in a child process, which a
  test can pause at a given step (:class:`PauseAtStep`) and kill with a real ``SIGKILL``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest

REPO = Path(__file__).resolve().parents[1]

#: Small model kwargs for the paper's model: one ConvGRU layer of 16 channels, a 16-wide head.
SMALL_CONVGRU = {"hidden_dim": 16, "num_layers": 1, "head_hidden": 16}

_SESSION: dict[str, Any] = {}


def tiny_dataset(
    root: Path, *, per_class: int = 6, size: int = 64, seed: int = 0, difficulty: float = 0.0
) -> Path:
    """``root/<label>/*.gif``: ``per_class`` GIFs of each of the paper's seven emotions."""
    key = ("dataset", str(root), per_class, size, seed, difficulty)
    if key not in _SESSION:
        from typer.testing import CliRunner

        from gifemo.cli import app

        result = CliRunner().invoke(
            app,
            [
                "data",
                "synth",
                str(root),
                "--per-class",
                str(per_class),
                "--size",
                str(size),
                "--seed",
                str(seed),
                "--difficulty",
                difficulty,
            ],
        )
        assert result.exit_code == 0, result.output
        _SESSION[key] = root
    return _SESSION[key]


def tiny_config(data: Path, cache_dir: Path, **overrides: Any):
    """A run of a few seconds per epoch on 2 cores: 32 px, 2 clips per GIF, small ConvGRU, float32
    (bfloat16 is emulated, 7-100x slower, on CPUs without native bf16)."""
    from gifemo.training.config import TrainConfig

    values: dict[str, Any] = dict(
        data=str(data),
        model="resnet_convgru",
        model_kwargs=dict(SMALL_CONVGRU),
        epochs=3,
        batch_size=8,
        lr=5e-4,
        size=32,
        max_clips_per_gif=2,
        workers=0,
        precision="32",
        accelerator="cpu",
        cache_dir=str(cache_dir),
    )
    values.update(overrides)
    return TrainConfig(**values)


def train_command(data: Path, run_dir: Path, cache_dir: Path, **flags: Any) -> list[str]:
    """The ``gifemo train`` command line of a tiny run (as :func:`tiny_config`: 32 px, the small
    ConvGRU, float32, 1 epoch, 2 clips per GIF); ``flags`` add or replace options
    (``devices=2`` -> ``--devices 2``)."""
    settings = {
        "accelerator": "cpu",
        "epochs": 1,
        "size": 32,
        "batch_size": 8,
        "max_clips_per_gif": 2,
        "workers": 0,
        "precision": "32",
        "cache_dir": cache_dir,
        **flags,
    }
    command = [sys.executable, str(Path(sys.executable).parent / "gifemo"), "train", str(data)]
    command += ["--out", str(run_dir), "--no-progress"]
    for name, value in settings.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    if "model_kwargs" not in flags:
        for key, value in SMALL_CONVGRU.items():
            command += ["--model-kwargs", f"{key}={value}"]
    return command


def build_trained_run(base: Path):
    """The shared 64 px run (see the module docstring): ``(run_dir, FitResult)``."""
    from gifemo.evaluation import train_and_evaluate

    data = tiny_dataset(base / "synth")
    config = tiny_config(data, base / "cache", size=64, epochs=8)
    run_dir = base / "run64"
    return run_dir, train_and_evaluate(config, run_dir, progress=False)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Autouse in the training test modules (import it there): every test on one torch thread."""
    with one_thread():
        yield


@contextlib.contextmanager
def one_thread():
    """One torch thread: on 2 cores shared with other jobs, more threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def steps_per_epoch(config, world_size: int = 1) -> int:
    """Optimizer steps per epoch of ``config`` on ``world_size`` ranks (an equal share each)."""
    from gifemo.data.datamodule import GifDataModule

    data = GifDataModule(
        config.data,
        size=config.size,
        clip_len=config.clip_len,
        seed=config.seed,
        test_fraction=config.test_fraction,
        max_clips_per_gif=config.max_clips_per_gif,
        cache_dir=config.cache_dir,
        progress=False,
    )
    data.setup("fit")
    per_rank = math.ceil(len(data.datasets["train"]) / world_size)
    return math.ceil(per_rank / config.batch_size)


class StepLosses(pl.Callback):
    """Every optimisation step's training loss, in order (to compare two runs' curves)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


class PauseAtStep(pl.Callback):
    """After optimizer step ``step``, write ``marker`` and wait there to be killed."""

    def __init__(self, step: int, marker: str | Path) -> None:
        self.step = step
        self.marker = Path(marker)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self.marker.write_text(f"epoch {trainer.current_epoch} batch {batch_idx}\n")
            time.sleep(600)


def start_training(
    config,
    run_dir: Path,
    *,
    resume: bool = False,
    pause_at: int | None = None,
    marker: Path | None = None,
) -> subprocess.Popen:
    """Train in a child process (one torch thread, so that runs are bit-for-bit comparable)."""
    payload = json.dumps(
        {
            "config": config.to_dict(),
            "run_dir": str(run_dir),
            "resume": resume,
            "pause_at": pause_at,
            "marker": str(marker) if marker else None,
        }
    )
    return start_child(__file__, payload)


def start_child(script: str | Path, payload: str) -> subprocess.Popen:
    """``python script payload`` with this tree's ``src`` on the path and one OpenMP thread; its
    output (stdout and stderr together) in ``.stdout``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, str(script), payload],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _child(payload: str) -> None:
    import torch

    from gifemo.evaluation import train_and_evaluate
    from gifemo.training.config import TrainConfig

    torch.set_num_threads(1)
    args = json.loads(payload)
    callbacks = (
        [PauseAtStep(args["pause_at"], args["marker"])] if args["pause_at"] is not None else []
    )
    train_and_evaluate(
        TrainConfig.from_dict(args["config"]),
        Path(args["run_dir"]),
        resume=args["resume"],
        callbacks=callbacks,
        progress=False,
    )


if __name__ == "__main__":
    _child(sys.argv[1])


#: The explain tests' classes: two expressions the face alone tells apart (a smile; raised brows
#: and an open mouth), so that a model trained for seconds has to look at the face.
EXPLAIN_LABELS = ("happiness", "surprise")


def build_explain_run(base: Path, *, n_specs: int = 3, max_frames: int = 12):
    """``(run_dir, data_dir, specs)``: a 64 px run on :data:`EXPLAIN_LABELS`, trained with a
    validation split (so training ends calibrated), and ``n_specs`` of its test GIFs of at most
    ``max_frames`` frames (the cheap ones to explain): ``{"path", "label"}`` each."""
    import csv

    from gifemo.data.split import load_split
    from gifemo.data.synth import generate_dataset
    from gifemo.evaluation import train_and_evaluate

    data = base / "synth-explain"
    generate_dataset(
        data, per_class=24, size=64, seed=0, difficulty=0.0, workers=1, labels=EXPLAIN_LABELS
    )
    config = tiny_config(data, base / "cache", size=64, epochs=10, lr=1e-3, val_fraction=0.2)
    run_dir = base / "run-explain"
    train_and_evaluate(config, run_dir, progress=False)
    test = {path for path, _, side, _ in load_split(run_dir / "split.csv").rows if side == "test"}
    specs = []
    with open(data / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["path"] in test and int(row["frames"]) <= max_frames and len(specs) < n_specs:
                specs.append({"path": row["path"], "label": row["label"]})
    return run_dir, data, specs
