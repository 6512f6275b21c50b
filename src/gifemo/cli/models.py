"""``gifemo models list|info``: the registered architectures, their size and their source.

Heavy imports happen inside the commands so ``gifemo --help`` stays fast. Models are built
on the meta device, so listing them allocates no weights and downloads nothing.
"""

from __future__ import annotations

import json

import typer

from gifemo.cli import options as opt

models_app = typer.Typer(help="Model architectures: list them, inspect one.", no_args_is_help=True)


@models_app.command("list")
def list_command(
    pattern: str | None = typer.Argument(
        None, help="Shell-style filter on the name, e.g. '*convgru'."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Name, parameter count, backbone weights and source paper of every registered model."""
    from gifemo.models import list_models, model_info
    from gifemo.models.complexity import count_parameters, meta_model

    rows = []
    for name in list_models(pattern):
        info = model_info(name)
        rows.append(
            {
                "name": name,
                "params": count_parameters(meta_model(name)),
                "pretrained": list(info.pretrained_tags),
                "summary": info.summary,
                "paper": info.paper,
                "reference": info.reference,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gifemo models (7 classes)")
    for column in ("name", "params", "pretrained=", "paper"):
        table.add_column(column, justify="right" if column == "params" else "left")
    for row in rows:
        tags = ", ".join(row["pretrained"]) or "PATH only"
        table.add_row(row["name"], f"{row['params'] / 1e6:.1f}M", tags, row["paper"])
    Console(soft_wrap=True).print(table)


@models_app.command("info")
def info_command(
    name: str = typer.Argument(..., help="Registered model name."),
    clip_len: int = typer.Option(4, help="Frames per clip T for the FLOP count."),
    size: list[int] = typer.Option(
        [112, 224], help="Frame sizes S for the FLOP count (repeatable)."
    ),
) -> None:
    """Metadata, parameters per part and GFLOPs per clip of one model."""
    from gifemo.models.complexity import model_stats

    with opt.exit_on_error(ValueError):
        stats = model_stats(name, clip_len=clip_len, sizes=tuple(size))
    from gifemo.models import model_info

    cfg = model_info(name).to_dict()
    typer.echo(f"{name}: {cfg['summary']}")
    typer.echo(f"  paper:      {cfg['paper']}: {cfg['reference']}")
    typer.echo(
        f"  input:      {cfg['input']}, T {cfg['min_frames']}..{cfg['max_frames']}, "
        f"S in {cfg['sizes']}"
    )
    typer.echo(f"  parameters: {stats['params']:,}")
    for part, count in stats["breakdown"].items():
        typer.echo(f"    {part:<10}  {count:>12,}")
    for s, gflops in stats["gflops"].items():
        typer.echo(f"  GFLOPs per clip (T={clip_len}, {s} px): {gflops:.2f}")
    for tag, weights in cfg["weights"].items():
        typer.echo(
            f"  pretrained={tag!r}: {weights['weights']} ({weights['dataset']}) {weights['url']}"
        )
    if not cfg["weights"]:
        typer.echo("  pretrained: no torchvision weights; pass a local state dict path")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
