"""Calibration: ECE, classwise ECE, Brier, NLL (against torchmetrics and by hand), temperature
scaling (fitted on a held-out half), and a run calibrated end to end: calibrate -> the report's
before/after, predict, ONNX export, serve's reliability."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from training_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

from gifemo.evaluation.calibration import (
    ClipLogits,
    brier_terms,
    calibration_metrics,
    classwise_calibration_error,
    expected_calibration_error,
    fit_temperature,
    nll_terms,
)

# Four made-up GIFs, three classes: confidences 0.7, 0.5, 0.9, 0.4 (bins of width 1/15).
PROBS = np.array(
    [
        [0.7, 0.2, 0.1],  # top 0, right
        [0.3, 0.5, 0.2],  # top 1, wrong (class 0)
        [0.05, 0.05, 0.9],  # top 2, right
        [0.4, 0.35, 0.25],  # top 0, wrong (class 1)
    ]
)
TARGETS = np.array([0, 0, 2, 1])


def test_ece_of_made_up_rows_by_hand_and_by_torchmetrics():
    from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

    # Each GIF alone in its bin: ECE = mean |hit - confidence|.
    by_hand = (abs(1 - 0.7) + abs(0 - 0.5) + abs(1 - 0.9) + abs(0 - 0.4)) / 4
    assert expected_calibration_error(PROBS, TARGETS) == pytest.approx(by_hand)
    metric = MulticlassCalibrationError(num_classes=3, n_bins=15, norm="l1")
    reference = metric(torch.tensor(PROBS, dtype=torch.float32), torch.tensor(TARGETS))
    assert float(reference) == pytest.approx(by_hand, abs=1e-6)

    binary = BinaryCalibrationError(n_bins=15, norm="l1")
    per_class = [
        float(binary(torch.tensor(PROBS[:, k], dtype=torch.float32), torch.tensor(TARGETS == k)))
        for k in range(3)
    ]
    assert classwise_calibration_error(PROBS, TARGETS) == pytest.approx(np.mean(per_class))


@pytest.mark.parametrize("n", [3, 40, 500])
def test_ece_agrees_with_torchmetrics_on_random_rows(n):
    from torchmetrics.functional.classification import (
        binary_calibration_error,
        multiclass_calibration_error,
    )

    rng = np.random.default_rng(n)
    logits = rng.normal(size=(n, 7)) * 2.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    targets = rng.integers(0, 7, n)
    p, y = torch.tensor(probs, dtype=torch.float32), torch.tensor(targets)
    assert expected_calibration_error(probs, targets) == pytest.approx(
        float(multiclass_calibration_error(p, y, num_classes=7, n_bins=15)), abs=1e-6
    )
    classwise = np.mean([float(binary_calibration_error(p[:, k], y == k)) for k in range(7)])
    assert classwise_calibration_error(probs, targets) == pytest.approx(classwise, abs=1e-6)


def test_brier_and_nll_by_hand():
    assert brier_terms(PROBS, TARGETS)[0] == pytest.approx(0.3**2 + 0.2**2 + 0.1**2)
    assert brier_terms(PROBS, TARGETS)[3] == pytest.approx(0.4**2 + 0.65**2 + 0.25**2)
    assert nll_terms(PROBS, TARGETS) == pytest.approx(-np.log([0.7, 0.3, 0.9, 0.35]))
    # a zero probability for the true class stays finite
    assert np.isfinite(nll_terms(np.array([[1.0, 0.0]]), np.array([1]))).all()


def test_calibration_metrics_have_seeded_bootstrap_intervals():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=120)
    targets = rng.integers(0, 7, 120)
    first = calibration_metrics(probs, targets, n_resamples=200, seed=3)
    assert first == calibration_metrics(probs, targets, n_resamples=200, seed=3)
    for name in ("ece", "classwise_ece", "brier", "nll"):
        entry = first[name]
        assert entry["ci_low"] <= entry["ci_high"]
        assert entry["ci_low"] < entry["value"] + 0.05 and entry["value"] - 0.05 < entry["ci_high"]
    assert sum(b["count"] for b in first["reliability"]) == 120
    assert first["n_bins"] == 15


def _clip_logits(rng, n_gifs: int, scale: float) -> ClipLogits:
    """GIFs of 1-4 clips whose labels are drawn from softmax(true logits): calibrated at
    ``scale`` 1, over-confident above."""
    n_clips = rng.integers(1, 5, n_gifs)
    gif = np.repeat(np.arange(n_gifs), n_clips)
    centre = rng.normal(size=(n_gifs, 7)) * 1.5
    true = centre[gif] + rng.normal(size=(len(gif), 7)) * 0.3
    pooled = np.zeros((n_gifs, 7))
    np.add.at(pooled, gif, np.exp(true) / np.exp(true).sum(axis=1, keepdims=True))
    pooled /= n_clips[:, None]
    labels = np.array([rng.choice(7, p=p / p.sum()) for p in pooled])
    return ClipLogits(
        labels=tuple("abcdefg"),
        paths=tuple(f"g{i}.gif" for i in range(n_gifs)),
        gif=gif,
        logits=(true * scale).astype(np.float32),
        targets=labels[gif],
    )


def test_temperature_fitted_on_a_held_out_half_undoes_over_confidence():
    rng = np.random.default_rng(0)
    val, test = _clip_logits(rng, 600, scale=3.0), _clip_logits(rng, 600, scale=3.0)
    fit = fit_temperature(val)
    assert 2.0 < fit.temperature < 4.5  # the over-confidence put in: x3
    assert fit.nll_after < fit.nll_before and not fit.at_bound
    before, after = test.pooled(1.0), test.pooled(fit.temperature)
    ece_before = expected_calibration_error(before.probs, before.targets)
    ece_after = expected_calibration_error(after.probs, after.targets)
    assert ece_after < ece_before / 2
    # an already calibrated model keeps a temperature near 1
    assert 0.7 < fit_temperature(_clip_logits(rng, 600, scale=1.0)).temperature < 1.4


def test_pooled_probabilities_at_a_temperature_are_the_mean_of_scaled_clip_softmaxes():
    clips = _clip_logits(np.random.default_rng(1), 5, scale=1.0)
    pooled = clips.pooled(2.0)
    first = clips.logits[clips.gif == 0] / 2.0
    expected = (np.exp(first) / np.exp(first).sum(axis=1, keepdims=True)).mean(axis=0)
    assert pooled.probs[0] == pytest.approx(expected, abs=1e-6)
    assert clips.pooled_nll(2.0) == pytest.approx(nll_terms(pooled.probs, pooled.targets).mean())


# -- a run calibrated end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def overconfident_run(trained_run, tmp_path_factory):
    """A copy of the shared 64 px run whose logits are multiplied by 4 (its last layer scaled):
    the same predictions, made over-confident on purpose. It has no validation split."""
    run_dir, _ = trained_run
    run = tmp_path_factory.mktemp("calibration") / "run"
    shutil.copytree(run_dir, run)
    for name in ("last.ckpt", "best.ckpt"):
        path = run / "checkpoints" / name
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("model.head.out.weight", "model.head.out.bias"):
            checkpoint["state_dict"][key] = checkpoint["state_dict"][key] * 4.0
        torch.save(checkpoint, path)
    return run


def test_calibrate_refuses_the_val_split_of_a_run_without_one(overconfident_run):
    from typer.testing import CliRunner

    from gifemo.cli import app

    result = CliRunner().invoke(app, ["calibrate", str(overconfident_run), "--no-progress"])
    assert result.exit_code == 2
    assert "no validation split" in result.output and str(overconfident_run) in result.output
    assert not (overconfident_run / "calibration.json").exists()


@pytest.fixture(scope="module")
def calibrated_run(overconfident_run):
    """The over-confident run after ``gifemo calibrate RUN --split test``: (run, CLI output)."""
    from typer.testing import CliRunner

    from gifemo.cli import app

    result = CliRunner().invoke(
        app, ["calibrate", str(overconfident_run), "--split", "test", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    return overconfident_run, result.output


def test_an_over_confident_model_gets_a_temperature_above_1_and_a_lower_ece(calibrated_run):
    import gifemo
    from gifemo.evaluation.metrics import GifPredictions

    overconfident_run, output = calibrated_run
    assert "optimistic" in output  # the warning: fitted on the test GIFs
    record = json.loads((overconfident_run / "calibration.json").read_text())
    temperature = record["temperature"]
    assert temperature > 1.5 and record["split"] == "test"
    assert record["after"]["nll"] < record["before"]["nll"]
    assert record["checkpoint_name"] == "last.ckpt"  # auto: no val split, so the last epoch

    report = json.loads((overconfident_run / "report.json").read_text())
    calibration = report["metrics"]["calibration"]
    assert calibration["temperature"] == pytest.approx(temperature)
    assert calibration["ece"]["value"] < calibration["uncalibrated"]["ece"]["value"]
    assert calibration["nll"]["value"] < calibration["uncalibrated"]["nll"]["value"]
    assert calibration["optimistic"] and calibration["fitted_on"] == "test"
    markdown = (overconfident_run / "report.md").read_text()
    assert "## Calibration" in markdown and "optimistic" in markdown
    assert "uncalibrated (T = 1)" in markdown
    assert (overconfident_run / "reliability_diagram.png").stat().st_size > 0

    # gifemo.load applies it: the run's predictions.csv is what the predictor says now.
    predictor = gifemo.load(overconfident_run, precision="32")
    assert predictor.info.temperature == pytest.approx(temperature)
    assert predictor.backend.reliability["ece"] == calibration["ece"]
    assert predictor.backend.reliability["optimistic"]
    table = GifPredictions.load(overconfident_run / "predictions.csv")
    data = report["context"]["data"]
    for path, probs in list(zip(table.paths, table.probs))[:3]:
        got = predictor.predict(f"{data}/{path}").intensities
        assert [got[label] for label in table.labels] == pytest.approx(probs.tolist(), abs=1e-5)
    raw = gifemo.load(overconfident_run, precision="32", calibrated=False)
    assert raw.info.temperature == 1.0
    # The raw model's reliability is the report's uncalibrated measurement, fitted on nothing.
    assert raw.backend.reliability["ece"] == calibration["uncalibrated"]["ece"]
    assert raw.backend.reliability["fitted_on"] is None
    assert not raw.backend.reliability["optimistic"]
    first = f"{data}/{table.paths[0]}"
    assert max(raw.predict(first).intensities.values()) > max(
        predictor.predict(first).intensities.values()
    )

    # The temperature belongs to last.ckpt: the run's other checkpoint is left uncalibrated.
    assert gifemo.load(overconfident_run, precision="32", which="best").info.temperature == 1.0


@pytest.mark.slow
def test_the_onnx_export_divides_the_logits_by_the_temperature(calibrated_run, tmp_path):
    import gifemo
    from gifemo.inference.export import export_onnx
    from gifemo.training.checkpoint import load_trained_model

    overconfident_run, _ = calibrated_run
    trained = load_trained_model(overconfident_run)
    result = export_onnx(trained, tmp_path / "model.onnx")
    assert json.loads(result.metadata["gifemo.temperature"]) == pytest.approx(trained.temperature)
    assert json.loads(result.metadata["gifemo.calibration"])["split"] == "test"
    clips = np.random.default_rng(0).integers(0, 256, (3, 4, 64, 64, 3), dtype=np.uint8)
    torch_side = gifemo.load(overconfident_run, precision="32").backend(clips)
    onnx_side = gifemo.load(result.path)
    assert onnx_side.info.temperature == pytest.approx(trained.temperature)
    assert onnx_side.backend(clips) == pytest.approx(torch_side, abs=1e-5)
    raw_torch = gifemo.load(overconfident_run, precision="32", calibrated=False).backend(clips)
    assert gifemo.load(result.path, calibrated=False).backend(clips) == pytest.approx(
        raw_torch, abs=1e-5
    )
    assert onnx_side.backend.reliability["split"] == "test"
