"""Labelled GIF datasets -> leak-free splits -> the paper's clips -> a frame cache -> PyTorch.

>>> from gifemo.data import load_dataset, make_split, build_cache, ClipDataset   # doctest: +SKIP
>>> ds = load_dataset("data/noto-emoji-7")           # folder tree or CSV manifest
>>> split = make_split(ds, test_fraction=0.2, seed=0)
>>> cache = build_cache(ds, size=112)                # decoded once, memory-mapped afterwards
>>> sides, _ = split.indices(ds)
>>> train = ClipDataset(cache, sides["train"], train=True, max_clips_per_gif=8, augment=True)

Light modules are imported here; the torch-based ones (``ClipDataset``, ``EpochSampler``,
``GifDataModule``) on first use, so that ``import gifemo.data`` stays fast.
"""

from __future__ import annotations

from gifemo.data.cache import CachedGif, FrameCache, build_cache, default_cache_dir
from gifemo.data.clips import count_clips, gif_seed, make_clips, pool_clips, sample_clips
from gifemo.data.frame_counts import DatasetStats, compute_stats, plot_frame_histogram
from gifemo.data.sources import DatasetProblems, GifDataset, GifRecord, load_dataset
from gifemo.data.split import Split, load_split, make_split

_LAZY = {
    "ClipDataset": "gifemo.data.dataset",
    "EpochSampler": "gifemo.data.dataset",
    "GifDataModule": "gifemo.data.datamodule",
}

__all__ = [
    "CachedGif",
    "ClipDataset",
    "DatasetProblems",
    "DatasetStats",
    "EpochSampler",
    "FrameCache",
    "GifDataModule",
    "GifDataset",
    "GifRecord",
    "Split",
    "build_cache",
    "compute_stats",
    "count_clips",
    "default_cache_dir",
    "gif_seed",
    "load_dataset",
    "load_split",
    "make_clips",
    "make_split",
    "plot_frame_histogram",
    "pool_clips",
    "sample_clips",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gifemo.data' has no attribute {name!r}")
