"""``gifemo frames GIF OUT_DIR [--size 224]``: the paper's input step (section 3.1).

Decodes an animated GIF (or WebP/APNG) into its composited frames and writes them in time order
as ``000000.png``, ``000001.png``, ... (RGB), plus ``frames.json`` with the delays. Frames are
decoded one at a time, so a long animation needs memory for one frame only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

FRAME_NAME = "{:06d}.png"
_FRAME_FILE = re.compile(r"^\d{6}\.png$")
MANIFEST_NAME = "frames.json"


def _parse_color(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise typer.BadParameter(f"expected R,G,B with each value in 0..255, got {text!r}")
    return values  # type: ignore[return-value]


def extract_frames(
    gif: Path,
    out_dir: Path,
    *,
    size: int | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
    strict: bool = True,
    max_frames: int | None = None,
    progress=None,
) -> dict:
    """Write the frames of ``gif`` as PNGs into ``out_dir`` and return the ``frames.json`` content.

    Every file is written atomically and ``frames.json`` last, so a directory holding a
    ``frames.json`` is complete. Numbered PNGs left by an earlier, longer extraction are removed.
    Raises :class:`gifemo.io.GifError` (naming the file) for input that cannot be read.
    """
    from PIL import Image

    from gifemo.atomic import atomic_write, atomic_write_text
    from gifemo.io import iter_frames
    from gifemo.preprocess import resize_frame

    names, durations, effective = [], [], []
    with iter_frames(gif, background=background, strict=strict, max_frames=max_frames) as frames:
        task = (
            progress.add_task(f"frames of {gif.name}", total=frames.n_frames) if progress else None
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        for frame in frames:
            image = frame.image if size is None else resize_frame(frame.image, size)
            name = FRAME_NAME.format(frame.index)
            with atomic_write(out_dir / name, "wb") as handle:
                Image.fromarray(image, mode="RGB").save(handle, format="PNG")
            names.append(name)
            durations.append(frame.duration_ms)
            effective.append(frame.effective_duration_ms)
            if progress:
                progress.advance(task)
        manifest = {
            "source": str(gif),
            "format": frames.format,
            "n_frames": len(names),
            "original_width": frames.width,
            "original_height": frames.height,
            "width": size or frames.width,
            "height": size or frames.height,
            "size": size,
            "background": list(background),
            "frames": names,
            "durations_ms": durations,
            "effective_durations_ms": effective,
            "truncated": frames.truncated,
            "error": None if frames.error is None else frames.error.reason,
        }
    written = set(names)
    for stale in out_dir.iterdir():
        if _FRAME_FILE.match(stale.name) and stale.name not in written:
            stale.unlink()
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest


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

    color = _parse_color(background)
    console = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            manifest = extract_frames(
                gif,
                out_dir,
                size=size,
                background=color,
                strict=not lenient,
                max_frames=max_frames,
                progress=progress,
            )
    except GifError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(code=1) from None
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
