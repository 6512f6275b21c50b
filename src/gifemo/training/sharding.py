"""The data pipeline's DataModule, with the sampling that DDP and exact resumption need.

:class:`~gifemo.data.datamodule.GifDataModule` builds the cache, the split and the clip datasets;
this subclass only changes how the DataLoaders sample, because training sets Lightning's
``use_distributed_sampler=False`` and shards by itself:

* training: :class:`ShardedEpochSampler`, the data pipeline's per-epoch shuffle (a function of
  ``(seed, epoch)`` only) cut into one equal share per rank, so every rank runs the same number
  of steps and the clip draws still follow the epoch;
* validation: rank ``r`` of ``W`` takes items ``r, r + W, ...``, nothing padded or repeated,
  so each clip is scored exactly once (the module gathers the outputs);
* resumption: the epoch to run travels in the checkpoint (:meth:`state_dict`) and is set on the
  sampler before Lightning creates the first iterator, which it does before calling
  ``set_epoch`` when it resumes (with DataLoader workers, the first batches would otherwise be
  drawn for epoch 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader

from gifemo.data.datamodule import GifDataModule
from gifemo.data.dataset import EpochSampler
from gifemo.training.config import TrainConfig


class ShardedEpochSampler(EpochSampler):
    """:class:`EpochSampler`'s ``(index, epoch)`` keys, padded to a multiple of ``world_size``
    by repeating the first keys, and strided: rank ``r`` gets keys ``r, r + W, ...``."""

    def __init__(
        self,
        length: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__(length, shuffle=shuffle, seed=seed)
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return math.ceil(self.length / self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        keys = list(super().__iter__())
        keys += keys[: len(self) * self.world_size - len(keys)]
        return iter(keys[self.rank :: self.world_size])


class TrainingDataModule(GifDataModule):
    """:class:`GifDataModule` with rank-sharded, resumable samplers (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_epoch = 0

    @classmethod
    def from_config(cls, config: TrainConfig, **options: Any) -> TrainingDataModule:
        """The data pipeline of ``config`` (its :meth:`~TrainConfig.data_options`); ``options``
        are the run's own (``split_csv``, ``save_split``, ``labels``, ``progress``)."""
        return cls(config.data, **config.data_options(), **options)

    def prepare_data(self) -> None:
        # Training calls setup() itself first (it needs the label set to build the model).
        if self.cache is None:
            super().prepare_data()

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        dataset = self.datasets["train"]
        sampler = ShardedEpochSampler(
            len(dataset), shuffle=True, seed=self.seed, rank=rank, world_size=world
        )
        sampler.set_epoch(self._next_epoch)
        return self._loader(dataset, sampler=sampler)

    def _pin_memory(self) -> bool:
        # Pinned (page-locked) batches make the host-to-GPU copies asynchronous
        # (Lightning moves batches with non_blocking=True).
        trainer = self.trainer
        on_cuda = trainer is not None and trainer.strategy.root_device.type == "cuda"
        return self.pin_memory or on_cuda

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        dataset = self.datasets["val"]
        return self._loader(dataset, sampler=range(rank, len(dataset), world))

    def state_dict(self) -> dict[str, Any]:
        # Checkpoints are written at the end of an epoch's validation: the next run starts
        # with the following epoch.
        return {"next_epoch": self.trainer.current_epoch + 1}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._next_epoch = int(state_dict["next_epoch"])
