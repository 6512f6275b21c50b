"""``gifemo reproduce``: the paper's experiments over several seeds, resumable."""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def reproduce_command(
    data: Path = typer.Argument(..., help=opt.DATA_HELP),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Results directory (runs/, results.md, CSVs, plots)."
    ),
    models: str = typer.Option(
        "resnet_convgru,vgg_convgru,resnet3d,cnn_lstm,c3d", help="Comma-separated models (Table 4)."
    ),
    seeds: str = typer.Option(
        "0,1,2", help="Comma-separated seeds; each gives its own split and initialisation."
    ),
    clip_lens: str = typer.Option("2,4,6,8", "--clip-lens", help="Clip lengths of the ablation."),
    experiments: str = typer.Option(
        "table2,table3,table4,ablation,fig5", help="Which of table2,table3,table4,ablation,fig5."
    ),
    size: opt.Size = None,
    epochs: opt.Epochs = None,
    batch_size: opt.BatchSize = None,
    lr: opt.Lr = None,
    weight_decay: opt.WeightDecay = None,
    lr_schedule: opt.LrSchedule = None,
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
        None,
        "--ood-data",
        help="Also evaluate every T=4 run on all GIFs of this dataset (out of domain).",
    ),
    plan: bool = typer.Option(
        False, "--plan", help="List the runs and what would be done, then exit."
    ),
    aggregate_only: bool = typer.Option(
        False,
        "--aggregate-only",
        help="Only rewrite results.md, CSVs and plots from the finished runs.",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Per-epoch progress bars."
    ),
) -> None:
    """Run the paper's experiments (Tables 2-4, clip-length ablation, Fig. 5) over several seeds.

    Finished runs are skipped and interrupted ones resumed: run the same command again after a stop.

    Example (CPU scale): `gifemo reproduce data/synth --out results --size 48 --epochs 4`
    """
    params = locals()  # every parameter named after a TrainConfig field is that field
    from gifemo.experiments.reproduce import (
        PER_RUN_FIELDS,
        ReproduceConfig,
        describe_plan,
        parse_int_list,
        run_plan,
    )
    from gifemo.experiments.results import write_results

    per_model_kwargs = opt.model_kwargs_option(model_kwargs, per_model=True) or {}
    with opt.exit_on_error():
        config = ReproduceConfig(
            data=str(data),
            out=str(out),
            models=_names(models),
            seeds=parse_int_list(seeds, name="--seeds"),
            clip_lens=parse_int_list(clip_lens, name="--clip-lens"),
            experiments=_names(experiments),
            model_kwargs=per_model_kwargs,
            training=opt.training_settings(params, exclude=PER_RUN_FIELDS),
            ood_data=str(ood_data) if ood_data is not None else None,
        )
        if plan:
            for line in describe_plan(config):
                typer.echo(line)
            return
        if aggregate_only:
            path = write_results(
                config.out,
                data=config.data,
                experiments=config.experiments,
                ood_data=config.ood_data,
            )
            typer.echo(f"results: {path}")
            return
        opt.quiet_lightning()
        outcome = run_plan(config, progress=progress, echo=typer.echo)
    if outcome.failed:
        typer.secho(
            f"{len(outcome.failed)} run(s) failed: {', '.join(outcome.failed)}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` to ``app``."""
    app.command("reproduce")(reproduce_command)
