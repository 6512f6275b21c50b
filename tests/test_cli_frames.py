"""``gifemo frames GIF OUT_DIR [--size N]``: count, order, RGB mode, size, delays, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gif_builder import scenarios
from PIL import Image
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.io import probe, read_gif
from gifemo.preprocess import resize_frame

NOTO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"


def run(*args: str):
    return CliRunner().invoke(app, ["frames", *map(str, args)])


@pytest.fixture
def gif_path(tmp_path) -> Path:
    path = tmp_path / "anim.gif"
    path.write_bytes(scenarios()["disposal-3-partial-first-frame"])
    return path


def _pngs(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*.png"))


def test_writes_every_frame_in_order_as_rgb_png_with_delays(gif_path, tmp_path):
    out_dir = tmp_path / "frames"
    result = run(gif_path, out_dir)
    assert result.exit_code == 0, result.output
    decoded = read_gif(gif_path)
    pngs = _pngs(out_dir)
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(decoded.n_frames)]
    for png, expected in zip(pngs, decoded.frames, strict=True):
        with Image.open(png) as image:
            assert image.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(image), expected)
    manifest = json.loads((out_dir / "frames.json").read_text())
    assert manifest["frames"] == [p.name for p in pngs] and manifest["n_frames"] == decoded.n_frames
    assert manifest["durations_ms"] == decoded.durations_ms
    assert manifest["effective_durations_ms"] == decoded.effective_durations_ms
    assert (manifest["width"], manifest["height"], manifest["size"]) == (
        decoded.width,
        decoded.height,
        None,
    )
    assert manifest["source"] == str(gif_path) and manifest["truncated"] is False


def test_size_resizes_with_the_shared_preprocessing(gif_path, tmp_path):
    out_dir = tmp_path / "frames"
    assert run(gif_path, out_dir, "--size", "16").exit_code == 0
    decoded = read_gif(gif_path)
    for png, frame in zip(_pngs(out_dir), decoded.frames, strict=True):
        with Image.open(png) as image:
            assert image.size == (16, 16) and image.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(image), resize_frame(frame, 16))
    manifest = json.loads((out_dir / "frames.json").read_text())
    assert (manifest["width"], manifest["height"], manifest["size"]) == (16, 16, 16)
    assert (manifest["original_width"], manifest["original_height"]) == (
        decoded.width,
        decoded.height,
    )


def test_background_option_and_stale_frames(gif_path, tmp_path):
    out_dir = tmp_path / "frames"
    out_dir.mkdir()
    (out_dir / "000099.png").write_bytes(b"left from a longer GIF")
    (out_dir / "notes.txt").write_text("not ours")
    assert run(gif_path, out_dir, "--background", "12,34,56").exit_code == 0
    assert not (out_dir / "000099.png").exists() and (out_dir / "notes.txt").exists()
    with Image.open(out_dir / "000000.png") as image:
        np.testing.assert_array_equal(
            np.asarray(image), read_gif(gif_path, background=(12, 34, 56)).frames[0]
        )
    assert run(gif_path, out_dir, "--background", "12,34").exit_code != 0


def test_bad_input_fails_naming_the_file(tmp_path):
    text = tmp_path / "readme.gif"
    text.write_text("hello")
    result = run(text, tmp_path / "out")
    assert result.exit_code == 1
    assert "readme.gif" in result.output and "not a GIF" in result.output
    assert not (tmp_path / "out" / "frames.json").exists()


def test_truncated_input_fails_unless_lenient(gif_path, tmp_path):
    cut = tmp_path / "cut.gif"
    cut.write_bytes(gif_path.read_bytes()[:-3])
    failed = run(cut, tmp_path / "strict")
    assert failed.exit_code == 1 and "cut.gif" in failed.output
    assert run(cut, tmp_path / "lenient", "--lenient").exit_code == 0
    manifest = json.loads((tmp_path / "lenient" / "frames.json").read_text())
    assert manifest["truncated"] is True and manifest["n_frames"] == read_gif(gif_path).n_frames - 1
    assert "ends inside" in manifest["error"]


def test_noto_emoji_gif(tmp_path):
    gif = NOTO_DIR / "happiness" / "1_Smile.gif"
    if not gif.is_file():
        pytest.skip(
            f"noto-emoji-7 is not at {NOTO_DIR} (it ships beside the repository, not in it)"
        )
    out_dir = tmp_path / "smile"
    result = run(gif, out_dir, "--size", "224")
    assert result.exit_code == 0, result.output
    info = probe(gif)
    pngs = _pngs(out_dir)
    assert len(pngs) == info.n_frames == 49
    with Image.open(pngs[-1]) as image:
        assert image.size == (224, 224) and image.mode == "RGB"
    assert json.loads((out_dir / "frames.json").read_text())["durations_ms"] == info.durations_ms
