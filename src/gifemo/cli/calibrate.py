"""``gifemo calibrate``: temperature scaling of a trained run, fitted on its validation split."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def calibrate_command(
    run: Path = typer.Argument(..., metavar="RUN_DIR", help="Run directory to calibrate."),
    split: str = typer.Option(
        "val",
        help="val (the run's validation split), or test (only for a run without one: the "
        "test ECE after it is then optimistic, and the report says so).",
    ),
    checkpoint: str = typer.Option(
        "auto", help="auto (best if chosen on a validation split, else last), best or last."
    ),
    report: bool = typer.Option(
        True, "--report/--no-report", help="Write the run's test report again, calibrated."
    ),
    batch_size: opt.RunBatchSize = None,
    workers: opt.RunWorkers = None,
    device: opt.RunDevice = None,
    precision: opt.RunOwnPrecision = None,
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for the report's CIs."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fit a temperature on RUN_DIR's validation GIFs; predict, serve, export and evaluate then
    apply it (--no-calibration for the raw outputs)."""
    from gifemo.evaluation.calibrate import calibrate_run

    with opt.exit_on_error():
        result = calibrate_run(
            run,
            split=split,
            which=checkpoint,
            batch_size=batch_size,
            workers=workers,
            device=device,
            precision=precision,
            evaluate=report,
            n_resamples=bootstrap,
            progress=progress,
        )
    record = result.record
    before, after = record["before"], record["after"]
    typer.echo(
        f"temperature {result.temperature:.4f} fitted on {record['n_gifs']} {record['split']} "
        f"GIFs: NLL {before['nll']:.4f} -> {after['nll']:.4f}, "
        f"ECE {before['ece']:.4f} -> {after['ece']:.4f}; wrote {result.path}"
    )
    if result.report is not None:
        cal = result.report["metrics"]["calibration"]
        raw = cal.get("uncalibrated", cal)
        typer.echo(
            f"test ECE {raw['ece']['value']:.4f} -> {cal['ece']['value']:.4f} "
            f"(95% CI {cal['ece']['ci_low']:.4f}-{cal['ece']['ci_high']:.4f}) on "
            f"{result.report['metrics']['n_gifs']} GIFs"
        )
    if result.warning:
        typer.secho(f"warning: {result.warning}", fg=typer.colors.YELLOW, err=True)


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to ``app``."""
    app.command("calibrate")(calibrate_command)
