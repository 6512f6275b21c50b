"""``gifemo reproduce``: the plan, skipping finished runs, resuming interrupted ones, aggregation.

The runs are real (the training pipeline on a tiny synthetic dataset, 32 px, one epoch, small
models), so every number in the aggregated tables comes from actual report.json files.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import statistics
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from scipy.stats import t as student_t
from training_helpers import SMALL_CONVGRU
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.evaluation import train_and_evaluate
from gifemo.experiments import ReproduceConfig, plan_runs, run_plan, run_state
from gifemo.experiments.paper import ABLATION, PAPER_MODELS, TABLE2, TABLE3, TABLE4
from gifemo.experiments.summary import summarize

MODELS = ("resnet_convgru", "cnn_lstm")
MODEL_KWARGS = {"resnet_convgru": dict(SMALL_CONVGRU), "cnn_lstm": {"hidden_size": 16}}
TRAINING = dict(
    size=32,
    epochs=1,
    batch_size=8,
    max_clips_per_gif=1,
    workers=0,
    precision="32",
    accelerator="cpu",
    lr=5e-4,
)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from gifemo.data.synth import generate_dataset

    base = tmp_path_factory.mktemp("reproduce")
    generate_dataset(base / "data", per_class=4, size=48, seed=0, difficulty=0.0, workers=1)
    # Stands for the real emoji of the out-of-domain check: GIFs the runs never saw.
    generate_dataset(base / "other", per_class=1, size=48, seed=1, workers=1)
    return base


def make_config(base: Path, out: str, **changes) -> ReproduceConfig:
    values = dict(
        data=str(base / "data"),
        out=str(base / out),
        models=MODELS,
        seeds=(0, 1),
        clip_lens=(2, 4),
        model_kwargs=MODEL_KWARGS,
        training={**TRAINING, "cache_dir": str(base / "cache")},
    )
    values.update(changes)
    return ReproduceConfig(**values)


class CountingTrain:
    """The real ``train_and_evaluate``, recording each call's run and ``resume`` flag."""

    def __init__(self, **options) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.options = options

    def __call__(self, config, run_dir, *, resume, progress):
        self.calls.append((Path(run_dir).name, resume))
        return train_and_evaluate(config, run_dir, resume=resume, progress=False, **self.options)


@pytest.fixture(scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def finished(base, one_thread):
    """The plan of 2 models x 2 seeds x T in (2, 4), run once: 6 runs, the 4 of T=4 also
    evaluated out of domain."""
    config = make_config(base, "results", ood_data=str(base / "other"))
    counter = CountingTrain()
    outcome = run_plan(config, progress=False, echo=lambda _: None, train_fn=counter)
    return config, outcome, counter.calls


def test_the_plan_trains_each_run_once_for_all_experiments(tmp_path):
    config = ReproduceConfig(data=str(tmp_path), out=str(tmp_path / "out"))
    runs = plan_runs(config)
    names = [r.name for r in runs]
    # 5 models at T=4 + ResNet-ConvGRU at T=2, 6, 8, for each of 3 seeds.
    assert len(names) == len(set(names)) == 3 * (5 + 3)
    by_name = {r.name: r for r in runs}
    assert by_name["resnet_convgru-T4-s0"].experiments == ("table2", "table3", "table4", "ablation")
    assert by_name["vgg_convgru-T4-s1"].experiments == ("table3", "table4")
    assert by_name["c3d-T4-s2"].experiments == ("table4",)
    assert by_name["resnet_convgru-T8-s2"].experiments == ("ablation",)
    # Seed by seed, the shared run first: an interrupted plan already fills every table.
    assert names[:8] == [
        "resnet_convgru-T4-s0",
        *(f"{m}-T4-s0" for m in PAPER_MODELS[1:]),
        "resnet_convgru-T2-s0",
        "resnet_convgru-T6-s0",
        "resnet_convgru-T8-s0",
    ]
    assert [r.seed for r in runs] == [0] * 8 + [1] * 8 + [2] * 8

    # Tables 2-4 keep the paper's T=4 even when the ablation leaves it out.
    subset = ReproduceConfig(
        data=str(tmp_path),
        out=str(tmp_path / "o"),
        seeds=(3,),
        clip_lens=(2, 8),
        models=("resnet_convgru", "c3d"),
        experiments=("table4", "ablation"),
    )
    assert [(r.name, r.experiments) for r in plan_runs(subset)] == [
        ("resnet_convgru-T4-s3", ("table4",)),
        ("c3d-T4-s3", ("table4",)),
        ("resnet_convgru-T2-s3", ("ablation",)),
        ("resnet_convgru-T8-s3", ("ablation",)),
    ]
    # A model left out is left out of every experiment.
    alone = ReproduceConfig(
        data=str(tmp_path), out=str(tmp_path / "o"), models=("cnn_lstm",), seeds=(0,)
    )
    assert [(r.name, r.experiments) for r in plan_runs(alone)] == [("cnn_lstm-T4-s0", ("table4",))]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": ("resnet_convgru", "resnet50")}, "unknown model 'resnet50'"),
        ({"experiments": ("table5",)}, "unknown experiment"),
        ({"training": {"seed": 3}}, "set per run by the plan"),
        ({"training": {"size": 8}}, "size must be >= 16"),
        ({"seeds": ()}, "seeds: give at least one"),
    ],
)
def test_bad_settings_are_refused_before_any_training(tmp_path, changes, message):
    values = {"data": str(tmp_path), "out": str(tmp_path / "out"), **changes}
    with pytest.raises(ValueError, match=message):
        ReproduceConfig(**values)


@pytest.mark.slow
def test_every_run_is_trained_once_and_the_runs_of_a_seed_share_one_split(finished):
    config, outcome, calls = finished
    planned = [r.name for r in plan_runs(config)]
    assert calls == [(name, False) for name in planned]
    assert outcome.trained == planned and not outcome.failed
    splits = {}
    for name in planned:
        run_dir = config.runs_dir / name
        assert (run_dir / "report.json").is_file()
        splits.setdefault(name.rsplit("-s", 1)[1], set()).add((run_dir / "split.csv").read_bytes())
    assert len(splits["0"]) == 1 and len(splits["1"]) == 1
    assert splits["0"] != splits["1"]  # the seed moves the split


@pytest.mark.slow
def test_a_second_invocation_skips_finished_runs(finished):
    config, _, _ = finished
    files = [p for p in config.runs_dir.rglob("*") if p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in files}
    counter = CountingTrain()
    outcome = run_plan(config, progress=False, echo=lambda _: None, train_fn=counter)
    assert counter.calls == []
    assert outcome.skipped == [r.name for r in plan_runs(config)] and not outcome.trained
    assert {p: p.stat().st_mtime_ns for p in files} == before


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _direct(values: list[float]) -> tuple[float, float]:
    """Mean and 95% t half-width, computed here from scratch."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(student_t.ppf(0.975, n - 1)) * sd / math.sqrt(n)


@pytest.mark.slow
def test_aggregation_equals_a_direct_computation_from_the_reports(finished):
    config, outcome, _ = finished
    out = Path(config.out)
    reports = {}
    for path in sorted(config.runs_dir.glob("*/report.json")):
        reports[path.parent.name] = json.loads(path.read_text())
    assert len(reports) == 6

    def runs_of(model, clip_len):
        return [reports[f"{model}-T{clip_len}-s{seed}"] for seed in (0, 1)]

    widths = []

    def check(row, key, values):
        mean, half = _direct(values)
        assert float(row[key]) == pytest.approx(mean, abs=1e-12)
        assert float(row[f"{key}_ci95"]) == pytest.approx(half, abs=1e-12)
        assert row[f"{key}_n"] == "2"
        widths.append(half)
        return mean, half

    def best_epoch(model, clip_len):
        scores = []
        for seed in (0, 1):
            rows = _csv(config.runs_dir / f"{model}-T{clip_len}-s{seed}" / "metrics.csv")
            scores.append(max(float(row["val/gif_acc"]) for row in rows))
        return scores

    table4 = {row["model"]: row for row in _csv(out / "table4.csv")}
    for model in MODELS:
        check(
            table4[model],
            "accuracy",
            [r["metrics"]["accuracy"]["value"] for r in runs_of(model, 4)],
        )
        check(table4[model], "best_epoch_accuracy", best_epoch(model, 4))
        # No validation split: each run is reported at its last epoch, not one chosen on the test
        # GIFs.
        assert all(
            r["context"]["checkpoint_epoch"] == r["context"]["training"]["epochs_done"]
            for r in runs_of(model, 4)
        )
    assert table4["vgg_convgru"]["accuracy_n"] == "0"
    assert {m: float(r["paper_accuracy"]) for m, r in table4.items()} == dict(TABLE4)

    ablation = {int(row["clip_len"]): row for row in _csv(out / "ablation.csv")}
    for clip_len in (2, 4):
        check(
            ablation[clip_len],
            "accuracy",
            [r["metrics"]["accuracy"]["value"] for r in runs_of("resnet_convgru", clip_len)],
        )
    assert float(ablation[8]["paper_accuracy"]) == ABLATION[8] and ablation[8]["accuracy_n"] == "0"

    table3 = {row["model"]: row for row in _csv(out / "table3.csv")}
    for key in ("precision", "recall", "f1"):
        check(
            table3["resnet_convgru"],
            key,
            [r["metrics"]["macro"][key] for r in runs_of("resnet_convgru", 4)],
        )
    assert float(table3["vgg_convgru"]["paper_f1"]) == TABLE3["vgg_convgru"][2]

    table2 = {row["label"]: row for row in _csv(out / "table2.csv")}
    assert list(table2) == list(TABLE2)
    cells = {}
    for label in TABLE2:
        for key in ("precision", "recall", "f1"):
            values = [
                next(c[key] for c in r["metrics"]["per_class"] if c["label"] == label)
                for r in runs_of("resnet_convgru", 4)
            ]
            cells[(label, key)] = check(table2[label], key, values)
    assert any(w > 0 for w in widths), (
        "every compared value was equal across seeds: the test proves little"
    )

    text = (out / "results.md").read_text()
    mean, half = cells[("anger", "precision")]
    assert f"| anger | {mean:.4f} ± {half:.4f} |" in text
    for heading in (
        "## Table 2",
        "## Table 3",
        "## Table 4",
        "## Clip length",
        "## Fig. 5",
        "## Every run",
    ):
        assert heading in text
    for number in (
        "0.7976",
        "0.6707",
        "0.6700",
        "0.6248",
        "0.6100",
        "0.6521",
    ):  # the paper's, alongside
        assert number in text
    assert "n=2 seeds, mean ± 95% CI (Student t)" in text
    assert (
        "seed 0: all 3 runs share one split.csv" in text
        and "seed 1: all 3 runs share one split.csv" in text
    )
    assert len(_csv(out / "runs.csv")) == 6 and len(_csv(out / "per_class.csv")) == 6 * 7

    ood = {row["model"]: row for row in _csv(out / "ood.csv")}
    for model in MODELS:
        reports = [
            json.loads(
                (
                    config.runs_dir
                    / f"{model}-T4-s{seed}"
                    / "evaluations"
                    / "ood-other"
                    / "report.json"
                ).read_text()
            )
            for seed in (0, 1)
        ]
        assert all(r["context"]["out_of_domain"] and r["metrics"]["n_gifs"] == 7 for r in reports)
        check(ood[model], "accuracy", [r["metrics"]["accuracy"]["value"] for r in reports])
    assert "## Out of domain: trained on data, tested on other" in text
    for png in ("ablation.png", "table4_accuracy.png", "table2_f1.png", "fig5_frames.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summarize_with_one_value_has_no_interval():
    one = summarize([0.5])
    assert (one.mean, one.half_width, one.n, one.text()) == (0.5, None, 1, "0.5000")
    three = summarize([0.2, 0.4, 0.6])
    assert three.mean == pytest.approx(0.4)
    assert three.half_width == pytest.approx(
        student_t.ppf(0.975, 2) * statistics.stdev([0.2, 0.4, 0.6]) / math.sqrt(3)
    )


class CrashAtEpoch(pl.Callback):
    """Stands for a killed process: the run stops at the start of ``epoch``, after the previous
    epoch's checkpoint was written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.mark.slow
def test_an_interrupted_run_is_resumed_from_its_checkpoint_not_restarted(base, one_thread):
    config = make_config(
        base,
        "interrupted",
        models=("resnet_convgru",),
        seeds=(0,),
        experiments=("table4",),
        training={**TRAINING, "epochs": 2, "cache_dir": str(base / "cache")},
    )
    (run,) = plan_runs(config)
    run_dir = config.run_dir(run)
    crashed = run_plan(
        config,
        progress=False,
        echo=lambda _: None,
        train_fn=functools.partial(train_and_evaluate, callbacks=[CrashAtEpoch(1)]),
    )
    assert crashed.failed == {run.name: "RuntimeError: simulated crash"}
    assert "simulated crash" in config.error_file(run).read_text()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not (
        run_dir / "report.json"
    ).exists()
    assert run_state(config, run).action == "resume"
    first_epoch = _csv(run_dir / "metrics.csv")
    assert len(first_epoch) == 1
    assert (
        f"- {run.name}: FAILED, RuntimeError: simulated crash"
        in (Path(config.out) / "results.md").read_text()
    )

    counter = CountingTrain()
    resumed = run_plan(config, progress=False, echo=lambda _: None, train_fn=counter)
    assert counter.calls == [(run.name, True)] and resumed.trained == [run.name]
    history = _csv(run_dir / "metrics.csv")
    assert len(history) == 2 and history[0] == first_epoch[0]  # epoch 0 was not trained again
    assert (run_dir / "report.json").is_file() and not config.error_file(run).exists()
    assert "## Not finished" not in (Path(config.out) / "results.md").read_text()


@pytest.mark.slow
def test_existing_runs_refuse_other_settings_and_extend_to_more_epochs(finished, base):
    config, _, _ = finished
    run = plan_runs(config)[0]
    assert run_state(config, run).action == "skip"
    longer = make_config(
        base, "results", training={**TRAINING, "epochs": 3, "cache_dir": str(base / "cache")}
    )
    assert run_state(longer, run).action == "extend"
    bigger = make_config(
        base, "results", training={**TRAINING, "size": 48, "cache_dir": str(base / "cache")}
    )
    with pytest.raises(ValueError, match="--size: saved 32, given 48"):
        run_state(bigger, run)


@pytest.mark.slow
def test_cli_plan_and_aggregate_only(finished, base):
    config, _, _ = finished
    out = Path(config.out)
    args = [
        "reproduce",
        config.data,
        "--out",
        str(out),
        "--models",
        ",".join(MODELS),
        "--seeds",
        "0,1",
        "--ood-data",
        str(base / "other"),
        "--clip-lens",
        "2,4",
        "--size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-clips-per-gif",
        "1",
        "--workers",
        "0",
        "--precision",
        "32",
        "--accelerator",
        "cpu",
        "--lr",
        "5e-4",
        "--cache-dir",
        str(base / "cache"),
        "--model-kwargs",
        "resnet_convgru:hidden_dim=16",
        "--model-kwargs",
        "resnet_convgru:num_layers=1",
        "--model-kwargs",
        "resnet_convgru:head_hidden=16",
        "--model-kwargs",
        "cnn_lstm:hidden_size=16",
    ]
    result = CliRunner().invoke(app, [*args, "--plan"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 6 and all(" skip " in line for line in lines)

    (out / "results.md").unlink()
    result = CliRunner().invoke(app, [*args, "--aggregate-only"])
    assert result.exit_code == 0, result.output
    assert "## Table 4" in (out / "results.md").read_text()
    assert "## Out of domain" in (out / "results.md").read_text()

    result = CliRunner().invoke(app, [*args, "--plan", "--model-kwargs", "hidden_dim=16"])
    assert result.exit_code == 2 and "MODEL:KEY=VALUE" in result.output
