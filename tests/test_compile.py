"""``--compile``: torch.compile (inductor) for training and prediction, off by default on CPU.

A compiled run must follow the eager run's loss curve on a fixed seed, and a compiled predictor
must give the eager predictor's probabilities. The two tests that compile are slow: inductor
takes tens of seconds on 2 cores, even for the tiny model.
"""

from __future__ import annotations

import numpy as np
import pytest
from predict_helpers import tiny_trained_model, write_test_gif
from training_helpers import (  # noqa: F401  (one_torch_thread: autouse fixture)
    StepLosses,
    one_torch_thread,
    tiny_config,
    tiny_dataset,
)
from typer.testing import CliRunner

import gifemo
from gifemo.cli import app
from gifemo.models import compilation
from gifemo.models.compilation import resolve_compile
from gifemo.training.checkpoint import load_trained_model
from gifemo.training.config import TrainConfig
from gifemo.training.fit import resolve_config, train


def test_auto_is_off_and_an_explicit_choice_wins(monkeypatch):
    assert resolve_compile(None, "cpu")[0] is False
    assert resolve_compile(None, "cuda:0")[0] is False
    assert resolve_compile(True, "cpu") == (True, "as asked")
    assert resolve_compile(False, "cuda")[0] is False
    monkeypatch.setattr(compilation.shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="needs a C\\+\\+ compiler"):
        resolve_compile(True, "cpu")
    assert resolve_compile(True, "cuda")[0] is True  # triton, no host compiler


def test_each_cpu_kind_gets_its_own_inductor_cache(monkeypatch):
    import torch

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    kind = torch.backends.cpu.get_cpu_capability().lower()
    assert compilation.use_cache_per_cpu_kind().endswith(f"-{kind}")
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())  # inductor's own doing
    assert compilation.use_cache_per_cpu_kind().endswith(f"-{kind}")
    assert cache_dir().endswith(f"-{kind}")  # where inductor now writes
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/mine")
    assert compilation.use_cache_per_cpu_kind() == "/tmp/mine"  # the user's choice stays


def test_the_run_config_holds_the_resolved_choice(tmp_path):
    auto = TrainConfig(data=str(tmp_path), accelerator="cpu")
    assert auto.compile is None
    assert resolve_config(auto)[0].compile is False
    assert resolve_config(auto.replace(compile=True))[0].compile is True
    saved = TrainConfig.load(auto.replace(compile=True).save(tmp_path / "config.yaml"))
    assert saved.compile is True
    # Compiling changes speed, not what is computed: a run may resume with or without it.
    assert saved.resume_with({"compile": False}).compile is False


def test_cli_flags_reach_the_config(tmp_path):
    from gifemo.cli.options import train_config_from_options

    config, _ = train_config_from_options(
        {"data": tmp_path, "out": tmp_path / "run", "resume": None, "compile": True}
    )
    assert config.compile is True
    for command in ("train", "predict"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert "--compile" in result.output and "--no-compile" in result.output


@pytest.mark.slow
def test_compiled_training_follows_the_eager_loss_curve(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    data = tiny_dataset(base / "synth")
    curves, runs = {}, {}
    # Every inductor compile costs tens of seconds on 2 cores, so the run is shaped to compile
    # as little as possible: 35 training GIFs, one clip each, in 5 full batches of 7 (one
    # training graph, no recompile for a short last batch), one epoch, and no validation but
    # Lightning's sanity check (one evaluation graph).
    for compiled in (False, True):
        config = tiny_config(
            data,
            base / "cache",
            epochs=1,
            val_every=2,
            batch_size=7,
            max_clips_per_gif=1,
            compile=compiled,
        )
        runs[compiled] = tmp_path_factory.mktemp("compile") / "run"
        losses = StepLosses()
        result = train(config, runs[compiled], callbacks=[losses], progress=False)
        assert result.config.compile is compiled
        curves[compiled] = np.array(losses.losses)
    eager, compiled = curves[False], curves[True]
    assert len(eager) == len(compiled) == 5
    assert np.isfinite(eager).all()
    # Same seed, same data, same steps: only the kernels' float rounding differs. Adam divides
    # each gradient by its own running scale, so those last-bit differences grow step by step
    # (measured: 0.3% at step 5, 7% by step 10 of 18, in an earlier, longer version of this
    # run): the first steps must agree closely, the whole curve loosely.
    np.testing.assert_allclose(compiled[:3], eager[:3], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(compiled, eager, rtol=0.15)
    # Compiling in place keeps the state dict: the checkpoint loads like any other.
    trained = load_trained_model(runs[True])
    assert not any("_orig_mod" in key for key in trained.model.state_dict())
    assert trained.metadata["config"]["compile"] is True


@pytest.mark.slow
def test_compiled_predictor_matches_eager(tmp_path):
    gifs = [write_test_gif(tmp_path / f"g{n}.gif", n, seed=n, size=(30, 22)) for n in (5, 9)]
    eager = gifemo.load(tiny_trained_model(), precision="32", compile=False)
    fast = gifemo.load(tiny_trained_model(), precision="32", compile=True)
    assert fast.backend.compiled and not eager.backend.compiled
    for gif in gifs:
        a, b = eager.predict(gif), fast.predict(gif)
        assert a.top_label == b.top_label
        assert max(abs(a.intensities[k] - b.intensities[k]) for k in a.labels) < 1e-5
    with pytest.raises(ValueError, match="torch backend only"):
        gifemo.load(tmp_path / "m.onnx", compile=True)
