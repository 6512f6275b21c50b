"""``gifemo explain``: where and when in a GIF its emotion score comes from."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def explain_command(
    model: Path = typer.Argument(
        ..., metavar="MODEL", help="Run directory, .ckpt checkpoint, or exported .onnx file."
    ),
    source: str = typer.Argument(..., metavar="GIF", help="A GIF file, '-' for stdin, or a URL."),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Where to write the files."),
    label: str | None = typer.Option(
        None, "--label", "-l", help="The emotion to explain. (default: the GIF's top emotion)"
    ),
    method: str | None = typer.Option(
        None,
        "--method",
        help="gradcam (torch models) or occlusion (any model, slower). "
        "(default: gradcam where possible)",
    ),
    layer: str | None = typer.Option(
        None, "--layer", help="Grad-CAM target module. (default: the last convolutional stage)"
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    calibration: opt.Calibration = True,
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips per forward pass."),
    max_frames: int | None = typer.Option(
        None, "--max-frames", min=1, help="Refuse GIFs with more frames."
    ),
    allow_private: bool = typer.Option(
        False, "--allow-private", help="Let a URL reach loopback and private-network addresses."
    ),
) -> None:
    """Explain MODEL's score for GIF: DIR/heatmap.gif (a saliency map over every frame),
    DIR/frame_importance.png and DIR/explanation.json."""
    import sys

    from gifemo.inference import NamedBytes, load
    from gifemo.inference.explain import Explainer

    with opt.exit_on_error(prefix=f"cannot load model {model}: "):
        predictor = load(
            model,
            device=device,
            precision="32",  # gradients and saliency in float32
            calibrated=calibration,
            batch_size=batch_size,
            max_frames=max_frames,
            allow_private=allow_private,
        )
    with opt.exit_on_error(ValueError, OSError, ImportError):
        explainer = Explainer(predictor, layer=layer)
        given = NamedBytes("<stdin>", sys.stdin.buffer.read()) if source == "-" else source
        explanation, data = explainer.explain(given, label=label, method=method)
        paths = explanation.save(out, data)
    top = int(explanation.frame_importance.argmax())
    typer.echo(
        f"{explanation.source}: {explanation.label} {explanation.score:.3f} "
        f"({explanation.method}{f' on {explanation.layer}' if explanation.layer else ''}); "
        f"most important frame {top} (score {explanation.frame_scores[top]:.3f} without it)"
    )
    for path in paths.values():
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``explain`` to ``app``."""
    app.command("explain")(explain_command)
