"""``gifemo data synth``: generate the built-in synthetic dataset, or a contact sheet of it."""

from __future__ import annotations

from pathlib import Path

import typer


def synth_command(
    out_dir: Path | None = typer.Argument(
        None,
        help="Where to write OUT_DIR/<label>/<label>_NNNNN.gif (human style), "
        "OUT_DIR/<label>/emoji_<label>_NNNNN.gif (emoji style) and labels.csv.",
    ),
    per_class: int = typer.Option(
        300, "--per-class", min=1, help="GIFs per class and per style (see --styles)."
    ),
    styles: str = typer.Option(
        "human",
        "--styles",
        help="Comma-separated styles: human (cartoon people), emoji (emoji and sticker faces), "
        "or human,emoji (a mix: --per-class GIFs of each style per class). "
        "STYLE=N sets one style's count, e.g. human=100,emoji=150.",
    ),
    size: int = typer.Option(128, "--size", min=32, max=1024, help="Frame width and height (px)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed: same seed, same bytes."),
    difficulty: float | None = typer.Option(
        None,
        "--difficulty",
        min=0.0,
        max=1.0,
        help="0 (clear, clean expressions) to 1 (subtle, cluttered). "
        "Default: 0.25, calibrated in docs/synthetic-data.md.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes (default: all CPUs this process may use)."
    ),
    preview: Path | None = typer.Option(
        None,
        "--preview",
        help="Also write a contact sheet PNG (a row per GIF, by class). "
        "Without OUT_DIR, only the sheet is rendered.",
    ),
) -> None:
    """Generate animated faces expressing the seven emotions through FACS action units."""
    from rich.console import Console

    from gifemo.data.synth import DEFAULT_DIFFICULTY, generate_dataset, render_contact_sheet

    console = Console(stderr=True, soft_wrap=True)
    if out_dir is None and preview is None:
        console.print("[red]error:[/red] give OUT_DIR, --preview PATH, or both")
        raise typer.Exit(code=2)
    difficulty = DEFAULT_DIFFICULTY if difficulty is None else difficulty
    try:
        counts = _style_counts(styles, per_class)
    except ValueError as error:
        console.print(f"[red]error:[/red] --styles: {error}")
        raise typer.Exit(code=2) from None
    if out_dir is not None:
        summary = _generate(out_dir, counts, size, seed, difficulty, workers, generate_dataset)
        console.print(
            f"wrote {summary.written} GIFs and {summary.labels_csv} in {summary.seconds:.1f} s "
            f"({summary.gifs_per_second:.1f} GIFs/s)"
            + (f"; removed {summary.removed_stale} stale GIFs" if summary.removed_stale else "")
        )
        if summary.failures:
            console.print(f"[red]{len(summary.failures)} GIF(s) failed:[/red]")
            for line in summary.failures:
                console.print(f"  {line}", markup=False, highlight=False)
    if preview is not None:
        render_contact_sheet(
            preview, seed=seed, size=size, difficulty=difficulty, styles=tuple(counts)
        )
        console.print(f"wrote contact sheet {preview}")
    if out_dir is not None and summary.failures:
        raise typer.Exit(code=1)


def _style_counts(styles: str, per_class: int) -> dict[str, int]:
    """``"human,emoji=150"`` -> ``{"human": per_class, "emoji": 150}`` (styles in that order)."""
    from gifemo.data.synth import parse_styles

    counts: dict[str, int] = {}
    for item in styles.split(","):
        name, _, n = item.partition("=")
        if n and not (n.strip().isdigit() and int(n) >= 1):
            raise ValueError(f"{item!r}: the count after '=' must be a positive integer")
        counts[name.strip()] = int(n) if n else per_class
    return {style: counts[style] for style in parse_styles(list(counts))}


def _generate(out_dir, per_class, size, seed, difficulty, workers, generate_dataset):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        job = bar.add_task("synthesising GIFs", total=None)
        return generate_dataset(
            out_dir,
            per_class=per_class,
            styles=tuple(per_class),
            size=size,
            seed=seed,
            difficulty=difficulty,
            workers=workers,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )


def register(data_app: typer.Typer) -> None:
    """Add ``synth`` to ``gifemo data``."""
    data_app.command("synth")(synth_command)
