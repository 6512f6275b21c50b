"""Command-line options of the training settings that ``gifemo train`` and ``gifemo reproduce`` share.

Each is ``None`` unless given, so a command can tell "not given" (keep the config's or the paper's
value) from an explicit value. The defaults in the help text are read from
:class:`gifemo.training.config.TrainConfig`, so they cannot drift from what training uses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from gifemo.training.config import TrainConfig

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _help(text: str, field: str, shown: str | None = None) -> str:
    return f"{text} (default: {shown if shown is not None else _DEFAULTS[field]})"


def fail(error: Exception) -> None:
    """Print ``error: ...`` and exit with status 2 (bad usage or settings)."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


Size = Annotated[int | None, typer.Option(help=_help("Frame side in pixels.", "size"))]
Epochs = Annotated[int | None, typer.Option(help=_help("Epochs (per run).", "epochs"))]
BatchSize = Annotated[int | None, typer.Option(help=_help("Clips per batch and device.", "batch_size"))]
Lr = Annotated[float | None, typer.Option(help=_help("Adam learning rate.", "lr"))]
WeightDecay = Annotated[float | None, typer.Option(help=_help("Adam weight decay.", "weight_decay"))]
PRECISION_HELP = (
    "auto (bf16-mixed only on a GPU or CPU with native bfloat16, else 32; see `gifemo doctor`), "
    "32, bf16-mixed, or 16-mixed (CUDA)."
)


def _check_precision(value: str | None) -> str | None:
    from gifemo.hardware import normalize_precision

    try:
        return None if value is None else normalize_precision(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


Precision = Annotated[
    str | None, typer.Option(help=_help(PRECISION_HELP, "precision"), callback=_check_precision)
]
#: The same for commands that run a trained model (evaluate, predict, serve): default auto.
RunPrecision = Annotated[
    str, typer.Option(help=f"{PRECISION_HELP} (default: auto)", callback=_check_precision)
]
ChannelsLast = Annotated[
    bool | None,
    typer.Option(
        "--channels-last/--no-channels-last",
        help="Channels-last weights. (default: auto: on for CPUs and for GPUs in mixed precision)",
    ),
]
Devices = Annotated[int | None, typer.Option(help=_help("Devices (processes) per run; > 1 trains with DDP.", "devices"))]
Accelerator = Annotated[str | None, typer.Option(help=_help("cpu, gpu or auto.", "accelerator"))]
ValEvery = Annotated[
    int | None, typer.Option(min=1, help=_help("Validate every N-th epoch only.", "val_every"))
]
Workers = Annotated[int | None, typer.Option(help=_help("DataLoader worker processes.", "workers"))]
MaxClipsPerGif = Annotated[
    int | None, typer.Option(help=_help("Cap on training clips per GIF and epoch.", "max_clips_per_gif", "all"))
]
Pretrained = Annotated[
    str | None, typer.Option(help=_help("Backbone weights: 'imagenet', a path, or 'none'.", "pretrained", "none"))
]
Augment = Annotated[
    bool | None, typer.Option("--augment/--no-augment", help=_help("Crop+flip augmentation.", "augment", "off"))
]
CacheDir = Annotated[
    Path | None, typer.Option(help=_help("Frame cache root.", "cache_dir", "$GIFEMO_CACHE or ~/.cache/gifemo"))
]
