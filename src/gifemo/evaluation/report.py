"""The evaluation report: ``predictions.csv``, ``report.json``, ``report.md`` and
``confusion_matrix.png``.

Every number in the report is computed from ``predictions.csv`` (one row per GIF), so anyone can
recompute it from that file alone. ``report.md`` uses the paper's layouts: Table 2 (per-class
precision, recall, F1) and Table 3 (macro and weighted averages), and states what was evaluated
(data, split, checkpoint) and how the model was trained (seed, size, epochs, hardware, time).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.evaluation.metrics import GifPredictions, compute_metrics
from gifemo.evaluation.plots import plot_confusion_matrix
from gifemo.formatting import format_duration, markdown_table
from gifemo.training.run_dir import CONFUSION_PNG, PREDICTIONS_CSV, REPORT_JSON, REPORT_MD


def write_report(
    out_dir: str | Path,
    predictions: GifPredictions,
    context: dict[str, Any],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compute the metrics of ``predictions`` and write the four report files into ``out_dir``.

    ``context`` describes the run (see :func:`render_markdown` for the keys it shows); it is
    stored as is under ``report["context"]``. Returns the report dict (``report.json``'s content).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions.save(out_dir / PREDICTIONS_CSV)
    metrics = compute_metrics(
        predictions, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    report = {
        "context": context,
        "metrics": metrics,
        "files": {
            "predictions": PREDICTIONS_CSV,
            "confusion_matrix": CONFUSION_PNG,
            "markdown": REPORT_MD,
        },
    }
    title = (
        f"{context.get('model', '')} on {context.get('data_name', '')} ({context.get('split', '')})"
    )
    plot_confusion_matrix(
        metrics["confusion_matrix"], predictions.labels, out_dir / CONFUSION_PNG, title=title
    )
    atomic_write_text(out_dir / REPORT_JSON, json.dumps(report, indent=2) + "\n")
    atomic_write_text(out_dir / REPORT_MD, render_markdown(report))
    return report


def _f(x: float) -> str:
    return f"{x:.4f}"


def _reason(reason: str | None) -> str:
    return f" ({reason})" if reason else ""


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md``: run facts, accuracy with CI, Table 2 and Table 3 layouts, confusion matrix."""
    c, m = report["context"], report["metrics"]
    acc = m["accuracy"]
    kwargs = c.get("model_kwargs") or {}
    model = c.get("model", "?") + (
        f" ({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else ""
    )
    counts = ", ".join(f"{s}: {n}" for s, n in (c.get("split_sizes") or {}).items())
    facts = [
        ["Model", model],
        ["Checkpoint", f"{c.get('checkpoint', '?')} (epoch {c.get('checkpoint_epoch', '?')})"],
        ["Data", f"{c.get('data', '?')}" + (" (out-of-domain)" if c.get("out_of_domain") else "")],
        ["Evaluated", f"{c.get('split', '?')}: {m['n_gifs']} GIFs, {m['n_clips']} clips"],
    ]
    if counts:
        facts.append(["Split (GIFs)", f"{counts} (seed {c.get('split_seed', '?')})"])
    train = c.get("training") or {}
    if train:
        facts += [
            [
                "Training",
                f"{train.get('epochs_done', '?')}/{train.get('epochs', '?')} epochs, batch "
                f"{train.get('batch_size')}, "
                f"Adam lr {train.get('lr')}, weight decay {train.get('weight_decay')}, seed "
                f"{train.get('seed')}, "
                f"precision {train.get('precision')}{_reason(train.get('precision_reason'))}, "
                f"{train.get('devices')} device(s)",
            ],
            ["Input", f"{train.get('size')} px, clips of {train.get('clip_len')} frames"],
            [
                "Training hardware",
                f"{train.get('hardware', 'n/a')}, wall time "
                f"{format_duration(train.get('wall_time_s'))}",
            ],
        ]
    facts.append(
        [
            "Evaluation hardware",
            f"{c.get('hardware', 'n/a')}, wall time {format_duration(c.get('wall_time_s'))}",
        ]
    )
    if c.get("precision"):
        facts.append(
            ["Evaluation precision", f"{c['precision']}{_reason(c.get('precision_reason'))}"]
        )

    lines = [f"# Evaluation report: {c.get('model', '?')}", ""]
    lines += markdown_table(["", ""], facts)
    lines += [
        "",
        "## Accuracy",
        "",
        f"GIF-level accuracy: **{_f(acc['value'])}** "
        f"({round(acc['confidence'] * 100)}% CI {_f(acc['ci_low'])}-{_f(acc['ci_high'])}, "
        f"{acc['method']}).",
        "",
        f"Clip-level accuracy: {_f(m['clip_accuracy'])} ({m['n_clips']} clips scored one by one).",
        "",
        "A GIF's class intensities are the mean of its clips' softmax probabilities; its "
        "prediction is",
        "their argmax.",
        "",
        "## Per-class results (paper's Table 2 layout)",
        "",
    ]
    lines += markdown_table(
        ["Label", "Precision", "Recall", "F1 score", "Support"],
        [
            [
                row["label"],
                _f(row["precision"]),
                _f(row["recall"]),
                _f(row["f1"]),
                str(row["support"]),
            ]
            for row in m["per_class"]
        ],
    )
    lines += ["", "## Averages (paper's Table 3 layout)", ""]
    lines += markdown_table(
        ["Average", "Precision", "Recall", "F1-score"],
        [
            [name, _f(m[name]["precision"]), _f(m[name]["recall"]), _f(m[name]["f1"])]
            for name in ("macro", "weighted")
        ],
    )
    lines += ["", "## Confusion matrix (rows: true class, columns: predicted)", ""]
    labels = m["labels"]
    lines += markdown_table(
        ["true \\ predicted", *labels],
        [
            [label, *(str(v) for v in row)]
            for label, row in zip(labels, m["confusion_matrix"], strict=True)
        ],
    )
    lines += ["", f"![Confusion matrix]({CONFUSION_PNG})", ""]
    return "\n".join(lines)
