"""Prediction: the Python API (``gifemo.load(...).predict``) and ``gifemo predict``.

Plumbing tests use a seeded untrained model (:func:`tiny_trained_model`); the tests that must
agree with training and evaluation use one real tiny ``gifemo train`` run (:func:`tiny_run`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from predict_helpers import local_server, respond, tiny_run, tiny_trained_model, write_test_gif
from typer.testing import CliRunner

import gifemo
from gifemo.cli import app
from gifemo.cli.predict import output_path
from gifemo.data.clips import count_clips
from gifemo.inference import NamedBytes, Prediction, PredictionFailure, expand_inputs
from gifemo.inference.annotate import frame_clip_index
from gifemo.inference.inputs import InvalidInput
from gifemo.io import read_gif

FRAME_COUNTS = (1, 3, 4, 7, 9, 13)


@pytest.fixture(scope="module")
def predictor():
    return gifemo.load(tiny_trained_model(), batch_size=4)


@pytest.fixture(scope="module")
def gifs(tmp_path_factory):
    """GIFs of several lengths (short ones are padded, long ones leave a remainder)."""
    root = tmp_path_factory.mktemp("gifs")
    return [
        write_test_gif(
            root / f"g{n:02d}.gif", n, seed=n, size=(28, 20), duration_ms=30 + 10 * (n % 3)
        )
        for n in FRAME_COUNTS
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("predict-run"))


def test_intensities_are_probabilities_and_pool_the_clips(predictor, gifs):
    for path in gifs:
        p = predictor.predict(path)
        n = read_gif(path).n_frames
        assert p.n_frames == n
        assert p.labels == gifemo.PAPER_EMOTIONS
        assert sum(p.intensities.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(0.0 <= v <= 1.0 for v in p.intensities.values())
        assert p.top_label == max(p.intensities, key=p.intensities.get)
        assert p.top_score == p.intensities[p.top_label]
        # The emotion timeline: one entry per clip of the paper's clip rule.
        assert len(p.clips) == count_clips(n, 4)
        for clip in p.clips:
            assert sum(clip.intensities.values()) == pytest.approx(1.0, abs=1e-5)
            assert len(clip.frame_indices) == 4 and list(clip.frame_indices) == sorted(
                clip.frame_indices
            )
        clip_probs = np.array([[c.intensities[k] for k in p.labels] for c in p.clips])
        np.testing.assert_allclose(
            [p.intensities[k] for k in p.labels], clip_probs.mean(axis=0), atol=1e-7
        )


def test_clip_times_come_from_the_frame_delays(predictor, gifs):
    path = gifs[FRAME_COUNTS.index(9)]
    delays = np.array(read_gif(path).effective_durations_ms) / 1000
    starts = np.concatenate([[0], np.cumsum(delays)])
    p = predictor.predict(path)
    assert p.duration_s == pytest.approx(starts[-1])
    for clip in p.clips:
        assert clip.start_s == pytest.approx(starts[clip.frame_indices[0]])
        assert clip.end_s == pytest.approx(starts[clip.frame_indices[-1] + 1])
    assert [c.frame_indices for c in p.clips[:2]] == [(0, 1, 2, 3), (4, 5, 6, 7)]


def test_every_kind_of_source_gives_the_same_prediction(predictor, gifs):
    path = gifs[FRAME_COUNTS.index(7)]
    data = path.read_bytes()
    reference = predictor.predict(path).intensities
    with open(path, "rb") as handle:
        from_file = predictor.predict(handle)
    named = predictor.predict(NamedBytes("cat.gif", data))
    assert named.source == "cat.gif"
    with local_server({"/cat.gif": respond(200, data)}) as base:
        url = f"{base}/cat.gif"
        from_url = gifemo.load(tiny_trained_model(), allow_private=True).predict(url)
        with pytest.raises(gifemo.inference.BlockedAddressError):
            predictor.predict(url)  # a private-address URL is refused by default
    assert from_url.source == url
    for other in (predictor.predict(data), from_file, named, from_url):
        assert (
            other.intensities == reference
        )  # same bytes, same clips (content-seeded), same numbers


def test_predict_many_batches_across_gifs_and_reports_bad_inputs(predictor, gifs, tmp_path):
    corrupt = tmp_path / "corrupt.gif"
    corrupt.write_bytes(b"GIF89a" + b"\x00" * 20)
    sources = [gifs[0], corrupt, *gifs[1:], tmp_path / "missing.gif", b"not an image"]
    results = list(predictor.predict_many(sources, batch_size=3))  # batches straddle GIFs
    assert [r.ok for r in results] == [True, False] + [True] * (len(gifs) - 1) + [False, False]
    for result, source in zip(results, sources):
        if result.ok:
            assert_same(
                result, predictor.predict(source), atol=1e-6
            )  # batching changes float rounding only
        else:
            assert isinstance(result, PredictionFailure) and result.error
    assert results[1].source == str(corrupt) and str(corrupt) in results[1].error
    assert "no such file" in results[-2].error
    assert results[-1].error_type == "NotAnImageError"


def test_decoding_inline_and_in_threads_agree(gifs):
    inline = gifemo.load(tiny_trained_model(), decode_workers=0)
    threaded = gifemo.load(tiny_trained_model(), decode_workers=2, batch_size=5)
    for a, b in zip(inline.predict_many(gifs), threaded.predict_many(gifs)):
        assert_same(a, b, atol=1e-6)


def assert_same(a: Prediction, b: Prediction, *, atol: float) -> None:
    """Same GIF, same clips and times; intensities within ``atol``."""
    assert (a.source, a.n_frames, a.duration_s, len(a.clips)) == (
        b.source,
        b.n_frames,
        b.duration_s,
        len(b.clips),
    )
    for x, y in zip(a.clips, b.clips):
        assert (x.frame_indices, x.start_s, x.end_s) == (y.frame_indices, y.start_s, y.end_s)
        assert x.intensities == pytest.approx(y.intensities, abs=atol)
    assert a.intensities == pytest.approx(b.intensities, abs=atol)


def test_prediction_json_round_trip(predictor, gifs):
    p = predictor.predict(gifs[2])
    doc = json.loads(p.to_json())
    assert doc["ok"] is True and doc["schema_version"] == 1
    assert doc["top_label"] == p.top_label and doc["n_clips"] == len(p.clips) == len(doc["clips"])
    assert set(doc["intensities"]) == set(gifemo.PAPER_EMOTIONS)
    assert doc["model"]["backend"] == "torch" and doc["model"]["size"] == 32
    again = Prediction.from_dict(doc)
    assert again.intensities == p.intensities and again.clips == p.clips and again.model == p.model
    failure = PredictionFailure.from_exception("x.gif", ValueError("broken"))
    assert json.loads(failure.to_json()) == {
        "schema_version": 1,
        "ok": False,
        "source": "x.gif",
        "error": "x.gif: broken",
        "error_type": "ValueError",
    }


def test_bf16_channels_last_stays_close_to_fp32(gifs):
    fp32 = gifemo.load(tiny_trained_model())
    bf16 = gifemo.load(tiny_trained_model(), precision="bf16", channels_last=True)
    assert bf16.info.precision == "bf16-mixed"
    for path in gifs[3:4]:  # 2 clips; bf16 is slow on CPUs without native bf16 units
        a, b = fp32.predict(path), bf16.predict(path)
        assert sum(b.intensities.values()) == pytest.approx(1.0, abs=1e-5)
        assert max(abs(a.intensities[k] - b.intensities[k]) for k in a.labels) < 0.02


def test_load_refuses_bad_combinations(tmp_path):
    with pytest.raises(ValueError, match="precision"):
        gifemo.load(tiny_trained_model(), precision="16")
    with pytest.raises(ValueError, match="onnxruntime backend needs an .onnx"):
        gifemo.load(tiny_trained_model(), backend="onnxruntime")
    with pytest.raises(ValueError, match="no such checkpoint"):
        gifemo.load(tmp_path / "nowhere")


def test_with_options_copies_limits_and_shares_the_model(predictor, gifs):
    from gifemo.io import TooManyFramesError

    data = max(gifs, key=lambda p: read_gif(p).n_frames).read_bytes()
    limited = predictor.with_options(max_frames=1)
    assert limited.backend is predictor.backend and predictor.max_frames is None
    with pytest.raises(TooManyFramesError, match=r"^upload\.gif: "):
        limited.predict(NamedBytes("upload.gif", data))  # the error names the input, not "<bytes>"
    assert predictor.predict(NamedBytes("upload.gif", data)).n_frames > 1
    with pytest.raises(TypeError, match="unknown predictor option"):
        predictor.with_options(max_frame=3)


def test_prediction_matches_the_runs_evaluation(run_dir):
    """Same decoding, clips (run seed 3 pads short GIFs), model and pooling as `gifemo train`'s
    test report."""
    predictor = gifemo.load(run_dir)
    with open(run_dir / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    data = run_dir.parent / "data"
    results = list(predictor.predict_many([data / row["path"] for row in rows]))
    assert len(rows) >= 7
    for row, p in zip(rows, results):
        assert p.ok, p
        assert len(p.clips) == int(row["n_clips"])
        expected = [float(row[f"prob_{k}"]) for k in p.labels]
        np.testing.assert_allclose([p.intensities[k] for k in p.labels], expected, atol=1e-5)
        assert p.top_label == row["predicted"]


# -- inputs and output files -----------------------------------------------------------------


def test_expand_inputs(tmp_path):
    write_test_gif(tmp_path / "d" / "b.gif", 2)
    write_test_gif(tmp_path / "d" / "sub" / "A.GIF", 2)
    write_test_gif(tmp_path / "d" / ".hidden" / "c.gif", 2)
    (tmp_path / "d" / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    sources = expand_inputs(
        [
            str(tmp_path / "d"),
            "-",
            "https://example.com/x.gif",
            str(tmp_path / "empty"),
            "nope.gif",
            "-",
        ],
        stdin=io.BytesIO(b"GIF89a..."),
    )
    assert sources[:2] == [tmp_path / "d" / "b.gif", tmp_path / "d" / "sub" / "A.GIF"]
    assert sources[2] == NamedBytes("<stdin>", b"GIF89a...")
    assert sources[3] == "https://example.com/x.gif"
    assert isinstance(sources[4], InvalidInput) and "no .gif" in sources[4].error
    assert sources[5] == Path("nope.gif")
    assert isinstance(sources[6], InvalidInput)  # stdin read twice


def test_output_paths_for_one_and_many_inputs(tmp_path):
    dest = tmp_path / "t.png"
    assert output_path(dest, "a/cat.gif", set(), many=False) == dest
    used: set = set()
    names = [
        output_path(dest, s, used, many=True).name
        for s in ("a/cat.gif", "b/cat.gif", "https://x/y/dog%20.gif?s=1", "<stdin>")
    ]
    assert names == ["t-cat.png", "t-cat-2.png", "t-dog_20.png", "t-stdin.png"]


def test_every_frame_maps_to_a_clip(predictor, gifs):
    p = predictor.predict(gifs[FRAME_COUNTS.index(13)])  # 3 clips + 1 dropped frame
    owner = frame_clip_index(p)
    assert owner.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [2]


# -- command line ----------------------------------------------------------------------------


def invoke(*args, input=None):
    return CliRunner().invoke(app, ["predict", *map(str, args)], input=input)


def test_cli_json_lines_with_a_corrupt_file_among_good_ones(run_dir, gifs, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for path in gifs[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "zz-broken.gif").write_bytes(b"this is not a gif")
    result = invoke(run_dir, folder, "--format", "json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(doc["source"]).name for doc in lines] == [p.name for p in gifs[:3]]
    assert all(doc["ok"] and abs(sum(doc["intensities"].values()) - 1) < 1e-6 for doc in lines)
    assert "1 of 4 input(s) failed" in result.stderr and "zz-broken.gif" in result.stderr


def test_cli_stdin_csv_and_table(run_dir, gifs):
    data = gifs[3].read_bytes()
    result = invoke(run_dir, "-", "--format", "csv", input=data)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1 and rows[0]["source"] == "<stdin>"
    assert sum(float(rows[0][k]) for k in gifemo.PAPER_EMOTIONS) == pytest.approx(1.0, abs=1e-4)
    clips = invoke(run_dir, gifs[3], "--format", "csv", "--clips")
    assert len(list(csv.DictReader(io.StringIO(clips.stdout)))) == count_clips(
        read_gif(gifs[3]).n_frames, 4
    )
    table = invoke(run_dir, gifs[3])
    assert table.exit_code == 0 and gifs[3].name in table.stdout
    assert all(label in table.stdout for label in gifemo.PAPER_EMOTIONS)


def test_cli_url_inputs_need_allow_private_for_loopback(run_dir, gifs):
    with local_server({"/x.gif": respond(200, gifs[2].read_bytes())}) as base:
        refused = invoke(run_dir, f"{base}/x.gif", "--format", "json")
        allowed = invoke(run_dir, f"{base}/x.gif", "--format", "json", "--allow-private")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "non-public address 127.0.0.1" in refused.stderr
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["source"] == f"{base}/x.gif"


def test_cli_timeline_and_annotate(run_dir, gifs, tmp_path):
    from PIL import Image

    gif = gifs[FRAME_COUNTS.index(9)]
    result = invoke(
        run_dir, gif, "--timeline", tmp_path / "t.png", "--annotate", tmp_path / "a.gif"
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "t.png") as image:
        assert image.format == "PNG" and image.width > 200
    original, annotated = read_gif(gif), read_gif(tmp_path / "a.gif")
    assert annotated.n_frames == original.n_frames
    assert annotated.durations_ms == original.durations_ms
    assert annotated.width > original.width and annotated.height >= original.height
    # The original frames are kept, left of the panel (up to palette quantisation).
    top = (annotated.height - original.height) // 2
    kept = annotated.frames[:, top : top + original.height, : original.width].astype(int)
    assert np.abs(kept - original.frames).mean() < 8
    # Several inputs: one file per input, suffixed with the input's name.
    many = invoke(run_dir, gifs[0], gifs[1], "--timeline", tmp_path / "m.png", "--format", "json")
    assert many.exit_code == 0, many.output
    assert (tmp_path / f"m-{gifs[0].stem}.png").is_file() and (
        tmp_path / f"m-{gifs[1].stem}.png"
    ).is_file()


def test_cli_usage_errors_exit_2(tmp_path, gifs):
    missing = invoke(tmp_path / "no-run", gifs[0])
    assert missing.exit_code == 2 and "cannot load model" in missing.stderr
    bad_format = invoke(tmp_path / "no-run", gifs[0], "--format", "xml")
    assert bad_format.exit_code == 2
