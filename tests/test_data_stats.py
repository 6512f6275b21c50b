"""Dataset statistics, the Fig. 5 histogram and the ``gifemo data stats|cache|split`` commands."""

from __future__ import annotations

import csv
import json
import statistics

import numpy as np
import pytest
from data_helpers import make_tree, noto_or_skip
from PIL import Image
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.data.frame_counts import compute_stats, histogram_edges, plot_frame_histogram
from gifemo.data.sources import load_dataset

LAYOUT = {"happiness": [2, 7, 12], "surprise": [4], "fear": [3, 25]}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    make_tree(root, LAYOUT)
    (root / "fear" / "broken.gif").write_bytes(b"not a gif at all")
    return root


def test_stats_count_gifs_and_frames_per_class(tree):
    stats = compute_stats(load_dataset(tree))
    assert {label: sorted(v) for label, v in stats.frames.items() if v} == {
        k: sorted(v) for k, v in LAYOUT.items()
    }
    assert stats.frames["like"] == [] and stats.summary("like") is None
    assert [p for p, _ in stats.failures] == ["fear/broken.gif"]
    everything = [n for v in LAYOUT.values() for n in v]
    overall = stats.summary()
    assert (overall.n_gifs, overall.min, overall.max) == (
        len(everything),
        min(everything),
        max(everything),
    )
    assert overall.median == statistics.median(everything) and overall.mean == pytest.approx(
        np.mean(everything)
    )
    as_dict = stats.to_dict()
    assert (
        as_dict["gifs_per_class"]["happiness"] == 3
        and as_dict["frames_per_gif"]["fear"]["max"] == 25
    )
    json.dumps(as_dict)  # serialisable as is


def test_histogram_edges_cover_the_longest_gif():
    assert histogram_edges([2, 303]).tolist()[:3] == [0, 10, 20]
    edges = histogram_edges([2, 303])
    assert edges[-1] > 303 and edges[-2] <= 303
    wide = histogram_edges([5000])
    assert len(wide) <= 42 and wide[-1] > 5000
    assert histogram_edges([3, 4], bin_width=1).tolist() == [0, 1, 2, 3, 4, 5]


def test_plot_is_written_atomically_in_the_format_of_its_suffix(tree, tmp_path):
    stats = compute_stats(load_dataset(tree))
    png = plot_frame_histogram(stats, tmp_path / "out" / "hist.png")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (800, 450)
    svg = plot_frame_histogram(stats, tmp_path / "out" / "hist.svg")
    assert svg.read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hist.png", "hist.svg"]


def test_cli_stats_table_json_and_plot(tree, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "stats", str(tree), "--plot", str(tmp_path / "h.png")])
    assert result.exit_code == 0, result.output
    assert "happiness" in result.output and "fear/broken.gif" in result.output
    assert (tmp_path / "h.png").stat().st_size > 1000
    result = runner.invoke(app, ["data", "stats", str(tree), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["frames_per_gif"]["overall"]["max"] == 25


def test_cli_reports_a_missing_dataset(tmp_path):
    result = CliRunner().invoke(app, ["data", "stats", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "no such dataset" in result.output


def test_cli_split_and_cache(tree, tmp_path):
    runner = CliRunner()
    out = tmp_path / "split.csv"
    result = runner.invoke(
        app, ["data", "split", str(tree), "--out", str(out), "--test-fraction", "0.34"]
    )
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["split"] for r in rows} == {"train", "test"} and len(rows) == 7
    args = [
        "data",
        "cache",
        str(tree),
        "--size",
        "16",
        "--cache-dir",
        str(tmp_path / "c"),
        "-j",
        "1",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "6/7 GIFs cached" in first.output and "decoded 7 now" in first.output
    second = runner.invoke(app, args)
    assert "decoded 0 now" in second.output


def test_noto_emoji_stats_match_the_labels_csv(tmp_path):
    root = noto_or_skip()
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    stats = compute_stats(load_dataset(root))
    assert sorted(stats.all_frames) == sorted(int(r["frames"]) for r in rows)
    result = CliRunner().invoke(
        app, ["data", "stats", str(root), "--plot", str(tmp_path / "hist.png")]
    )
    assert result.exit_code == 0, result.output
    assert f"{len(rows)} " in result.output and (tmp_path / "hist.png").is_file()
