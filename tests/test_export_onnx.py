"""``gifemo export --onnx``: one self-describing ONNX file that predicts like the eager model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from predict_helpers import tiny_run, tiny_trained_model, write_test_gif
from typer.testing import CliRunner

import gifemo
from gifemo.cli import app
from gifemo.inference.export import export_onnx
from gifemo.models import list_models

TOLERANCE = 1e-4  # the bound on |torch - onnxruntime| probabilities


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("export-run"))


@pytest.fixture(scope="module")
def gifs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-gifs")
    return [write_test_gif(root / f"g{n}.gif", n, seed=10 + n, size=(30, 22)) for n in (2, 5, 11)]


@pytest.fixture(scope="module")
def exports(run_dir, tmp_path_factory):
    """The run exported twice into one folder: weights in ``m.onnx.data``, then (CLI) inside the
    file.

    Returns ``(single_file, external_pair_folder)``; the external-data pair is copied away before
    the second export, which must remove the stale ``m.onnx.data``.
    """
    folder = tmp_path_factory.mktemp("onnx")
    first = export_onnx(run_dir, folder / "m.onnx", external_data=True)
    assert first.data_path == folder / "m.onnx.data" and first.data_path.stat().st_size > 10_000
    assert first.max_abs_diff is not None and first.max_abs_diff < TOLERANCE
    pair = tmp_path_factory.mktemp("moved")
    for name in ("m.onnx", "m.onnx.data"):
        shutil.copy(folder / name, pair / name)
    result = CliRunner().invoke(app, ["export", str(run_dir), "--onnx", str(folder / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "opset" in result.stderr and "max |torch - onnxruntime|" in result.stderr
    return folder / "m.onnx", pair


@pytest.fixture(scope="module")
def exported(exports):
    return exports[0]


def max_difference(a, b) -> float:
    """Largest probability difference between two predictions, over the GIF and every clip."""
    assert len(a.clips) == len(b.clips)
    pairs = [(a.intensities, b.intensities)] + [
        (x.intensities, y.intensities) for x, y in zip(a.clips, b.clips)
    ]
    return max(abs(x[k] - y[k]) for x, y in pairs for k in a.labels)


def test_the_onnx_file_alone_predicts_like_torch(run_dir, exported, gifs, tmp_path):
    alone = tmp_path / "alone.onnx"  # nothing else in this folder: no run dir, no config
    shutil.copy(exported, alone)
    # The exported graph is float32: compare with torch in float32, whatever `auto` picks here.
    torch_predictor = gifemo.load(run_dir, precision="32")
    onnx_predictor = gifemo.load(alone)
    assert onnx_predictor.info.backend == "onnxruntime" and torch_predictor.info.backend == "torch"
    assert onnx_predictor.labels == torch_predictor.labels
    assert onnx_predictor.preprocess == torch_predictor.preprocess
    for a, b in zip(torch_predictor.predict_many(gifs), onnx_predictor.predict_many(gifs)):
        assert a.ok and b.ok
        assert [c.frame_indices for c in a.clips] == [c.frame_indices for c in b.clips]
        assert max_difference(a, b) < TOLERANCE
        assert sum(b.intensities.values()) == pytest.approx(1.0, abs=1e-6)


def test_metadata_holds_labels_and_preprocessing(run_dir, exported):
    import onnx

    model = onnx.load(str(exported))
    props = {p.key: p.value for p in model.metadata_props}
    trained = gifemo.load(run_dir)
    assert json.loads(props["gifemo.labels"]) == list(trained.labels)
    assert json.loads(props["gifemo.size"]) == 32 and json.loads(props["gifemo.clip_len"]) == 4
    assert json.loads(props["gifemo.mean"]) == pytest.approx(list(trained.preprocess.mean))
    assert json.loads(props["gifemo.std"]) == pytest.approx(list(trained.preprocess.std))
    assert props["gifemo.model_name"] == "resnet_convgru"
    assert (
        json.loads(props["gifemo.clip_seed"]) == 3
    )  # the run's seed: same clip padding as its evaluation
    opset = {o.domain: o.version for o in model.opset_import}[""]
    assert json.loads(props["gifemo.opset"]) == opset
    assert props["gifemo.gifemo_version"] == gifemo.__version__
    (graph_input,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [4, 32, 32, 3]  # dynamic batch, fixed clip


def test_dynamic_batch(exported):
    predictor = gifemo.load(exported)
    clips = np.random.default_rng(0).integers(0, 256, (7, 4, 32, 32, 3), dtype=np.uint8)
    one_by_one = np.concatenate([predictor.backend(clips[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(predictor.backend(clips), one_by_one, atol=1e-6)
    np.testing.assert_allclose(one_by_one.sum(axis=1), 1.0, atol=1e-6)


def test_external_data_travels_with_the_model(run_dir, exports, gifs):
    single, pair = exports
    assert sorted(p.name for p in single.parent.iterdir()) == ["m.onnx"]  # stale data file removed
    # Moved elsewhere together, the pair loads: onnxruntime finds the data file beside the model.
    prediction = gifemo.load(pair / "m.onnx").predict(gifs[1])
    reference = gifemo.load(run_dir, precision="32").predict(gifs[1])
    assert max_difference(prediction, reference) < TOLERANCE
    # Without its data file, the model is refused with a message naming it.
    (pair / "m.onnx.data").unlink()
    with pytest.raises(ValueError, match="m.onnx"):
        gifemo.load(pair / "m.onnx")


def test_a_foreign_onnx_file_is_refused_clearly(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match="no gifemo metadata.*gifemo export"):
        gifemo.load(tmp_path / "plain.onnx")


def test_export_usage_errors(run_dir, tmp_path):
    wrong_suffix = CliRunner().invoke(
        app, ["export", str(run_dir), "--onnx", str(tmp_path / "m.bin")]
    )
    assert wrong_suffix.exit_code == 2 and ".onnx" in wrong_suffix.stderr
    no_run = CliRunner().invoke(
        app, ["export", str(tmp_path / "nothing"), "--onnx", str(tmp_path / "m.onnx")]
    )
    assert no_run.exit_code == 2 and "nothing" in no_run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in list_models() if n != "resnet_convgru"])
def test_every_registered_model_exports(name, tmp_path):
    """Untrained at 32 px: the point is that each architecture goes through the exporter and
    agrees."""
    result = export_onnx(tiny_trained_model(name), tmp_path / f"{name}.onnx")
    assert result.max_abs_diff < TOLERANCE
    assert gifemo.load(result.path).info.name == name


@pytest.mark.parametrize(
    ("pool", "shape"),
    [
        (
            lambda: __import__("torch").nn.AdaptiveMaxPool3d((1, 4, 4)),
            (2, 3, 3, 2, 2),
        ),  # C3D at 32 px: grows
        (
            lambda: __import__("torch").nn.AdaptiveMaxPool3d((1, 4, 4)),
            (2, 3, 1, 7, 14),
        ),  # 112 px: uneven windows
        (lambda: __import__("torch").nn.AdaptiveMaxPool2d((5, None)), (2, 3, 13, 9)),
        (lambda: __import__("torch").nn.AdaptiveMaxPool1d(3), (2, 3, 10)),
    ],
)
def test_static_adaptive_max_pool_is_exact(pool, shape):
    import torch

    from gifemo.inference.export import StaticAdaptiveMaxPool

    layer = pool()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(StaticAdaptiveMaxPool(layer)(x), layer(x))
