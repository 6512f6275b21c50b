"""Training: config and CLI contracts, a real run that learns, SIGKILL + resume, 2-process DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import torch
from training_helpers import (
    REPO,
    SMALL_CONVGRU,
    one_torch_thread,  # noqa: F401  (autouse fixture)
    start_training,
    steps_per_epoch,
    tiny_config,
    tiny_dataset,
    train_command,
)
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.training.checkpoint import load_trained_model, read_checkpoint
from gifemo.training.config import TrainConfig
from gifemo.training.fit import train
from gifemo.training.run_dir import read_history
from gifemo.training.sharding import ShardedEpochSampler


@pytest.fixture(scope="module")
def run(trained_run):
    return trained_run


# -- configuration ---------------------------------------------------------------------------


def test_defaults_are_the_papers_table_1(tmp_path):
    config = TrainConfig(data=str(tmp_path))
    assert (config.epochs, config.batch_size, config.lr, config.weight_decay) == (
        100,
        30,
        1e-4,
        1e-4,
    )
    assert (config.clip_len, config.size, config.model) == (4, 224, "resnet_convgru")
    # Table 1 says nothing of precision: the machine decides (tests/test_hardware.py).
    assert config.precision == "auto" and config.channels_last is None


def test_config_yaml_round_trip_and_resume_conflicts(tmp_path):
    config = TrainConfig(
        data=str(tmp_path), model_kwargs={"hidden_dim": [32, 16]}, lr=3e-4, size=112
    )
    loaded = TrainConfig.load(config.save(tmp_path / "config.yaml"))
    assert loaded == config

    same = loaded.resume_with(
        {"lr": 0.0003, "size": 112, "epochs": 150, "data": str(tmp_path / ".")}
    )
    assert same.epochs == 150 and same.lr == config.lr
    with pytest.raises(ValueError) as error:
        loaded.resume_with({"lr": 1e-3, "size": 64, "workers": 0})
    assert "--lr: saved 0.0003, given 0.001" in str(error.value)
    assert "--size: saved 112, given 64" in str(error.value)
    assert "workers" not in str(error.value).split("\n", 1)[1]


def test_cli_resume_with_a_conflicting_flag_is_refused(tmp_path):
    TrainConfig(data=str(tmp_path)).save(tmp_path / "config.yaml")
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path), "--batch-size", "8"])
    assert result.exit_code == 2
    assert "--batch-size: saved 30, given 8" in result.output


def test_cli_refuses_to_overwrite_a_run_and_16_mixed_on_cpu(tmp_path):
    (tmp_path / "run").mkdir()
    TrainConfig(data=str(tmp_path)).save(tmp_path / "run" / "config.yaml")
    result = CliRunner().invoke(
        app, ["train", str(tmp_path), "--out", str(tmp_path / "run"), "--accelerator", "cpu"]
    )
    assert result.exit_code == 2 and "--resume" in result.output
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(tmp_path),
            "--out",
            str(tmp_path / "new"),
            "--accelerator",
            "cpu",
            "--precision",
            "16-mixed",
        ],
    )
    assert result.exit_code == 2 and "16-mixed needs a CUDA GPU" in result.output


def test_sharded_sampler_splits_each_epoch_into_equal_disjoint_shares():
    whole = [i for i, _ in ShardedEpochSampler(10, seed=3)]
    shards = []
    for rank in range(3):
        sampler = ShardedEpochSampler(10, seed=3, rank=rank, world_size=3)
        sampler.set_epoch(0)
        shards.append(list(sampler))
    assert [len(s) for s in shards] == [4, 4, 4]
    assert all(epoch == 0 for shard in shards for _, epoch in shard)
    # Interleaving the shards gives back the epoch's order, padded with its first two keys.
    interleaved = [shard[j][0] for j in range(4) for shard in shards]
    assert interleaved == whole + whole[:2]
    moved = ShardedEpochSampler(10, seed=3)
    moved.set_epoch(1)
    assert [i for i, _ in moved] != whole


def test_channels_last_and_bf16_training_step_on_cpu():
    from gifemo.training.lightning_module import GifEmotionModule

    module = GifEmotionModule(
        model_name="resnet_convgru",
        model_kwargs=SMALL_CONVGRU,
        labels=["a", "b", "c"],
        preprocess={"size": 32, "clip_len": 4},
    )
    conv = module.model.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    clip, target = torch.randn(2, 4, 3, 32, 32), torch.tensor([0, 2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = module(clip)
    assert logits.dtype == torch.bfloat16 and logits.shape == (2, 3)
    torch.nn.functional.cross_entropy(logits.float(), target).backward()
    assert conv.grad is not None and torch.isfinite(conv.grad).all()


# -- a real run ------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_lowers_the_loss_beats_chance_and_fills_the_run_dir(run):
    from gifemo.evaluation.evaluate import evaluate_run

    run_dir, result = run
    names = {p.name for p in run_dir.iterdir()}
    assert names >= {
        "config.yaml",
        "labels.txt",
        "split.csv",
        "checkpoints",
        "metrics.csv",
        "logs",
        "predictions.csv",
        "report.json",
        "report.md",
        "confusion_matrix.png",
    }
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}
    assert TrainConfig.load(run_dir / "config.yaml").size == 64

    history = read_history(run_dir / "metrics.csv")
    assert [row["epoch"] for row in history] == list(range(8))
    first, last = history[0]["train/epoch_loss"], history[-1]["train/epoch_loss"]
    assert last < 0.85 * first, (first, last)

    best = max(row["val/gif_acc"] for row in history)
    assert read_checkpoint(run_dir / "checkpoints" / "best.ckpt")["gifemo"]["metadata"]["metrics"][
        "val/gif_acc"
    ] == pytest.approx(best)
    assert result.report["metrics"]["n_gifs"] == 7  # 1 of 6 GIFs per class held out

    # Chance is 1/7. Held-out accuracy on 7 synthetic GIFs after 8 short epochs from scratch is
    # too noisy to test; the GIFs the model trained on show whether it learned.
    report = evaluate_run(run_dir, split="train", which="last", progress=False)
    train_acc = report["metrics"]["accuracy"]
    assert report["metrics"]["n_gifs"] == 35
    assert train_acc["value"] >= 0.5 and train_acc["ci_low"] > 1 / 7, train_acc


@pytest.mark.slow
def test_run_killed_mid_epoch_and_resumed_ends_like_an_uninterrupted_run(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    data = tiny_dataset(base / "synth")
    # Workers, augmentation, dropout and per-epoch clip sampling: every source of randomness;
    # and a per-step learning-rate schedule, whose state must resume too.
    config = tiny_config(
        data,
        base / "cache",
        epochs=2,
        workers=1,
        augment=True,
        lr_schedule="onecycle",
        model_kwargs={**SMALL_CONVGRU, "dropout": 0.3},
    )
    steps = steps_per_epoch(config)
    pause_at = steps + 3  # mid-way through the second (and last) epoch
    work = tmp_path_factory.mktemp("resume")
    marker = work / "paused"
    killed = start_training(config, work / "killed", pause_at=pause_at, marker=marker)
    train(config, work / "straight", progress=False)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the child never reached the pause step"
        time.sleep(0.2)
    assert marker.read_text() == "epoch 1 batch 2\n"
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert load_trained_model(work / "killed", which="last").metadata["epochs_done"] == 1

    train(config, work / "killed", resume=True, progress=False)

    straight, resumed = (
        read_history(work / name / "metrics.csv") for name in ("straight", "killed")
    )
    assert straight[0]["step"] == steps
    drop_time = [{k: v for k, v in row.items() if k != "time/epoch_s"} for row in straight]
    assert [{k: v for k, v in row.items() if k != "time/epoch_s"} for row in resumed] == drop_time
    a, b = (
        read_checkpoint(work / name / "checkpoints" / "last.ckpt")
        for name in ("straight", "killed")
    )
    assert a["global_step"] == b["global_step"] == 2 * steps
    for key, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][key]), key
    assert len(list((work / "killed" / "logs").iterdir())) == 2  # one CSVLogger version per start


@pytest.mark.slow
def test_two_process_ddp_run_completes_and_its_checkpoint_loads(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    data = tiny_dataset(base / "synth")
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    command = train_command(data, run_dir, base / "cache", devices=2, lr="1e-3")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    trained = load_trained_model(run_dir)
    meta = trained.metadata
    assert meta["world_size"] == 2
    # Validation gathered both ranks' clips, each once: the 7 test GIFs and all their clips.
    report = json.loads((run_dir / "report.json").read_text())
    assert meta["metrics"]["val/n_gifs"] == report["metrics"]["n_gifs"] == 7
    assert meta["metrics"]["val/n_clips"] == report["metrics"]["n_clips"]
    # The ranks stepped together, each through its half of the training clips.
    config = TrainConfig.load(run_dir / "config.yaml")
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == steps_per_epoch(
        config, 2
    )
    with torch.inference_mode():
        assert trained.model(torch.randn(1, 4, 3, 32, 32)).shape == (1, 7)


def test_without_a_terminal_progress_is_one_line_per_epoch_not_a_bar(tmp_path, capsys):
    from gifemo.training.callbacks import EpochHistory
    from gifemo.training.fit import build_trainer

    config = TrainConfig(data=str(tmp_path), size=32, epochs=3)
    # Under pytest stdout is captured, as in `gifemo demo > log`: no bar, the history echoes
    # instead.
    trainer = build_trainer(
        config, tmp_path, accelerator="cpu", steps_per_epoch=1, callbacks=[], progress=True
    )
    history = next(c for c in trainer.callbacks if isinstance(c, EpochHistory))
    assert trainer.progress_bar_callback is None and history.echo
    quiet = build_trainer(
        config, tmp_path, accelerator="cpu", steps_per_epoch=1, callbacks=[], progress=False
    )
    assert not next(c for c in quiet.callbacks if isinstance(c, EpochHistory)).echo

    row = {
        "epoch": 1,
        "step": 20,
        "train/epoch_loss": 1.7123,
        "train/epoch_acc": 0.3011,
        "val/loss": 1.8,
        "val/gif_acc": 0.25,
        "time/epoch_s": 37.8,
    }
    assert EpochHistory.describe(row, 3) == (
        "epoch 2/3: train loss 1.712 acc 0.301 | val loss 1.800 GIF acc 0.250 | 38 s"
    )


def test_onecycle_schedule_warms_up_then_anneals_over_the_whole_run(tmp_path_factory):
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, onecycle"):
        TrainConfig(data=".", lr_schedule="cosine")
    base = tmp_path_factory.getbasetemp()
    config = tiny_config(
        tiny_dataset(base / "synth"), base / "cache", epochs=2, lr=1e-3, lr_schedule="onecycle"
    )
    run_dir = tmp_path_factory.mktemp("onecycle") / "run"
    train(config, run_dir, progress=False)
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    steps = 2 * steps_per_epoch(config)
    (schedule,) = checkpoint["lr_schedulers"]
    assert schedule["total_steps"] == schedule["last_epoch"] == steps  # stepped per batch
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["max_lr"] == 1e-3
    # Annealed below where the warm-up started (max_lr / 25), not left at the peak.
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["lr"] < 1e-3 / 25
    assert TrainConfig.load(run_dir / "config.yaml").lr_schedule == "onecycle"


def test_val_every_validates_every_nth_epoch_and_still_checkpoints_each(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    config = tiny_config(tiny_dataset(base / "synth"), base / "cache", epochs=3, val_every=2)
    run_dir = tmp_path_factory.mktemp("val-every") / "run"
    train(config, run_dir, progress=False)

    history = read_history(run_dir / "metrics.csv")
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert [("val/gif_acc" in row) for row in history] == [False, True, False]
    assert all(row["train/epoch_loss"] > 0 and row["time/epoch_s"] > 0 for row in history)
    last = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["gifemo"]["metadata"]
    assert last["epochs_done"] == 3 and "train/epoch_loss" in last["metrics"]
    best = read_checkpoint(run_dir / "checkpoints" / "best.ckpt")["gifemo"]["metadata"]
    assert best["epochs_done"] == 2  # the only validated epoch
