"""Datasets from folder trees and CSV manifests: label sets, problems report, duplicates."""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter

import pytest
from data_helpers import make_tree, noto_or_skip, write_test_gif

from gifemo.data.sources import load_dataset
from gifemo.labels import PAPER_EMOTIONS


def test_folder_of_paper_labels_gets_the_paper_label_set_in_paper_order(tmp_path):
    make_tree(tmp_path, {"fear": [3], "happiness": [2, 5]})
    ds = load_dataset(tmp_path)
    assert ds.labels == PAPER_EMOTIONS
    assert ds.kind == "folder" and len(ds) == 3 and not ds.problems
    assert [r.rel_path for r in ds] == ["fear/g0.gif", "happiness/g0.gif", "happiness/g1.gif"]
    for record in ds:
        assert ds.labels[record.label_index] == record.label
        assert record.sha256 == hashlib.sha256(record.path.read_bytes()).hexdigest()
        assert record.split is None
    assert ds.class_counts() == {
        label: {"fear": 1, "happiness": 2}.get(label, 0) for label in PAPER_EMOTIONS
    }


def test_folder_of_other_labels_gets_the_sorted_folder_names(tmp_path):
    make_tree(tmp_path, {"zebra": [2], "amusement": [2], "happiness": [2]})
    assert load_dataset(tmp_path).labels == ("amusement", "happiness", "zebra")


def test_labels_argument_overrides_and_reports_unknown_labels(tmp_path):
    make_tree(tmp_path, {"cats": [2], "dogs": [3], "birds": [2]})
    ds = load_dataset(tmp_path, labels=["dogs", "cats"])
    assert ds.labels == ("dogs", "cats")
    assert sorted((r.rel_path, r.label_index) for r in ds) == [
        ("cats/g0.gif", 1),
        ("dogs/g0.gif", 0),
    ]
    assert ds.problems.unknown_labels == [("birds/g0.gif", "birds")]
    assert "birds/g0.gif: unknown label 'birds'" in ds.problems.lines()


def test_only_media_files_inside_label_folders_count(tmp_path):
    make_tree(tmp_path, {"anger": [2]})
    (tmp_path / "README.md").write_text("about this data")
    (tmp_path / "anger" / "notes.txt").write_text("not a gif")
    write_test_gif(tmp_path / "anger" / "deeper" / "UPPER.GIF", 3, seed=99)
    write_test_gif(tmp_path / ".hidden" / "x.gif", 2, seed=98)
    write_test_gif(tmp_path / "anger" / ".x.gif", 2, seed=97)
    write_test_gif(tmp_path / "loose.gif", 2, seed=96)
    ds = load_dataset(tmp_path)
    assert [r.rel_path for r in ds] == ["anger/deeper/UPPER.GIF", "anger/g0.gif"]
    assert ds.problems.unlabelled == [("loose.gif", "")]


def test_duplicate_contents_are_kept_once_even_under_two_labels(tmp_path):
    make_tree(tmp_path, {"anger": [2, 3], "fear": [2]})
    shutil.copy(tmp_path / "anger" / "g1.gif", tmp_path / "anger" / "z_copy.gif")
    shutil.copy(tmp_path / "anger" / "g1.gif", tmp_path / "fear" / "same.gif")
    ds = load_dataset(tmp_path)
    assert len(ds) == 3 and len({r.sha256 for r in ds}) == 3
    assert ds.problems.duplicates == [("anger/z_copy.gif", "anger/g1.gif")]
    assert ds.problems.conflicting_labels == [("fear/same.gif", "anger/g1.gif")]
    assert (
        "fear/same.gif: same content as anger/g1.gif, which has another label; skipped"
        in ds.problems.lines()
    )


def write_manifest(path, rows, header=("path", "label", "split")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_manifest_relative_paths_splits_and_missing_files(tmp_path):
    make_tree(tmp_path / "gifs", {"like": [2], "fear": [4]})
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            ("gifs/like/g0.gif", "like", "train"),
            ("gifs/fear/g0.gif", "fear", "TEST"),
            ("gifs/fear/nope.gif", "fear", ""),
        ],
    )
    ds = load_dataset(manifest)
    assert ds.kind == "manifest" and ds.root == tmp_path.resolve()
    assert [(r.rel_path, r.label, r.split) for r in ds] == [
        ("gifs/like/g0.gif", "like", "train"),
        ("gifs/fear/g0.gif", "fear", "test"),
    ]
    assert ds.labels == PAPER_EMOTIONS
    assert ds.problems.missing_files == [("gifs/fear/nope.gif", "m.csv line 4")]


def test_manifest_extra_columns_absolute_paths_and_custom_labels(tmp_path):
    a = write_test_gif(tmp_path / "a.gif", 2, seed=1)
    b = write_test_gif(tmp_path / "sub" / "b.gif", 3, seed=2)
    manifest = write_manifest(
        tmp_path / "m.csv",
        [(str(a), "calm", "x"), ("sub/b.gif", "wild", "y")],
        header=("path", "label", "note"),
    )
    ds = load_dataset(manifest)
    assert ds.labels == ("calm", "wild")
    assert [r.path for r in ds] == [a.resolve(), b.resolve()]


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("a.gif", "fear")], ("file", "label"), "columns 'path' and 'label'"),
        ([("a.gif", "fear", "holdout")], ("path", "label", "split"), "line 2: split 'holdout'"),
        ([("", "fear", "")], ("path", "label", "split"), "line 2: empty"),
    ],
)
def test_malformed_manifest_is_a_clear_error(tmp_path, rows, header, message):
    write_test_gif(tmp_path / "a.gif", 2)
    manifest = write_manifest(tmp_path / "m.csv", rows, header=header)
    with pytest.raises(ValueError, match=message) as info:
        load_dataset(manifest)
    assert "m.csv" in str(info.value)


def test_missing_dataset_and_wrong_file_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such dataset"):
        load_dataset(tmp_path / "absent")
    write_test_gif(tmp_path / "a.gif", 2)
    with pytest.raises(ValueError, match="folder of label folders or a .csv"):
        load_dataset(tmp_path / "a.gif")


def test_noto_emoji_folder_matches_its_labels_csv():
    root = noto_or_skip()
    with open(root / "labels.csv", newline="") as handle:
        expected = {row["path"]: row["label"] for row in csv.DictReader(handle)}
    ds = load_dataset(root)
    assert ds.labels == PAPER_EMOTIONS and not ds.problems
    assert {r.rel_path: r.label for r in ds} == expected
    # The same data through its manifest (extra columns ignored) gives the same records.
    via_manifest = load_dataset(root / "labels.csv")
    assert Counter(r.sha256 for r in via_manifest) == Counter(r.sha256 for r in ds)
