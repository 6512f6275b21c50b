"""Aggregate the runs of ``gifemo reproduce`` into the paper's tables, CSVs, plots and results.md.

Everything here is computed from what the runs left on disk (``config.yaml``, ``report.json``,
``metrics.csv``, ``split.csv``), so ``write_results`` can be re-run at any time, on a finished or
a half-finished plan. A cell is the mean over seeds with a 95% confidence interval from
Student's t distribution (``mean ± t(0.975, n-1) * s / sqrt(n)``); with one seed there is no
interval. The paper's own number is printed next to each cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gifemo.atomic import atomic_write_bytes, atomic_write_text
from gifemo.evaluation.report import _table, format_duration
from gifemo.experiments import paper
from gifemo.experiments.reproduce import EXPERIMENTS, RUNS_DIR, ood_report_dir
from gifemo.training.run_dir import RunDir, read_report, run_history

RESULTS_MD = "results.md"
CONFIDENCE = 0.95

#: Settings that every run of a comparison should share; results.md flags any that differ.
SHARED_SETTINGS: tuple[str, ...] = (
    "data", "size", "epochs", "batch_size", "lr", "weight_decay", "precision", "max_clips_per_gif",
    "pretrained", "augment", "test_fraction", "val_fraction",
)


# -- reading runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """A finished run: its config, its test report and its per-epoch history."""

    name: str
    run_dir: Path
    config: dict[str, Any]
    report: dict[str, Any]
    history: list[dict[str, float]]
    split_sha256: str | None
    ood_report: dict[str, Any] | None = None

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def clip_len(self) -> int:
        return int(self.config["clip_len"])

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def metrics(self) -> dict[str, Any]:
        return self.report["metrics"]

    @property
    def accuracy(self) -> float:
        """Test GIF accuracy of the run's checkpoint: the last epoch's when the run has no
        validation split (as the paper), so no choice was made on the test GIFs."""
        return float(self.metrics["accuracy"]["value"])

    @property
    def best_epoch_accuracy(self) -> float | None:
        """The highest test GIF accuracy over the epochs: with no validation split the epoch is
        chosen on the test GIFs themselves, so this is optimistic (shown for comparison only)."""
        scores = [float(row["val/gif_acc"]) for row in self.history if "val/gif_acc" in row]
        return max(scores) if scores else None

    @property
    def train_seconds(self) -> float:
        return float(self.report["context"].get("training", {}).get("wall_time_s") or 0.0)

    @property
    def eval_seconds(self) -> float:
        return float(self.report["context"].get("wall_time_s") or 0.0)

    def per_class(self) -> dict[str, dict[str, float]]:
        return {row["label"]: row for row in self.metrics["per_class"]}


def collect_runs(results_dir: str | Path, *, ood_name: str | None = None) -> tuple[list[RunResult], list[str]]:
    """Finished runs under ``RESULTS/runs`` (sorted by name) and the names of unfinished ones.

    With ``ood_name`` (the out-of-domain dataset's folder name), each run's report on it is
    loaded too, when there is one.
    """
    runs, unfinished = [], []
    root = Path(results_dir) / RUNS_DIR
    for run_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        run = RunDir(run_dir)
        if not (run.is_evaluated and run.is_run):
            unfinished.append(run_dir.name)
            continue
        split_path = run.split_file
        ood_dir = ood_report_dir(run_dir, ood_name) if ood_name else None
        runs.append(
            RunResult(
                name=run_dir.name,
                run_dir=run_dir,
                config=yaml.safe_load(run.config_file.read_text(encoding="utf-8")),
                report=read_report(run_dir),
                history=run_history(run_dir),
                split_sha256=hashlib.sha256(split_path.read_bytes()).hexdigest() if split_path.is_file() else None,
                ood_report=read_report(ood_dir) if ood_dir and RunDir(ood_dir).is_evaluated else None,
            )
        )
    return runs, unfinished


# -- statistics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Mean of per-seed values and the half-width of its confidence interval (None for n < 2)."""

    values: tuple[float, ...]
    mean: float
    half_width: float | None

    @property
    def n(self) -> int:
        return len(self.values)

    def text(self) -> str:
        if not self.values:
            return "-"
        return f"{self.mean:.4f}" + (f" ± {self.half_width:.4f}" if self.half_width is not None else "")


def summarize(values: Iterable[float], *, confidence: float = CONFIDENCE) -> Summary:
    """``mean ± t((1 + confidence) / 2, n - 1) * stdev / sqrt(n)`` of ``values``."""
    from scipy.stats import t

    values = tuple(float(v) for v in values)
    if not values:
        return Summary((), math.nan, None)
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Summary(values, mean, None)
    half = float(t.ppf((1 + confidence) / 2, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return Summary(values, mean, half)


# -- tables ---------------------------------------------------------------------------------


def _main_runs(runs: Sequence[RunResult], model: str) -> list[RunResult]:
    """Runs of ``model`` with the paper's clip length (the runs behind Tables 2-4)."""
    return [r for r in runs if r.model == model and r.clip_len == paper.PAPER_CLIP_LEN]


def _summary_columns(prefix: str, summary: Summary) -> dict[str, Any]:
    return {
        prefix: summary.mean if summary.values else None,
        f"{prefix}_ci95": summary.half_width,
        f"{prefix}_n": summary.n,
    }


def table2(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Per-class precision, recall and F1 of ResNet-ConvGRU (T=4), over seeds, paper alongside."""
    main = _main_runs(runs, paper.MAIN_MODEL)
    labels = list(main[0].per_class()) if main else list(paper.TABLE2)
    # The paper's row order first (alphabetical), then any other label.
    labels = [x for x in paper.TABLE2 if x in labels] + [x for x in labels if x not in paper.TABLE2]
    rows = []
    for label in labels:
        row: dict[str, Any] = {"label": label}
        ours = [r.per_class()[label] for r in main if label in r.per_class()]
        theirs = paper.TABLE2.get(label)
        for i, metric in enumerate(("precision", "recall", "f1")):
            row.update(_summary_columns(metric, summarize(x[metric] for x in ours)))
            row[f"paper_{metric}"] = theirs[i] if theirs else None
        rows.append(row)
    return rows


def table3(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Macro-averaged precision, recall and F1 of the two ConvGRU models (T=4)."""
    rows = []
    for model in paper.TABLE3_MODELS:
        selected = _main_runs(runs, model)
        row: dict[str, Any] = {"model": model, "name": paper.model_name(model)}
        for i, metric in enumerate(("precision", "recall", "f1")):
            row.update(_summary_columns(metric, summarize(r.metrics["macro"][metric] for r in selected)))
            row[f"paper_{metric}"] = paper.TABLE3[model][i]
        rows.append(row)
    return rows


def table4(runs: Sequence[RunResult], models: Sequence[str] = paper.PAPER_MODELS) -> list[dict[str, Any]]:
    """Test accuracy of every model (T=4): the run's checkpoint and, for comparison, the best epoch."""
    extra = sorted({r.model for r in runs if r.clip_len == paper.PAPER_CLIP_LEN} - set(models))
    rows = []
    for model in (*models, *extra):
        selected = _main_runs(runs, model)
        row: dict[str, Any] = {"model": model, "name": paper.model_name(model)}
        row.update(_summary_columns("accuracy", summarize(r.accuracy for r in selected)))
        best = [r.best_epoch_accuracy for r in selected if r.best_epoch_accuracy is not None]
        row.update(_summary_columns("best_epoch_accuracy", summarize(best)))
        row["paper_accuracy"] = paper.TABLE4.get(model)
        row["seconds_per_run"] = statistics.fmean(r.train_seconds + r.eval_seconds for r in selected) if selected else None
        rows.append(row)
    return rows


def ablation(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """ResNet-ConvGRU test accuracy against the clip length T."""
    by_len: dict[int, list[RunResult]] = defaultdict(list)
    for r in runs:
        if r.model == paper.MAIN_MODEL:
            by_len[r.clip_len].append(r)
    rows = []
    for clip_len in sorted(set(by_len) | set(paper.ABLATION)):
        selected = by_len.get(clip_len, [])
        row: dict[str, Any] = {"clip_len": clip_len}
        row.update(_summary_columns("accuracy", summarize(r.accuracy for r in selected)))
        best = [r.best_epoch_accuracy for r in selected if r.best_epoch_accuracy is not None]
        row.update(_summary_columns("best_epoch_accuracy", summarize(best)))
        row["paper_accuracy"] = paper.ABLATION.get(clip_len)
        rows.append(row)
    return rows


def out_of_domain(runs: Sequence[RunResult], models: Sequence[str] = paper.PAPER_MODELS) -> list[dict[str, Any]]:
    """Accuracy and macro F1 of each model (T=4) on the out-of-domain data, next to its in-domain
    test accuracy."""
    rows = []
    for model in (*models, *sorted({r.model for r in runs} - set(models))):
        selected = [r for r in _main_runs(runs, model) if r.ood_report is not None]
        row: dict[str, Any] = {"model": model, "name": paper.model_name(model)}
        row.update(_summary_columns("accuracy", summarize(r.ood_report["metrics"]["accuracy"]["value"] for r in selected)))
        row.update(_summary_columns("macro_f1", summarize(r.ood_report["metrics"]["macro"]["f1"] for r in selected)))
        row.update(_summary_columns("in_domain_accuracy", summarize(r.accuracy for r in selected)))
        row["gifs"] = selected[0].ood_report["metrics"]["n_gifs"] if selected else None
        rows.append(row)
    return rows


def run_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """``runs.csv``: every per-run number the tables are made of."""
    rows = []
    for r in runs:
        m, context = r.metrics, r.report["context"]
        rows.append(
            {
                "run": r.name, "model": r.model, "clip_len": r.clip_len, "seed": r.seed,
                "size": r.config.get("size"), "epochs": r.config.get("epochs"),
                "epochs_done": len(r.history), "checkpoint_epoch": context.get("checkpoint_epoch"),
                "accuracy": r.accuracy,
                "accuracy_bootstrap_low": m["accuracy"]["ci_low"],
                "accuracy_bootstrap_high": m["accuracy"]["ci_high"],
                "best_epoch_accuracy": r.best_epoch_accuracy,
                "clip_accuracy": m["clip_accuracy"],
                **{f"{avg}_{k}": m[avg][k] for avg in ("macro", "weighted") for k in ("precision", "recall", "f1")},
                "test_gifs": m["n_gifs"], "test_clips": m["n_clips"],
                "train_seconds": r.train_seconds, "eval_seconds": r.eval_seconds,
                "ood_accuracy": r.ood_report["metrics"]["accuracy"]["value"] if r.ood_report else None,
                "ood_macro_f1": r.ood_report["metrics"]["macro"]["f1"] if r.ood_report else None,
                "split_sha256": r.split_sha256,
                "hardware": context.get("training", {}).get("hardware"),
            }
        )
    return rows


def per_class_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """``per_class.csv``: precision, recall, F1 and support per run and class."""
    return [
        {"run": r.name, "model": r.model, "clip_len": r.clip_len, "seed": r.seed, **row}
        for r in runs
        for row in r.metrics["per_class"]
    ]


def check_splits(runs: Sequence[RunResult]) -> dict[int, set[str | None]]:
    """``{seed: {sha256 of split.csv}}``: one hash per seed means every run of it used one split."""
    splits: dict[int, set[str | None]] = defaultdict(set)
    for r in runs:
        splits[r.seed].add(r.split_sha256)
    return dict(sorted(splits.items()))


# -- files ----------------------------------------------------------------------------------


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def _figure(width: float = 7.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _err(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [row[f"{key}_ci95"] or 0.0 for row in rows]


def plot_ablation(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Accuracy against clip length: ours (mean ± CI) and the paper's."""
    figure = _figure()
    ax = figure.add_subplot()
    ours = [row for row in rows if row["accuracy_n"]]
    ax.errorbar([r["clip_len"] for r in ours], [r["accuracy"] for r in ours], yerr=_err(ours, "accuracy"),
                marker="o", capsize=4, label="gifemo (mean ± 95% CI)")
    best = [row for row in ours if row["best_epoch_accuracy_n"]]
    ax.errorbar([r["clip_len"] for r in best], [r["best_epoch_accuracy"] for r in best],
                yerr=_err(best, "best_epoch_accuracy"), marker="s", capsize=4, linestyle="--",
                label="gifemo, best epoch chosen on test (optimistic)")
    theirs = [row for row in rows if row["paper_accuracy"] is not None]
    ax.plot([r["clip_len"] for r in theirs], [r["paper_accuracy"] for r in theirs], marker="^",
            color="black", label="paper (GIFGIF, 224 px, 100 epochs)")
    ax.set_xlabel("frames per clip (T)")
    ax.set_ylabel("test GIF accuracy")
    ax.set_xticks(sorted({r["clip_len"] for r in rows}))
    ax.set_title("Clip-length ablation, ResNet-ConvGRU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(figure, path)


def plot_bars(labels: Sequence[str], ours: Sequence[dict[str, Any]], key: str, paper_key: str,
              path: Path, *, title: str, ylabel: str) -> Path:
    """Bars of our ``key`` (mean ± CI) per row, with the paper's values as markers."""
    figure = _figure(max(6.0, 1.0 * len(labels) + 2), 4.0)
    ax = figure.add_subplot()
    xs = range(len(labels))
    ax.bar(xs, [row[key] or 0.0 for row in ours], yerr=_err(ours, key), capsize=4, color="#4c72b0",
           label="gifemo (mean ± 95% CI)")
    paper_x = [x for x, row in zip(xs, ours, strict=True) if row[paper_key] is not None]
    ax.scatter(paper_x, [ours[x][paper_key] for x in paper_x], marker="_", s=600, color="black",
               linewidths=2, label="paper", zorder=3)
    ax.set_xticks(list(xs), labels, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(figure, path)


# -- results.md -----------------------------------------------------------------------------


def _paper(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def _cell(row: dict[str, Any], key: str) -> str:
    n = row[f"{key}_n"]
    if not n:
        return "not run"
    mean, half = row[key], row[f"{key}_ci95"]
    return f"{mean:.4f}" + (f" ± {half:.4f}" if half is not None else "")


def _n(rows: Sequence[dict[str, Any]], key: str) -> str:
    counts = sorted({row[f"{key}_n"] for row in rows if row[f"{key}_n"]})
    if not counts:
        return "no finished run"
    text = "/".join(str(c) for c in counts)
    if counts == [1]:
        return "n=1 seed, no CI"
    return f"n={text} seeds, mean ± 95% CI (Student t)"


def _settings(runs: Sequence[RunResult]) -> dict[str, str]:
    """Each shared setting's value, or every value with the runs that used it when they differ."""
    out = {}
    for key in SHARED_SETTINGS:
        values: dict[str, list[str]] = defaultdict(list)
        for r in runs:
            values[str(r.config.get(key))].append(r.name)
        if len(values) == 1:
            out[key] = next(iter(values))
        else:
            out[key] = "MIXED: " + "; ".join(f"{v} ({len(names)} runs, e.g. {names[0]})" for v, names in values.items())
    return out


def _fig5_lines(data: str | Path, out_dir: Path) -> list[str]:
    from gifemo.data import compute_stats, load_dataset, plot_frame_histogram

    stats = compute_stats(load_dataset(data))
    counts = stats.all_frames
    if not counts:
        return ["No readable GIF in the dataset."]
    plot_frame_histogram(stats, out_dir / "fig5_frames.png", title=f"Frames per GIF, {Path(data).name}")
    s = stats.summary()

    def share(limit: int) -> float:
        return 100.0 * sum(c <= limit for c in counts) / len(counts)

    rows = [
        ["GIFs", f"{s.n_gifs}", "2,100"],
        ["min frames", f"{s.min}", str(paper.FIG5["min_frames"])],
        ["median / mean frames", f"{s.median:g} / {s.mean:.1f}", "not given"],
        ["max frames", f"{s.max}", str(paper.FIG5["max_frames"])],
        ["GIFs with <= 50 frames", f"{share(50):.1f}%", "\"mostly\""],
        ["GIFs with <= 100 frames", f"{share(100):.1f}%", "\"most\""],
    ]
    lines = _table(["", "this dataset", "paper (GIFGIF)"], rows)
    if stats.failures:
        lines += ["", f"{len(stats.failures)} file(s) could not be read and are not counted."]
    return [*lines, "", "![Frames per GIF](fig5_frames.png)"]


def _settings_section(runs: Sequence[RunResult]) -> list[str]:
    """Data, split (and its per-seed check), seeds, input, training, hardware, wall time."""
    if not runs:
        return ["No finished run yet."]
    settings = _settings(runs)
    hardware = sorted({str(r.report["context"].get("training", {}).get("hardware")) for r in runs})
    total = sum(r.train_seconds + r.eval_seconds for r in runs)
    split_lines = []
    for seed, hashes in check_splits(runs).items():
        n = sum(r.seed == seed for r in runs)
        if len(hashes) == 1 and None not in hashes:
            split_lines.append(f"seed {seed}: all {n} runs share one split.csv (sha256 {next(iter(hashes))[:12]})")
        else:
            split_lines.append(f"seed {seed}: **{len(hashes)} different split.csv files among {n} runs**")
    first = runs[0]
    facts = [
        ["Data", settings["data"]],
        ["Split", f"stratified per class, {float(first.config['test_fraction']):.0%} test, seeded by the run's "
                  f"seed; validation = test (no validation set, as the paper); {first.metrics['n_gifs']} test GIFs"],
        ["Same split per seed", "; ".join(split_lines)],
        ["Seeds", ", ".join(str(s) for s in sorted({r.seed for r in runs}))
         + " (a seed sets the split, the clip sampling and the initialisation)"],
        ["Input", f"{settings['size']} px, clips of 4 frames (the ablation varies this)"],
        ["Training", f"{settings['epochs']} epochs, batch {settings['batch_size']}, Adam lr {settings['lr']}, "
                     f"weight decay {settings['weight_decay']}, precision {settings['precision']}, "
                     f"clips per GIF and epoch: {'all' if settings['max_clips_per_gif'] == 'None' else 'at most ' + settings['max_clips_per_gif']}, "
                     f"pretrained: {settings['pretrained']}, "
                     f"augmentation: {settings['augment']}"],
        ["Hardware", "; ".join(hardware)],
        ["Wall time", f"{format_duration(total)} for {len(runs)} runs (training epochs + test evaluation; "
                      "frame-cache builds not included)"],
        ["Paper", f"{paper.PROTOCOL['data']}; {paper.PROTOCOL['size']} px; {paper.PROTOCOL['epochs']} epochs; "
                  f"batch {paper.PROTOCOL['batch_size']}; {paper.PROTOCOL['hardware']}"],
    ]
    return [
        *_table(["", ""], facts),
        "",
        "Each cell is the mean over seeds ± the half-width of its 95% confidence interval",
        "(Student t, n-1 degrees of freedom); with one seed there is no interval. A run without a",
        "validation split (the paper has none) is reported at its last epoch, so nothing was chosen on",
        "the test GIFs; the \"best epoch\" columns show, for comparison only, the highest test accuracy",
        "any epoch reached, which picks the epoch on the test GIFs and so flatters the model.",
    ]


def _prf_table(first: str, rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    """Precision, recall, F1 (ours, then the paper's) per row, in the layout of Tables 2 and 3."""
    return _table(
        [first, "Precision", "Recall", "F1 score", "Paper P", "Paper R", "Paper F1"],
        [[row[key], *(_cell(row, m) for m in ("precision", "recall", "f1")),
          *(_paper(row[f"paper_{m}"]) for m in ("precision", "recall", "f1"))] for row in rows],
    )


def _accuracy_table(first: str, rows: Sequence[dict[str, Any]], key: str, *extra: str) -> list[str]:
    """Accuracy (and the optimistic best epoch) next to the paper's (Table 4, the ablation)."""
    return _table(
        [first, "Accuracy", "Best epoch (chosen on test)", "Paper", *extra],
        [[str(row[key]), _cell(row, "accuracy"), _cell(row, "best_epoch_accuracy"), _paper(row["paper_accuracy"]),
          *([format_duration(row["seconds_per_run"]) if row["seconds_per_run"] is not None else "-"] if extra else [])]
         for row in rows],
    )


def _experiment_sections(
    tables: dict[str, list[dict[str, Any]]], experiments: Sequence[str], data: str | Path | None, out_dir: Path
) -> list[str]:
    lines: list[str] = []
    if "table2" in experiments:
        rows = tables["table2"]
        lines += ["", f"## Table 2: ResNet-ConvGRU per class ({_n(rows, 'precision')})", ""]
        lines += [*_prf_table("Label", rows, "label"), "", "![Per-class F1](table2_f1.png)"]
    if "table3" in experiments:
        rows = tables["table3"]
        lines += ["", f"## Table 3: ResNet-ConvGRU vs VGGNet-ConvGRU, macro averages ({_n(rows, 'precision')})", ""]
        lines += _prf_table("Model", rows, "name")
    if "table4" in experiments:
        rows = tables["table4"]
        lines += ["", f"## Table 4: accuracy of the five models ({_n(rows, 'accuracy')})", ""]
        lines += [*_accuracy_table("Model", rows, "name", "Time per run"), "",
                  "![Accuracy per model](table4_accuracy.png)"]
    if "ablation" in experiments:
        rows = tables["ablation"]
        lines += ["", f"## Clip length: ResNet-ConvGRU accuracy against T ({_n(rows, 'accuracy')})", ""]
        lines += [*_accuracy_table("T (frames per clip)", rows, "clip_len"), "",
                  "![Accuracy against clip length](ablation.png)"]
    if "fig5" in experiments and data is not None:
        lines += ["", "## Fig. 5: frames per GIF", "", *_fig5_lines(data, out_dir)]
    return lines


def _ood_section(rows: Sequence[dict[str, Any]], data: str | Path | None, ood_data: str | Path) -> list[str]:
    rows = [row for row in rows if row["accuracy_n"]]
    if not rows:
        return []
    trained_on = Path(data).name if data else "DATA"
    return [
        "", f"## Out of domain: trained on {trained_on}, tested on {Path(ood_data).name} ({_n(rows, 'accuracy')})", "",
        f"Each model (T=4) evaluated on all {rows[0]['gifs']} GIFs of `{ood_data}`, a dataset it never saw",
        f"and from another domain; chance is {1 / 7:.4f} for seven balanced classes (check the",
        "class counts of that dataset). The paper reports no such number.",
        "",
        *_table(
            ["Model", "Accuracy", "Macro F1", "In-domain test accuracy"],
            [[row["name"], _cell(row, "accuracy"), _cell(row, "macro_f1"), _cell(row, "in_domain_accuracy")]
             for row in rows],
        ),
    ]


def _runs_section(runs: Sequence[RunResult], unfinished: Sequence[str], failed: dict[str, str]) -> list[str]:
    lines: list[str] = []
    if runs:
        lines += ["", "## Every run", ""]
        lines += _table(
            ["Run", "Checkpoint epoch", "Accuracy", "Best epoch acc.", "Macro F1", "Time"],
            [[r.name, f"{r.report['context'].get('checkpoint_epoch')}/{len(r.history)}", f"{r.accuracy:.4f}",
              f"{r.best_epoch_accuracy:.4f}" if r.best_epoch_accuracy is not None else "-",
              f"{r.metrics['macro']['f1']:.4f}", format_duration(r.train_seconds + r.eval_seconds)] for r in runs],
        )
        lines += ["", "Per-run numbers: `runs.csv`, `per_class.csv`; each run's report: `runs/<run>/report.md`."]
    if unfinished or failed:
        lines += ["", "## Not finished", ""]
        lines += [f"- {name}: FAILED, {error}" for name, error in sorted(failed.items())]
        lines += [f"- {name}: interrupted; run the same command again to resume it"
                  for name in unfinished if name not in failed]
    return lines


def render_markdown(
    runs: Sequence[RunResult],
    *,
    out_dir: Path,
    data: str | Path | None,
    experiments: Sequence[str],
    unfinished: Sequence[str],
    failed: dict[str, str],
    tables: dict[str, list[dict[str, Any]]],
    ood_data: str | Path | None = None,
) -> str:
    """results.md: settings, the experiments' tables and plots, out-of-domain, every run."""
    lines = [
        "# gifemo reproduce: results",
        "",
        "Tables in the layout of Zhang et al. (2022), with the paper's own numbers alongside for",
        "reference. The paper trained on GIFGIF at 224 px for 100 epochs on a GPU; read the settings",
        "below before comparing a column with the paper's.",
        "",
        "## Settings",
        "",
        *_settings_section(runs),
        *_experiment_sections(tables, experiments, data, out_dir),
        *(_ood_section(tables["ood"], data, ood_data) if ood_data and "ood" in tables else []),
        *_runs_section(runs, unfinished, failed),
    ]
    return "\n".join(lines) + "\n"


def write_results(
    results_dir: str | Path,
    *,
    data: str | Path | None = None,
    experiments: Sequence[str] = EXPERIMENTS,
    failed: dict[str, str] | None = None,
    ood_data: str | Path | None = None,
) -> Path:
    """Write results.md, the CSVs and the plots of every finished run under ``results_dir``.

    Returns the path of ``results.md``. ``data`` is the dataset of the Fig. 5 histogram;
    ``ood_data`` the out-of-domain dataset whose reports the runs may hold.
    """
    out_dir = Path(results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, unfinished = collect_runs(out_dir, ood_name=Path(ood_data).name if ood_data else None)
    tables = {"table2": table2(runs), "table3": table3(runs), "table4": table4(runs), "ablation": ablation(runs)}
    if ood_data:
        tables["ood"] = out_of_domain(runs)
    write_csv(out_dir / "runs.csv", run_rows(runs))
    write_csv(out_dir / "per_class.csv", per_class_rows(runs))
    for name, rows in tables.items():
        write_csv(out_dir / f"{name}.csv", rows)
    plot_bars([r["label"] for r in tables["table2"]], tables["table2"], "f1", "paper_f1",
              out_dir / "table2_f1.png", title="ResNet-ConvGRU F1 per class (Table 2)", ylabel="F1 score")
    plot_bars([r["name"] for r in tables["table4"]], tables["table4"], "accuracy", "paper_accuracy",
              out_dir / "table4_accuracy.png", title="Test accuracy per model (Table 4)", ylabel="accuracy")
    plot_ablation(tables["ablation"], out_dir / "ablation.png")
    text = render_markdown(runs, out_dir=out_dir, data=data, experiments=experiments, unfinished=unfinished,
                           failed=failed or {}, tables=tables, ood_data=ood_data)
    path = out_dir / RESULTS_MD
    atomic_write_text(path, text)
    return path
