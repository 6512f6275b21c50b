"""``gifemo export --int8``: static INT8 quantisation that predicts like the float32 export.

The agreement the export reports is recomputed here from the two files, on the run's test GIFs.
Slow: the module exports the tiny run to ONNX once and quantises it twice (about a minute on 2
idle cores, mostly the exporter).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from predict_helpers import tiny_onnx, tiny_run, write_test_gif
from typer.testing import CliRunner

import gifemo
from gifemo.cli import app
from gifemo.inference.quantize import (
    QUANTIZATION_KEY,
    calibration_batch,
    export_int8,
    node_scopes,
    run_split_files,
)

pytestmark = pytest.mark.slow

#: The per-frame ResNet18 trunk: conv1, 16 block convolutions, 3 downsample convolutions.
RESNET18_CONVS = 20


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("int8-run"))


@pytest.fixture(scope="module")
def fp32(run_dir, tmp_path_factory):
    return tiny_onnx(run_dir.parent)


@pytest.fixture(scope="module")
def int8(fp32, tmp_path_factory):
    dest = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    return export_int8(fp32, dest, calibration_clips=16)


def test_reported_agreement_is_what_the_two_files_give_on_the_test_gifs(run_dir, fp32, int8):
    check = int8.agreement
    test_files, source = run_split_files(run_dir / "checkpoints" / "last.ckpt", "test")
    assert check.n_gifs == len(test_files) == 7 and "test split" in check.source == source
    assert not check.failures
    reference, quantized = gifemo.load(fp32), gifemo.load(int8.path)
    same, diffs, clips_same, n_clips = 0, [], 0, 0
    for path in test_files:
        a, b = reference.predict(path), quantized.predict(path)
        same += a.top_label == b.top_label
        pa = np.array([list(c.intensities.values()) for c in a.clips])
        pb = np.array([list(c.intensities.values()) for c in b.clips])
        clips_same += int((pa.argmax(1) == pb.argmax(1)).sum())
        n_clips += len(pa)
        diffs += [abs(a.intensities[k] - b.intensities[k]) for k in a.labels]
        diffs.append(float(np.abs(pa - pb).max()))
    assert check.top1_agreement == pytest.approx(same / len(test_files))
    assert check.clip_top1_agreement == pytest.approx(clips_same / n_clips)
    assert check.n_clips == n_clips
    assert check.max_abs_diff == pytest.approx(max(diffs), abs=1e-7)
    # INT8 is an approximation, but a close one: a wrong scale or an unquantised input range
    # (uint8 frames read as int8...) moves probabilities by tenths.
    assert 0 < check.max_abs_diff < 0.05
    assert check.top1_agreement >= 6 / 7


def test_the_int8_file_says_what_it_is_and_loads_unchanged(run_dir, int8, tmp_path):
    model = onnx.load(int8.path)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["gifemo.precision"] == "int8"
    record = json.loads(meta[QUANTIZATION_KEY])
    assert record["format"] == "QDQ" and record["scope"] == "backbone"
    calibration = record["calibration"]
    assert calibration["clips"] == 16 and calibration["method"] == "MinMax"
    assert "train split" in calibration["source"] and calibration["gifs"] >= 8
    assert record["check"]["n_gifs"] == 7
    # Everything gifemo needs to predict is still there.
    assert json.loads(meta["gifemo.labels"])[0] == "happiness"
    predictor = gifemo.load(int8.path)
    assert predictor.info.precision == "int8" and predictor.info.backend == "onnxruntime"
    gif = write_test_gif(tmp_path / "g.gif", 6, seed=3, size=(30, 22))
    prediction = predictor.predict(gif)
    assert prediction.to_dict()["model"]["precision"] == "int8"
    assert sum(prediction.intensities.values()) == pytest.approx(1.0, abs=1e-5)


def test_only_the_backbone_is_quantised(int8):
    model = onnx.load(int8.path)
    nodes = {n.name: n for n in model.graph.node}
    assert len(int8.quantized_nodes) == RESNET18_CONVS
    assert all("model.backbone" in node_scopes(nodes[name]) for name in int8.quantized_nodes)
    producers = {out: n for n in model.graph.node for out in n.output}

    def weight_is_dequantized(node):
        producer = producers.get(node.input[1])
        return producer is not None and producer.op_type == "DequantizeLinear"

    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    quantized = {n.name for n in convs if weight_is_dequantized(n)}
    assert quantized == set(int8.quantized_nodes)
    # The ConvGRU's convolutions, its gates and the head stay float32.
    assert int8.float_ops["Conv"] == len(convs) - RESNET18_CONVS > 0
    assert int8.float_ops["Gemm"] == 2
    for op in ("Sigmoid", "Tanh", "Softmax"):
        for node in (n for n in model.graph.node if n.op_type == op):
            assert producers[node.input[0]].op_type != "DequantizeLinear"


def test_cli_int8_with_explicit_calibration_gifs(run_dir, fp32, tmp_path):
    gifs = tmp_path / "calibration"
    for n in (4, 7, 9):
        write_test_gif(gifs / f"c{n}.gif", n, seed=n, size=(40, 30))
    dest = tmp_path / "cli.int8.onnx"
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(fp32),
            "--onnx",
            str(dest),
            "--int8",
            "--int8-data",
            str(gifs),
            "--int8-clips",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "calibrated on 4 clips of 3 GIFs" in result.stderr
    assert "top-1 agreement" in result.stderr and "max |dp|" in result.stderr
    record = json.loads({p.key: p.value for p in onnx.load(dest).metadata_props}[QUANTIZATION_KEY])
    assert record["calibration"]["source"] == str(gifs)


def test_int8_usage_errors(run_dir, fp32, int8, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(
        app,
        [
            "export",
            str(fp32),
            "--onnx",
            str(tmp_path / "a.onnx"),
            "--int8",
            "--int8-data",
            str(tmp_path / "nowhere"),
        ],
    )
    assert missing.exit_code == 2 and "nowhere: not a folder of GIFs" in missing.stderr
    again = runner.invoke(
        app, ["export", str(int8.path), "--onnx", str(tmp_path / "b.onnx"), "--int8"]
    )
    assert again.exit_code == 2 and "already int8, not a float32 export" in again.stderr
    # A float32 file away from its run: its training GIFs are unknown, so say what to give.
    alone = tmp_path / "alone" / "model.onnx"
    alone.parent.mkdir()
    shutil.copy(fp32, alone)
    onnx_model = onnx.load(alone)
    for prop in onnx_model.metadata_props:
        if prop.key == "gifemo.source_checkpoint":
            prop.value = str(tmp_path / "gone" / "checkpoints" / "last.ckpt")
    onnx.save(onnx_model, alone)
    lost = runner.invoke(app, ["export", str(alone), "--onnx", str(tmp_path / "c.onnx"), "--int8"])
    assert lost.exit_code == 2 and "give GIFs explicitly (--int8-data DATA)" in lost.stderr
    assert not (tmp_path / "a.onnx").exists() and not (tmp_path / "c.onnx").exists()


def test_calibration_clips_are_spread_over_gifs(fp32, tmp_path):
    predictor = gifemo.load(fp32)
    files = [write_test_gif(tmp_path / f"g{n}.gif", n, seed=n, size=(30, 22)) for n in (8, 12, 16)]
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"not a gif at all")
    clips, used, failures = calibration_batch(predictor, [*files, bad], limit=3, seed=1)
    assert clips.shape == (3, 4, 32, 32, 3) and clips.dtype == np.uint8
    # One clip per GIF while there are GIFs left: the 3 clips come from 3 GIFs.
    assert used == 3
    frames = [predictor.prepare(f).clip_batch for f in files]
    origin = [
        next(i for i, f in enumerate(frames) if any((c == x).all() for x in f)) for c in clips
    ]
    assert sorted(origin) == [0, 1, 2]
    # Fewer GIFs than clips asked for: each gives more (two here).
    clips, used, failures = calibration_batch(predictor, [*files, bad], limit=6, seed=1)
    assert len(clips) == 6 and used == 3
    assert len(failures) == 1 and failures[0].startswith(str(bad))
