"""``gifemo data gifgif rank|download``: rebuild the paper's GIFGIF dataset in two commands.

Heavy imports (numpy, scipy, httpx) happen inside the commands so ``gifemo --help`` stays fast.
"""

from __future__ import annotations

import enum
import json
import time
from pathlib import Path

import typer

from gifemo.cli import options as opt

gifgif_app = typer.Typer(
    help="GIFGIF (MIT Media Lab): rank GIFs from the public votes, then download them.",
    no_args_is_help=True,
)

# Failures listed on screen; the full list is always in download_report.json.
_MAX_FAILURES_SHOWN = 25


class Method(enum.StrEnum):
    bt = "bt"
    trueskill = "trueskill"


def _console():
    from rich.console import Console

    return Console(stderr=True)


@gifgif_app.command("rank")
def rank(
    comparisons: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="gifgif-dataset-20150121-v1.csv (plain or gzip)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Manifest to write: id,url,label,score,rank."
    ),
    top: int = typer.Option(300, "--top", min=1, help="GIFs kept per emotion (the paper: 300)."),
    emotions: str | None = typer.Option(
        None,
        "--emotions",
        help="Comma-separated GIFGIF metrics ('like' = satisfaction), or 'all' for the 17. "
        "Default: the paper's seven.",
        show_default=False,
    ),
    method: Method = typer.Option(
        Method.bt,
        "--method",
        help="bt: regularised Bradley-Terry; trueskill: sequential TrueSkill (order-dependent).",
    ),
    alpha: float | None = typer.Option(
        None,
        "--alpha",
        help="Bradley-Terry prior strength: alpha*sum(theta^2) (default 0.5, a N(0,1) prior).",
        show_default=False,
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="URL template with {id} (default: GIPHY's media URL).",
        show_default=False,
    ),
) -> None:
    """Score every GIF per emotion from the votes and write the top N per emotion."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from gifemo.atomic import atomic_write_text
    from gifemo.data.gifgif.comparisons import read_comparisons
    from gifemo.data.gifgif.rank import RankConfig, parse_emotions, rank_comparisons, write_manifest

    console = _console()
    try:
        overrides = {"alpha": alpha, "base_url": base_url}
        config = RankConfig(
            top=top,
            method=method.value,
            **({"emotions": parse_emotions(emotions)} if emotions else {}),
            **{k: v for k, v in overrides.items() if v is not None},
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None

    start = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading {comparisons.name}", total=None)
        with opt.exit_on_error(ValueError):
            data = read_comparisons(
                comparisons,
                metrics=config.emotions,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    read_s = time.perf_counter() - start
    console.print(
        f"read {data.n_rows:,} rows ({len(data.ids):,} GIFs) in {read_s:.1f} s: "
        f"{data.n_used:,} votes used, "
        f"{data.not_requested:,} of other emotions, {data.n_skipped:,} skipped"
        + (
            " (" + ", ".join(f"{k}: {v:,}" for k, v in sorted(data.skipped.items())) + ")"
            if data.skipped
            else ""
        )
    )
    with console.status(f"scoring {len(config.emotions)} emotion(s) with {config.method}"):
        with opt.exit_on_error(ValueError):
            result = rank_comparisons(data, config)
    write_manifest(result.rows, out)
    elapsed = time.perf_counter() - start

    table = Table(title=f"top {config.top} per emotion ({config.method})")
    for column in ("metric", "label", "votes", "neither", "GIFs scored", "kept", "ceded"):
        table.add_column(column, justify="left" if column in ("metric", "label") else "right")
    for s in result.stats:
        table.add_row(
            s.metric,
            s.label,
            f"{s.n_votes:,}",
            f"{s.n_neither:,}",
            f"{s.n_scored:,}",
            str(s.n_selected),
            str(s.n_ceded),
        )
    console.print(table)
    stats_path = out.with_name(out.stem + ".rank.json")
    atomic_write_text(
        stats_path,
        json.dumps(
            {
                "comparisons": str(comparisons),
                "config": {
                    "top": config.top,
                    "emotions": list(config.emotions),
                    "method": config.method,
                    "alpha": config.alpha,
                    "base_url": config.base_url,
                },
                "rows": data.n_rows,
                "gifs": len(data.ids),
                "votes_used": data.n_used,
                "rows_of_other_emotions": data.not_requested,
                "skipped": dict(sorted(data.skipped.items())),
                "emotions": [vars(s) for s in result.stats],
                "seconds": round(elapsed, 2),
            },
            indent=2,
        )
        + "\n",
    )
    console.print(
        f"wrote {len(result.rows):,} rows to {out} (details: {stats_path.name}) in {elapsed:.1f} s"
    )


@gifgif_app.command("download")
def download(
    manifest: Path = typer.Argument(..., exists=True, dir_okay=False, help="Manifest from 'rank'."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder: DIR/<label>/<id>.gif."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=64, help="Parallel requests."),
    from_tar: Path | None = typer.Option(
        None,
        "--from-tar",
        exists=True,
        dir_okay=False,
        help="Take the GIFs from gifgif-images-v1.tar instead of the web.",
        show_default=False,
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="URL template with {id}; default: the manifest's url column.",
        show_default=False,
    ),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds, per connect/read."),
    retries: int = typer.Option(4, "--retries", min=0, help="Extra attempts for transient errors."),
    backoff: float = typer.Option(
        1.0, "--backoff", min=0.0, help="First retry waits ~this many seconds; doubles each time."
    ),
    max_mb: float = typer.Option(64.0, "--max-mb", min=0.01, help="Largest file accepted (MiB)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with 1 if any GIF failed."),
) -> None:
    """Fetch the manifest's GIFs (resumable, validated, atomic) and report what failed."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from gifemo.data.gifgif.download import (
        OUTCOMES,
        DownloadConfig,
        download_gifs,
        extract_from_tar,
        read_manifest,
        write_dataset_files,
    )

    console = _console()
    with opt.exit_on_error(ValueError):
        entries = read_manifest(manifest)
        config = DownloadConfig(
            concurrency=concurrency,
            timeout_s=timeout,
            retries=retries,
            backoff_s=backoff,
            max_bytes=int(max_mb * 2**20),
            base_url=base_url,
        )
        if from_tar is None and config.base_url is None:
            for entry in entries:
                config.url_for(entry)  # every row needs a url before anything starts

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("tar" if from_tar else "download", total=len(entries))

        def advance(result) -> None:
            progress.advance(task)

        if from_tar is not None:
            with opt.exit_on_error(ValueError):
                report = extract_from_tar(
                    entries, from_tar, out, max_bytes=config.max_bytes, on_result=advance
                )
        else:
            report = download_gifs(entries, out, config=config, on_result=advance)
    manifest_path, report_path = write_dataset_files(out, report)

    counts = report.counts()
    table = Table(title=f"{len(entries):,} GIFs -> {out}")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome in OUTCOMES:
        table.add_row(outcome, f"{counts[outcome]:,}")
    console.print(table)
    failures = report.failures
    if failures:
        shown = Table(title=f"failures ({len(failures):,})")
        for column in ("id", "url", "reason"):
            shown.add_column(column, overflow="fold")
        for r in failures[:_MAX_FAILURES_SHOWN]:
            shown.add_row(r.entry.id, escape(r.url), escape(r.reason))
        console.print(shown)
        if len(failures) > _MAX_FAILURES_SHOWN:
            console.print(f"... and {len(failures) - _MAX_FAILURES_SHOWN:,} more")
    console.print(f"dataset manifest: {manifest_path}; report: {report_path}")
    if strict and failures:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``gifgif`` (``rank``, ``download``) to the ``gifemo data`` group."""
    app.add_typer(gifgif_app, name="gifgif")
