"""``gifemo score``: score a GIF library (folders, globs, manifests, URLs) into Parquet shards.

Exit codes: 0 when the job is complete (every input has its row in ``--out``; inputs that could
not be scored are rows with their error, counted in the summary and listed on stderr); 2 for a
usage error (bad option, a model that cannot be loaded, an ``--out`` made for another job, a
Ray cluster that cannot be reached). An interrupted job is resumed by the same command.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from gifemo.cli import options as opt


class Engine(StrEnum):
    auto = "auto"
    ray = "ray"
    local = "local"


def score_command(
    model: opt.ModelArg,
    inputs: list[str] = typer.Argument(
        ...,
        metavar="INPUTS...",
        help="Folders, globs (quoted), manifests (.csv, .parquet, .jsonl) or http(s) URLs.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output folder: Parquet shards and the _SUCCESS summary."
    ),
    engine: Engine = typer.Option(
        Engine.auto, "--engine", help="ray, local (in-process) or auto (ray where installed)."
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="auto (the cluster `ray start` runs here) or HOST:PORT. (default: a local Ray)",
    ),
    column: str = typer.Option("path", "--column", help="Manifests' column of paths or URLs."),
    clips: bool = typer.Option(False, "--clips", help="Add the clip timeline (a list column)."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Rows per shard file."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips per forward pass."),
    gifs_per_batch: int = typer.Option(
        16, "--gifs-per-batch", min=1, help="GIFs per call of a model actor (ray)."
    ),
    actors: int | None = typer.Option(
        None,
        "--actors",
        min=1,
        help="Model actors (ray). (default: one per GPU, else one per 2 CPUs)",
    ),
    gpus_per_actor: float | None = typer.Option(
        None,
        "--gpus-per-actor",
        min=0.0,
        help="GPUs per actor, fractions allowed (ray). (default: 1 where the cluster has GPUs)",
    ),
    cpus_per_actor: float | None = typer.Option(
        None,
        "--cpus-per-actor",
        min=0.01,
        help="CPUs per actor (ray). (default: 1, less if no CPU would be left to decode)",
    ),
    device: str = typer.Option("cpu", "--device", help="Local engine: cpu, cuda or cuda:N."),
    precision: opt.RunPrecision = "auto",
    channels_last: opt.ChannelsLast = None,
    workers: int = typer.Option(
        1, "--workers", min=0, help="Local engine: threads decoding ahead of the model."
    ),
    max_frames: opt.MaxFrames = None,
    lenient: opt.Lenient = False,
    allow_private: opt.AllowPrivate = False,
    max_download_mb: opt.MaxDownloadMb = 50.0,
    timeout: opt.DownloadTimeout = 20.0,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress on stderr."),
) -> None:
    """Score every GIF of INPUTS into Parquet shards under --out (resumable; Ray or local).

    Examples: `gifemo score runs/paper library.parquet --out scores/`;
    `gifemo score model.onnx 'gifs/**/*.gif' urls.csv --out s/ --ray-address auto --clips`.
    """
    from rich.console import Console
    from rich.markup import escape

    from gifemo.inference.scoring import score

    err = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    with opt.exit_on_error():
        result = score(
            model,
            inputs,
            out,
            engine=engine.value,
            ray_address=ray_address,
            column=column,
            clips=clips,
            shard_size=shard_size,
            batch_size=batch_size,
            gifs_per_batch=gifs_per_batch,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            cpus_per_actor=cpus_per_actor,
            device=device,
            precision=precision,
            channels_last=channels_last,
            decode_workers=workers,
            **opt.input_limits(
                max_frames=max_frames,
                lenient=lenient,
                allow_private=allow_private,
                max_download_mb=max_download_mb,
                timeout=timeout,
            ),
            progress=progress,
        )
    summary, run = result.summary, result.summary["this_run"]
    speed = f" at {run['gifs_per_s']:.2f} GIFs/s" if run["gifs_per_s"] else ""
    typer.echo(
        f"{result.out_dir}: {summary['rows']} rows in {summary['shards']} shard(s), "
        f"{summary['failed']} failed; this run scored {run['rows_scored']} rows "
        f"({run['shards_skipped']} shard(s) were done){speed} with the {run['engine']} engine; "
        f"summary in {result.summary_path}"
    )
    if summary["failed"]:
        shown = summary["failures"]
        err.print(f"[red]{summary['failed']} of {summary['rows']} input(s) failed[/red]:")
        for failure in shown:
            err.print(f"  {escape(failure['error'])}")
        if summary["failed"] > len(shown):
            err.print(f"  ... and {summary['failed'] - len(shown)} more: the rows with ok=false")


def register(app: typer.Typer) -> None:
    """Add ``gifemo score`` to ``app``."""
    app.command("score")(score_command)
