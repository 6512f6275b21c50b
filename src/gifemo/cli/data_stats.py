"""``gifemo data stats|cache|split``: look at a dataset, prebuild its frame cache, split it.

Heavy imports happen inside the commands so ``gifemo --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gifemo.cli import options as opt

_DATA_HELP = "Folder of label folders (ROOT/<label>/*.gif) or CSV manifest (path,label[,split])."
_LABELS_HELP = "Comma-separated label set, in class order (default: inferred from the dataset)."
# Problems listed on screen per kind; the counts are always shown.
_MAX_LISTED = 10


def _console(stderr: bool = False):
    from rich.console import Console

    # soft_wrap: never break a line inside a file path; the terminal wraps long lines itself.
    return Console(stderr=stderr, soft_wrap=True)


def _load(data: Path, labels: str | None):
    """Load the dataset, print what was left out (to stderr), exit 2 on unusable input."""
    from gifemo.data.sources import load_dataset

    with opt.exit_on_error():
        dataset = load_dataset(
            data, labels=[x.strip() for x in labels.split(",")] if labels else None
        )
    _print_problems(dataset.problems.lines())
    return dataset


def _print_problems(lines: list[str], header: str = "left out") -> None:
    if not lines:
        return
    console = _console(stderr=True)
    console.print(f"[yellow]{len(lines)} file(s) {header}:[/yellow]")
    for line in lines[:_MAX_LISTED]:
        console.print(f"  {line}", markup=False, highlight=False)
    if len(lines) > _MAX_LISTED:
        console.print(f"  ... and {len(lines) - _MAX_LISTED} more")


def _stats_table(stats):
    from rich.table import Table

    table = Table(title="GIFs per class and frames per GIF")
    for column in ("class", "GIFs", "min", "median", "mean", "max"):
        table.add_column(column, justify="left" if column == "class" else "right")
    rows = [(label, stats.summary(label)) for label in stats.labels] + [("all", stats.summary())]
    for i, (name, summary) in enumerate(rows):
        if summary is None:
            table.add_row(name, "0", "-", "-", "-", "-")
        else:
            table.add_row(
                name,
                str(summary.n_gifs),
                str(summary.min),
                f"{summary.median:g}",
                f"{summary.mean:.1f}",
                str(summary.max),
                end_section=i == len(rows) - 2,
            )
    return table


def stats(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Write the frame-count histogram (the paper's Fig. 5) here (.png, .svg, .pdf).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the statistics as JSON instead of a table."
    ),
    bin_width: int | None = typer.Option(
        None,
        "--bin-width",
        min=1,
        help="Histogram bin width in frames (default 10).",
        show_default=False,
    ),
    labels: str | None = typer.Option(None, "--labels", help=_LABELS_HELP, show_default=False),
) -> None:
    """GIFs per class, frames per GIF (min/median/mean/max) and the frame-count histogram."""
    from gifemo.data.frame_counts import compute_stats, plot_frame_histogram

    dataset = _load(data, labels)
    result = compute_stats(dataset)
    _print_problems([f"{p}: {e}" for p, e in result.failures], header="unreadable")
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _console().print(_stats_table(result))
    if plot is not None:
        written = plot_frame_histogram(result, plot, bin_width=bin_width)
        _console(stderr=True).print(f"histogram written to {written}")


def cache(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    size: int = typer.Option(
        224, "--size", "-s", min=16, help="Frame side S in pixels (224 in the paper)."
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Cache root (default $GIFEMO_CACHE or ~/.cache/gifemo).",
        show_default=False,
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-j",
        min=1,
        help="Decoding processes (default: all cores).",
        show_default=False,
    ),
    labels: str | None = typer.Option(None, "--labels", help=_LABELS_HELP, show_default=False),
) -> None:
    """Decode and resize every GIF once into the frame cache (training then reuses it)."""
    from gifemo.data.cache import build_cache

    dataset = _load(data, labels)
    result = build_cache(dataset, size=size, cache_dir=cache_dir, workers=workers)
    _print_problems([f"{p}: {e}" for p, e in result.failures], header="undecodable, skipped")
    n_frames = sum(g.n_frames for g in result.gifs)
    _console().print(
        f"{len(result.valid_indices)}/{len(result)} GIFs cached "
        f"({n_frames} frames at {size}x{size}); "
        f"decoded {result.decoded} now, {len(result) - result.decoded} were cached already "
        f"({result.build_seconds:.1f} s)\nindex: {result.index_path}"
    )


def split(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    out: Path = typer.Option(
        Path("split.csv"), "--out", "-o", help="Split file to write (path,label,split,sha256)."
    ),
    test_fraction: float = typer.Option(
        0.2, "--test-fraction", min=0.0, max=0.99, help="Per-class test share."
    ),
    val_fraction: float = typer.Option(
        0.0,
        "--val-fraction",
        min=0.0,
        max=0.99,
        help="Per-class validation share, taken from train.",
    ),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    labels: str | None = typer.Option(None, "--labels", help=_LABELS_HELP, show_default=False),
) -> None:
    """Split a dataset by GIF, stratified by class, and save it (a manifest's split column wins)."""
    from rich.table import Table

    from gifemo.data.split import make_split

    dataset = _load(data, labels)
    with opt.exit_on_error(ValueError):
        result = make_split(
            dataset, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed
        )
    result.save(out)
    counts = result.counts()
    table = Table(title=f"split written to {out}")
    table.add_column("class")
    for side in counts:
        table.add_column(side, justify="right")
    for label in dataset.labels:
        table.add_row(label, *(str(counts[side].get(label, 0)) for side in counts))
    _console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``stats``, ``cache`` and ``split`` to the ``gifemo data`` group."""
    app.command("stats")(stats)
    app.command("cache")(cache)
    app.command("split")(split)
