"""Leak-free, stratified, seeded splits by GIF and by content; split.csv round trip."""

from __future__ import annotations

import csv
import hashlib
import math
import shutil

import pytest
from data_helpers import make_tree

from gifemo.data.sources import load_dataset
from gifemo.data.split import Split, load_split, make_split

LAYOUT = {"happiness": [2] * 10, "anger": [3] * 5, "fear": [2] * 3, "like": [2]}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    make_tree(root, LAYOUT)
    return root


def sides_by_hash(split: Split) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _, _, side, sha in split.rows:
        out.setdefault(side, set()).add(sha)
    return out


def test_split_is_stratified_per_class(tree):
    split = make_split(load_dataset(tree), test_fraction=0.2, seed=0)
    counts = split.counts()
    for label, frames in LAYOUT.items():
        n = len(frames)
        n_test = math.floor(n * 0.2 + 0.5)
        assert counts.get("test", {}).get(label, 0) == n_test
        assert counts["train"].get(label, 0) == n - n_test


def test_leak_free_even_with_content_identical_files(tmp_path):
    make_tree(tmp_path, {"happiness": [2] * 6, "anger": [3] * 6})
    # The same content three times: twice under one label, once under another.
    shutil.copy(tmp_path / "anger" / "g2.gif", tmp_path / "anger" / "copy.gif")
    shutil.copy(tmp_path / "anger" / "g2.gif", tmp_path / "happiness" / "copy.gif")
    ds = load_dataset(tmp_path)
    left_out = ds.problems.duplicates + ds.problems.conflicting_labels
    assert len(left_out) == 2
    all_files = {r.path for r in ds} | {tmp_path / p for p, _ in left_out}
    assert len(all_files) == 14
    for seed in range(5):
        split = make_split(ds, test_fraction=0.5, seed=seed)
        sides = sides_by_hash(split)
        assert sides["train"].isdisjoint(sides["test"])
        paths = {side: {p for p, _, s, _ in split.rows if s == side} for side in ("train", "test")}
        assert paths["train"].isdisjoint(paths["test"])
        # Every file of the folder, duplicates included, sits on exactly one side by content.
        for file in all_files:
            sha = hashlib.sha256(file.read_bytes()).hexdigest()
            assert (sha in sides["train"]) != (sha in sides["test"])


def test_manifest_cannot_put_one_content_on_both_sides(tmp_path):
    make_tree(tmp_path, {"fear": [2, 3]})
    shutil.copy(tmp_path / "fear" / "g0.gif", tmp_path / "fear" / "copy.gif")
    rows = [
        ("fear/g0.gif", "fear", "train"),
        ("fear/copy.gif", "fear", "test"),
        ("fear/g1.gif", "fear", "test"),
    ]
    with open(tmp_path / "m.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "split"), *rows])
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.problems.duplicates == [("fear/copy.gif", "fear/g0.gif")]
    sides = sides_by_hash(make_split(ds))
    assert (
        sides["train"].isdisjoint(sides["test"]) and len(sides["train"]) == len(sides["test"]) == 1
    )


def test_split_depends_on_seed_and_content_not_on_names(tree, tmp_path):
    ds = load_dataset(tree)
    a = make_split(ds, seed=1)
    assert sides_by_hash(a) == sides_by_hash(make_split(ds, seed=1))
    assert any(sides_by_hash(make_split(ds, seed=s)) != sides_by_hash(a) for s in range(2, 6))
    renamed = tmp_path / "renamed"
    shutil.copytree(tree, renamed)
    for file in sorted(renamed.rglob("*.gif")):
        file.rename(file.with_name("x_" + file.name))
    assert sides_by_hash(make_split(load_dataset(renamed), seed=1)) == sides_by_hash(a)


def test_val_fraction_is_carved_from_train(tree):
    split = make_split(load_dataset(tree), test_fraction=0.2, val_fraction=0.2, seed=0)
    counts = split.counts()
    assert counts["val"]["happiness"] == 2 and counts["test"]["happiness"] == 2
    assert counts["train"]["happiness"] == 6
    sides = sides_by_hash(split)
    assert not (sides["val"] & sides["train"]) and not (sides["val"] & sides["test"])


def test_manifest_split_column_wins_and_the_rest_is_assigned(tmp_path):
    make_tree(tmp_path, {"fear": [2] * 5})
    rows = [(f"fear/g{i}.gif", "fear", "test" if i < 3 else "") for i in range(5)]
    with open(tmp_path / "m.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "split"), *rows])
    split = make_split(load_dataset(tmp_path / "m.csv"), test_fraction=0.2)
    by_path = {p: s for p, _, s, _ in split.rows}
    assert [by_path[f"fear/g{i}.gif"] for i in range(3)] == ["test"] * 3
    # The two unassigned GIFs are split among themselves: round(2 * 0.2) = 0 to test.
    assert [by_path[f"fear/g{i}.gif"] for i in (3, 4)] == ["train", "train"]


def test_save_and_load_round_trip_and_matching_by_content(tree, tmp_path):
    ds = load_dataset(tree)
    split = make_split(ds, seed=3)
    path = split.save(tmp_path / "run" / "split.csv")
    assert path.read_text().splitlines()[0] == "path,label,split,sha256"
    assert not [p for p in path.parent.iterdir() if p.name != "split.csv"], "no temporary file left"
    again = load_split(path)
    assert again == split
    sides, uncovered = again.indices(ds)
    assert uncovered == []
    assert sorted(sides["train"] + sides["test"]) == list(range(len(ds)))
    assert all(ds.records[i].sha256 in sides_by_hash(split)["test"] for i in sides["test"])


def test_indices_report_gifs_the_split_does_not_cover(tree, tmp_path):
    split = make_split(load_dataset(tree))
    grown = tmp_path / "grown"
    shutil.copytree(tree, grown)
    make_tree(grown / "extra", {"fear": [4]}, seed=1000)
    shutil.move(grown / "extra" / "fear" / "g0.gif", grown / "fear" / "new.gif")
    shutil.rmtree(grown / "extra")
    ds = load_dataset(grown)
    _, uncovered = split.indices(ds)
    assert [ds.records[i].rel_path for i in uncovered] == ["fear/new.gif"]


def test_load_split_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label,split,sha256\na.gif,fear,holdout,00\n")
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        load_split(bad)
    bad.write_text("path,label,split,sha256\na.gif,fear,train,00\nb.gif,fear,test,00\n")
    with pytest.raises(ValueError, match="both train and test"):
        load_split(bad)
    bad.write_text("path,label\na.gif,fear\n")
    with pytest.raises(ValueError, match="missing column"):
        load_split(bad)


@pytest.mark.parametrize(("test", "val"), [(1.0, 0.0), (-0.1, 0.0), (0.6, 0.4)])
def test_invalid_fractions(tree, test, val):
    with pytest.raises(ValueError, match="fraction"):
        make_split(load_dataset(tree), test_fraction=test, val_fraction=val)
