"""``gifemo.io`` decoding: browser compositing rules, sources, formats, limits and errors.

The expected frames are written out pixel by pixel from the rules (no second decoder); the
agreement with ImageMagick is in ``test_io_imagemagick.py``.
"""

from __future__ import annotations

import io
import pickle
import struct
import tracemalloc

import numpy as np
import pytest
from gif_builder import (
    GARBAGE,
    PALETTE,
    TRAILER,
    TRANSPARENT,
    FrameSpec,
    H,
    W,
    build_gif,
    encode_frame,
    gif_header,
    pattern,
    scenarios,
    solid,
)
from PIL import Image

from gifemo.io import (
    DEFAULT_MAX_PIXELS,
    CanvasTooLargeError,
    CorruptGifError,
    EmptyGifError,
    GifError,
    NotAnImageError,
    TooManyFramesError,
    TruncatedGifError,
    effective_duration_ms,
    iter_frames,
    probe,
    read_gif,
)

BG = (12, 34, 56)  # a background colour that is in no palette
RED, GREEN, BLUE, YELLOW = (np.array(PALETTE[i], dtype=np.uint8) for i in range(4))


def gif(frames, *, width=4, height=4, palette=PALETTE, **kwargs) -> bytes:
    return build_gif(width=width, height=height, global_palette=palette, frames=frames, **kwargs)


def canvas(color, height=4, width=4) -> np.ndarray:
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = color
    return out


# ---- Compositing (browser semantics) ---------------------------------------------------------


def test_opaque_frame_is_its_palette_colours():
    indices = pattern(H, W, 8, seed=7)
    frames = read_gif(gif([FrameSpec(indices)], width=W, height=H)).frames
    assert frames.shape == (1, H, W, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[0], np.array(PALETTE, dtype=np.uint8)[indices])


@pytest.mark.parametrize("background", [(255, 255, 255), BG, (0, 0, 0)])
def test_transparent_pixels_show_the_background_never_the_colour_at_the_index(background):
    indices = pattern(H, W, 8, seed=1)
    frame = read_gif(
        gif([FrameSpec(indices, transparent_index=TRANSPARENT)], width=W, height=H),
        background=background,
    ).frames[0]
    see_through = indices == TRANSPARENT
    assert see_through.any() and not (frame == GARBAGE).all(axis=-1).any()
    np.testing.assert_array_equal(
        frame[see_through], np.broadcast_to(background, (see_through.sum(), 3))
    )
    np.testing.assert_array_equal(
        frame[~see_through], np.array(PALETTE, dtype=np.uint8)[indices[~see_through]]
    )


def test_transparent_pixels_of_later_frames_keep_the_canvas():
    top = solid(4, 4, TRANSPARENT)
    top[0, 0] = 2
    frames = read_gif(
        gif([FrameSpec(solid(4, 4, 1)), FrameSpec(top, transparent_index=TRANSPARENT)])
    ).frames
    expected = canvas(GREEN)
    expected[0, 0] = BLUE
    np.testing.assert_array_equal(frames[1], expected)


@pytest.mark.parametrize("disposal", [0, 1])
def test_disposal_0_and_1_keep_the_frame(disposal):
    frames = read_gif(
        gif(
            [
                FrameSpec(solid(4, 4, 1)),
                FrameSpec(solid(2, 2, 2), left=1, top=1, disposal=disposal),
                FrameSpec(solid(1, 1, 3)),
            ]
        )
    ).frames
    expected = canvas(GREEN)
    expected[1:3, 1:3] = BLUE
    expected[0, 0] = YELLOW
    np.testing.assert_array_equal(frames[2], expected)


def test_disposal_2_clears_to_the_background_parameter_not_the_gif_background_colour():
    data = gif(
        [
            FrameSpec(solid(4, 4, 1)),
            FrameSpec(solid(2, 2, 2), left=1, top=1, disposal=2),
            FrameSpec(solid(1, 1, 3)),
        ],
        background_index=0,
    )  # index 0 is red: must not appear
    frames = read_gif(data, background=BG).frames
    expected = canvas(GREEN)
    expected[1:3, 1:3] = BG
    expected[0, 0] = YELLOW
    np.testing.assert_array_equal(frames[2], expected)


@pytest.mark.parametrize("disposal", [3, 4])  # 4 is "restore previous" for browsers too
def test_disposal_3_restores_the_canvas_from_before_the_frame(disposal):
    frames = read_gif(
        gif(
            [
                FrameSpec(solid(4, 4, 1)),
                FrameSpec(solid(2, 2, 2), left=0, top=0),
                FrameSpec(solid(2, 3, 3), left=1, top=1, disposal=disposal),
                FrameSpec(solid(1, 1, 0), left=3, top=3),
            ]
        )
    ).frames
    expected = canvas(GREEN)
    expected[0:2, 0:2] = BLUE
    np.testing.assert_array_equal(frames[3][:3, :3], expected[:3, :3])
    assert (frames[3][3, 3] == RED).all() and (frames[2][1:3, 1:4] == YELLOW).all()


def test_disposal_3_on_the_first_frame_restores_the_transparent_canvas():
    frames = read_gif(
        gif([FrameSpec(solid(2, 2, 1), left=1, top=1, disposal=3), FrameSpec(solid(1, 1, 2))]),
        background=BG,
    ).frames
    expected = canvas(BG)
    expected[0, 0] = BLUE
    np.testing.assert_array_equal(frames[1], expected)


def test_first_frame_smaller_than_the_canvas_shows_the_background():
    frames = read_gif(gif([FrameSpec(solid(2, 3, 1), left=1, top=2)]), background=BG).frames
    expected = canvas(BG)
    expected[2:4, 1:4] = GREEN
    np.testing.assert_array_equal(frames[0], expected)


def test_local_palette_applies_to_its_frame_only():
    local = [(1, 2, 3), (4, 5, 6)]
    frames = read_gif(
        gif(
            [
                FrameSpec(solid(4, 4, 1)),
                FrameSpec(solid(2, 2, 1), local_palette=local),
                FrameSpec(solid(1, 1, 1), left=3, top=3),
            ]
        )
    ).frames
    assert (frames[1][:2, :2] == (4, 5, 6)).all() and (frames[1][2:, 2:] == GREEN).all()
    assert (frames[2][3, 3] == GREEN).all() and (frames[2][0, 0] == (4, 5, 6)).all()


def test_interlaced_frame_decodes_like_the_same_frame_not_interlaced():
    indices = pattern(13, 7, 8, seed=3)
    plain = read_gif(gif([FrameSpec(indices)], width=7, height=13)).frames
    laced = read_gif(gif([FrameSpec(indices, interlaced=True)], width=7, height=13)).frames
    np.testing.assert_array_equal(plain, laced)
    assert not np.array_equal(
        laced, read_gif(gif([FrameSpec(indices[::-1].copy())], width=7, height=13)).frames
    )


def test_later_frame_beyond_the_canvas_is_clipped():
    frames = read_gif(
        gif([FrameSpec(solid(4, 4, 1)), FrameSpec(solid(3, 3, 2), left=2, top=3)])
    ).frames
    expected = canvas(GREEN)
    expected[3:, 2:] = BLUE
    assert frames.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(frames[1], expected)


def test_first_frame_beyond_the_screen_grows_the_canvas():
    frames = read_gif(gif([FrameSpec(solid(3, 2, 1), left=3, top=2)]), background=BG).frames
    assert frames.shape == (1, 5, 5, 3)
    assert (frames[0][2:5, 3:5] == GREEN).all() and (frames[0][:2] == BG).all()


def test_zero_size_screen_takes_the_first_frames_size():
    frames = read_gif(gif([FrameSpec(pattern(3, 5, 8))], width=0, height=0)).frames
    assert frames.shape == (1, 3, 5, 3)


def test_indices_past_the_colour_table_and_a_missing_table_are_opaque_black():
    indices = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], dtype=np.uint8)
    short = read_gif(
        gif([FrameSpec(indices, min_code_size=3)], width=4, height=2, palette=PALETTE[:4])
    ).frames[0]
    np.testing.assert_array_equal(short[0], np.array(PALETTE[:4], dtype=np.uint8))
    assert (short[1] == 0).all()
    none = read_gif(
        gif([FrameSpec(indices, min_code_size=3)], width=4, height=2, palette=None)
    ).frames[0]
    assert (none == 0).all()


def test_lzw_stream_ending_early_changes_only_the_decoded_pixels():
    frames = read_gif(
        gif([FrameSpec(solid(4, 4, 1)), FrameSpec(solid(4, 4, 2), n_pixels=6)])
    ).frames
    expected = canvas(GREEN)
    expected.reshape(16, 3)[:6] = BLUE
    np.testing.assert_array_equal(frames[1], expected)


def test_durations_raw_and_effective():
    delays_cs = [0, 1, 2, 3, 10, 0]
    specs = [FrameSpec(solid(1, 1, 1), delay_cs=d) for d in delays_cs]
    specs[-1].graphic_control = False
    decoded = read_gif(gif(specs, width=1, height=1))
    assert decoded.durations_ms == [0, 10, 20, 30, 100, 0]
    assert decoded.effective_durations_ms == [100, 100, 20, 30, 100, 100]
    assert [effective_duration_ms(ms) for ms in (0, 19, 20, 15, 1000)] == [100, 100, 20, 100, 1000]


# ---- Sources and the streaming API -----------------------------------------------------------


def test_path_bytes_and_file_objects_give_the_same_frames(tmp_path):
    data = scenarios()["disposal-3-partial-first-frame"]
    path = tmp_path / "anim.gif"
    path.write_bytes(data)
    reference = read_gif(data)
    for source in (path, str(path), bytearray(data), io.BytesIO(data)):
        decoded = read_gif(source)
        np.testing.assert_array_equal(decoded.frames, reference.frames)
        assert decoded.durations_ms == reference.durations_ms
    with open(path, "rb") as handle:
        assert read_gif(handle).source == str(path)
    assert read_gif(path).source == str(path) and reference.source == "<bytes>"


def test_iter_frames_yields_the_same_frames_one_at_a_time():
    data = scenarios()["partial-offsets"]
    decoded = read_gif(data, background=BG)
    with iter_frames(data, background=BG) as frames:
        assert (frames.n_frames, frames.width, frames.height, frames.format) == (4, W, H, "GIF")
        got = list(frames)
    assert [f.index for f in got] == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.stack([f.image for f in got]), decoded.frames)
    assert [f.duration_ms for f in got] == decoded.durations_ms
    assert [f.effective_duration_ms for f in got] == decoded.effective_durations_ms
    assert not frames.truncated and frames.error is None


def test_iter_frames_over_5000_frames_keeps_memory_bounded():
    n, side = 5000, 32
    frame = encode_frame(
        FrameSpec(pattern(side, side, 8, seed=1), transparent_index=TRANSPARENT, disposal=2), 8
    )
    data = gif_header(width=side, height=side, global_palette=PALETTE) + frame * n + TRAILER
    canvas_bytes = side * side * 3
    tracemalloc.start()
    try:
        count = 0
        for f in iter_frames(data):
            count += 1
            assert f.image.shape == (side, side, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    # All frames at once would be n * canvas_bytes (15 MB); streaming holds a few canvases plus
    # the compressed file and the frame table.
    assert peak < len(data) + 2_000_000 < n * canvas_bytes


def test_probe_reads_headers():
    data = gif(
        [FrameSpec(solid(2, 3, 1), delay_cs=4), FrameSpec(solid(1, 1, 2), delay_cs=0)],
        width=5,
        height=3,
    )
    info = probe(data)
    assert (info.format, info.width, info.height, info.n_frames) == ("GIF", 5, 3, 2)
    assert info.durations_ms == [40, 0] and info.effective_durations_ms == [40, 100]


# ---- Other formats through Pillow ------------------------------------------------------------


COLORS = [(200, 10, 10), (10, 200, 10), (10, 10, 200)]


def _rgba_frames() -> list[Image.Image]:
    """Opaque columns ``[0, 3 + i)`` and the last one; fully transparent in between.

    (The opaque last column keeps the transparent part inside the frame's bounding box, so the
    WebP encoder cannot crop it away and drop the alpha channel.)
    """
    frames = []
    for i, color in enumerate(COLORS):
        rgba = np.zeros((6, 8, 4), dtype=np.uint8)
        rgba[:, : 3 + i] = (*color, 255)
        rgba[:, -1] = (*color, 255)
        frames.append(Image.fromarray(rgba, mode="RGBA"))
    return frames


@pytest.mark.parametrize("fmt,options", [("WEBP", {"lossless": True}), ("PNG", {})])
def test_animated_webp_and_apng_are_composited_on_the_background(fmt, options):
    frames = _rgba_frames()
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format=fmt,
        save_all=True,
        append_images=frames[1:],
        duration=[40, 80, 120],
        loop=0,
        **options,
    )
    decoded = read_gif(buffer.getvalue(), background=BG)
    assert decoded.format == fmt and decoded.frames.shape == (3, 6, 8, 3)
    assert decoded.durations_ms == [40, 80, 120]
    for i, color in enumerate(COLORS):
        assert (decoded.frames[i][:, : 3 + i] == color).all() and (
            decoded.frames[i][:, -1] == color
        ).all()
        assert (decoded.frames[i][:, 3 + i : -1] == BG).all()


def test_apng_default_image_outside_the_animation_is_skipped_like_browsers():
    red, green, blue = (Image.new("RGB", (4, 4), c) for c in COLORS)
    buffer = io.BytesIO()
    red.save(
        buffer,
        format="PNG",
        save_all=True,
        append_images=[green, blue],
        default_image=True,
        duration=[50, 60],
    )
    decoded = read_gif(buffer.getvalue())
    assert decoded.durations_ms == [50, 60]
    assert (decoded.frames[0] == COLORS[1]).all() and (decoded.frames[1] == COLORS[2]).all()


def test_still_image_is_one_frame():
    rgb = pattern(5, 7, 256, seed=3)[..., None].repeat(3, axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    decoded = read_gif(buffer.getvalue())
    assert (
        decoded.format == "PNG"
        and decoded.durations_ms == [0]
        and decoded.effective_durations_ms == [100]
    )
    np.testing.assert_array_equal(decoded.frames, rgb[None])


# ---- Errors: the right class, with the file name and the reason ------------------------------


def _write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _full_gif() -> bytes:
    return scenarios()["disposal-2"]


@pytest.mark.parametrize(
    "name,data",
    [
        ("notes.txt", b"just some text, no image here\n"),
        ("noise.gif", bytes(range(256)) * 4),
        ("empty.gif", b""),
    ],
)
def test_not_an_image(tmp_path, name, data):
    path = _write(tmp_path, name, data)
    with pytest.raises(NotAnImageError, match=name) as caught:
        read_gif(path)
    assert caught.value.source == path and caught.value.reason in str(caught.value)


@pytest.mark.parametrize("fmt,options", [("WEBP", {"lossless": True}), ("PNG", {})])
def test_truncated_webp_and_apng(tmp_path, fmt, options):
    frames = [
        Image.fromarray(pattern(16, 16, 256, seed=i)[..., None].repeat(3, axis=-1))
        for i in range(3)
    ]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format=fmt, save_all=True, append_images=frames[1:], duration=50, **options
    )
    path = _write(
        tmp_path, f"cut.{fmt.lower()}", buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3]
    )
    with pytest.raises(TruncatedGifError, match=f"cut.{fmt.lower()}"):
        read_gif(path)


def test_missing_file_is_reported_with_its_name(tmp_path):
    with pytest.raises(NotAnImageError, match="absent.gif.*no such file"):
        read_gif(tmp_path / "absent.gif")


@pytest.mark.parametrize("cut", [9, 20, -30, -2])
def test_truncated_gif_raises_in_strict_mode(tmp_path, cut):
    path = _write(tmp_path, "cut.gif", _full_gif()[:cut])
    with pytest.raises(TruncatedGifError, match="cut.gif"):
        read_gif(path)
    with pytest.raises(TruncatedGifError, match="cut.gif"):
        list(iter_frames(path))


def test_truncated_gif_lenient_returns_the_complete_frames(tmp_path):
    data = _full_gif()
    full = read_gif(data)
    path = _write(tmp_path, "cut.gif", data[:-3])  # inside the last frame's pixel data
    partial = read_gif(path, strict=False)
    assert partial.truncated and isinstance(partial.error, TruncatedGifError)
    assert "cut.gif" in str(partial.error)
    np.testing.assert_array_equal(partial.frames, full.frames[: len(partial.frames)])
    assert len(partial.frames) == len(full.frames) - 1
    with iter_frames(path, strict=False) as frames:
        assert len(list(frames)) == len(full.frames) - 1 and frames.truncated
    assert probe(path, strict=False).n_frames == len(full.frames) - 1


def test_truncated_before_the_first_frame_raises_even_when_lenient():
    with pytest.raises(TruncatedGifError, match="before the first frame|inside"):
        read_gif(_full_gif()[:60], strict=False)


def test_missing_trailer_alone_is_accepted_like_browsers():
    data = _full_gif()
    assert data.endswith(TRAILER)
    decoded = read_gif(data[:-1])
    assert not decoded.truncated
    np.testing.assert_array_equal(decoded.frames, read_gif(data).frames)


def test_gif_without_frames_is_empty(tmp_path):
    path = _write(
        tmp_path, "hollow.gif", gif_header(width=4, height=4, global_palette=PALETTE) + TRAILER
    )
    with pytest.raises(EmptyGifError, match="hollow.gif"):
        read_gif(path)


def test_decompression_bomb_is_refused_before_allocating(tmp_path):
    bomb = gif([FrameSpec(solid(1, 1, 0))], width=30_000, height=30_000)
    assert len(bomb) < 100
    path = _write(tmp_path, "bomb.gif", bomb)
    tracemalloc.start()
    try:
        with pytest.raises(CanvasTooLargeError, match=r"bomb.gif.*30000x30000"):
            read_gif(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the canvas would be 2.7 GB
    assert 30_000 * 30_000 > DEFAULT_MAX_PIXELS >= 4096 * 4096


def test_oversized_frame_and_custom_limit_are_refused():
    huge_frame = gif([FrameSpec(solid(1, 1, 0)), FrameSpec(solid(1, 1, 0))], width=4, height=4)
    # Patch the second frame's descriptor to claim 60000 x 60000 pixels.
    at = huge_frame.rindex(b"\x2c")
    patched = huge_frame[: at + 5] + struct.pack("<HH", 60_000, 60_000) + huge_frame[at + 9 :]
    with pytest.raises(CanvasTooLargeError, match="frame 1 is 60000x60000"):
        read_gif(patched)
    with pytest.raises(CanvasTooLargeError, match="max_pixels=10"):
        read_gif(gif([FrameSpec(solid(4, 4, 0))]), max_pixels=10)
    assert read_gif(gif([FrameSpec(solid(4, 4, 0))]), max_pixels=None).frames.shape == (1, 4, 4, 3)


def test_oversized_webp_is_refused_with_our_error():
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200)).save(buffer, format="WEBP")
    with pytest.raises(CanvasTooLargeError, match="300x200"):
        read_gif(buffer.getvalue(), max_pixels=300 * 200 - 1)


def test_too_many_frames(tmp_path):
    path = _write(tmp_path, "long.gif", _full_gif())
    with pytest.raises(TooManyFramesError, match="long.gif.*max_frames=3"):
        read_gif(path, max_frames=3)
    with pytest.raises(TooManyFramesError, match="long.gif"):
        iter_frames(path, max_frames=3)
    assert read_gif(path, max_frames=4).frames.shape[0] == 4


def test_corrupt_data(tmp_path):
    good = gif([FrameSpec(solid(4, 4, 1)), FrameSpec(solid(4, 4, 2))])
    stray = _write(tmp_path, "stray.gif", good[:-1] + b"\x00" + TRAILER)
    with pytest.raises(CorruptGifError, match=r"stray.gif.*unexpected byte 0x00"):
        read_gif(stray)
    assert read_gif(stray, strict=False).frames.shape[0] == 2
    # LZW data whose very first code is out of range.
    header = gif_header(width=2, height=2, global_palette=PALETTE)
    bad = (
        header + b"\x2c" + struct.pack("<HHHHB", 0, 0, 2, 2, 0) + b"\x03\x02\xff\xff\x00" + TRAILER
    )
    with pytest.raises(CorruptGifError, match="bad_lzw.gif.*frame 0.*LZW"):
        read_gif(_write(tmp_path, "bad_lzw.gif", bad))


def test_errors_are_value_errors_that_pickle():
    error = TruncatedGifError("a.gif", "the data ends inside frame 3")
    assert isinstance(error, GifError) and isinstance(error, ValueError)
    assert str(error) == "a.gif: the data ends inside frame 3"
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is TruncatedGifError and (clone.source, clone.reason) == (
        error.source,
        error.reason,
    )


def test_bad_background_is_rejected():
    with pytest.raises(ValueError, match="background"):
        read_gif(_full_gif(), background=(0, 0, 300))
