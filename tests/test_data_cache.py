"""The frame cache: decode once, reuse, rebuild what changed, skip what cannot be decoded."""

from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest
from data_helpers import make_tree, noto_or_skip, write_test_gif

from gifemo.data.cache import FrameCache, build_cache, default_cache_dir, frames_dir
from gifemo.data.sources import load_dataset
from gifemo.io import read_gif
from gifemo.preprocess import resize_frames

S = 16


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "data"
    make_tree(root, {"happiness": [1, 5], "anger": [3]})
    return root


def test_build_stores_resized_frames_and_delays(tree, tmp_path):
    ds = load_dataset(tree)
    cache = build_cache(ds, size=S, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert cache.decoded == 3 and cache.failures == [] and cache.valid_indices == [0, 1, 2]
    assert cache.labels == ds.labels
    for i, record in enumerate(ds):
        gif = read_gif(record.path)
        frames = cache.frames(i)
        assert isinstance(frames, np.memmap) and not frames.flags.writeable
        assert frames.dtype == np.uint8 and frames.shape == (gif.n_frames, S, S, 3)
        np.testing.assert_array_equal(frames, resize_frames(gif.frames, S))
        entry = cache.gifs[i]
        assert (entry.rel_path, entry.label_index, entry.sha256) == (
            record.rel_path,
            record.label_index,
            record.sha256,
        )
        assert entry.n_frames == gif.n_frames and list(entry.durations_ms) == gif.durations_ms
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_second_build_decodes_nothing_and_changes_are_rebuilt(tree, tmp_path):
    root = tmp_path / "cache"
    first = build_cache(load_dataset(tree), size=S, cache_dir=root, workers=1, progress=False)
    again = build_cache(load_dataset(tree), size=S, cache_dir=root, workers=1, progress=False)
    assert again.decoded == 0 and again.gifs == first.gifs
    np.testing.assert_array_equal(again.frames(1), first.frames(1))
    # One file changes content: only it is decoded again.
    write_test_gif(tree / "anger" / "g0.gif", 6, seed=777)
    changed = build_cache(load_dataset(tree), size=S, cache_dir=root, workers=1, progress=False)
    assert changed.decoded == 1
    assert changed.gifs[0].n_frames == 6 and changed.frames(0).shape[0] == 6
    # Another frame size is another cache.
    other = build_cache(load_dataset(tree), size=S * 2, cache_dir=root, workers=1, progress=False)
    assert other.decoded == 3 and other.frames(0).shape[1:] == (2 * S, 2 * S, 3)
    assert other.directory != changed.directory


def test_a_deleted_entry_is_rebuilt(tree, tmp_path):
    cache = build_cache(load_dataset(tree), size=S, cache_dir=tmp_path, workers=1, progress=False)
    cache.entry_path(2).unlink()
    again = build_cache(load_dataset(tree), size=S, cache_dir=tmp_path, workers=1, progress=False)
    assert again.decoded == 1 and again.frames(2).shape[0] == cache.gifs[2].n_frames


def test_undecodable_files_are_listed_skipped_and_remembered(tree, tmp_path):
    (tree / "anger" / "garbage.gif").write_bytes(b"GIF89a this is not really a gif")
    (tree / "anger" / "text.gif").write_bytes(b"hello")
    good = write_test_gif(tmp_path / "long.gif", 6, seed=31, size=(64, 64))
    data = good.read_bytes()
    (tree / "anger" / "cut.gif").write_bytes(data[: int(len(data) * 0.7)])
    ds = load_dataset(tree)
    cache = build_cache(ds, size=S, cache_dir=tmp_path / "cache", workers=1, progress=False)
    failed = dict(cache.failures)
    assert set(failed) == {"anger/garbage.gif", "anger/text.gif"}
    assert all(failed.values())
    cut = next(g for g in cache.gifs if g.rel_path == "anger/cut.gif")
    assert cut.error is None and cut.damage and 0 < cut.n_frames < 6
    assert len(cache.valid_indices) == len(ds) - 2
    bad_index = next(i for i, g in enumerate(cache.gifs) if g.rel_path == "anger/garbage.gif")
    with pytest.raises(ValueError, match="garbage.gif.*failed to decode"):
        cache.frames(bad_index)
    again = build_cache(ds, size=S, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert again.decoded == 0 and dict(again.failures) == failed


def test_index_reopens_the_cache_and_the_cache_pickles_as_plain_data(tree, tmp_path):
    cache = build_cache(load_dataset(tree), size=S, cache_dir=tmp_path, workers=1, progress=False)
    assert cache.index_path.is_file()
    reopened = FrameCache.load(cache.index_path)
    assert reopened.gifs == cache.gifs and reopened.size == S and reopened.labels == cache.labels
    np.testing.assert_array_equal(reopened.frames(1), cache.frames(1))
    clone = pickle.loads(pickle.dumps(cache))
    np.testing.assert_array_equal(clone.frames(2), cache.frames(2))


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GIFEMO_CACHE", str(tmp_path / "g"))
    assert default_cache_dir() == tmp_path / "g"
    assert frames_dir(None, 64) == tmp_path / "g" / "frames-v1-S64"
    monkeypatch.delenv("GIFEMO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "gifemo"


def test_noto_emoji_cache_builds_once_with_two_workers(tmp_path):
    """Real GIFs, decoded by a process pool; the shortest GIF of each class keeps this quick."""
    root = noto_or_skip()
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    shortest = {}
    for row in sorted(rows, key=lambda r: int(r["frames"]), reverse=True):
        shortest[row["label"]] = row
    manifest = tmp_path / "noto.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([(root / r["path"], r["label"]) for r in shortest.values()])
    ds = load_dataset(manifest)
    cache = build_cache(ds, size=32, cache_dir=tmp_path / "cache", workers=2, progress=True)
    assert cache.decoded == 7 and cache.failures == []
    assert [g.n_frames for g in cache.gifs] == [int(r["frames"]) for r in shortest.values()]
    assert cache.frames(0).shape == (int(next(iter(shortest.values()))["frames"]), 32, 32, 3)
    again = build_cache(
        load_dataset(manifest), size=32, cache_dir=tmp_path / "cache", progress=False
    )
    assert again.decoded == 0 and again.gifs == cache.gifs
