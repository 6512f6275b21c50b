"""``gifemo predict``: the emotions of GIFs (files, folders, stdin, URLs), their timelines.

Exit codes of ``predict``: 0 when every input was predicted, 1 when at least one failed (the
others are still printed; the failures are listed on stderr), 2 for a usage error (bad option,
model that cannot be loaded). Results go to stdout, progress and failures to stderr, so
``--format json``/``csv`` output can be piped.
"""

from __future__ import annotations

import csv
import re
import sys
from enum import StrEnum
from pathlib import Path

import typer

from gifemo.cli import options as opt


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def output_path(dest: Path, source: str, used: set[Path], many: bool) -> Path:
    """Where ``--timeline``/``--annotate`` output for ``source`` goes.

    One input: ``dest`` itself. Several: ``<dest stem>-<input stem><dest suffix>`` beside ``dest``,
    with ``-2``, ``-3``... appended when two inputs share a stem.
    """
    if not many:
        return dest
    tail = source.rstrip("/").rsplit("/", 1)[-1] or "input"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(tail).stem).strip("._") or "input"
    candidate, n = dest.with_name(f"{dest.stem}-{stem}{dest.suffix}"), 1
    while candidate in used:
        n += 1
        candidate = dest.with_name(f"{dest.stem}-{stem}-{n}{dest.suffix}")
    used.add(candidate)
    return candidate


def _csv_rows(prediction, per_clip: bool) -> tuple[list[str], list[list]]:
    labels = list(prediction.labels)
    if per_clip:
        header = ["source", "clip", "start_s", "end_s", "frame_indices", "top_label", *labels]
        rows = [
            [
                prediction.source,
                c.index,
                f"{c.start_s:.3f}",
                f"{c.end_s:.3f}",
                " ".join(map(str, c.frame_indices)),
                c.top_label,
                *(f"{c.intensities[k]:.6f}" for k in labels),
            ]
            for c in prediction.clips
        ]
    else:
        header = ["source", "top_label", "top_score", "n_frames", "n_clips", "duration_s", *labels]
        rows = [
            [
                prediction.source,
                prediction.top_label,
                f"{prediction.top_score:.6f}",
                prediction.n_frames,
                len(prediction.clips),
                f"{prediction.duration_s:.3f}",
                *(f"{prediction.intensities[k]:.6f}" for k in labels),
            ]
        ]
    return header, rows


def _table(predictions, per_clip: bool):
    from rich.table import Table

    labels = list(predictions[0].labels) if predictions else []
    table = Table(show_lines=False, header_style="bold")
    if per_clip:
        for column in ("file", "clip", "time (s)", "top emotion"):
            table.add_column(column, overflow="fold")
    else:
        for column in ("file", "top emotion", "score", "frames", "clips"):
            table.add_column(
                column,
                overflow="fold",
                justify="left" if column in ("file", "top emotion") else "right",
            )
    for label in labels:
        table.add_column(label, justify="right")
    for p in predictions:
        if per_clip:
            for c in p.clips:
                table.add_row(
                    p.source,
                    str(c.index),
                    f"{c.start_s:.2f}-{c.end_s:.2f}",
                    c.top_label,
                    *(f"{c.intensities[k]:.3f}" for k in labels),
                )
        else:
            table.add_row(
                p.source,
                p.top_label,
                f"{p.top_score:.3f}",
                str(p.n_frames),
                str(len(p.clips)),
                *(f"{p.intensities[k]:.3f}" for k in labels),
            )
    return table


def predict_command(
    model: opt.ModelArg,
    inputs: list[str] = typer.Argument(
        ...,
        metavar="INPUT...",
        help="GIF files, folders (searched recursively), '-' for stdin, or http(s) URLs.",
    ),
    fmt: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", help="table, json (one object per line) or csv."
    ),
    timeline: Path | None = typer.Option(
        None,
        "--timeline",
        metavar="PNG",
        help="Plot the emotion timeline (several inputs: one PNG each, suffixed).",
    ),
    annotate: Path | None = typer.Option(
        None,
        "--annotate",
        metavar="GIF",
        help="Write the GIF with the current clip's bar chart beside each frame.",
    ),
    per_clip: bool = typer.Option(
        False, "--clips", help="table/csv: one row per clip instead of per GIF."
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips per forward pass."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    precision: opt.RunPrecision = "auto",
    channels_last: opt.ChannelsLast = None,
    compile: opt.Compile = None,
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Intra-op threads (torch and onnxruntime)."
    ),
    calibration: opt.Calibration = True,
    workers: int = typer.Option(
        1, "--workers", min=0, help="Threads decoding GIFs ahead of the model (0: inline)."
    ),
    max_frames: opt.MaxFrames = None,
    lenient: opt.Lenient = False,
    allow_private: opt.AllowPrivate = False,
    max_download_mb: opt.MaxDownloadMb = 50.0,
    timeout: opt.DownloadTimeout = 20.0,
) -> None:
    """Predict the seven emotion intensities (and their timeline over clips) of each INPUT."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from gifemo.inference import expand_inputs, load

    err = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    with opt.exit_on_error(prefix=f"cannot load model {model}: "):
        predictor = load(
            model,
            device=device,
            precision=precision,
            channels_last=channels_last,
            compile=compile,
            num_threads=threads,
            calibrated=calibration,
            batch_size=batch_size,
            decode_workers=workers,
            **opt.input_limits(
                max_frames=max_frames,
                lenient=lenient,
                allow_private=allow_private,
                max_download_mb=max_download_mb,
                timeout=timeout,
            ),
        )

    sources = expand_inputs(inputs)
    many = len(sources) > 1
    # Piped or redirected: no terminal width to fit, so let the table take its natural width.
    out = None
    if fmt is OutputFormat.table:
        out = Console(emoji=False, highlight=False)
        if not out.is_terminal:
            out = Console(emoji=False, highlight=False, width=400)
    writer = csv.writer(sys.stdout, lineterminator="\n") if fmt is OutputFormat.csv else None
    header_written = False
    predictions, failures = [], []
    used: set[Path] = set()

    progress = Progress(
        TextColumn("predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not many,
    )
    with progress:
        task = progress.add_task("predict", total=len(sources))
        for source, result in zip(sources, predictor.predict_many(sources), strict=True):
            progress.advance(task)
            if not result.ok:
                failures.append(result)
                continue
            try:
                if timeline is not None:
                    from gifemo.inference.timeline import plot_timeline

                    plot_timeline(result, output_path(timeline, result.source, used, many))
                if annotate is not None:
                    from gifemo.inference.annotate import annotate_gif

                    _, data = predictor.read_source(source)
                    annotate_gif(result, data, output_path(annotate, result.source, used, many))
            except (ValueError, OSError) as error:
                from gifemo.inference import PredictionFailure

                failures.append(PredictionFailure.from_exception(result.source, error))
            predictions.append(result)
            if fmt is OutputFormat.json:
                sys.stdout.write(result.to_json() + "\n")
                sys.stdout.flush()
            elif writer is not None:
                header, rows = _csv_rows(result, per_clip)
                if not header_written:
                    writer.writerow(header)
                    header_written = True
                writer.writerows(rows)
                sys.stdout.flush()

    if out is not None and predictions:
        out.print(_table(predictions, per_clip))
    if failures:
        err.print(f"[red]{len(failures)} of {len(sources)} input(s) failed:[/red]")
        for failure in failures:
            err.print(f"  {escape(failure.error)}")
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``gifemo predict`` to ``app``."""
    app.command("predict")(predict_command)
