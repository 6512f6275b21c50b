"""What the commands share: option types, turning options into a TrainConfig, and error exits.

Training options are ``None`` unless given, so a command can tell "not given" (keep the config's
or the paper's value) from an explicit value. Their help text reads the defaults from
:class:`gifemo.training.config.TrainConfig`, so it cannot drift from what training uses. A
command parameter named after a TrainConfig field *is* that field: :func:`training_settings`
picks them from the command's parameters, so no command maps them by hand.

Errors: a command wraps its work in :func:`exit_on_error`, which prints ``error: MESSAGE`` on
stderr and exits with status 2 (bad input or settings) or the code it is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gifemo.training.config import TrainConfig, parse_model_kwargs

_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_DEFAULTS = {name: f.default for name, f in _FIELDS.items()}

#: What :func:`exit_on_error` turns into an ``error:`` line by default: bad settings or input
#: (``ValueError``), missing, existing or unreadable files (``OSError``).
USAGE_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError)


# -- errors ----------------------------------------------------------------------------------


def fail(error: Exception | str, *, code: int = 2, prefix: str = "") -> NoReturn:
    """Print ``error: PREFIX MESSAGE`` on stderr and exit with ``code``."""
    typer.secho(f"error: {prefix}{error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)


@contextlib.contextmanager
def exit_on_error(*errors: type[Exception], code: int = 2, prefix: str = "") -> Iterator[None]:
    """Inside the block, ``errors`` (default :data:`USAGE_ERRORS`) end the command with
    :func:`fail`; anything else (a bug) keeps its traceback."""
    caught = errors or USAGE_ERRORS
    try:
        yield
    except caught as error:
        fail(error, code=code, prefix=prefix)


# -- training settings -----------------------------------------------------------------------


def model_kwargs_option(
    items: Iterable[str] | None, *, per_model: bool = False
) -> dict[str, Any] | None:
    """``--model-kwargs KEY=VALUE ...`` as a dict (``None`` when not given); with ``per_model``,
    ``MODEL:KEY=VALUE ...`` as a dict per model (``gifemo reproduce``)."""
    if not items:
        return None
    from gifemo.experiments.reproduce import parse_per_model_kwargs

    try:
        return parse_per_model_kwargs(list(items)) if per_model else parse_model_kwargs(list(items))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--model-kwargs") from None


def training_settings(params: Mapping[str, Any], *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The TrainConfig fields among a command's parameters (``locals()``) that were given.

    Parameters that are no TrainConfig field, those in ``exclude`` and those left at ``None``
    are dropped; ``--model-kwargs`` items become a dict and paths become text (what
    ``config.yaml`` and ``reproduce.yaml`` hold). ``pretrained`` "none" is TrainConfig's to read.
    """
    settings: dict[str, Any] = {}
    excluded = set(exclude)
    for name, value in params.items():
        if name not in _FIELDS or name in excluded or value is None:
            continue
        if name == "model_kwargs":
            value = model_kwargs_option(value)
        settings[name] = str(value) if isinstance(value, Path) else value
    return settings


def train_config_from_options(params: Mapping[str, Any]) -> tuple[TrainConfig, Path]:
    """``(config, run_dir)`` of ``gifemo train``'s parameters: a new run (``data`` and
    ``out``), or the saved config of ``resume`` with the given settings checked against it."""
    from gifemo.training.run_dir import load_run_config

    data, out, resume = params.get("data"), params.get("out"), params.get("resume")
    settings = training_settings(params, exclude=("data",))
    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise ValueError(
                f"--out {out} and --resume {resume} name different runs; give --resume only"
            )
        if data is not None:
            settings["data"] = str(data)
        return load_run_config(resume, settings), Path(resume)
    if data is None or out is None:
        raise ValueError("give a dataset and --out RUN_DIR (or --resume RUN_DIR)")
    return TrainConfig(data=str(data), **settings), Path(out)


def quiet_lightning() -> None:
    """Silence Lightning's banners (GPU available, tips, model summary); warnings still show.

    A plan of dozens of runs, or the demo, prints its own progress lines, which the per-run
    banners would drown. Lightning sets its loggers' level when imported, so import it first.
    """
    import lightning.pytorch  # noqa: F401

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- option types ----------------------------------------------------------------------------


def _help(text: str, field: str, shown: str | None = None) -> str:
    return f"{text} (default: {shown if shown is not None else _DEFAULTS[field]})"


def _check_precision(value: str | None) -> str | None:
    from gifemo.hardware import normalize_precision

    try:
        return None if value is None else normalize_precision(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


DATA_HELP = "Dataset folder (ROOT/<label>/*.gif) or CSV manifest."
PRECISION_HELP = (
    "auto (bf16-mixed only on a GPU or CPU with native bfloat16, else 32; see `gifemo doctor`), "
    "32, bf16-mixed, or 16-mixed (CUDA)."
)

Size = Annotated[int | None, typer.Option(help=_help("Frame side in pixels.", "size"))]
Epochs = Annotated[int | None, typer.Option(help=_help("Epochs (per run).", "epochs"))]
BatchSize = Annotated[
    int | None, typer.Option(help=_help("Clips per batch and device.", "batch_size"))
]
Lr = Annotated[float | None, typer.Option(help=_help("Adam learning rate.", "lr"))]
WeightDecay = Annotated[
    float | None, typer.Option(help=_help("Adam weight decay.", "weight_decay"))
]
LrSchedule = Annotated[
    str | None,
    typer.Option(
        help=_help(
            "Learning-rate schedule: constant (the paper's) or onecycle (warm up to --lr over "
            "30% of the steps, then anneal).",
            "lr_schedule",
        )
    ),
]
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
Compile = Annotated[
    bool | None,
    typer.Option(
        "--compile/--no-compile",
        help="torch.compile (inductor) the model. (default: auto: off on CPU, see docs)",
    ),
]
DeviceTransforms = Annotated[
    bool | None,
    typer.Option(
        "--device-transforms/--no-device-transforms",
        help="uint8 batches, normalised and augmented on the training device. "
        "(default: auto: on for GPUs, off on the CPU)",
    ),
]
Devices = Annotated[
    int | None,
    typer.Option(help=_help("Devices (processes) per run; > 1 trains with DDP.", "devices")),
]
NumNodes = Annotated[
    int | None,
    typer.Option(
        min=1,
        help=_help(
            "Machines of a multi-node DDP run (torchrun or SLURM starts the processes).",
            "num_nodes",
        ),
    ),
]
Accelerator = Annotated[str | None, typer.Option(help=_help("cpu, gpu or auto.", "accelerator"))]
ValEvery = Annotated[
    int | None, typer.Option(min=1, help=_help("Validate every N-th epoch only.", "val_every"))
]
Workers = Annotated[int | None, typer.Option(help=_help("DataLoader worker processes.", "workers"))]
MaxClipsPerGif = Annotated[
    int | None,
    typer.Option(
        help=_help("Cap on training clips per GIF and epoch.", "max_clips_per_gif", "all")
    ),
]
Pretrained = Annotated[
    str | None,
    typer.Option(
        help=_help("Backbone weights: 'imagenet', a path, or 'none'.", "pretrained", "none")
    ),
]
Augment = Annotated[
    bool | None,
    typer.Option("--augment/--no-augment", help=_help("Crop+flip augmentation.", "augment", "off")),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(help=_help("Frame cache root.", "cache_dir", "$GIFEMO_CACHE or ~/.cache/gifemo")),
]

# -- running a trained model (predict, score) ------------------------------------------------

ModelArg = Annotated[
    Path,
    typer.Argument(
        metavar="MODEL", help="Run directory, .ckpt checkpoint, or exported .onnx file."
    ),
]


MaxFrames = Annotated[
    int | None, typer.Option("--max-frames", min=1, help="Refuse GIFs with more frames.")
]
Lenient = Annotated[
    bool, typer.Option("--lenient", help="Use damaged GIFs' complete frames instead of failing.")
]
AllowPrivate = Annotated[
    bool,
    typer.Option(
        "--allow-private", help="Let URL inputs reach loopback and private-network addresses."
    ),
]
MaxDownloadMb = Annotated[
    float, typer.Option("--max-download-mb", min=0.001, help="Size limit of a URL input.")
]
DownloadTimeout = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Time limit (s) to download a URL input.")
]


def input_limits(
    *, max_frames: int | None, lenient: bool, allow_private: bool, max_download_mb: float,
    timeout: float,
) -> dict[str, Any]:  # fmt: skip
    """The options above as :class:`~gifemo.inference.Predictor` keywords."""
    return {
        "max_frames": max_frames,
        "strict": not lenient,
        "allow_private": allow_private,
        "max_download_bytes": int(max_download_mb * 1024 * 1024),
        "download_timeout_s": timeout,
    }


Calibration = Annotated[
    bool,
    typer.Option(
        "--calibration/--no-calibration",
        help="Apply the model's temperature (gifemo calibrate; inside an exported .onnx); "
        "--no-calibration gives the raw softmax.",
    ),
]
#: For a command on a trained run whose default is the run's own precision (calibrate).
RunOwnPrecision = Annotated[
    str | None,
    typer.Option(help=f"{PRECISION_HELP} (default: the run's own)", callback=_check_precision),
]
#: What the commands that score a run's split share (evaluate, calibrate).
RunBatchSize = Annotated[int | None, typer.Option(help="Clips per batch. (default: the run's)")]
RunWorkers = Annotated[int | None, typer.Option(help="DataLoader workers. (default: the run's)")]
RunDevice = Annotated[
    str | None, typer.Option(help="cpu, cuda, cuda:1... (default: cuda if available)")
]
