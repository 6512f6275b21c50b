"""``gifemo demo`` (``make demo``): synthetic data -> a trained ResNet-ConvGRU -> report and
predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt

#: The animated Noto emoji beside a source checkout, as seen from the checkout (``make demo``).
DEFAULT_OOD_DATA = Path("../shared/data/noto-emoji-7")


def demo_command(
    out: Path = typer.Option(
        Path("demo"), "--out", "-o", help="Where every output of the demo goes."
    ),
    per_class: int | None = typer.Option(
        None, help="Synthetic human-style GIFs per class. [the demo's default]"
    ),
    emoji_per_class: int | None = typer.Option(
        None,
        min=0,
        help="Synthetic emoji-style GIFs per class (0: human faces only). [the demo's default]",
    ),
    size: int | None = typer.Option(
        None, help="Training frame side in pixels. [the demo's default]"
    ),
    epochs: int | None = typer.Option(None, help="Training epochs. [the demo's default]"),
    clip_len: int | None = typer.Option(
        None, min=1, help="Frames per clip (the paper's: 4). [the demo's default]"
    ),
    seed: int | None = typer.Option(
        None,
        help="Seed of the data, the split and the initialisation: another seed, another run to "
        "compare. [the demo's default: 0]",
    ),
    ood_data: Path = typer.Option(
        DEFAULT_OOD_DATA,
        "--ood-data",
        help="Real GIFs (<label>/*.gif) for the out-of-domain check, relative to the current "
        "directory; skipped when missing.",
    ),
) -> None:
    """The out-of-the-box demo: synthesise a dataset, train ResNet-ConvGRU on the CPU, evaluate,
    predict.

    Re-running it reuses what is done (the dataset, a finished training run).
    """
    from gifemo.demo import DemoConfig, run_demo

    overrides = {
        "per_class": per_class,
        "emoji_per_class": emoji_per_class,
        "size": size,
        "epochs": epochs,
        "clip_len": clip_len,
        "seed": seed,
    }
    with opt.exit_on_error():
        config = DemoConfig(
            out=str(out),
            ood_data=str(ood_data),
            **{k: v for k, v in overrides.items() if v is not None},
        )
        opt.quiet_lightning()
        run_demo(config)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo_command)
