"""``gifemo frames GIF OUT_DIR [--size 224]``: the paper's input step (section 3.1).

The frames go to ``OUT_DIR`` as numbered PNGs and ``frames.json``
(:func:`gifemo.io.frame_files.extract_frames`); this command parses the options and prints.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def _parse_color(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise typer.BadParameter(f"expected R,G,B with each value in 0..255, got {text!r}")
    return values  # type: ignore[return-value]


def frames_command(
    gif: Path = typer.Argument(
        ..., metavar="GIF", help="Animated GIF (or animated WebP / APNG / still image) to read."
    ),
    out_dir: Path = typer.Argument(
        ..., metavar="OUT_DIR", help="Directory for 000000.png, 000001.png, ... and frames.json."
    ),
    size: int | None = typer.Option(
        None,
        "--size",
        min=1,
        help="Resize every frame to SIZE x SIZE (the paper uses 224). Default: keep the size.",
    ),
    background: str = typer.Option(
        "255,255,255", "--background", help="R,G,B colour that transparent pixels show."
    ),
    lenient: bool = typer.Option(
        False,
        "--lenient",
        help="For a truncated or damaged file, keep the complete frames instead of failing.",
    ),
    max_frames: int | None = typer.Option(
        None, "--max-frames", min=1, help="Refuse files with more frames."
    ),
) -> None:
    """Write the composited frames of GIF to OUT_DIR as RGB PNGs, their delays to frames.json."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gifemo.io import GifError
    from gifemo.io.frame_files import MANIFEST_NAME, extract_frames

    color = _parse_color(background)
    console = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    with opt.exit_on_error(GifError, code=1):
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"frames of {gif.name}", total=None)
            manifest = extract_frames(
                gif,
                out_dir,
                size=size,
                background=color,
                strict=not lenient,
                max_frames=max_frames,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    shape = f"{manifest['width']}x{manifest['height']}"
    if size is not None:
        shape = f"{manifest['original_width']}x{manifest['original_height']} -> {shape}"
    console.print(
        escape(f"wrote {manifest['n_frames']} frames ({shape}) and {MANIFEST_NAME} to {out_dir}")
    )
    if manifest["truncated"]:
        note = escape(f"{gif}: {manifest['error']}; kept the complete frames")
        console.print(f"[yellow]warning:[/yellow] {note}")


def register(app: typer.Typer) -> None:
    """Add ``gifemo frames`` to ``app``."""
    app.command("frames")(frames_command)
