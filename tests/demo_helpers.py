"""Shared pieces of the demo tests: a shrunk demo config, a console to read, a counting train."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from training_helpers import SMALL_CONVGRU

from gifemo.demo import DemoConfig
from gifemo.evaluation import train_and_evaluate


class CountingTrain:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, config, run_dir, *, resume, progress):
        self.calls += 1
        return train_and_evaluate(config, run_dir, resume=resume, progress=False)


def tiny(out: Path, ood: Path, **changes) -> DemoConfig:
    values = dict(
        out=str(out),
        per_class=3,
        emoji_per_class=2,  # the demo's mix of styles
        gif_size=48,
        synth_workers=1,
        size=32,
        epochs=1,
        val_every=1,  # the demo's validation split, scored in its one epoch
        batch_size=8,
        max_clips_per_gif=1,
        model_kwargs=dict(SMALL_CONVGRU),
        n_predict=3,
        ood_data=str(ood),
        progress=False,
    )
    values.update(changes)
    return DemoConfig(**values)


def capture() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, soft_wrap=True), buffer
