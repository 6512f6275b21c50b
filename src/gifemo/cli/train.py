"""``gifemo train`` and ``gifemo evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gifemo.cli import training_options as opt


def parse_model_kwargs(items: list[str] | None) -> dict[str, Any] | None:
    """``["hidden_dim=64", "dropout=0.1"] -> {"hidden_dim": 64, "dropout": 0.1}`` (YAML values)."""
    if not items:
        return None
    import yaml

    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--model-kwargs")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs




def train_command(
    data: Path | None = typer.Argument(None, help="Dataset folder (ROOT/<label>/*.gif) or CSV manifest."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this directory."),
    model: str | None = typer.Option(None, help="Registered model name (gifemo models list). (default: resnet_convgru)"),
    model_kwargs: list[str] | None = typer.Option(
        None, "--model-kwargs", help="Model builder argument KEY=VALUE (repeatable), e.g. hidden_dim=64."
    ),
    pretrained: opt.Pretrained = None,
    epochs: opt.Epochs = None,
    batch_size: opt.BatchSize = None,
    lr: opt.Lr = None,
    weight_decay: opt.WeightDecay = None,
    clip_len: int | None = typer.Option(None, help="Frames per clip. (default: 4)"),
    size: opt.Size = None,
    seed: int | None = typer.Option(None, help="Seed of the split, sampling and initialisation. (default: 0)"),
    precision: opt.Precision = None,
    devices: opt.Devices = None,
    accelerator: opt.Accelerator = None,
    workers: opt.Workers = None,
    max_clips_per_gif: opt.MaxClipsPerGif = None,
    augment: opt.Augment = None,
    channels_last: opt.ChannelsLast = None,
    test_fraction: float | None = typer.Option(None, help="Per-class fraction of GIFs for test. (default: 0.2)"),
    val_fraction: float | None = typer.Option(None, help="Per-class fraction for a separate val split. (default: 0)"),
    val_every: opt.ValEvery = None,
    cache_dir: opt.CacheDir = None,
    tensorboard: bool | None = typer.Option(
        None, "--tensorboard/--no-tensorboard", help="Also log to TensorBoard (needs tensorboard). (default: off)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Train a model on a GIF dataset (defaults: the paper's Table 1), then evaluate it.

    Examples: `gifemo train data/gifgif7 --out runs/paper`;
    `gifemo train --resume runs/paper` after an interruption.
    """
    from gifemo.training.config import TrainConfig

    given = {
        "model": model,
        "model_kwargs": parse_model_kwargs(model_kwargs),
        "pretrained": pretrained,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "clip_len": clip_len,
        "size": size,
        "seed": seed,
        "precision": precision,
        "devices": devices,
        "accelerator": accelerator,
        "workers": workers,
        "max_clips_per_gif": max_clips_per_gif,
        "augment": augment,
        "channels_last": channels_last,
        "test_fraction": test_fraction,
        "val_fraction": val_fraction,
        "val_every": val_every,
        "cache_dir": str(cache_dir) if cache_dir is not None else None,
        "tensorboard": tensorboard,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("pretrained", "").lower() == "none":
        given["pretrained"] = None
    try:
        if resume is not None:
            if out is not None and out.resolve() != resume.resolve():
                raise ValueError(f"--out {out} and --resume {resume} name different runs; give --resume only")
            if data is not None:
                given["data"] = str(data)
            from gifemo.training.run_dir import load_run_config

            config, run_dir = load_run_config(resume, given), resume
        else:
            if data is None or out is None:
                raise ValueError("give a dataset and --out RUN_DIR (or --resume RUN_DIR)")
            config, run_dir = TrainConfig(data=str(data), **given), out
        from gifemo.evaluation import train_and_evaluate

        result = train_and_evaluate(config, run_dir, resume=resume is not None, progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        opt.fail(error)
    if result is not None and result.report is not None:
        from gifemo.training.run_dir import RunDir

        acc = result.report["metrics"]["accuracy"]
        typer.echo(
            f"{result.run_dir}: GIF accuracy {acc['value']:.4f} "
            f"(95% CI {acc['ci_low']:.4f}-{acc['ci_high']:.4f}); report in {RunDir(result.run_dir).report_md}"
        )


def evaluate_command(
    run: Path = typer.Argument(..., help="Run directory (or a .ckpt file with --data and --out)."),
    data: Path | None = typer.Option(None, "--data", help="Dataset to evaluate on (default: the run's)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report directory."),
    split: str | None = typer.Option(
        None, help="test, val, train or all. (default: test on the run's data, all on other data)"
    ),
    checkpoint: str = typer.Option("auto", help="auto (best if chosen on a validation split, else last), best or last."),
    batch_size: int | None = typer.Option(None, help="Clips per batch. (default: the run's)"),
    workers: int | None = typer.Option(None, help="DataLoader workers. (default: the run's)"),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1... (default: cuda if available)"),
    precision: opt.RunPrecision = "auto",
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for the accuracy CI."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Evaluate a trained run at GIF level: report.json, report.md, predictions.csv, confusion matrix."""
    from gifemo.evaluation.evaluate import evaluate_run

    try:
        report = evaluate_run(
            run, data=data, split=split, out=out, which=checkpoint, batch_size=batch_size,
            workers=workers, device=device, precision=precision, n_resamples=bootstrap, progress=progress,
        )
    except (ValueError, FileNotFoundError) as error:
        opt.fail(error)
    m = report["metrics"]
    acc = m["accuracy"]
    typer.echo(
        f"GIF accuracy {acc['value']:.4f} (95% CI {acc['ci_low']:.4f}-{acc['ci_high']:.4f}) on {m['n_gifs']} GIFs, "
        f"clip accuracy {m['clip_accuracy']:.4f}, macro F1 {m['macro']['f1']:.4f}"
    )


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to ``app``."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
