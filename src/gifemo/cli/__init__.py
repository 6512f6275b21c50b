"""The ``gifemo`` command line.

Each command (or group) lives in a module named for it and exposes ``register(app)``; what the
commands share (option types, TrainConfig from options, error exits) is in
:mod:`gifemo.cli.options`. Command modules import torch and friends inside the command
functions, so that ``gifemo --help`` answers instantly.
"""

from __future__ import annotations

import typer

from gifemo import __version__
from gifemo.cli import (
    calibrate,
    data,
    demo,
    doctor,
    evaluate,
    explain,
    export,
    frames,
    models,
    predict,
    reproduce,
    score,
    serve,
    train,
)

app = typer.Typer(
    name="gifemo",
    help="Emotion recognition in animated GIFs (ResNet-ConvGRU and baselines).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gifemo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Emotion recognition in animated GIFs."""


for _module in (
    frames,
    data,
    models,
    train,
    evaluate,
    calibrate,
    predict,
    score,
    explain,
    export,
    serve,
    reproduce,
    demo,
    doctor,
):
    _module.register(app)


def main() -> None:
    app()
