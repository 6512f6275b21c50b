"""Clip datasets (evaluation and training modes, augmentation, workers) and the DataModule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_helpers import make_tree
from torch.utils.data import DataLoader

from gifemo.data.cache import build_cache
from gifemo.data.clips import count_clips, gif_seed, make_clips
from gifemo.data.datamodule import GifDataModule
from gifemo.data.dataset import ClipDataset, EpochSampler
from gifemo.data.sources import load_dataset
from gifemo.data.split import load_split
from gifemo.io import write_gif
from gifemo.preprocess import PreprocessConfig, normalize_clip

S = 16
FRAMES = {"happiness": [1, 9, 30], "anger": [4, 14], "fear": [7, 3]}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_tree(root / "gifs", FRAMES)
    (root / "gifs" / "anger" / "broken.gif").write_bytes(b"GIF89a\x00")
    ds = load_dataset(root / "gifs")
    return build_cache(ds, size=S, cache_dir=root / "cache", workers=1, progress=False)


def all_ids(cache):
    assert len(cache.valid_indices) == len(cache) - 1, "all but broken.gif"
    return cache.valid_indices


def test_eval_mode_enumerates_every_clip_deterministically(cache):
    ds = ClipDataset(cache, all_ids(cache))
    assert len(ds) == sum(count_clips(cache.gifs[i].n_frames) for i in all_ids(cache))
    assert ds.item_gif_ids == sorted(ds.item_gif_ids), "GIF by GIF"
    position = 0
    for gif_id in all_ids(cache):
        gif = cache.gifs[gif_id]
        clips = make_clips(gif.n_frames, 4, seed=gif_seed(gif.sha256, 0))
        for frame_ids in clips:
            clip, label, index = ds[position]
            assert (label, index) == (gif.label_index, gif_id)
            assert clip.shape == (4, 3, S, S) and clip.dtype == torch.float32
            torch.testing.assert_close(
                clip, normalize_clip(np.asarray(cache.frames(gif_id)[frame_ids]))
            )
            position += 1
    other = ClipDataset(cache, all_ids(cache))
    other.set_epoch(5)  # epochs do not matter in evaluation
    assert all(torch.equal(other[i][0], ds[i][0]) for i in range(len(ds)))


def test_train_mode_samples_distinct_clips_per_epoch_and_repeats_across_runs(cache):
    ds = ClipDataset(cache, all_ids(cache), train=True, max_clips_per_gif=2, seed=3)
    assert len(ds) == sum(min(2, count_clips(cache.gifs[i].n_frames)) for i in all_ids(cache))
    long_gif = max(all_ids(cache), key=lambda i: cache.gifs[i].n_frames)  # 30 frames: 8 clips
    draws = [ds.clip_indices(long_gif, epoch) for epoch in range(6)]
    for clips in draws:
        assert len(clips) == 2 and clips[0][0] < clips[1][0]
    assert len({tuple(np.concatenate(c)) for c in draws}) > 1, "epochs draw different clips"
    rerun = ClipDataset(cache, all_ids(cache), train=True, max_clips_per_gif=2, seed=3)
    for epoch in (0, 4):
        assert all(
            np.array_equal(a, b)
            for a, b in zip(
                rerun.clip_indices(long_gif, epoch), ds.clip_indices(long_gif, epoch), strict=True
            )
        )
    # The epoch travels with the key, or is set on the dataset: same item either way.
    ds.set_epoch(4)
    assert torch.equal(ds[3][0], rerun[(3, 4)][0])


def test_augmentation_is_one_crop_and_flip_for_the_whole_clip(tmp_path):
    # Four identical, left-right asymmetric frames: any per-frame difference would show.
    frame = np.zeros((24, 24, 3), dtype=np.uint8)
    frame[:, :8] = (250, 10, 10)
    frame[:, 8:] = np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None]
    for label in ("like", "sadness"):
        write_gif(tmp_path / "gifs" / label / "same.gif", np.stack([frame] * 4), 50)
        frame = frame[:, ::-1].copy()  # a different content for the second class
    cache = build_cache(
        load_dataset(tmp_path / "gifs"), size=S, cache_dir=tmp_path / "c", workers=1, progress=False
    )
    plain = ClipDataset(cache, [0, 1], train=True)
    augmented = ClipDataset(cache, [0, 1], train=True, augment=True, seed=1)
    changed = 0
    for epoch in range(8):
        clip = augmented[(0, epoch)][0]
        assert clip.shape == (4, 3, S, S) and clip.dtype == torch.float32
        assert all(torch.equal(clip[0], clip[t]) for t in range(1, 4))
        assert torch.equal(clip, augmented[(0, epoch)][0]), "an item's augmentation is reproducible"
        changed += not torch.equal(clip, plain[(0, epoch)][0])
    assert changed >= 4
    assert ClipDataset(cache, [0], augment=True).augment is None, "no augmentation in evaluation"


def test_items_do_not_depend_on_the_number_of_workers(cache):
    ds = ClipDataset(cache, all_ids(cache), train=True, max_clips_per_gif=3, augment=True, seed=9)

    def run(workers):
        sampler = EpochSampler(len(ds), seed=9)
        loader = DataLoader(
            ds, batch_size=4, sampler=sampler, num_workers=workers, persistent_workers=workers > 0
        )
        epochs = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            epochs.append([(x.clone(), y, g) for x, y, g in loader])
        return epochs

    serial, parallel = run(0), run(2)
    for a_epoch, b_epoch in zip(serial, parallel, strict=True):
        for (xa, ya, ga), (xb, yb, gb) in zip(a_epoch, b_epoch, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(ga, gb)
    assert not torch.equal(serial[0][0][0], serial[1][0][0]), "a new epoch shuffles again"


def test_clip_dataset_rejects_mismatched_size_and_failed_gifs(cache):
    with pytest.raises(ValueError, match="preprocess.size=32"):
        ClipDataset(cache, [0], preprocess=PreprocessConfig(size=32))
    (broken,) = set(range(len(cache))) - set(cache.valid_indices)
    with pytest.raises(ValueError, match="broken.gif"):
        ClipDataset(cache, [broken])


def test_datamodule_builds_cache_split_and_loaders(tmp_path):
    make_tree(tmp_path / "gifs", {"happiness": [5] * 5, "anger": [9] * 5, "fear": [2] * 5})
    (tmp_path / "gifs" / "anger" / "zz_broken.gif").write_bytes(b"GIF87a")
    dm = GifDataModule(
        tmp_path / "gifs",
        size=S,
        batch_size=4,
        workers=0,
        cache_dir=tmp_path / "cache",
        save_split=tmp_path / "run" / "split.csv",
        max_clips_per_gif=1,
        progress=False,
    )
    dm.prepare_data()
    dm.setup("fit")
    assert dm.labels[:2] == ("happiness", "like") and dm.preprocess == PreprocessConfig(
        size=S, clip_len=4
    )
    assert dm.cache.decoded == 0, "prepare_data decoded, setup reused"
    train, test = dm.datasets["train"], dm.datasets["test"]
    assert dm.datasets["val"] is test, "the paper validates on its test split"
    assert set(train.gif_ids).isdisjoint(test.gif_ids)
    assert [p for p, _ in dm.cache.failures] == ["anger/zz_broken.gif"]
    assert sorted(train.gif_ids + test.gif_ids) == dm.cache.valid_indices, "all but the broken GIF"
    assert len(train) == len(train.gif_ids), "one clip per GIF per epoch"
    saved = load_split(tmp_path / "run" / "split.csv")
    assert saved == dm.split
    x, y, g = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 4, 3, S, S) and y.dtype == torch.int64 and g.dtype == torch.int64
    assert sum(len(b[0]) for b in dm.val_dataloader()) == len(test)

    # Reusing the saved split reproduces the same sides, whatever the seed.
    common = dict(size=S, workers=0, cache_dir=tmp_path / "cache", progress=False)
    again = GifDataModule(
        tmp_path / "gifs", seed=123, split_csv=tmp_path / "run" / "split.csv", **common
    )
    again.setup()
    assert again.datasets["test"].gif_ids == test.gif_ids

    with_val = GifDataModule(tmp_path / "gifs", val_fraction=0.2, **common)
    with_val.setup()
    val_ids = with_val.datasets["val"].gif_ids
    sides, _ = with_val.split.indices(with_val.dataset)
    assert len(sides["val"]) == 3, "one GIF per class: round(0.2 * 5 or 6)"
    assert val_ids == [i for i in sides["val"] if i in with_val.cache.valid_indices]
    assert set(val_ids).isdisjoint(with_val.datasets["train"].gif_ids)


# The probe module has no validation_step on purpose: only the train sampler matters here.
@pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`")
def test_lightning_advances_the_epoch_of_the_train_sampler(tmp_path):
    import lightning.pytorch as pl

    class Tiny(pl.LightningModule):
        def __init__(self, n_classes):
            super().__init__()
            self.head = torch.nn.Linear(3, n_classes)
            self.epochs_seen = []

        def training_step(self, batch, _):
            clips, labels, _ = batch
            self.epochs_seen.append(self.trainer.train_dataloader.sampler.epoch)
            return torch.nn.functional.cross_entropy(self.head(clips.mean(dim=(1, 3, 4))), labels)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    make_tree(tmp_path / "gifs", {"happiness": [5] * 3, "anger": [9] * 3})
    dm = GifDataModule(
        tmp_path / "gifs", size=S, batch_size=4, workers=0, cache_dir=tmp_path / "c", progress=False
    )
    model = Tiny(7)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    assert isinstance(trainer.train_dataloader.sampler, EpochSampler), "Lightning kept our sampler"
    assert sorted(set(model.epochs_seen)) == [0, 1]
