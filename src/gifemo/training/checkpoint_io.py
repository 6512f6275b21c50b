"""Lightning's checkpoint IO, made crash-safe with :func:`gifemo.atomic.atomic_write`."""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from gifemo.atomic import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, writing through a temporary file and an atomic rename.

    ``torch.save`` streams into the temporary file; only a complete, fsync-ed file replaces
    the target. An exception or a kill part-way leaves the previous checkpoint untouched.
    """

    def save_checkpoint(
        self,
        checkpoint: dict[str, Any],
        path: str | os.PathLike,
        storage_options: Any | None = None,
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__} takes no storage_options, got {storage_options!r}"
            )
        with atomic_write(path, "wb") as handle:
            torch.save(checkpoint, handle)
