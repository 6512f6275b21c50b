"""Shared building blocks: label sets, atomic writes, the one preprocessing path."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from gifemo.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from gifemo.labels import GIFGIF_EMOTIONS, GIFGIF_TO_PAPER, PAPER_EMOTIONS, validate_label_set
from gifemo.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreprocessConfig,
    normalize_clip,
    resize_frame,
    resize_frames,
)


def test_paper_label_order_and_gifgif_mapping():
    assert PAPER_EMOTIONS == (
        "happiness",
        "like",
        "surprise",
        "sadness",
        "anger",
        "disgust",
        "fear",
    )
    assert len(GIFGIF_EMOTIONS) == 17
    assert set(GIFGIF_TO_PAPER) <= set(GIFGIF_EMOTIONS)
    assert sorted(GIFGIF_TO_PAPER.values()) == sorted(PAPER_EMOTIONS)
    assert GIFGIF_TO_PAPER["satisfaction"] == "like"


@pytest.mark.parametrize(
    "labels, message",
    [
        (["a"], "at least two"),
        (["a", "b", "a"], "duplicate"),
        (["a", "b/c"], "invalid"),
        (["a", ""], "invalid"),
    ],
)
def test_bad_label_sets_are_refused(labels, message):
    with pytest.raises(ValueError, match=message):
        validate_label_set(labels)


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "state.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "wb") as handle:
            handle.write(b"half-written new st")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["state.bin"], "temp file left behind"
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_atomic_write_survives_sigkill_mid_write(tmp_path):
    """A process killed while writing leaves the previous file intact."""
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"good")
    script = textwrap.dedent(
        f"""
        import os, signal
        from gifemo.atomic import atomic_write
        with atomic_write({str(target)!r}, "wb") as handle:
            handle.write(b"x" * 1_000_000)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    assert target.read_bytes() == b"good"


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "report.md", "x")
        (tmp_path / "plain.md").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == stat.S_IMODE(
        (tmp_path / "plain.md").stat().st_mode
    )


def test_atomic_write_refuses_read_mode(tmp_path):
    with pytest.raises(ValueError):
        with atomic_write(tmp_path / "x", "rb"):
            pass


def test_preprocess_config_round_trip_and_validation():
    cfg = PreprocessConfig(size=112, clip_len=6)
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["mean"] == list(IMAGENET_MEAN)
    with pytest.raises(ValueError):
        PreprocessConfig(size=8)
    with pytest.raises(ValueError):
        PreprocessConfig(clip_len=0)


def test_resize_squashes_to_square_and_keeps_constant_colour():
    frames = np.zeros((3, 40, 90, 3), np.uint8)
    frames[..., 0] = 200
    frames[..., 2] = 17
    out = resize_frames(frames, 32)
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8
    assert (out[..., 0] == 200).all() and (out[..., 1] == 0).all() and (out[..., 2] == 17).all()
    same = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    assert np.array_equal(resize_frame(same, 32), same)


def test_normalize_clip_layout_and_values():
    clip = np.zeros((2, 4, 8, 8, 3), np.uint8)  # (B, T, H, W, 3)
    clip[..., 1] = 255
    out = normalize_clip(clip)
    assert out.shape == (2, 4, 3, 8, 8) and out.dtype == torch.float32
    expected = [(0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], (1 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]]
    assert torch.allclose(out[:, :, 0], torch.full_like(out[:, :, 0], expected[0]))
    assert torch.allclose(out[:, :, 1], torch.full_like(out[:, :, 1], expected[1]))
    with pytest.raises(TypeError):
        normalize_clip(clip.astype(np.float32))


def test_cli_help_is_fast_to_import():
    """`gifemo --help` must not import torch (it is the first thing a user types)."""
    code = "import sys, gifemo.cli; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert out.stdout.strip() == "False"
