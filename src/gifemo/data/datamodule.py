"""The Lightning DataModule: dataset -> frame cache -> leak-free split -> clip DataLoaders.

The paper has no validation set: it trains on 80% of each class and reports on the other 20%.
So by default validation *is* the test split (``val_dataloader`` and ``test_dataloader`` give the
same clips); ``val_fraction > 0`` carves a separate validation split out of the training GIFs for
model selection that does not peek at test.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from gifemo.data.cache import FrameCache, build_cache
from gifemo.data.dataset import ClipDataset, EpochSampler
from gifemo.data.sources import GifDataset, load_dataset
from gifemo.data.split import Split, load_split, make_split
from gifemo.preprocess import PreprocessConfig

log = logging.getLogger(__name__)


class GifDataModule(pl.LightningDataModule):
    """Clips of a labelled GIF dataset for training (``train``), validation and test.

    Args:
        data: dataset folder or CSV manifest (see :func:`~gifemo.data.sources.load_dataset`).
        size: frame side ``S`` (224 in the paper).
        clip_len: frames per clip ``T`` (4 in the paper).
        batch_size: clips per batch (30 in the paper).
        workers: DataLoader worker processes (default: ``min(2, os.cpu_count())``); the cache
            build uses ``os.cpu_count()`` processes.
        seed: seed of the split, clip sampling, padding and augmentation.
        test_fraction, val_fraction: per-class fractions of GIFs (see :func:`make_split`).
        max_clips_per_gif: cap on the training clips one GIF gives per epoch (None: all), so that
            long GIFs do not dominate training.
        stride, min_remainder: the clip rule's options (see :func:`~gifemo.data.clips.make_clips`).
        augment: random resized crop + horizontal flip on training clips.
        cache_dir: frame cache root (default ``$GIFEMO_CACHE`` or ``~/.cache/gifemo``).
        split_csv: reuse this saved split instead of making one (reproduce a run).
        save_split: if given, the split used is saved to this CSV file (a run's ``split.csv``).
        labels: the label set (default: inferred, see
            :func:`~gifemo.data.sources.default_label_set`).
        progress: show a progress bar while building the cache.
        device_transforms: batches of uint8 frames, normalised and augmented on the training
            device (:mod:`gifemo.data.device_transforms`); None or False: on the CPU, as floats.
        pin_memory: page-locked batches (fast, asynchronous copies to a GPU).
    """

    def __init__(
        self,
        data: str | Path,
        *,
        size: int = 224,
        clip_len: int = 4,
        batch_size: int = 30,
        workers: int | None = None,
        seed: int = 0,
        test_fraction: float = 0.2,
        val_fraction: float = 0.0,
        max_clips_per_gif: int | None = None,
        stride: int | None = None,
        min_remainder: int | None = None,
        augment: bool = False,
        cache_dir: str | Path | None = None,
        split_csv: str | Path | None = None,
        save_split: str | Path | None = None,
        labels: list[str] | tuple[str, ...] | None = None,
        progress: bool = True,
        device_transforms: bool | None = False,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.data = Path(data)
        self.preprocess = PreprocessConfig(size=size, clip_len=clip_len)
        self.batch_size = batch_size
        self.workers = min(2, os.cpu_count() or 1) if workers is None else workers
        self.seed = seed
        self.test_fraction = test_fraction
        self.val_fraction = val_fraction
        self.max_clips_per_gif = max_clips_per_gif
        self.clip_options = {"stride": stride, "min_remainder": min_remainder}
        self.augment = augment
        self.cache_dir = cache_dir
        self.split_csv = Path(split_csv) if split_csv is not None else None
        self.save_split = Path(save_split) if save_split is not None else None
        self._labels_arg = tuple(labels) if labels is not None else None
        self.progress = progress
        self.device_transforms = bool(device_transforms)
        self.pin_memory = pin_memory
        self.dataset: GifDataset | None = None
        self.cache: FrameCache | None = None
        self.split: Split | None = None
        self.datasets: dict[str, ClipDataset] = {}

    @property
    def labels(self) -> tuple[str, ...]:
        """The label set, in class-index order (available after :meth:`setup`)."""
        if self.dataset is None:
            raise RuntimeError("call setup() first: the label set comes from the dataset")
        return self.dataset.labels

    def prepare_data(self) -> None:
        # Lightning calls this in one process only: decode there, the other ranks reuse the cache.
        self.dataset = load_dataset(self.data, labels=self._labels_arg)
        build_cache(
            self.dataset,
            size=self.preprocess.size,
            cache_dir=self.cache_dir,
            progress=self.progress,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.dataset is None:
            self.dataset = load_dataset(self.data, labels=self._labels_arg)
        for line in self.dataset.problems.lines():
            log.warning("%s", line)
        self.cache = build_cache(
            self.dataset,
            size=self.preprocess.size,
            cache_dir=self.cache_dir,
            progress=self.progress,
        )
        for rel_path, error in self.cache.failures:
            log.warning("%s: skipped, cannot decode: %s", rel_path, error)

        if self.split_csv is not None:
            self.split = load_split(self.split_csv)
        else:
            self.split = make_split(
                self.dataset,
                test_fraction=self.test_fraction,
                val_fraction=self.val_fraction,
                seed=self.seed,
            )
        if self.save_split is not None:
            self.split.save(self.save_split)
        sides, uncovered = self.split.indices(self.dataset)
        if uncovered:
            log.warning(
                "%d GIF(s) of %s are not in the split and are left out, e.g. %s",
                len(uncovered),
                self.data,
                self.dataset.records[uncovered[0]].rel_path,
            )
        usable = set(self.cache.valid_indices)
        ids = {name: [i for i in idx if i in usable] for name, idx in sides.items()}
        if not ids["train"]:
            raise ValueError(f"{self.data}: no decodable GIF in the training split")

        common = dict(
            preprocess=self.preprocess,
            seed=self.seed,
            device_transforms=self.device_transforms,
            **self.clip_options,
        )
        self.datasets["train"] = ClipDataset(
            self.cache,
            ids["train"],
            train=True,
            max_clips_per_gif=self.max_clips_per_gif,
            augment=self.augment,
            **common,
        )
        self.datasets["test"] = ClipDataset(self.cache, ids["test"], train=False, **common)
        self.datasets["val"] = (
            ClipDataset(self.cache, ids["val"], train=False, **common)
            if ids["val"]
            else self.datasets["test"]
        )

    def train_dataloader(self) -> DataLoader:
        dataset = self.datasets["train"]
        return self._loader(
            dataset, sampler=EpochSampler(len(dataset), shuffle=True, seed=self.seed)
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["val"])

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["test"])

    def _pin_memory(self) -> bool:
        return self.pin_memory

    def _loader(self, dataset: ClipDataset, sampler: EpochSampler | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.workers,
            persistent_workers=self.workers > 0,
            pin_memory=self._pin_memory(),
            drop_last=False,
        )
