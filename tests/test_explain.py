"""Explanations: frame importance by brute force, Grad-CAM and occlusion maps, the files of
``gifemo explain``, occlusion against a model whose evidence is known, and a sanity check
from the literature on a model trained for it: the maps change when the weights are
randomised (Adebayo et al. 2018)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from predict_helpers import tiny_trained_model, write_test_gif
from training_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

import gifemo
from gifemo.inference.explain import Explainer, neighbour_of


@pytest.fixture(scope="module")
def tiny():
    """An untrained 32 px model: plumbing, not saliency."""
    return gifemo.load(tiny_trained_model(), precision="32", batch_size=5)


def test_frame_importance_is_the_score_drop_when_a_frame_is_replaced(tiny, tmp_path):
    gif = write_test_gif(tmp_path / "a.gif", 11, size=(40, 32))
    explanation, _ = Explainer(tiny).explain(gif, label="sadness")
    prepared = tiny.prepare(gif)
    label = tiny.labels.index("sadness")
    base = tiny.predict_clips(prepared.clip_batch)[:, label].mean()
    assert explanation.score == pytest.approx(base, abs=1e-6)
    for f in (0, 5, 10):  # brute force: the whole GIF again with frame f replaced
        frames = prepared.frames.copy()
        frames[f] = prepared.frames[neighbour_of(f, len(frames))]
        clips = frames[np.stack(prepared.clips)]
        without = tiny.predict_clips(clips)[:, label].mean()
        assert explanation.frame_scores[f] == pytest.approx(without, abs=1e-6)
        assert explanation.frame_importance[f] == pytest.approx(base - without, abs=1e-6)
    # 11 frames make two clips and a remainder of 3 frames, padded into a third clip
    assert explanation.covered.all() and explanation.n_frames == 11
    assert explanation.heatmaps.shape == (11, 32, 32)
    assert 0 <= explanation.heatmaps.min() and explanation.heatmaps.max() == pytest.approx(1.0)


class NoGradients:
    """A backend without a torch module (as ONNX Runtime): only the Backend protocol."""

    def __init__(self, backend):
        for name in ("labels", "preprocess", "info", "clip_seed", "temperature"):
            setattr(self, name, getattr(backend, name))
        self._backend = backend

    def __call__(self, clips):
        return self._backend(clips)


def test_occlusion_needs_no_gradients_and_gradcam_says_it_does(tiny, tmp_path):
    from gifemo.inference import Predictor

    gif = write_test_gif(tmp_path / "b.gif", 4, size=(32, 32))
    opaque = Predictor(NoGradients(tiny.backend), batch_size=64)
    explainer = Explainer(opaque)
    assert not explainer.supports_gradcam
    with pytest.raises(ValueError, match="occlusion"):
        explainer.explain(gif, method="gradcam")
    explanation, _ = explainer.explain(gif)  # the default falls back to occlusion
    assert explanation.method == "occlusion" and explanation.layer is None
    assert explanation.details["occlusion"] == {"window": 8, "stride": 4}
    assert explanation.heatmaps.shape == (4, 32, 32) and explanation.heatmaps.max() > 0


@pytest.mark.parametrize("name", ["cnn_lstm", "c3d"])
def test_gradcam_finds_the_last_stage_of_2d_and_3d_models(name, tmp_path):
    gif = write_test_gif(tmp_path / "c.gif", 6, size=(32, 32))
    explanation, _ = Explainer(gifemo.load(tiny_trained_model(name), precision="32")).explain(gif)
    expected = {"cnn_lstm": ("backbone.layer4", [1, 1]), "c3d": ("backbone.conv5b", [1, 2, 2])}
    assert (explanation.layer, explanation.details["cam_grid"]) == expected[name]
    assert explanation.heatmaps.shape == (6, 32, 32)


def test_unknown_label_and_method_are_refused(tiny, tmp_path):
    gif = write_test_gif(tmp_path / "d.gif", 4)
    with pytest.raises(ValueError, match="unknown label 'joy'"):
        Explainer(tiny).explain(gif, label="joy")
    with pytest.raises(ValueError, match="method must be one of"):
        Explainer(tiny).explain(gif, method="lime")


# -- on a model trained for it (conftest.explain_run) -------------------------------------------


def test_gifemo_explain_writes_the_heatmap_gif_the_plot_and_the_json(explain_run, tmp_path):
    from typer.testing import CliRunner

    from gifemo.cli import app
    from gifemo.io import read_gif

    run, data, specs = explain_run
    gif = data / specs[0]["path"]
    out = tmp_path / "why"
    result = CliRunner().invoke(app, ["explain", str(run), str(gif), "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "explanation.json").read_text())
    source = read_gif(gif)
    heat = read_gif(out / "heatmap.gif")
    assert heat.frames.shape == source.frames.shape  # the GIF's own frames, size and delays
    assert heat.durations_ms == source.durations_ms
    assert not np.array_equal(heat.frames, source.frames)
    assert (out / "frame_importance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert document["n_frames"] == len(source.frames) == len(document["frames"])
    assert document["method"] == "gradcam" and document["layer"] == "backbone.layer4"
    assert document["label"] == document["prediction"]["top_label"]
    assert document["model"]["temperature"] == pytest.approx(
        json.loads((run / "calibration.json").read_text())["temperature"]
    )
    assert len(document["heatmaps"]) == document["n_frames"]

    bad = CliRunner().invoke(app, ["explain", str(run), str(gif), "-o", str(out), "-l", "joy"])
    assert bad.exit_code == 2 and "unknown label 'joy'" in bad.output


class BoxReader:
    """A known answer for occlusion: class 0's probability grows with how far the pixels of one
    box stray from the occlusion grey, and nothing outside the box counts."""

    def __init__(self, backend, box: tuple[slice, slice]):
        self.preprocess, self.batch_size, self.box = backend.preprocess, backend.batch_size, box

    def predict_clips(self, clips: np.ndarray) -> np.ndarray:
        grey = np.asarray(self.preprocess.mean) * 255.0
        inside = clips[:, :, self.box[0], self.box[1], :].astype(np.float64)
        score = 1 / (1 + np.exp(-((inside - grey) ** 2).mean(axis=(1, 2, 3, 4)) / 2000.0))
        return np.stack([score, 1 - score], axis=1).astype(np.float32)


def test_the_occlusion_map_falls_where_the_model_reads_and_nowhere_else(tiny, tmp_path):
    """Occlusion against a model whose evidence is known: all heat within one patch of the box
    it reads, most of it inside the box (patches straddling its edge spread theirs out)."""
    from gifemo.inference.explain import occlusion_maps

    gif = write_test_gif(tmp_path / "a.gif", 8, size=(40, 32))
    prepared = tiny.prepare(gif)
    rows, cols = slice(8, 24), slice(12, 20)
    window, stride = 8, 4
    maps = occlusion_maps(BoxReader(tiny, (rows, cols)), prepared, 0, window=window, stride=stride)
    assert maps.shape == prepared.clip_batch.shape[:4]
    mass = maps.sum(axis=(0, 1))  # (S, S)
    near = np.zeros_like(mass, dtype=bool)
    near[
        rows.start - window + 1 : rows.stop + window - 1,
        cols.start - window + 1 : cols.stop + window - 1,
    ] = True
    assert mass.sum() > 0
    assert np.all(mass[~near] == 0), "heat outside the patches that touch the box"
    inside = np.zeros_like(near)
    inside[rows, cols] = True
    assert mass[inside].sum() / mass.sum() > 0.5
    assert np.all(mass[inside] > 0)


def test_gradcam_changes_when_the_weights_are_randomised(explain_run):
    """Adebayo et al. 2018, cascading randomisation from the top: the head, the ConvGRU, then
    the trunk's last stage get fresh weights; the maps must not survive it."""
    import torch
    from scipy.stats import spearmanr

    from gifemo.training.checkpoint import load_trained_model

    run, data, specs = explain_run
    trained = load_trained_model(run)
    randomised = copy.deepcopy(trained)
    torch.manual_seed(0)
    for name in ("head", "convgru", "backbone.layer4"):
        for module in randomised.model.get_submodule(name).modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    explainers = [Explainer(gifemo.load(t, precision="32")) for t in (trained, randomised)]
    correlations = []
    for spec in specs:
        prepared = explainers[0].predictor.prepare(data / spec["path"])
        maps = [e.saliency(prepared, spec["label"], "gradcam")[0] for e in explainers]
        if maps[0].max() == 0:
            # Grad-CAM keeps only positive evidence: a GIF whose layer4 evidence for the label
            # is all negative has an empty map (seen with torch as on an AVX2 CPU).
            continue
        if maps[1].max() == 0:  # nothing left to rank: as different as it gets
            correlations.append(0.0)
        else:
            correlations.append(spearmanr(maps[0].ravel(), maps[1].ravel()).statistic)
    assert correlations, "every trained map was empty"
    assert np.mean(correlations) < 0.5, correlations
