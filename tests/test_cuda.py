"""What only a CUDA GPU can check: device transforms, prediction and compilation on the GPU.

Every test here is marked ``cuda`` and skips without a CUDA device; ``make gpu-check`` runs
them (``pytest -m cuda``) on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch
from predict_helpers import tiny_trained_model, write_test_gif
from torch.utils.data import default_collate

import gifemo
from gifemo.data.device_transforms import finish_batch
from gifemo.hardware import resolve_compute

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_device_transforms_on_the_gpu_equal_the_cpu_path(tmp_path_factory):
    from test_device_transforms import datamodule

    base = tmp_path_factory.getbasetemp()
    cpu = datamodule(base, device_transforms=False)
    dev = datamodule(base, device_transforms=True)
    keys = [(i, 1) for i in range(min(16, len(cpu.datasets["train"])))]
    expected = default_collate([cpu.datasets["train"][k] for k in keys])[0]
    frames, _, _, drawn = default_collate([dev.datasets["train"][k] for k in keys])
    got = finish_batch(frames.pin_memory().cuda(non_blocking=True), drawn.cuda())
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), expected, atol=1e-5, rtol=0)


def test_auto_on_the_gpu_is_mixed_precision_and_channels_last():
    choice = resolve_compute("auto", None, device="cuda")
    assert choice.precision in ("bf16-mixed", "16-mixed", "32")
    if torch.cuda.is_bf16_supported(including_emulation=False):
        assert choice.precision == "bf16-mixed" and choice.channels_last


@pytest.mark.parametrize("compile", [False, True])
def test_gpu_prediction_matches_the_cpu(tmp_path, compile):
    gif = write_test_gif(tmp_path / "g.gif", 9, seed=2, size=(30, 22))
    cpu = gifemo.load(tiny_trained_model(), precision="32").predict(gif)
    gpu = gifemo.load(tiny_trained_model(), device="cuda", compile=compile).predict(gif)
    assert gpu.model.precision in ("bf16-mixed", "16-mixed", "32")
    tol = 1e-4 if gpu.model.precision == "32" else 0.02
    assert max(abs(cpu.intensities[k] - gpu.intensities[k]) for k in cpu.labels) < tol
