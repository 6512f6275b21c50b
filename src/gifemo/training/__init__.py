"""gifemo.training: train any registered model on a GIF dataset, and load what it trained.

>>> from gifemo.training import TrainConfig, train, load_trained_model
>>> result = train(TrainConfig(data="data/gifgif7"), "runs/paper")      # doctest: +SKIP
>>> trained = load_trained_model("runs/paper")                          # doctest: +SKIP
>>> trained.model, trained.labels, trained.preprocess                   # doctest: +SKIP

``train`` leaves checkpoints and metrics; :func:`gifemo.evaluation.train_and_evaluate` also
writes the test report, as ``gifemo train`` does.

Names are imported on first use, so that ``import gifemo.training`` stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "gifemo.training.config",
    "train": "gifemo.training.fit",
    "FitResult": "gifemo.training.fit",
    "load_trained_model": "gifemo.training.checkpoint",
    "TrainedModel": "gifemo.training.checkpoint",
    "ModelSpec": "gifemo.training.checkpoint",
    "CheckpointError": "gifemo.training.checkpoint",
    "GifEmotionModule": "gifemo.training.lightning_module",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gifemo.training' has no attribute {name!r}")
