"""``gifemo export``: a trained run (or checkpoint) to one ONNX file, labels and preprocessing
inside."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def export_command(
    run: Path = typer.Argument(
        ...,
        metavar="RUN_DIR",
        help="Run directory or .ckpt checkpoint to export (with --int8 also a float32 .onnx).",
    ),
    onnx: Path = typer.Option(..., "--onnx", metavar="FILE", help="The .onnx file to write."),
    opset: int | None = typer.Option(
        None, "--opset", min=7, help="ONNX opset (default: the exporter's choice)."
    ),
    external_data: bool = typer.Option(
        False, "--external-data", help="Weights in FILE.data beside FILE (keep the two together)."
    ),
    which: str = typer.Option(
        "auto",
        "--checkpoint",
        help="For a run dir: auto (best if chosen on a validation split, else last), best or last.",
    ),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Compare onnxruntime with torch after export."
    ),
    calibration: opt.Calibration = True,
    int8: bool = typer.Option(
        False, "--int8", help="Static INT8 quantisation (ONNX Runtime QDQ, per-channel weights)."
    ),
    int8_data: Path | None = typer.Option(
        None,
        "--int8-data",
        metavar="DATA",
        help="--int8: GIF folder or manifest to calibrate on (default: the run's training GIFs).",
    ),
    int8_clips: int = typer.Option(
        64, "--int8-clips", min=1, help="--int8: clips used for calibration."
    ),
) -> None:
    """Export a trained model to ONNX, with its labels and preprocessing in the file's metadata."""
    from rich.console import Console
    from rich.markup import escape

    from gifemo.inference.export import ExportError, export_onnx
    from gifemo.training.checkpoint import load_trained_model

    err = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    if onnx.suffix.lower() != ".onnx":
        opt.fail(f"--onnx must name a .onnx file, got {onnx}")
    if int8:
        from gifemo.cli.export_int8 import export_int8_command

        return export_int8_command(
            run,
            onnx,
            which=which,
            opset=opset,
            calibration_data=int8_data,
            clips=int8_clips,
            calibrated=calibration,
            err=err,
        )
    with opt.exit_on_error():
        trained = load_trained_model(run, which=which, calibrated=calibration)
    with (
        opt.exit_on_error(ExportError, code=1),
        err.status(f"exporting {trained.model_name} to {onnx} ..."),
    ):
        result = export_onnx(trained, onnx, opset=opset, external_data=external_data, check=check)
    files = str(result.path) + (f" + {result.data_path}" if result.data_path else "")
    checked = (
        ""
        if result.max_abs_diff is None
        else f", max |torch - onnxruntime| = {result.max_abs_diff:.2g}"
    )
    err.print(
        escape(
            f"wrote {files} (opset {result.opset}, input frames (B, {trained.preprocess.clip_len}, "
            f"{trained.preprocess.size}, {trained.preprocess.size}, 3) uint8{checked}, "
            f"temperature {trained.temperature:.4g})"
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``gifemo export`` to ``app``."""
    app.command("export")(export_command)
