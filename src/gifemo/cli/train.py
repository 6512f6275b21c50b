"""``gifemo train``: train a model on a GIF dataset, then evaluate it on the test split."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def train_command(
    data: Path | None = typer.Argument(None, help=opt.DATA_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create."),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this directory."
    ),
    model: str | None = typer.Option(
        None, help="Registered model name (gifemo models list). (default: resnet_convgru)"
    ),
    model_kwargs: list[str] | None = typer.Option(
        None,
        "--model-kwargs",
        help="Model builder argument KEY=VALUE (repeatable), e.g. hidden_dim=64.",
    ),
    pretrained: opt.Pretrained = None,
    epochs: opt.Epochs = None,
    batch_size: opt.BatchSize = None,
    lr: opt.Lr = None,
    weight_decay: opt.WeightDecay = None,
    lr_schedule: opt.LrSchedule = None,
    clip_len: int | None = typer.Option(None, help="Frames per clip. (default: 4)"),
    size: opt.Size = None,
    seed: int | None = typer.Option(
        None, help="Seed of the split, sampling and initialisation. (default: 0)"
    ),
    precision: opt.Precision = None,
    devices: opt.Devices = None,
    num_nodes: opt.NumNodes = None,
    accelerator: opt.Accelerator = None,
    workers: opt.Workers = None,
    max_clips_per_gif: opt.MaxClipsPerGif = None,
    augment: opt.Augment = None,
    channels_last: opt.ChannelsLast = None,
    compile: opt.Compile = None,
    device_transforms: opt.DeviceTransforms = None,
    test_fraction: float | None = typer.Option(
        None, help="Per-class fraction of GIFs for test. (default: 0.2)"
    ),
    val_fraction: float | None = typer.Option(
        None, help="Per-class fraction for a separate val split. (default: 0)"
    ),
    val_every: opt.ValEvery = None,
    cache_dir: opt.CacheDir = None,
    tensorboard: bool | None = typer.Option(
        None,
        "--tensorboard/--no-tensorboard",
        help="Also log to TensorBoard (needs tensorboard). (default: off)",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Train a model on a GIF dataset (defaults: the paper's Table 1), then evaluate it.

    Examples: `gifemo train data/gifgif7 --out runs/paper`;
    `gifemo train --resume runs/paper` after an interruption.
    """
    params = locals()  # every parameter named after a TrainConfig field is that field
    from gifemo.evaluation import train_and_evaluate
    from gifemo.training.run_dir import RunDir

    with opt.exit_on_error():
        config, run_dir = opt.train_config_from_options(params)
        result = train_and_evaluate(config, run_dir, resume=resume is not None, progress=progress)
    if result is not None and result.report is not None:
        acc = result.report["metrics"]["accuracy"]
        typer.echo(
            f"{result.run_dir}: GIF accuracy {acc['value']:.4f} "
            f"(95% CI {acc['ci_low']:.4f}-{acc['ci_high']:.4f}); report in "
            f"{RunDir(result.run_dir).report_md}"
        )


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command("train")(train_command)
