"""The evaluation report: ``predictions.csv``, ``report.json``, ``report.md``,
``confusion_matrix.png`` and ``reliability_diagram.png``.

Every number in the report is computed from ``predictions.csv`` (one row per GIF), so anyone can
recompute it from that file alone. ``report.md`` uses the paper's layouts: Table 2 (per-class
precision, recall, F1) and Table 3 (macro and weighted averages), and states what was evaluated
(data, split, checkpoint) and how the model was trained (seed, size, epochs, hardware, time).
Its "Calibration" section (:mod:`gifemo.evaluation.calibration`) says how far the intensities
can be read as probabilities: ECE, classwise ECE, Brier score and NLL with CIs, before and after
the run's temperature when it has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.evaluation.calibration import calibration_metrics
from gifemo.evaluation.metrics import GifPredictions, compute_metrics
from gifemo.evaluation.plots import plot_confusion_matrix, plot_reliability_diagram
from gifemo.formatting import format_duration, markdown_table
from gifemo.training.run_dir import (
    CONFUSION_PNG,
    PREDICTIONS_CSV,
    RELIABILITY_PNG,
    REPORT_JSON,
    REPORT_MD,
)


def write_report(
    out_dir: str | Path,
    predictions: GifPredictions,
    context: dict[str, Any],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    uncalibrated: GifPredictions | None = None,
) -> dict[str, Any]:
    """Compute the metrics of ``predictions`` and write the report files into ``out_dir``.

    ``context`` describes the run (see :func:`render_markdown` for the keys it shows); it is
    stored as is under ``report["context"]``; its ``temperature`` (default 1) is the one
    ``predictions`` were made at. ``uncalibrated``: the same GIFs at temperature 1, when
    ``predictions`` are temperature-scaled; their calibration is reported beside it.
    Returns the report dict (``report.json``'s content).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions.save(out_dir / PREDICTIONS_CSV)
    metrics = compute_metrics(
        predictions, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    options = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    calibration = calibration_metrics(predictions.probs, predictions.targets, **options)
    calibration["temperature"] = float(context.get("temperature") or 1.0)
    calibration["fitted_on"] = (context.get("calibration") or {}).get("split")
    # A temperature fitted on the very GIFs evaluated here flatters them.
    calibration["optimistic"] = bool(
        calibration["fitted_on"]
        and calibration["fitted_on"] == context.get("split")
        and not context.get("out_of_domain")
    )
    if uncalibrated is not None:
        calibration["uncalibrated"] = calibration_metrics(
            uncalibrated.probs, uncalibrated.targets, **options
        )
    metrics["calibration"] = calibration
    report = {
        "context": context,
        "metrics": metrics,
        "files": {
            "predictions": PREDICTIONS_CSV,
            "confusion_matrix": CONFUSION_PNG,
            "reliability_diagram": RELIABILITY_PNG,
            "markdown": REPORT_MD,
        },
    }
    title = (
        f"{context.get('model', '')} on {context.get('data_name', '')} ({context.get('split', '')})"
    )
    plot_confusion_matrix(
        metrics["confusion_matrix"], predictions.labels, out_dir / CONFUSION_PNG, title=title
    )
    plot_reliability_diagram(calibration, out_dir / RELIABILITY_PNG, title=title)
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
    if "calibration" in m:
        lines += calibration_markdown(m["calibration"], acc["confidence"])
    return "\n".join(lines)


def calibration_markdown(calibration: dict[str, Any], confidence: float = 0.95) -> list[str]:
    """The report's "Calibration" section: the metrics at the model's temperature, and at 1."""
    temperature = calibration.get("temperature", 1.0)
    fitted_on = calibration.get("fitted_on")
    columns = [("ece", "ECE (top label)"), ("classwise_ece", "Classwise ECE")]
    columns += [("brier", "Brier score"), ("nll", "NLL")]
    pct = round(confidence * 100)

    def row(name: str, values: dict[str, Any]) -> list[str]:
        return [name] + [
            f"{_f(values[k]['value'])} ({_f(values[k]['ci_low'])}-{_f(values[k]['ci_high'])})"
            for k, _ in columns
        ]

    rows = []
    if "uncalibrated" in calibration:
        rows.append(row("uncalibrated (T = 1)", calibration["uncalibrated"]))
    name = f"temperature T = {temperature:.3f}" if temperature != 1.0 else "as predicted (T = 1)"
    rows.append(row(name, calibration))
    lines = [
        "## Calibration",
        "",
        f"Can an intensity of 0.8 be read as 80%? {calibration['n_bins']} equal-width bins of the "
        f"top probability; {pct}% CIs by {calibration['method']}.",
        "",
    ]
    lines += markdown_table(["", *(title for _, title in columns)], rows)
    if temperature != 1.0:
        lines += [
            "",
            f"Temperature scaling: every clip's logits are divided by T = {temperature:.4f} "
            f"before the softmax, fitted on the {fitted_on or '?'} split by minimising the NLL "
            "of the GIF-level intensities.",
        ]
        if calibration.get("optimistic"):
            lines += [
                "",
                f"**Warning: the temperature was fitted on these very GIFs (the {fitted_on} "
                "split), so the calibrated numbers above are optimistic.**",
            ]
    lines += ["", f"![Reliability diagram]({RELIABILITY_PNG})", ""]
    return lines
