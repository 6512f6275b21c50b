"""``gifemo evaluate``: a trained run at GIF level, on its test split or on other data."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def evaluate_command(
    run: Path = typer.Argument(..., help="Run directory (or a .ckpt file with --data and --out)."),
    data: Path | None = typer.Option(
        None, "--data", help="Dataset to evaluate on (default: the run's)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report directory."),
    split: str | None = typer.Option(
        None, help="test, val, train or all. (default: test on the run's data, all on other data)"
    ),
    checkpoint: str = typer.Option(
        "auto", help="auto (best if chosen on a validation split, else last), best or last."
    ),
    batch_size: opt.RunBatchSize = None,
    workers: opt.RunWorkers = None,
    device: opt.RunDevice = None,
    precision: opt.RunPrecision = "auto",
    calibration: opt.Calibration = True,
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for the accuracy CI."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Evaluate a trained run at GIF level: report.json/.md, predictions.csv, confusion matrix."""
    from gifemo.evaluation import evaluate_run

    with opt.exit_on_error():
        report = evaluate_run(
            run,
            data=data,
            split=split,
            out=out,
            which=checkpoint,
            batch_size=batch_size,
            workers=workers,
            device=device,
            precision=precision,
            n_resamples=bootstrap,
            progress=progress,
            calibrated=calibration,
        )
    m = report["metrics"]
    acc = m["accuracy"]
    typer.echo(
        f"GIF accuracy {acc['value']:.4f} (95% CI {acc['ci_low']:.4f}-{acc['ci_high']:.4f}) on "
        f"{m['n_gifs']} GIFs, "
        f"clip accuracy {m['clip_accuracy']:.4f}, macro F1 {m['macro']['f1']:.4f}"
    )
    ece = m["calibration"]["ece"]
    typer.echo(
        f"ECE {ece['value']:.4f} (95% CI {ece['ci_low']:.4f}-{ece['ci_high']:.4f}) at temperature "
        f"{m['calibration']['temperature']:.4f}"
    )


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to ``app``."""
    app.command("evaluate")(evaluate_command)
