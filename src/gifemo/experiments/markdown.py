"""``results.md``: the settings, the paper's tables with its numbers alongside, every run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gifemo.experiments import paper
from gifemo.experiments.collect import RunResult, check_splits
from gifemo.formatting import format_duration, markdown_table

#: Settings that every run of a comparison should share; results.md flags any that differ.
SHARED_SETTINGS: tuple[str, ...] = (
    "data",
    "size",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "precision",
    "max_clips_per_gif",
    "pretrained",
    "augment",
    "test_fraction",
    "val_fraction",
)


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
            out[key] = "MIXED: " + "; ".join(
                f"{v} ({len(names)} runs, e.g. {names[0]})" for v, names in values.items()
            )
    return out


def _fig5_lines(data: str | Path, out_dir: Path) -> list[str]:
    from gifemo.data import compute_stats, load_dataset, plot_frame_histogram

    stats = compute_stats(load_dataset(data))
    counts = stats.all_frames
    if not counts:
        return ["No readable GIF in the dataset."]
    plot_frame_histogram(
        stats, out_dir / "fig5_frames.png", title=f"Frames per GIF, {Path(data).name}"
    )
    s = stats.summary()

    def share(limit: int) -> float:
        return 100.0 * sum(c <= limit for c in counts) / len(counts)

    rows = [
        ["GIFs", f"{s.n_gifs}", "2,100"],
        ["min frames", f"{s.min}", str(paper.FIG5["min_frames"])],
        ["median / mean frames", f"{s.median:g} / {s.mean:.1f}", "not given"],
        ["max frames", f"{s.max}", str(paper.FIG5["max_frames"])],
        ["GIFs with <= 50 frames", f"{share(50):.1f}%", '"mostly"'],
        ["GIFs with <= 100 frames", f"{share(100):.1f}%", '"most"'],
    ]
    lines = markdown_table(["", "this dataset", "paper (GIFGIF)"], rows)
    if stats.failures:
        lines += ["", f"{len(stats.failures)} file(s) could not be read and are not counted."]
    return [*lines, "", "![Frames per GIF](fig5_frames.png)"]


def _settings_section(runs: Sequence[RunResult]) -> list[str]:
    """Data, split (and its per-seed check), seeds, input, training, hardware, wall time."""
    if not runs:
        return ["No finished run yet."]
    settings = _settings(runs)
    cap = settings["max_clips_per_gif"]
    clips_per_gif = "all" if cap == "None" else f"at most {cap}"
    hardware = sorted({str(r.report["context"].get("training", {}).get("hardware")) for r in runs})
    total = sum(r.train_seconds + r.eval_seconds for r in runs)
    split_lines = []
    for seed, hashes in check_splits(runs).items():
        n = sum(r.seed == seed for r in runs)
        if len(hashes) == 1 and None not in hashes:
            split_lines.append(
                f"seed {seed}: all {n} runs share one split.csv (sha256 {next(iter(hashes))[:12]})"
            )
        else:
            split_lines.append(
                f"seed {seed}: **{len(hashes)} different split.csv files among {n} runs**"
            )
    first = runs[0]
    facts = [
        ["Data", settings["data"]],
        [
            "Split",
            f"stratified per class, {float(first.config['test_fraction']):.0%} test, seeded by the "
            "run's seed; validation = test (no validation set, as the paper); "
            f"{first.metrics['n_gifs']} test GIFs",
        ],
        ["Same split per seed", "; ".join(split_lines)],
        [
            "Seeds",
            ", ".join(str(s) for s in sorted({r.seed for r in runs}))
            + " (a seed sets the split, the clip sampling and the initialisation)",
        ],
        ["Input", f"{settings['size']} px, clips of 4 frames (the ablation varies this)"],
        [
            "Training",
            f"{settings['epochs']} epochs, batch {settings['batch_size']}, "
            f"Adam lr {settings['lr']}, weight decay {settings['weight_decay']}, "
            f"precision {settings['precision']}, clips per GIF and epoch: {clips_per_gif}, "
            f"pretrained: {settings['pretrained']}, augmentation: {settings['augment']}",
        ],
        ["Hardware", "; ".join(hardware)],
        [
            "Wall time",
            f"{format_duration(total)} for {len(runs)} runs (training epochs + test evaluation; "
            "frame-cache builds not included)",
        ],
        [
            "Paper",
            f"{paper.PROTOCOL['data']}; {paper.PROTOCOL['size']} px; {paper.PROTOCOL['epochs']} "
            "epochs; "
            f"batch {paper.PROTOCOL['batch_size']}; {paper.PROTOCOL['hardware']}",
        ],
    ]
    return [
        *markdown_table(["", ""], facts),
        "",
        "Each cell is the mean over seeds ± the half-width of its 95% confidence interval",
        "(Student t, n-1 degrees of freedom); with one seed there is no interval. A run without a",
        "validation split (the paper has none) is reported at its last epoch, so nothing was "
        "chosen on",
        'the test GIFs; the "best epoch" columns show, for comparison only, the highest test '
        "accuracy",
        "any epoch reached, which picks the epoch on the test GIFs and so flatters the model.",
    ]


def _prf_table(first: str, rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    """Precision, recall, F1 (ours, then the paper's) per row, in the layout of Tables 2 and 3."""
    return markdown_table(
        [first, "Precision", "Recall", "F1 score", "Paper P", "Paper R", "Paper F1"],
        [
            [
                row[key],
                *(_cell(row, m) for m in ("precision", "recall", "f1")),
                *(_paper(row[f"paper_{m}"]) for m in ("precision", "recall", "f1")),
            ]
            for row in rows
        ],
    )


def _accuracy_table(first: str, rows: Sequence[dict[str, Any]], key: str, *extra: str) -> list[str]:
    """Accuracy (and the optimistic best epoch) next to the paper's (Table 4, the ablation)."""
    return markdown_table(
        [first, "Accuracy", "Best epoch (chosen on test)", "Paper", *extra],
        [
            [
                str(row[key]),
                _cell(row, "accuracy"),
                _cell(row, "best_epoch_accuracy"),
                _paper(row["paper_accuracy"]),
                *(
                    [
                        format_duration(row["seconds_per_run"])
                        if row["seconds_per_run"] is not None
                        else "-"
                    ]
                    if extra
                    else []
                ),
            ]
            for row in rows
        ],
    )


def _experiment_sections(
    tables: dict[str, list[dict[str, Any]]],
    experiments: Sequence[str],
    data: str | Path | None,
    out_dir: Path,
) -> list[str]:
    lines: list[str] = []
    if "table2" in experiments:
        rows = tables["table2"]
        lines += ["", f"## Table 2: ResNet-ConvGRU per class ({_n(rows, 'precision')})", ""]
        lines += [*_prf_table("Label", rows, "label"), "", "![Per-class F1](table2_f1.png)"]
    if "table3" in experiments:
        rows = tables["table3"]
        lines += [
            "",
            "## Table 3: ResNet-ConvGRU vs VGGNet-ConvGRU, macro averages "
            f"({_n(rows, 'precision')})",
            "",
        ]
        lines += _prf_table("Model", rows, "name")
    if "table4" in experiments:
        rows = tables["table4"]
        lines += ["", f"## Table 4: accuracy of the five models ({_n(rows, 'accuracy')})", ""]
        lines += [
            *_accuracy_table("Model", rows, "name", "Time per run"),
            "",
            "![Accuracy per model](table4_accuracy.png)",
        ]
    if "ablation" in experiments:
        rows = tables["ablation"]
        lines += [
            "",
            f"## Clip length: ResNet-ConvGRU accuracy against T ({_n(rows, 'accuracy')})",
            "",
        ]
        lines += [
            *_accuracy_table("T (frames per clip)", rows, "clip_len"),
            "",
            "![Accuracy against clip length](ablation.png)",
        ]
    if "fig5" in experiments and data is not None:
        lines += ["", "## Fig. 5: frames per GIF", "", *_fig5_lines(data, out_dir)]
    return lines


def _ood_section(
    rows: Sequence[dict[str, Any]], data: str | Path | None, ood_data: str | Path
) -> list[str]:
    rows = [row for row in rows if row["accuracy_n"]]
    if not rows:
        return []
    trained_on = Path(data).name if data else "DATA"
    return [
        "",
        f"## Out of domain: trained on {trained_on}, tested on {Path(ood_data).name} "
        f"({_n(rows, 'accuracy')})",
        "",
        f"Each model (T=4) evaluated on all {rows[0]['gifs']} GIFs of `{ood_data}`, a dataset it "
        "never saw",
        f"and from another domain; chance is {1 / 7:.4f} for seven balanced classes (check the",
        "class counts of that dataset). The paper reports no such number.",
        "",
        *markdown_table(
            ["Model", "Accuracy", "Macro F1", "In-domain test accuracy"],
            [
                [
                    row["name"],
                    _cell(row, "accuracy"),
                    _cell(row, "macro_f1"),
                    _cell(row, "in_domain_accuracy"),
                ]
                for row in rows
            ],
        ),
    ]


def _runs_section(
    runs: Sequence[RunResult], unfinished: Sequence[str], failed: dict[str, str]
) -> list[str]:
    lines: list[str] = []
    if runs:
        lines += ["", "## Every run", ""]
        lines += markdown_table(
            ["Run", "Checkpoint epoch", "Accuracy", "Best epoch acc.", "Macro F1", "Time"],
            [
                [
                    r.name,
                    f"{r.report['context'].get('checkpoint_epoch')}/{len(r.history)}",
                    f"{r.accuracy:.4f}",
                    f"{r.best_epoch_accuracy:.4f}" if r.best_epoch_accuracy is not None else "-",
                    f"{r.metrics['macro']['f1']:.4f}",
                    format_duration(r.train_seconds + r.eval_seconds),
                ]
                for r in runs
            ],
        )
        lines += [
            "",
            "Per-run numbers: `runs.csv`, `per_class.csv`; each run's report: "
            "`runs/<run>/report.md`.",
        ]
    if unfinished or failed:
        lines += ["", "## Not finished", ""]
        lines += [f"- {name}: FAILED, {error}" for name, error in sorted(failed.items())]
        lines += [
            f"- {name}: interrupted; run the same command again to resume it"
            for name in unfinished
            if name not in failed
        ]
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
        "reference. The paper trained on GIFGIF at 224 px for 100 epochs on a GPU; read the "
        "settings",
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
