"""``gifemo demo``: the demo pipeline end to end with its parameters shrunk (same code path)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from demo_helpers import CountingTrain, capture, tiny

from gifemo.demo import DemoConfig, run_demo

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_writes_every_output_and_lists_it(demo_run):
    config, result, text, counter = demo_run
    out = Path(config.out)
    assert counter.calls == 1
    for name, path in result.outputs.items():
        assert path.exists(), name
        assert str(path) in text, name  # the final listing names every output in full
    report = json.loads((out / "run" / "report.json").read_text())
    assert result.accuracy == report["metrics"]["accuracy"]["value"]
    assert (out / "run" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "data").glob("*/*.gif"))) == 7 * (3 + 2)
    assert len(list((out / "data").glob("*/emoji_*.gif"))) == 7 * 2
    summary = json.loads((out / "demo.json").read_text())
    assert summary["accuracy"] == result.accuracy and set(summary["outputs"]) == set(result.outputs)
    # Each style's test GIFs are scored apart too, and together they are the whole test split.
    styles = result.style_accuracy
    assert set(styles) == {"human", "emoji"} and summary["style_accuracy"] == styles
    assert sum(s["n_gifs"] for s in styles.values()) == report["metrics"]["n_gifs"]
    predictions = (out / "run" / "predictions.csv").read_text().splitlines()[1:]
    emoji_rows = [row for row in predictions if "/emoji_" in row.split(",")[0]]
    hits = sum(row.split(",")[1] == row.split(",")[2] for row in emoji_rows)
    assert styles["emoji"]["value"] == pytest.approx(hits / len(emoji_rows))
    assert styles["emoji"]["ci_low"] <= styles["emoji"]["value"] <= styles["emoji"]["ci_high"]
    for style, acc in styles.items():
        assert f"{style}-style test GIFs: {acc['value']:.1%}" in text


@pytest.mark.slow
def test_demo_predicts_test_gifs_with_timelines_and_an_annotated_gif(demo_run):
    from gifemo.io import read_gif

    config, result, text, _ = demo_run
    out = Path(config.out)
    records = json.loads((out / "predictions" / "predictions.json").read_text())
    test_side = {
        row.split(",")[0]
        for row in (out / "run" / "split.csv").read_text().splitlines()
        if ",test," in row
    }
    assert len(records) == 3
    for record in records:
        source = Path(record["source"])
        assert (
            f"{source.parent.name}/{source.name}" in test_side
        )  # only GIFs the model did not train on
        assert record["true_label"] == source.parent.name
        assert sum(record["intensities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert (out / "predictions" / f"{source.stem}.timeline.png").is_file()
        assert source.stem in text  # the intensities table
    annotated = result.outputs["annotated GIF"]
    assert read_gif(annotated).frames.shape[0] == records[0]["n_frames"]


@pytest.mark.slow
def test_demo_evaluates_out_of_domain(demo_run):
    config, result, _, _ = demo_run
    report = json.loads((Path(config.out) / "ood-ood" / "report.json").read_text())
    assert report["context"]["out_of_domain"] is True
    assert report["metrics"]["n_gifs"] == 7
    assert result.ood_accuracy == report["metrics"]["accuracy"]["value"]


@pytest.mark.slow
def test_running_the_demo_again_reuses_the_dataset_and_the_finished_run(demo_run):
    config, _, _, _ = demo_run
    out = Path(config.out)
    watched = [
        out / "data" / "labels.csv",
        *sorted((out / "data").glob("*/*.gif")),
        out / "run" / "report.json",
        out / "run" / "checkpoints" / "last.ckpt",
    ]
    before = [p.stat().st_mtime_ns for p in watched]
    console, buffer = capture()
    counter = CountingTrain()
    run_demo(config, console=console, train_fn=counter)
    assert counter.calls == 0
    assert [p.stat().st_mtime_ns for p in watched] == before
    assert "reusing" in buffer.getvalue()

    # Other dataset settings would silently pair a new dataset with the old model: refused.
    with pytest.raises(ValueError, match="delete it"):
        run_demo(tiny(out, Path(config.ood_data), per_class=4), console=capture()[0])


def test_make_demo_runs_the_demo_command():
    # --no-print-directory: under CI, make runs nested and would add "Entering directory" lines.
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1].endswith("gifemo demo --out demo")


@pytest.mark.parametrize("epochs", [3, 5, 7])
def test_the_demo_validates_after_its_last_epoch_whatever_the_epoch_count(epochs):
    config = DemoConfig(epochs=epochs).train_config()
    assert config.val_every == epochs
    assert DemoConfig(epochs=epochs, val_every=2).train_config().val_every == 2


def test_the_demo_command_passes_its_seed_and_keeps_the_defaults_otherwise(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import gifemo.demo
    from gifemo.cli import app

    seen = []
    monkeypatch.setattr(gifemo.demo, "run_demo", lambda config: seen.append(config))
    out = str(tmp_path / "d")
    for args in (["--seed", "3"], []):
        result = CliRunner().invoke(app, ["demo", "--out", out, *args])
        assert result.exit_code == 0, result.output
    assert seen[0].seed == 3 and seen[0].synth_settings()["seed"] == 3
    assert seen[0].train_config().seed == 3
    assert seen[1] == DemoConfig(out=out, ood_data=seen[1].ood_data)
