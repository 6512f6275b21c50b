"""gifemo.io.encode.write_gif: what is written decodes back to the quantised frames."""

from __future__ import annotations

import io
import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gifemo.doctor import find_imagemagick
from gifemo.io import read_gif
from gifemo.io.encode import quantize_frames, round_delay_cs, write_gif

ALL_OPTIONS = list(
    itertools.product(
        ["global", "local"], [False, True], [False, True], ["none", "keep", "background", "auto"]
    )
)


def _moving_square(t_count: int = 9, h: int = 36, w: int = 44, seed: int = 0) -> np.ndarray:
    """A textured background with a square moving over it, a repeated frame and a transient."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)[None], t_count, 0)
    for t in range(t_count):
        frames[t, 4 + t : 10 + t, 3 + 2 * t : 9 + 2 * t] = (230, 20, 20)
    frames[4] = frames[3]  # identical consecutive frames
    frames[6, :3, :3] = 255  # one-frame flash, gone again in frame 7
    return frames


def _pillow_frames(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
    return np.stack(out)


def _encode(frames, **kwargs) -> tuple[bytes, object]:
    buf = io.BytesIO()
    enc = write_gif(buf, frames, **kwargs)
    return buf.getvalue(), enc


@pytest.mark.parametrize(("palette", "dither", "optimize", "disposal"), ALL_OPTIONS)
def test_round_trip_with_read_gif_and_pillow(palette, dither, optimize, disposal):
    frames = _moving_square()
    data, enc = _encode(
        frames,
        durations_ms=40,
        palette=palette,
        dither=dither,
        optimize=optimize,
        disposal=disposal,
    )
    assert enc.frames.shape == frames.shape
    assert enc.nbytes == len(data)
    decoded = read_gif(data)
    np.testing.assert_array_equal(decoded.frames, enc.frames)
    assert list(decoded.durations_ms) == [40] * len(frames)
    np.testing.assert_array_equal(_pillow_frames(data), enc.frames)


def test_quantised_frames_stay_close_to_smooth_input():
    y, x = np.mgrid[0:48, 0:64] / 64.0
    frames = np.stack(
        [np.stack([x + 0.1 * t, y, (x + y) / 2], -1) * 200 + 20 for t in range(4)]
    ).astype(np.uint8)
    for palette, dither in itertools.product(["global", "local"], [False, True]):
        _, enc = _encode(frames, palette=palette, dither=dither)
        err = np.abs(enc.frames.astype(int) - frames).mean()
        assert err < 6, (palette, dither, err)


def test_few_colours_are_lossless_with_median_cut():
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    frames = colours[rng.integers(0, 100, (4, 20, 24))]
    for palette in ("global", "local"):
        _, enc = _encode(frames, palette=palette, method="mediancut")
        np.testing.assert_array_equal(enc.frames, frames)


def test_partial_updates_store_the_changed_box_only():
    rng = np.random.default_rng(4)
    colours = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    frames = np.repeat(colours[rng.integers(0, 50, (30, 40))][None], 3, 0)
    frames[1, 10:14, 20:27] = colours[0] + 1  # a colour not yet on screen
    frames[2] = frames[1]
    data, enc = _encode(frames, method="mediancut", disposal="keep")
    assert enc.rects == ((0, 0, 40, 30), (20, 10, 7, 4), (0, 0, 1, 1))
    assert enc.disposals == (1, 1, 1)
    with Image.open(io.BytesIO(data)) as im:
        for i, (x, y, w, h) in enumerate(enc.rects):
            im.seek(i)
            assert im.dispose_extent == (x, y, x + w, y + h)
            assert im.disposal_method == 1


def test_unchanged_pixels_inside_the_box_are_transparent():
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    frames[1, 2, 2] = frames[1, 12, 12] = 255  # box 11x11, only two pixels change
    data, enc = _encode(frames, method="mediancut")
    assert enc.transparent == (False, True)
    assert enc.rects[1] == (2, 2, 11, 11)
    assert _transparency_flags(data) == [False, True]
    data, opaque = _encode(frames, method="mediancut", transparency=False)
    assert opaque.transparent == (False, False)
    assert _transparency_flags(data) == [False, False]


def _transparency_flags(data: bytes) -> list[bool]:
    """The transparency bit of each graphic control extension (fine for tiny test files)."""
    flags, pos = [], data.find(b"!\xf9\x04")
    while pos >= 0:
        flags.append(bool(data[pos + 3] & 1))
        pos = data.find(b"!\xf9\x04", pos + 8)
    return flags


def test_auto_disposal_restores_previous_after_a_transient_frame():
    frames = _moving_square()
    data, enc = _encode(frames, disposal="auto")
    assert enc.disposals[6] == 3  # the flash is undone by restoring the previous canvas
    assert enc.rects[4] == (0, 0, 1, 1)  # the repeated frame costs one pixel
    with Image.open(io.BytesIO(data)) as im:
        im.seek(6)
        assert im.disposal_method == 3
    _, keep = _encode(frames, disposal="keep")
    assert keep.rects[7][2] * keep.rects[7][3] > enc.rects[7][2] * enc.rects[7][3]


def test_unoptimised_frames_are_whole():
    frames = _moving_square()
    _, enc = _encode(frames, optimize=False, disposal="none")
    assert set(enc.rects) == {(0, 0, 44, 36)}
    assert set(enc.disposals) == {0}
    assert not any(enc.transparent)


def test_dithering_preserves_local_mean_colour():
    ramp = np.linspace(0, 255, 64)
    frame = np.stack([np.broadcast_to(ramp, (32, 64))] * 3, -1).astype(np.uint8)
    blocks = []
    for dither in (False, True):
        _, enc = _encode(frame[None], colors=4, method="mediancut", dither=dither)
        err = enc.frames[0].astype(float) - frame
        blocks.append(np.abs(err.reshape(4, 8, 8, 8, 3).mean(axis=(1, 3))).mean())
    assert blocks[1] < blocks[0] / 2


def test_local_palettes_are_per_frame():
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[0, :, :] = (255, 0, 0)
    frames[1, :, :] = (0, 255, 0)
    frames[2, :4] = (0, 0, 255)
    _, local = _encode(frames, palette="local", colors=8)
    _, shared = _encode(frames, palette="global", colors=8)
    assert local.palette_sizes == (1, 1, 2)
    assert shared.palette_sizes == (4,)
    np.testing.assert_array_equal(local.frames, frames)


@pytest.mark.parametrize(
    ("given", "stored"), [(0, 0), (4, 0), (5, 10), (24, 20), (25, 30), (104, 100)]
)
def test_delays_are_rounded_half_up_to_centiseconds(given, stored):
    assert round_delay_cs(given) * 10 == stored
    data, enc = _encode(np.zeros((2, 4, 4, 3), np.uint8), durations_ms=[given, 100])
    assert enc.durations_ms == (stored, 100)
    with Image.open(io.BytesIO(data)) as im:
        assert im.info.get("duration", 0) == stored


def test_loop_extension():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[1] = 9
    for loop in (0, 3):
        with Image.open(io.BytesIO(_encode(frames, loop=loop)[0])) as im:
            assert im.info["loop"] == loop
    with Image.open(io.BytesIO(_encode(frames, loop=None)[0])) as im:
        assert "loop" not in im.info


def test_path_destination_is_written_atomically(tmp_path: Path):
    dest = tmp_path / "sub" / "a.gif"
    frames = _moving_square()
    enc = write_gif(dest, frames, 50)
    assert dest.stat().st_size == enc.nbytes
    before = dest.read_bytes()
    with pytest.raises(ValueError, match="durations"):
        write_gif(dest, frames, [50, 60])
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.gif"]


@pytest.mark.parametrize(
    ("frames", "kwargs", "message"),
    [
        (np.zeros((2, 4, 4), np.uint8), {}, "shape"),
        (np.zeros((2, 4, 4, 3), np.float32), {}, "uint8"),
        (np.zeros((0, 4, 4, 3), np.uint8), {}, "non-empty"),
        (np.zeros((1, 4, 4, 3), np.uint8), {"durations_ms": -10}, ">= 0"),
        (np.zeros((1, 4, 4, 3), np.uint8), {"colors": 1}, "colors"),
        (np.zeros((1, 4, 4, 3), np.uint8), {"palette": "adaptive"}, "palette"),
        (np.zeros((1, 4, 4, 3), np.uint8), {"disposal": "previous"}, "disposal"),
    ],
)
def test_bad_input_is_rejected_clearly(frames, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_gif(io.BytesIO(), frames, **kwargs)


def test_quantize_frames_shares_one_palette_in_global_mode():
    frames = _moving_square()
    indices, palettes = quantize_frames(frames, colors=32)
    assert all(p is palettes[0] for p in palettes)
    assert len(palettes[0]) <= 32
    assert all(i.dtype == np.uint8 and i.max() < len(palettes[0]) for i in indices)


@pytest.mark.imagemagick
def test_imagemagick_shows_the_same_frames(tmp_path: Path):
    exe = find_imagemagick()
    if exe is None:
        pytest.skip("ImageMagick's convert is not installed")
    frames = _moving_square()
    for palette, disposal in [("global", "auto"), ("local", "background"), ("local", "auto")]:
        path = tmp_path / f"{palette}-{disposal}.gif"
        enc = write_gif(path, frames, 30, palette=palette, dither=True, disposal=disposal)
        pattern = tmp_path / f"{palette}-{disposal}-%03d.ppm"
        subprocess.run([exe, str(path), "-coalesce", str(pattern)], check=True)
        shown = [
            np.asarray(Image.open(str(pattern) % i).convert("RGB")) for i in range(len(frames))
        ]
        np.testing.assert_array_equal(np.stack(shown), enc.frames)
