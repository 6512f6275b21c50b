"""The out-of-the-box demo: from nothing to a trained, evaluated model and predictions, on a CPU.

``gifemo demo --out demo`` (``make demo``) runs six steps, each printing its progress:

1. synthesise the built-in dataset (:mod:`gifemo.data.synth`: cartoon people and emoji faces)
   into ``OUT/data``;
2. describe it: frames per GIF (the paper's Fig. 5) and a contact sheet;
3. train ResNet-ConvGRU on it into ``OUT/run`` and write the test report (``report.md``,
   ``confusion_matrix.png``; :func:`gifemo.evaluation.train_and_evaluate`), with the test
   accuracy of each style;
4. predict a few test GIFs (:mod:`gifemo.inference`): intensities, timelines, an annotated GIF;
5. evaluate the same model on real animated emoji it never saw (out of domain), if present;
6. list every output.

Re-running reuses what is done: the dataset when it was made with the same settings, and the
training run (finished: skipped; interrupted: resumed from its last epoch).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.formatting import format_duration
from gifemo.labels import PAPER_EMOTIONS
from gifemo.training.run_dir import RunDir, read_report

SYNTH_STATE = "synth.json"


@dataclass
class DemoConfig:
    """The demo's settings. The defaults train on 240 human-style and 240 emoji-style GIFs per
    class for 9 epochs of 2-frame clips; measured times (2 cores, AVX2 and native) are in
    docs/results.md.

    The fields named like :class:`~gifemo.training.config.TrainConfig`'s (``model``, ``size``,
    ``epochs``...) are the training run's. ``ood_data`` is a dataset of real GIFs for the
    out-of-domain step (skipped when ``None`` or missing; ``gifemo demo`` passes
    ``../shared/data/noto-emoji-7``).
    """

    out: str = "demo"
    # Many GIFs seen few times: at the same number of training steps, 3,360 GIFs for 5 epochs
    # (4-frame clips) generalise better than 1,120 for 15 (which the model starts to
    # memorise), to held-out synthetic faces and to real emoji alike (docs/results.md,
    # section 3). Synthesis is cheap (about a minute); training steps are what costs.
    per_class: int = 240  # human-style GIFs per class
    emoji_per_class: int = 240  # emoji-style GIFs per class (0: human faces only)
    gif_size: int = 64
    synth_workers: int | None = None  # None: every CPU this process may use
    difficulty: float | None = None  # None: the generator's default
    model: str = "resnet_convgru"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    size: int = 64
    # 2-frame clips (the paper's ablation also tried 2, 6 and 8; 4 is its choice): a step costs
    # half of a 4-frame one (0.66 s against 1.16 at 64 px on 2 AVX2 cores), so about the same
    # minutes train 9 epochs instead of 5, which lifted the synthetic test from 0.57 to 0.68 and
    # the human-style GIFs from 0.55 to 0.65 (docs/results.md). Prediction pools every clip.
    clip_len: int = 2
    epochs: int = 9
    # Batch 30 (the paper's). A one-cycle schedule peaking at 8e-4 learns far more in a
    # short run than a constant rate (docs/results.md: test accuracy 0.40 -> 0.55 on the same
    # data and budget).
    batch_size: int = 30
    lr: float = 8e-4
    lr_schedule: str = "onecycle"
    max_clips_per_gif: int | None = 1
    # A validation split (10% of each class's training GIFs): it picks best.ckpt and fits the
    # temperature that calibrates the demo model's intensities. ``val_every=None`` scores it
    # after the last epoch only, whatever ``epochs`` is (the one-cycle schedule ends there at
    # its best; a fixed period would skip the end of a run that is not a multiple of it).
    val_fraction: float = 0.1
    val_every: int | None = None
    precision: str = "auto"  # bf16 only where native; float32 on most CPUs (gifemo.hardware)
    seed: int = 0
    workers: int = 0
    n_predict: int = 7
    ood_data: str | None = None
    progress: bool = True

    @property
    def out_dir(self) -> Path:
        return Path(self.out).expanduser().resolve()

    @property
    def data_dir(self) -> Path:
        """The synthetic dataset: ``OUT/data``."""
        return self.out_dir / "data"

    @property
    def run(self) -> RunDir:
        """The training run: ``OUT/run``."""
        return RunDir(self.out_dir / "run")

    def synth_settings(self) -> dict[str, Any]:
        from gifemo.data.synth import DEFAULT_DIFFICULTY

        difficulty = DEFAULT_DIFFICULTY if self.difficulty is None else self.difficulty
        counts = {"human": self.per_class, "emoji": self.emoji_per_class}
        counts = {style: n for style, n in counts.items() if n > 0}
        return {
            "per_class": counts,
            "styles": ",".join(counts),
            "size": self.gif_size,
            "seed": self.seed,
            "difficulty": difficulty,
        }

    def train_config(self):
        """The training run's config: the fields this config shares with TrainConfig, on the
        CPU, reading the synthetic data and caching its frames under ``OUT/cache``."""
        from gifemo.training.config import TrainConfig

        shared = {f.name for f in dataclasses.fields(TrainConfig)} & {
            f.name for f in dataclasses.fields(self)
        }
        values = {name: getattr(self, name) for name in sorted(shared)}
        if self.val_every is None:
            values["val_every"] = self.epochs
        return TrainConfig(
            data=str(self.data_dir),
            accelerator="cpu",
            cache_dir=str(self.out_dir / "cache"),
            **values,
        )


@dataclass
class DemoResult:
    """Every output path (by name), the headline numbers and the seconds each step took."""

    outputs: dict[str, Path] = field(default_factory=dict)
    accuracy: float | None = None
    #: style -> a report's accuracy entry (value, CI) over that style's test GIFs, + n_gifs
    style_accuracy: dict[str, dict[str, Any]] = field(default_factory=dict)
    ood_accuracy: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    config: DemoConfig, *, console=None, train_fn: Callable[..., Any] | None = None
) -> DemoResult:
    """Run the six steps (see the module docstring); returns what they produced."""
    from rich.console import Console

    if console is None:
        console = Console(stderr=True, soft_wrap=True)
        if not console.is_terminal:
            # Written to a file, rich assumes 80 columns and cuts the prediction table's cells.
            console.width = max(console.width, 130)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult()
    steps: list[tuple[str, Callable[[], None]]] = [
        ("Synthetic dataset", lambda: _dataset(config, console, result)),
        ("Dataset statistics", lambda: _describe(config, console, result)),
        (f"Training {config.model} on the CPU", lambda: _train(config, console, result, train_fn)),
        ("Predicting test GIFs", lambda: _predict(config, console, result)),
        ("Out-of-domain check on real emoji", lambda: _out_of_domain(config, console, result)),
    ]
    total = time.perf_counter()
    for index, (title, step) in enumerate(steps, start=1):
        console.rule(f"[bold][{index}/{len(steps) + 1}] {title}")
        started = time.perf_counter()
        step()
        result.seconds[title] = time.perf_counter() - started
        console.print(f"[dim]{title}: {format_duration(result.seconds[title])}[/dim]")
    result.seconds["total"] = time.perf_counter() - total
    console.rule(f"[bold][{len(steps) + 1}/{len(steps) + 1}] Outputs")
    _summary(config, console, result)
    return result


# -- steps ----------------------------------------------------------------------------------


def _dataset(config: DemoConfig, console, result: DemoResult) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from gifemo.data.synth import LABELS_CSV, generate_dataset

    data = config.data_dir
    state, wanted = data / SYNTH_STATE, config.synth_settings()
    result.outputs["dataset"] = data
    if (
        (data / LABELS_CSV).is_file()
        and state.is_file()
        and json.loads(state.read_text()) == wanted
    ):
        console.print(
            f"reusing {data} ({7 * sum(wanted['per_class'].values())} GIFs, made earlier with "
            "the same settings)"
        )
        return
    if config.run.is_run:
        raise ValueError(
            f"{config.run.path} was trained on a dataset made with other settings than {wanted}; "
            "delete it (or use another --out) to train on the new one"
        )
    counts = " + ".join(f"{n} {style}" for style, n in wanted["per_class"].items())
    console.print(
        f"{counts} animated faces per emotion, {wanted['size']} px, difficulty "
        f"{wanted['difficulty']}, "
        f"seed {wanted['seed']} -> {data}"
    )
    columns = (
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not config.progress) as bar:
        job = bar.add_task("synthesising", total=None)
        summary = generate_dataset(
            data,
            **wanted,
            workers=config.synth_workers,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )
    for line in summary.failures:
        console.print(f"[red]failed:[/red] {line}", markup=True, highlight=False)
    atomic_write_text(state, json.dumps(wanted) + "\n")
    console.print(
        f"wrote {summary.written} GIFs in {summary.seconds:.0f} s ({summary.gifs_per_second:.1f} "
        "GIFs/s)"
    )


def _describe(config: DemoConfig, console, result: DemoResult) -> None:
    from gifemo.data import compute_stats, load_dataset, plot_frame_histogram
    from gifemo.data.synth import render_contact_sheet

    out = config.out_dir
    stats = compute_stats(load_dataset(config.data_dir))
    summary = stats.summary()
    console.print(
        f"{summary.n_gifs} GIFs, "
        f"{', '.join(f'{label} {len(stats.frames[label])}' for label in stats.labels)}; "
        f"frames per GIF: min {summary.min}, median {summary.median:g}, mean {summary.mean:.1f}, "
        f"max {summary.max}"
    )
    result.outputs["frame histogram (Fig. 5)"] = plot_frame_histogram(
        stats, out / "frames_histogram.png"
    )
    settings = config.synth_settings()
    sheet = out / "contact_sheet.png"
    render_contact_sheet(
        sheet,
        seed=settings["seed"],
        size=settings["size"],
        difficulty=settings["difficulty"],
        styles=settings["styles"],
    )
    result.outputs["contact sheet"] = sheet


def _train(config: DemoConfig, console, result: DemoResult, train_fn) -> None:
    from gifemo.experiments.reproduce import run_action

    if train_fn is None:
        from gifemo.evaluation import train_and_evaluate as train_fn

    run_dir = config.run.path
    train_config = config.train_config()
    status, action = run_action(run_dir, train_config)
    if action == "skip":
        console.print(f"reusing the finished run {run_dir}")
    else:
        from gifemo.training.fit import resolve_config

        _, _, compute = resolve_config(train_config)
        console.print(
            f"{'resuming ' if action != 'train' else ''}{train_config.model}: "
            f"{train_config.epochs} epochs at "
            f"{train_config.size} px, batch {train_config.batch_size}, lr {train_config.lr} "
            f"({train_config.lr_schedule}), "
            f"{compute.describe()}, at most {train_config.max_clips_per_gif} clips per GIF "
            f"and epoch -> {run_dir}"
        )
        train_fn(train_config, run_dir, resume=action != "train", progress=config.progress)
    metrics = read_report(run_dir)["metrics"]
    result.accuracy = metrics["accuracy"]["value"]
    console.print(f"test {_accuracy_line(metrics)}, macro F1 {metrics['macro']['f1']:.3f}")
    result.style_accuracy = style_accuracies(config.run.predictions_csv)
    for style, acc in result.style_accuracy.items():
        console.print(
            f"  {style}-style test GIFs: {acc['value']:.1%} (95% CI {acc['ci_low']:.1%}-"
            f"{acc['ci_high']:.1%}, {acc['n_gifs']} GIFs)"
        )
    result.outputs["run (checkpoints, config, metrics.csv)"] = run_dir
    result.outputs["test report"] = config.run.report_md
    result.outputs["confusion matrix"] = config.run.confusion_png


def _accuracy_line(metrics: dict[str, Any]) -> str:
    """``GIF accuracy 41.9% (95% CI 35.2%-49.0%, 210 GIFs; chance 14.3%)`` from report metrics."""
    acc = metrics["accuracy"]
    return (
        f"GIF accuracy [bold]{acc['value']:.1%}[/bold] (95% CI "
        f"{acc['ci_low']:.1%}-{acc['ci_high']:.1%}, "
        f"{metrics['n_gifs']} GIFs; chance {1 / len(metrics['labels']):.1%})"
    )


def style_accuracies(predictions_csv: Path, *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """GIF accuracy with its bootstrap CI for each synthetic style among a report's test GIFs.

    The style is read from the file name (:func:`gifemo.data.synth.style_of`), so a dataset of
    one style gives one entry.
    """
    import numpy as np

    from gifemo.data.synth import style_of
    from gifemo.evaluation.metrics import accuracy_summary

    with open(predictions_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out: dict[str, dict[str, Any]] = {}
    for style in sorted({style_of(r["path"]) for r in rows}):
        mine = [r for r in rows if style_of(r["path"]) == style]
        correct = np.array([r["label"] == r["predicted"] for r in mine])
        out[style] = {**accuracy_summary(correct, seed=seed), "n_gifs": len(mine)}
    return out


def _test_gifs(config: DemoConfig) -> list[tuple[Path, str]]:
    """The first ``n_predict`` test GIFs, taking the classes in turn."""
    data = config.data_dir
    with open(config.run.split_file, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    by_label = {label: [r for r in rows if r["label"] == label] for label in PAPER_EMOTIONS}
    picked: list[tuple[Path, str]] = []
    for i in range(max((len(v) for v in by_label.values()), default=0)):
        for label in PAPER_EMOTIONS:
            if len(picked) < config.n_predict and i < len(by_label[label]):
                picked.append((data / by_label[label][i]["path"], label))
    return picked


def _predict(config: DemoConfig, console, result: DemoResult) -> None:
    from rich import box
    from rich.table import Table

    from gifemo.inference import Prediction, load
    from gifemo.inference.annotate import annotate_gif
    from gifemo.inference.timeline import plot_timeline

    out = config.out_dir / "predictions"
    gifs = _test_gifs(config)
    predictor = load(config.run.path, precision=config.precision)
    table = Table(
        title=f"Emotion intensities of {len(gifs)} test GIFs (mean of each GIF's clips)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("GIF")
    table.add_column("true")
    table.add_column("predicted")
    for label in predictor.labels:
        table.add_column(label, justify="right")
    done = []
    for (path, true), prediction in zip(
        gifs, predictor.predict_many([p for p, _ in gifs]), strict=True
    ):
        if not isinstance(prediction, Prediction):
            console.print(f"[red]{path.name}: {prediction.error}[/red]")
            continue
        top = prediction.top_label
        mark = "[green]" if top == true else "[red]"
        table.add_row(
            path.stem,
            true,
            f"{mark}{top}[/]",
            *(f"{prediction.intensities[label]:.2f}" for label in predictor.labels),
        )
        plot_timeline(
            prediction, out / f"{path.stem}.timeline.png", title=f"{path.name} (true: {true})"
        )
        done.append((path, true, prediction))
    console.print(table)
    if done:
        path, _, prediction = done[0]
        result.outputs["annotated GIF"] = annotate_gif(
            prediction, path, out / f"{path.stem}.annotated.gif"
        )
        result.outputs["timelines (one PNG per GIF)"] = out
    records = [{**prediction.to_dict(), "true_label": true} for _, true, prediction in done]
    path = out / "predictions.json"
    atomic_write_text(path, json.dumps(records, indent=2) + "\n")
    result.outputs["predictions (JSON)"] = path
    console.print(f"same as: gifemo predict {config.run.path} {gifs[0][0]} --timeline t.png")


def _out_of_domain(config: DemoConfig, console, result: DemoResult) -> None:
    from gifemo.evaluation.evaluate import evaluate_run

    data = Path(config.ood_data) if config.ood_data else None
    if data is None or not data.exists():
        missing = f"{data} not found" if data else "no out-of-domain dataset given"
        console.print(f"skipped: {missing} (pass --ood-data DIR with <label>/*.gif to run it)")
        return
    out = config.out_dir / f"ood-{data.name}"
    report = evaluate_run(config.run.path, data=data, out=out, progress=config.progress)
    metrics = report["metrics"]
    result.ood_accuracy = metrics["accuracy"]["value"]
    console.print(
        f"{data.name}: {_accuracy_line(metrics)}. The model saw only synthetic faces: "
        "this measures the domain gap, not the model."
    )
    result.outputs["out-of-domain report"] = RunDir(out).report_md


def _summary(config: DemoConfig, console, result: DemoResult) -> None:
    width = max(len(name) for name in result.outputs)
    for name, path in result.outputs.items():
        # Plain lines, not a table: a path must never be cut to fit the terminal.
        console.print(f"{name:<{width}}  {path}", highlight=False, soft_wrap=True)
    lines = [
        f"test accuracy {result.accuracy:.1%}" if result.accuracy is not None else None,
        f"out-of-domain accuracy {result.ood_accuracy:.1%}"
        if result.ood_accuracy is not None
        else None,
        f"total {format_duration(result.seconds['total'])}",
    ]
    console.print("; ".join(x for x in lines if x))
    summary = {
        "settings": dataclasses.asdict(config),
        "accuracy": result.accuracy,
        "style_accuracy": result.style_accuracy,
        "ood_accuracy": result.ood_accuracy,
        "seconds": result.seconds,
        "outputs": {name: str(path) for name, path in result.outputs.items()},
    }
    path = config.out_dir / "demo.json"
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
    console.print(f"all of it: {config.out_dir} (summary: {path})")
