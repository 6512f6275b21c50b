"""``gifemo doctor``: this machine as gifemo sees it (start a bug report with its output)."""

from __future__ import annotations

import typer


def doctor_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text lines."),
) -> None:
    """Versions, CPU (ISA, native bf16), GPUs, what --precision auto picks, optional programs."""
    import json

    from gifemo.doctor import collect, render_text

    report = collect()
    typer.echo(json.dumps(report, indent=2) if as_json else render_text(report))


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to ``app``."""
    app.command("doctor")(doctor_command)
