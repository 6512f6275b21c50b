"""``gifemo export --int8``: the INT8 half of the export command (kept apart from its float32
path), printing what was quantised and how INT8 agrees with float32."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from gifemo.cli import options as opt


def export_int8_command(
    model: Path,
    onnx: Path,
    *,
    which: str,
    opset: int | None,
    calibration_data: Path | None,
    clips: int,
    calibrated: bool,
    err: Console,
) -> None:
    """Quantise ``model`` (run dir, ``.ckpt`` or float32 ``.onnx``) into ``onnx``; print the
    calibration and the agreement check."""
    from gifemo.inference.export import ExportError
    from gifemo.inference.quantize import export_int8

    with (
        opt.exit_on_error(),
        opt.exit_on_error(ExportError, code=1),
        err.status(f"exporting {model} to INT8 {onnx} ..."),
    ):
        result = export_int8(
            model,
            onnx,
            calibration_data=calibration_data,
            calibration_clips=clips,
            calibrated=calibrated,
            opset=opset,
            which=which,
        )
    cal = result.calibration
    kept = ", ".join(f"{n} {op}" for op, n in sorted(result.float_ops.items())) or "none"
    lines = [
        f"wrote {result.path} (INT8 QDQ: {len(result.quantized_nodes)} nodes quantised, "
        f"float32 compute ops kept: {kept})",
        f"calibrated on {cal['clips']} clips of {cal['gifs']} GIFs ({cal['source']})",
    ]
    check = result.agreement
    if check is not None:
        lines.append(
            f"INT8 vs float32 on {check.n_gifs} GIFs ({check.source}): top-1 agreement "
            f"{100 * check.top1_agreement:.1f}% (clips {100 * check.clip_top1_agreement:.1f}% "
            f"of {check.n_clips}), max |dp| = {check.max_abs_diff:.2g}"
        )
        lines += [f"  skipped: {failure}" for failure in check.failures[:5]]
    for line in lines:
        err.print(escape(line))
