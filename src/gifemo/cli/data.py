"""``gifemo data ...``: dataset commands (stats, built-in synthetic data, GIFGIF)."""

from __future__ import annotations

import typer

from gifemo.cli import data_gifgif, data_stats, data_synth

data_app = typer.Typer(
    help="Datasets: statistics, the built-in synthetic set, GIFGIF.", no_args_is_help=True
)

for _module in (data_stats, data_synth, data_gifgif):
    _module.register(data_app)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
