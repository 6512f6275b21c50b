"""uint8 batches normalised and augmented on the device: the same numbers as the CPU path.

``device_transforms`` moves normalisation and the crop/flip augmentation from the DataLoader
workers to the training device (4x fewer bytes per batch). On the CPU both paths must give the
same batches (to 1e-6) and the same training run.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate
from training_helpers import (  # noqa: F401  (one_torch_thread: autouse fixture)
    StepLosses,
    one_torch_thread,
    tiny_config,
    tiny_dataset,
)

from gifemo.data.datamodule import GifDataModule
from gifemo.data.device_transforms import NO_AUGMENTATION, finish_batch
from gifemo.training.config import TrainConfig
from gifemo.training.fit import resolve_config, train
from gifemo.training.sharding import TrainingDataModule


def datamodule(base, *, device_transforms: bool, augment: bool = True):
    data = GifDataModule(
        tiny_dataset(base / "synth"),
        size=32,
        batch_size=8,
        workers=0,
        augment=augment,
        cache_dir=base / "cache",
        progress=False,
        device_transforms=device_transforms,
    )
    data.setup("fit")
    return data


@pytest.mark.parametrize("augment", [True, False])
def test_uint8_batches_finished_on_the_device_equal_the_cpu_batches(tmp_path_factory, augment):
    base = tmp_path_factory.getbasetemp()
    cpu = datamodule(base, device_transforms=False, augment=augment)
    dev = datamodule(base, device_transforms=True, augment=augment)
    for split in ("train", "test"):
        for epoch in (0, 1):
            keys = [(i, epoch) for i in range(min(16, len(cpu.datasets[split])))]
            floats = default_collate([cpu.datasets[split][k] for k in keys])
            frames, target, gif_index, drawn = default_collate(
                [dev.datasets[split][k] for k in keys]
            )
            assert frames.dtype == torch.uint8 and frames.shape == (len(keys), 4, 32, 32, 3)
            clip = finish_batch(frames, drawn)
            assert clip.shape == floats[0].shape == (len(keys), 4, 3, 32, 32)
            torch.testing.assert_close(clip, floats[0], atol=1e-6, rtol=0)
            assert torch.equal(target, floats[1]) and torch.equal(gif_index, floats[2])
            if split == "train" and augment:
                assert (drawn[:, 0] >= 0).all() and 0 < drawn[:, 4].sum() < len(keys)
            else:
                assert (drawn == torch.tensor(NO_AUGMENTATION)).all()


def test_the_module_finishes_uint8_batches_after_the_transfer(tmp_path_factory):
    from gifemo.training.lightning_module import GifEmotionModule

    base = tmp_path_factory.getbasetemp()
    cpu = datamodule(base, device_transforms=False)
    dev = datamodule(base, device_transforms=True)
    keys = [(i, 0) for i in range(8)]
    module = GifEmotionModule(
        model_name="resnet_convgru",
        model_kwargs={"hidden_dim": 8, "num_layers": 1, "head_hidden": 8},
        labels=cpu.labels,
        preprocess=cpu.preprocess.to_dict(),
    )
    batch = default_collate([dev.datasets["train"][k] for k in keys])
    clip, target, gif_index = module.on_after_batch_transfer(batch, 0)
    expected = default_collate([cpu.datasets["train"][k] for k in keys])
    torch.testing.assert_close(clip, expected[0], atol=1e-6, rtol=0)
    # Float batches (the CPU path) pass through untouched.
    assert module.on_after_batch_transfer(expected, 0) is expected


def test_auto_is_on_for_gpus_only_and_pinned_memory_follows_the_device(tmp_path):
    config = TrainConfig(data=str(tmp_path), accelerator="cpu")
    assert config.device_transforms is None
    assert resolve_config(config)[0].device_transforms is False
    assert resolve_config(config.replace(device_transforms=True))[0].device_transforms is True
    assert config.resume_with({"device_transforms": True}).device_transforms is True
    data = TrainingDataModule(tmp_path, progress=False)
    for device, pinned in (("cpu", False), ("cuda", True)):
        strategy = SimpleNamespace(root_device=torch.device(device))
        data.trainer = SimpleNamespace(strategy=strategy)
        assert data._pin_memory() is pinned


@pytest.mark.slow
def test_a_run_on_uint8_batches_is_the_cpu_run(tmp_path_factory):
    """Same seed, the two paths: the same losses step by step (the numbers do not change)."""
    base = tmp_path_factory.getbasetemp()
    data = tiny_dataset(base / "synth")
    curves = []
    for on_device in (False, True):
        config = tiny_config(
            data, base / "cache", epochs=1, augment=True, device_transforms=on_device
        )
        losses = StepLosses()
        run_dir = tmp_path_factory.mktemp("device-transforms") / "run"
        result = train(config, run_dir, callbacks=[losses], progress=False)
        assert result.config.device_transforms is on_device
        curves.append(np.array(losses.losses))
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-5, atol=1e-6)
