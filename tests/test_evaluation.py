"""GIF-level evaluation: pooling, metrics, the report files, and `gifemo evaluate`."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from training_helpers import one_torch_thread, tiny_dataset  # noqa: F401  (autouse fixture)
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.data.clips import pool_clips
from gifemo.evaluation.metrics import GifPredictions, accuracy_ci, compute_metrics
from gifemo.hardware import autocast_dtype


@pytest.fixture(scope="module")
def run(trained_run):
    return trained_run


# -- pooling and metrics on hand-made numbers --------------------------------------------------


def test_pool_clips_averages_the_probabilities_of_each_gif():
    gif_index = torch.tensor([7, 3, 7, 7, 3])
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4]])
    targets = torch.tensor([0, 1, 0, 0, 1])
    ids, gif_probs, gif_targets, n_clips, clip_correct = pool_clips(gif_index, probs, targets)
    assert ids.tolist() == [3, 7]
    torch.testing.assert_close(
        gif_probs, torch.tensor([[0.4, 0.6], [0.6, 0.4]], dtype=torch.float64)
    )
    assert gif_targets.tolist() == [1, 0]
    assert n_clips.tolist() == [2, 3]
    # GIF 3: clip [0.2, 0.8] right, [0.6, 0.4] wrong;
    # GIF 7: 0.9 right, 0.6 wrong, (0.5, 0.5) -> class 0 right.
    assert clip_correct.tolist() == [1, 2]


def _predictions(targets, predicted, labels=("a", "b", "c")):
    probs = np.full((len(targets), len(labels)), 0.1)
    probs[np.arange(len(targets)), predicted] = 0.8
    return GifPredictions(
        labels=tuple(labels),
        paths=tuple(f"{labels[t]}/{i}.gif" for i, t in enumerate(targets)),
        targets=np.asarray(targets),
        probs=probs,
        n_clips=np.full(len(targets), 2),
        clip_correct=np.ones(len(targets), dtype=np.int64),
    )


def test_metrics_of_a_hand_checked_example():
    # true:      a a a b b c ;  predicted: a a b b c c
    m = compute_metrics(_predictions([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]))
    assert m["accuracy"]["value"] == pytest.approx(4 / 6)
    per = {row["label"]: row for row in m["per_class"]}
    assert (per["a"]["precision"], per["a"]["recall"]) == (1.0, pytest.approx(2 / 3))
    assert (per["b"]["precision"], per["b"]["recall"]) == (0.5, 0.5)
    assert (per["c"]["precision"], per["c"]["recall"], per["c"]["f1"]) == (
        0.5,
        1.0,
        pytest.approx(2 / 3),
    )
    assert [row["support"] for row in m["per_class"]] == [3, 2, 1]
    assert m["macro"]["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["weighted"]["recall"] == pytest.approx(4 / 6)  # weighted recall is accuracy
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["confusion_matrix_normalized"][0] == pytest.approx([2 / 3, 1 / 3, 0])
    assert m["clip_accuracy"] == 0.5 and m["n_clips"] == 12


def test_bootstrap_interval_is_seeded_and_brackets_the_accuracy():
    correct = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1] * 3)
    low, high = accuracy_ci(correct, seed=0)
    assert (low, high) == accuracy_ci(correct, seed=0)
    assert low < correct.mean() < high
    assert 0.4 < low and high < 0.95
    assert accuracy_ci(np.ones(20)) == (1.0, 1.0)


def test_predictions_csv_round_trips_exactly(tmp_path):
    predictions = _predictions([0, 1, 2, 2], [0, 2, 2, 1])
    predictions = GifPredictions(
        predictions.labels,
        predictions.paths,
        predictions.targets,
        np.random.default_rng(0).dirichlet(np.ones(3), size=4),
        predictions.n_clips,
        predictions.clip_correct,
    )
    loaded = GifPredictions.load(predictions.save(tmp_path / "predictions.csv"))
    assert loaded.labels == predictions.labels and loaded.paths == predictions.paths
    for name in ("targets", "probs", "n_clips", "clip_correct"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(predictions, name))


# -- the report of a trained run ---------------------------------------------------------------


def _read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_agrees_with_a_direct_computation_from_predictions_csv(run):
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    run_dir, _ = run
    report = json.loads((run_dir / "report.json").read_text())
    m = report["metrics"]
    labels = m["labels"]
    rows = _read_rows(run_dir / "predictions.csv")
    assert len(rows) == m["n_gifs"] == report["context"]["split_sizes"]["test"]
    probs = np.array([[float(r[f"prob_{label}"]) for label in labels] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    y_true = [labels.index(r["label"]) for r in rows]
    y_pred = probs.argmax(axis=1)
    assert [labels[i] for i in y_pred] == [r["predicted"] for r in rows]

    assert m["accuracy"]["value"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["accuracy"]["ci_low"] <= m["accuracy"]["value"] <= m["accuracy"]["ci_high"]
    clips = sum(int(r["n_clips"]) for r in rows)
    assert m["clip_accuracy"] == pytest.approx(sum(int(r["clip_correct"]) for r in rows) / clips)
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=range(len(labels)), zero_division=0
    )
    for i, row in enumerate(m["per_class"]):
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i])
        )
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=range(len(labels)), average=average, zero_division=0
        )
        assert (m[average]["precision"], m[average]["recall"], m[average]["f1"]) == pytest.approx(
            (p, r, f)
        )
    assert (
        m["confusion_matrix"]
        == confusion_matrix(y_true, y_pred, labels=range(len(labels))).tolist()
    )

    md = (run_dir / "report.md").read_text()
    assert "| Label | Precision | Recall | F1 score | Support |" in md
    for average in ("macro", "weighted"):
        values = " | ".join(f"{m[average][k]:.4f}" for k in ("precision", "recall", "f1"))
        assert f"| {average} | {values} |" in md
    assert f"**{m['accuracy']['value']:.4f}**" in md
    assert "Training hardware" in md and "64 px" in md
    with Image.open(run_dir / "confusion_matrix.png") as image:
        assert image.format == "PNG" and image.width > image.height > 200


def test_report_matches_the_validation_of_the_same_checkpoint(run):
    # Validation (inside training) and evaluation (one process, afterwards) score the same clips
    # of the same test GIFs with the same weights: they must agree.
    run_dir, _ = run
    report = json.loads((run_dir / "report.json").read_text())
    validated = report["context"]["checkpoint_metrics"]
    assert report["metrics"]["accuracy"]["value"] == pytest.approx(
        validated["val/gif_acc"], abs=1e-6
    )
    assert report["metrics"]["clip_accuracy"] == pytest.approx(validated["val/clip_acc"], abs=1e-6)
    assert report["metrics"]["n_clips"] == validated["val/n_clips"]


def test_gif_probabilities_are_the_mean_of_its_clip_probabilities(run):
    from gifemo.data.cache import build_cache
    from gifemo.data.dataset import ClipDataset
    from gifemo.data.sources import load_dataset
    from gifemo.training.checkpoint import load_trained_model
    from gifemo.training.config import TrainConfig

    run_dir, _ = run
    config = TrainConfig.load(run_dir / "config.yaml")
    trained = load_trained_model(run_dir)
    row = _read_rows(run_dir / "predictions.csv")[0]
    dataset = load_dataset(config.data, labels=trained.labels)
    gif_id = next(i for i, r in enumerate(dataset.records) if r.rel_path == row["path"])
    cache = build_cache(dataset, size=64, cache_dir=config.cache_dir, progress=False)
    clips = ClipDataset(
        cache, [gif_id], preprocess=trained.preprocess, train=False, seed=config.seed
    )
    batch = torch.stack([clips[i][0] for i in range(len(clips))])
    dtype = autocast_dtype(config.precision)  # the report was computed in the run's precision
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        probs = trained.model(batch).float().softmax(dim=1).mean(dim=0)
    assert len(clips) == int(row["n_clips"])
    expected = [float(row[f"prob_{label}"]) for label in trained.labels]
    np.testing.assert_allclose(probs.numpy(), expected, atol=2e-3)


# -- gifemo evaluate ---------------------------------------------------------------------------


def test_evaluate_cli_on_another_dataset_writes_an_out_of_domain_report(run, tmp_path_factory):
    run_dir, _ = run
    other = tiny_dataset(tmp_path_factory.mktemp("other"), per_class=2, size=48, seed=1)
    out = tmp_path_factory.mktemp("ood")
    result = CliRunner().invoke(
        app, ["evaluate", str(run_dir), "--data", str(other), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "GIF accuracy" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["context"]["out_of_domain"] is True
    assert report["context"]["split"] == "all"
    assert report["metrics"]["n_gifs"] == 14
    assert {p.name for p in out.iterdir()} >= {
        "report.json",
        "report.md",
        "predictions.csv",
        "confusion_matrix.png",
    }


def test_evaluate_refuses_data_with_labels_the_model_does_not_know(run, tmp_path):
    run_dir, _ = run
    data = tmp_path / "data"
    sources = sorted((run_dir.parent / "synth" / "anger").glob("*.gif"))
    for label, source in zip(("anger", "boredom"), sources, strict=False):
        (data / label).mkdir(parents=True)
        shutil.copy(source, data / label / f"{label}.gif")
    result = CliRunner().invoke(
        app, ["evaluate", str(run_dir), "--data", str(data), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "['boredom'] are not in the model's label set" in result.output
