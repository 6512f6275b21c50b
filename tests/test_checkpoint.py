"""Checkpoints: atomic writes that survive a failure half-way, and the load_trained_model
contract."""

from __future__ import annotations

import errno
import io
import shutil

import lightning.pytorch as pl
import pytest
import torch
from training_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

from gifemo.preprocess import PreprocessConfig
from gifemo.training.checkpoint import (
    CHECKPOINT_KEY,
    CheckpointError,
    find_checkpoint,
    load_trained_model,
    read_checkpoint,
)
from gifemo.training.checkpoint_io import AtomicCheckpointIO
from gifemo.training.config import TrainConfig
from gifemo.training.run_dir import read_labels


@pytest.fixture(scope="module")
def run(trained_run):
    return trained_run


# -- atomic writes ---------------------------------------------------------------------------


def test_checkpoint_write_failing_half_way_keeps_the_previous_file(tmp_path, monkeypatch):
    io_plugin = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    good = {"state_dict": {"w": torch.arange(1000.0)}, "epoch": 1}
    io_plugin.save_checkpoint(good, path)
    before = path.read_bytes()

    real_save = torch.save
    written = {}

    def save_half_then_fail(obj, handle, *args, **kwargs):
        # A real serialisation whose bytes stop half-way, as when the disk fills up.
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        handle.write(data[: len(data) // 2])
        written["bytes"] = len(data) // 2
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        io_plugin.save_checkpoint({"state_dict": {"w": torch.zeros(5000)}, "epoch": 2}, path)
    monkeypatch.setattr(torch, "save", real_save)

    assert written["bytes"] > 1000  # the failure really happened part-way through the file
    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("serialisation failed half-way")


class _PoisonCheckpoints(pl.Callback):
    """Every checkpoint gets a big tensor, then an object whose pickling fails."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        checkpoint["poison"] = {"tensor": torch.zeros(10_000), "bad": _Unpicklable()}


def test_failed_checkpoint_during_training_leaves_last_good_checkpoint(run, tmp_path):
    from gifemo.training.config import TrainConfig
    from gifemo.training.fit import train
    from gifemo.training.run_dir import CONFIG_FILE

    run_dir, _ = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = {
        name: (copy / "checkpoints" / name).read_bytes() for name in ("last.ckpt", "best.ckpt")
    }
    epochs_done = load_trained_model(copy, which="last").metadata["epochs_done"]

    # Resume for one more epoch; its checkpoint fails while being serialised.
    config = TrainConfig.load(copy / CONFIG_FILE).resume_with({"epochs": epochs_done + 1})
    with pytest.raises(RuntimeError, match="serialisation failed half-way"):
        train(config, copy, resume=True, callbacks=[_PoisonCheckpoints()], progress=False)

    for name, data in before.items():
        assert (copy / "checkpoints" / name).read_bytes() == data, name
    assert sorted(p.name for p in (copy / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    trained = load_trained_model(copy, which="last")
    assert trained.metadata["epochs_done"] == epochs_done


# -- load_trained_model --------------------------------------------------------------------


def test_load_trained_model_rebuilds_the_model_without_the_dataset(run, tmp_path):
    run_dir, _ = run
    # A checkpoint file on its own, away from the run dir and the data, is enough.
    lone = tmp_path / "model.ckpt"
    shutil.copy(run_dir / "checkpoints" / "best.ckpt", lone)
    trained = load_trained_model(lone)

    assert trained.checkpoint_path == lone
    assert trained.model_name == "resnet_convgru"
    assert trained.model_kwargs == {"hidden_dim": 16, "num_layers": 1, "head_hidden": 16}
    assert trained.labels == read_labels(run_dir)
    assert trained.preprocess == PreprocessConfig(size=64, clip_len=4)
    assert not trained.model.training
    assert all(p.device.type == "cpu" for p in trained.model.parameters())

    saved = read_checkpoint(lone)["state_dict"]
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(tensor, saved[f"model.{name}"]), name
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.inference_mode():
        assert trained.model(clip).shape == (2, len(trained.labels))

    meta = trained.metadata
    assert meta["config"]["model"] == "resnet_convgru"
    assert {"val/gif_acc", "val/clip_acc", "val/loss"} <= set(meta["metrics"])
    assert meta["epochs_done"] == meta["epoch"] + 1 >= 1


def test_run_dir_resolves_to_last_unless_best_was_chosen_on_a_validation_split(run, tmp_path):
    run_dir, _ = run
    # This run has no validation split: its best.ckpt was chosen on the test GIFs.
    assert TrainConfig.load(run_dir / "config.yaml").val_fraction == 0
    assert find_checkpoint(run_dir) == run_dir / "checkpoints" / "last.ckpt"
    assert load_trained_model(run_dir).checkpoint_path == run_dir / "checkpoints" / "last.ckpt"
    assert (
        load_trained_model(run_dir, which="best").checkpoint_path
        == run_dir / "checkpoints" / "best.ckpt"
    )
    with_val = tmp_path / "with_val"
    shutil.copytree(run_dir / "checkpoints", with_val / "checkpoints")
    TrainConfig.load(run_dir / "config.yaml").replace(val_fraction=0.1).save(
        with_val / "config.yaml"
    )
    assert find_checkpoint(with_val) == with_val / "checkpoints" / "best.ckpt"
    assert (
        load_trained_model(with_val, which="last").checkpoint_path
        == with_val / "checkpoints" / "last.ckpt"
    )
    last_only = tmp_path / "run"
    (last_only / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", last_only / "checkpoints" / "last.ckpt")
    assert find_checkpoint(last_only) == last_only / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match="best.ckpt"):
        find_checkpoint(last_only, which="best")


def test_unusable_checkpoints_give_errors_naming_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file or run directory"):
        load_trained_model(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="did its first epoch finish"):
        load_trained_model(tmp_path)

    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(
        CheckpointError, match=f"foreign.ckpt: not a gifemo checkpoint .*{CHECKPOINT_KEY}"
    ):
        load_trained_model(foreign)

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.ckpt: not a readable checkpoint"):
        load_trained_model(garbage)


def test_weights_that_do_not_fit_the_architecture_are_refused(run, tmp_path):
    run_dir, _ = run
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    checkpoint[CHECKPOINT_KEY]["model_kwargs"]["hidden_dim"] = 24
    edited = tmp_path / "edited.ckpt"
    torch.save(checkpoint, edited)
    with pytest.raises(
        CheckpointError, match="edited.ckpt: weights do not match model 'resnet_convgru'"
    ):
        load_trained_model(edited)


def test_a_moved_run_keeps_its_best_score_on_resume(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from gifemo.training.callbacks import RunCheckpoint

    def callback(cls, run):
        return cls(
            dirpath=tmp_path / run / "checkpoints",
            filename="best",
            monitor="val/gif_acc",
            mode="max",
        )

    old = callback(RunCheckpoint, "a")
    path = str(tmp_path / "a" / "checkpoints" / "best.ckpt")
    old.best_model_path = old.kth_best_model_path = path
    old.best_model_score = old.kth_value = torch.tensor(0.6)
    old.best_k_models = {path: torch.tensor(0.6)}
    state = old.state_dict()

    moved = callback(RunCheckpoint, "b")
    moved.load_state_dict(state)
    new_path = str(tmp_path / "b" / "checkpoints" / "best.ckpt")
    assert float(moved.best_model_score) == pytest.approx(0.6)
    assert moved.best_model_path == moved.kth_best_model_path == new_path
    assert list(moved.best_k_models) == [new_path]
    # What the subclass is for: Lightning's own callback forgets the score of a moved run.
    plain = callback(ModelCheckpoint, "b")
    with pytest.warns(UserWarning, match="dirpath has changed"):
        plain.load_state_dict(state)
    assert plain.best_model_score is None
