"""``gifemo reproduce`` (the paper's experiments) and ``gifemo demo`` (the out-of-the-box demo)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from gifemo.cli import training_options as opt


def _quiet_lightning() -> None:
    # Dozens of runs: Lightning's per-run banners (GPU available, tips, model summary) drown the
    # plan's own progress lines. Warnings still show. Lightning sets its level when imported.
    import lightning.pytorch  # noqa: F401

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def parse_per_model_kwargs(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["resnet_convgru:hidden_dim=64", "cnn_lstm:hidden_size=128"]`` -> kwargs per model."""
    from gifemo.cli.train import parse_model_kwargs

    kwargs: dict[str, dict[str, Any]] = {}
    for item in items or []:
        model, sep, rest = item.partition(":")
        if not sep or not model.strip():
            raise typer.BadParameter(f"expected MODEL:KEY=VALUE, got {item!r}", param_hint="--model-kwargs")
        kwargs.setdefault(model.strip(), {}).update(parse_model_kwargs([rest]) or {})
    return kwargs


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def reproduce_command(
    data: Path = typer.Argument(..., help="Dataset folder (ROOT/<label>/*.gif) or CSV manifest."),
    out: Path = typer.Option(..., "--out", "-o", help="Results directory (runs/, results.md, CSVs, plots)."),
    models: str = typer.Option(
        "resnet_convgru,vgg_convgru,resnet3d,cnn_lstm,c3d", help="Comma-separated models (Table 4)."
    ),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds; each gives its own split and initialisation."),
    clip_lens: str = typer.Option("2,4,6,8", "--clip-lens", help="Clip lengths of the ablation."),
    experiments: str = typer.Option(
        "table2,table3,table4,ablation,fig5", help="Which of table2,table3,table4,ablation,fig5."
    ),
    size: opt.Size = None,
    epochs: opt.Epochs = None,
    batch_size: opt.BatchSize = None,
    lr: opt.Lr = None,
    weight_decay: opt.WeightDecay = None,
    precision: opt.Precision = None,
    max_clips_per_gif: opt.MaxClipsPerGif = None,
    workers: opt.Workers = None,
    val_every: opt.ValEvery = None,
    devices: opt.Devices = None,
    accelerator: opt.Accelerator = None,
    pretrained: opt.Pretrained = None,
    augment: opt.Augment = None,
    cache_dir: opt.CacheDir = None,
    model_kwargs: list[str] | None = typer.Option(
        None, "--model-kwargs", help="MODEL:KEY=VALUE for one model's builder (repeatable)."
    ),
    ood_data: Path | None = typer.Option(
        None, "--ood-data", help="Also evaluate every T=4 run on all GIFs of this dataset (out of domain)."
    ),
    plan: bool = typer.Option(False, "--plan", help="List the runs and what would be done, then exit."),
    aggregate_only: bool = typer.Option(
        False, "--aggregate-only", help="Only rewrite results.md, CSVs and plots from the finished runs."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Per-epoch progress bars."),
) -> None:
    """Run the paper's experiments (Tables 2-4, clip-length ablation, Fig. 5) over several seeds.

    Finished runs are skipped and interrupted ones resumed: run the same command again after a stop.

    Example (CPU scale): `gifemo reproduce data/synth --out results --size 48 --epochs 4`
    """
    from gifemo.experiments.reproduce import (
        ReproduceConfig,
        describe_plan,
        parse_int_list,
        run_plan,
    )
    from gifemo.experiments.results import write_results

    training = {
        "size": size, "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
        "precision": precision, "max_clips_per_gif": max_clips_per_gif, "workers": workers, "val_every": val_every,
        "devices": devices, "accelerator": accelerator, "augment": augment,
        "pretrained": None if pretrained is None or pretrained.lower() == "none" else pretrained,
        "cache_dir": str(cache_dir) if cache_dir is not None else None,
    }
    try:
        config = ReproduceConfig(
            data=str(data),
            out=str(out),
            models=_names(models),
            seeds=parse_int_list(seeds, name="--seeds"),
            clip_lens=parse_int_list(clip_lens, name="--clip-lens"),
            experiments=_names(experiments),
            model_kwargs=parse_per_model_kwargs(model_kwargs),
            training={k: v for k, v in training.items() if v is not None},
            ood_data=str(ood_data) if ood_data is not None else None,
        )
        if plan:
            for line in describe_plan(config):
                typer.echo(line)
            return
        if aggregate_only:
            path = write_results(config.out, data=config.data, experiments=config.experiments,
                                 ood_data=config.ood_data)
            typer.echo(f"results: {path}")
            return
        _quiet_lightning()
        outcome = run_plan(config, progress=progress, echo=typer.echo)
    except (ValueError, FileNotFoundError) as error:
        opt.fail(error)
    if outcome.failed:
        typer.secho(f"{len(outcome.failed)} run(s) failed: {', '.join(outcome.failed)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


def demo_command(
    out: Path = typer.Option(Path("demo"), "--out", "-o", help="Where every output of the demo goes."),
    per_class: int | None = typer.Option(None, help="Synthetic GIFs per class. [the demo's default]"),
    size: int | None = typer.Option(None, help="Training frame side in pixels. [the demo's default]"),
    epochs: int | None = typer.Option(None, help="Training epochs. [the demo's default]"),
    ood_data: Path | None = typer.Option(
        None, "--ood-data", help="Real GIFs for the out-of-domain check. [../shared/data/noto-emoji-7 if present]"
    ),
) -> None:
    """The out-of-the-box demo: synthesise a dataset, train ResNet-ConvGRU on the CPU, evaluate, predict.

    Re-running it reuses what is done (the dataset, a finished training run).
    """
    from gifemo.demo import DemoConfig, run_demo

    overrides = {"per_class": per_class, "size": size, "epochs": epochs}
    try:
        config = DemoConfig(out=str(out), **{k: v for k, v in overrides.items() if v is not None})
        if ood_data is not None:
            config.ood_data = str(ood_data)
        _quiet_lightning()
        run_demo(config)
    except (ValueError, FileNotFoundError) as error:
        opt.fail(error)


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` and ``demo`` to ``app``."""
    app.command("reproduce")(reproduce_command)
    app.command("demo")(demo_command)
