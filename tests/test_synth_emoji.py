"""The emoji style of the synthetic dataset: files, determinism, cue odds, painting, CLI."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gifemo.data.synth import (
    ARCHETYPES,
    CUE_OPTIONS,
    PROTOTYPES,
    generate_dataset,
    item_seed,
    make_gif,
    parse_styles,
    render_contact_sheet,
    sample_spec,
    style_of,
)
from gifemo.data.synth.action_units import au_controls
from gifemo.data.synth.archetypes import (
    EXCLUSIVE_OPTIONS,
    STRAY_CUES,
    STRAY_P,
    cue_frequencies,
    cue_table,
    recipe_table,
)
from gifemo.data.synth.emoji import EmojiFace, mouth_shape
from gifemo.data.synth.render import render_frames
from gifemo.data.synth.spec import EMOJI_FLOOR_RANGE, EMOJI_HELD_P, GENERATOR_VERSION
from gifemo.data.synth.timeline import Envelope, frame_times
from gifemo.io import read_gif
from gifemo.labels import PAPER_EMOTIONS

# sha256 of human-style GIFs and of a human-only labels.csv, computed with the generator as it
# was before the emoji style existed (commit a9e0ebd): adding a style must not move a byte.
HUMAN_DIGESTS = {
    ("happiness", 0, 32): "c39e4c44ea6d197f5943f196ff3639a5ac3a5b86ac670ca999e9b9e797267f63",
    ("fear", 123, 48): "89d619328f6cacf036be1663f1284e641121120c531af0389341ebb6c6496e64",
    ("sadness", 5, 32): "3be7346015468650f969db31a0a4effd565a0cd7bb8467f4ff8a714f353d7249",
}
# generate_dataset(per_class=1, size=32, seed=3): every GIF (relative path + bytes, sorted by
# path) and labels.csv without the style column, its params stamped with version 1. None of
# these GIFs laughs, so version 2 (laughing faces open their mouths) left them as they were.
HUMAN_DATASET_DIGEST = "a016b079d0431096efe69e97e6643d34cfb02dec9f16d2710b75ed3bfd0ee5eb"
HUMAN_CSV_DIGEST = "78d65736ca50344ba6fa31d5a5507bb0939dc88c16cee030018f6dda992b8135"


@pytest.mark.parametrize(("label", "seed", "size"), sorted(HUMAN_DIGESTS))
def test_human_gifs_keep_their_bytes(label, seed, size):
    data = make_gif(label, seed, size=size).data
    assert hashlib.sha256(data).hexdigest() == HUMAN_DIGESTS[(label, seed, size)]


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_human_dataset_keeps_its_files_and_rows(tmp_path: Path):
    generate_dataset(tmp_path, per_class=1, size=32, seed=3, workers=1)
    digest = hashlib.sha256()
    for f in sorted(tmp_path.rglob("*.gif")):
        digest.update(f.relative_to(tmp_path).as_posix().encode())
        digest.update(f.read_bytes())
    assert digest.hexdigest() == HUMAN_DATASET_DIGEST
    rows = _read_csv(tmp_path / "labels.csv")
    assert {r["style"] for r in rows} == {"human"}
    old_columns = ["path", "label", "frames", "seed", "params"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=old_columns, lineterminator="\n")
    writer.writeheader()
    version = f'"version":{GENERATOR_VERSION}'
    for r in rows:
        assert r["params"].count(version) == 1
        r["params"] = r["params"].replace(version, '"version":1')
    writer.writerows({k: r[k] for k in old_columns} for r in rows)
    assert hashlib.sha256(buf.getvalue().encode()).hexdigest() == HUMAN_CSV_DIGEST


# ---------------------------------------------------------------- files


def test_mixed_dataset_is_balanced_decodable_and_deterministic(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    summary = generate_dataset(a, per_class=1, size=32, seed=5, workers=1, styles="human,emoji")
    assert summary.written == 14 and not summary.failures
    generate_dataset(b, per_class=1, size=32, seed=5, workers=2, styles=("human", "emoji"))
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes()
    rows = _read_csv(a / "labels.csv")
    assert list(rows[0]) == ["path", "label", "frames", "seed", "params", "style"]
    for label in PAPER_EMOTIONS:
        mine = [r for r in rows if r["label"] == label]
        assert [r["style"] for r in mine] == ["human", "emoji"]
    for r in rows:
        name = Path(r["path"]).name
        prefix = "emoji_" if r["style"] == "emoji" else ""
        assert name == f"{prefix}{r['label']}_{int(name[-9:-4]):05d}.gif"
        assert style_of(r["path"]) == r["style"]
        data = (a / r["path"]).read_bytes()
        assert data == (b / r["path"]).read_bytes()
        gif = read_gif(data)
        assert gif.frames.shape[1:] == (32, 32, 3) and len(gif.frames) == int(r["frames"])
        params = json.loads(r["params"])
        assert params.get("style", "human") == r["style"]
        if r["style"] == "human":
            assert set(params["aus"]) == set(PROTOTYPES[r["label"]])
        else:
            assert set(params["aus"]) == set(_archetype(r["label"], params["archetype"]).aus)
    # The CSV's seed and style rebuild a GIF; an emoji GIF's seed is not its human twin's.
    emoji_row = next(r for r in rows if r["style"] == "emoji" and r["label"] == "fear")
    rebuilt = make_gif("fear", int(emoji_row["seed"]), size=32, style="emoji")
    assert rebuilt.data == (a / emoji_row["path"]).read_bytes()
    assert int(emoji_row["seed"]) == item_seed(5, PAPER_EMOTIONS.index("fear"), 0, "emoji")
    assert item_seed(5, 6, 0, "emoji") != item_seed(5, 6, 0)
    np.testing.assert_array_equal(read_gif(rebuilt.data).frames, rebuilt.encoding.frames)


def _archetype(label: str, name: str):
    (archetype,) = [a for a in ARCHETYPES[label] if a.name == name]
    return archetype


def test_per_style_counts_and_stale_styles_are_removed(tmp_path: Path):
    labels = ["anger", "like"]
    generate_dataset(
        tmp_path,
        per_class={"human": 1, "emoji": 2},
        size=32,
        workers=1,
        labels=labels,
        styles="human,emoji",
    )
    rows = _read_csv(tmp_path / "labels.csv")
    assert [(r["label"], r["style"]) for r in rows] == [
        ("like", "human"), ("like", "emoji"), ("like", "emoji"),
        ("anger", "human"), ("anger", "emoji"), ("anger", "emoji"),
    ]  # fmt: skip
    summary = generate_dataset(tmp_path, per_class=1, size=32, workers=1, labels=labels)
    assert summary.removed_stale == 4
    assert sorted(p.name for p in (tmp_path / "anger").iterdir()) == ["anger_00000.gif"]
    with pytest.raises(ValueError, match="no count"):
        generate_dataset(tmp_path, per_class={"human": 1}, styles="human,emoji", labels=labels)


def test_styles_are_parsed_and_checked():
    assert parse_styles("human, emoji,human") == ("human", "emoji")
    assert parse_styles(["emoji"]) == ("emoji",)
    for bad in ("", "robot", "human,robot"):
        with pytest.raises(ValueError, match="styles"):
            parse_styles(bad)
    with pytest.raises(ValueError, match="style"):
        sample_spec("fear", 0, style="robot")
    assert style_of("fear/emoji_fear_00001.gif") == "emoji"
    assert style_of("/data/x/fear/fear_00001.gif") == "human"
    assert style_of("happiness/3_Grin.gif") == "human"


# ---------------------------------------------------------------- specs and cue odds

N_SPECS = 300


@pytest.fixture(scope="module")
def emoji_specs() -> dict[str, list]:
    return {
        label: [sample_spec(label, s, size=32, style="emoji") for s in range(N_SPECS)]
        for label in PAPER_EMOTIONS
    }


def test_archetypes_are_drawn_by_weight(emoji_specs):
    for label, specs in emoji_specs.items():
        names = [s.archetype for s in specs]
        for archetype in ARCHETYPES[label]:
            p = archetype.weight
            tolerance = 4.5 * np.sqrt(p * (1 - p) / N_SPECS) + 1 / N_SPECS
            assert abs(names.count(archetype.name) / N_SPECS - p) <= tolerance, archetype.name
        # A GIF's expression is its archetype's: the same AUs, at most at their recipe's level.
        for spec in specs:
            recipe = _archetype(label, spec.archetype).aus
            assert set(spec.aus) == set(recipe)
            assert all(0 < v <= min(1.0, 1.1 * recipe[au]) + 1e-9 for au, v in spec.aus.items())


def test_cue_frequencies_follow_the_table(emoji_specs):
    for label, specs in emoji_specs.items():
        frequencies = cue_frequencies(label)
        assert set(frequencies) == {(c, o) for c, opts in CUE_OPTIONS.items() for o in opts}
        for (cue, option), p in frequencies.items():
            seen = np.mean([s.cues.get(cue, {}).get("kind") == option for s in specs])
            # 4.5 binomial standard deviations, plus one count: about 1 in 150,000 per check.
            tolerance = 4.5 * np.sqrt(p * (1 - p) / N_SPECS) + 1 / N_SPECS
            assert abs(seen - p) <= tolerance, (label, cue, option, seen, p)
            if p == 0:
                assert seen == 0, (label, cue, option)
        for cue in CUE_OPTIONS:
            assert sum(frequencies[(cue, o)] for o in CUE_OPTIONS[cue]) <= 1.0 + 1e-9, cue


def test_the_docs_show_the_recipes_and_odds_the_generator_uses():
    page = (Path(__file__).resolve().parents[1] / "docs" / "synthetic-data.md").read_text()
    for table in (recipe_table(), cue_table()):
        assert table in page, "docs/synthetic-data.md is out of date: paste the new table"
    assert f"the {sum(map(len, ARCHETYPES.values()))} archetypes" in page


def test_frequencies_are_exact_for_a_single_archetype():
    # The formula's stray term, checked on a class whose cues are computed by hand.
    archetype = ARCHETYPES["surprise"][0]
    stray = STRAY_P / len(STRAY_CUES)
    odds = cue_frequencies("surprise")
    motion_bounce = sum(
        a.weight * (a.cues.get("motion", {}).get("bounce", 0.0)
                    + (1 - sum(a.cues.get("motion", {}).values())) * stray / 3)
        for a in ARCHETYPES["surprise"]
    )  # fmt: skip
    assert odds[("motion", "bounce")] == pytest.approx(motion_bounce)
    assert archetype.cues["motion"]["bounce"] > 0
    assert odds[("eyes", "hearts")] == 0.0  # not a stray cue and in no surprise recipe


def test_no_cue_belongs_to_a_single_class(emoji_specs):
    table = {label: cue_frequencies(label) for label in PAPER_EMOTIONS}
    for cue, options in CUE_OPTIONS.items():
        for option in options:
            probs = [table[label][(cue, option)] for label in PAPER_EMOTIONS]
            classes = [c for c, p in zip(PAPER_EMOTIONS, probs, strict=True) if p > 0]
            if (cue, option) in EXCLUSIVE_OPTIONS:
                assert len(classes) == 1, (cue, option, classes)
            else:
                assert len(classes) >= 2, (cue, option)
                seen = {
                    label
                    for label, specs in emoji_specs.items()
                    if any(s.cues.get(cue, {}).get("kind") == option for s in specs)
                }
                assert len(seen) >= 2, (cue, option, seen)
            # No class is told apart by a single cue: its most likely option stays below 0.6.
            assert max(probs) < 0.6, (cue, option)


def test_emoji_specs_share_timing_expression_and_encoders_with_humans(emoji_specs):
    for label in ("like", "fear"):
        for seed, spec in enumerate(emoji_specs[label][:60]):
            human = sample_spec(label, seed, size=32)
            # The same frame-count and delay draws come first in both styles.
            assert spec.delays_ms == human.delays_ms
            assert set(spec.aus) == set(_archetype(label, spec.archetype).aus)
            assert isinstance(spec.identity, EmojiFace) and spec.style == "emoji"
            assert spec.params()["style"] == "emoji" and "style" not in human.params()
    specs = [s for group in emoji_specs.values() for s in group]
    assert {s.encoder["palette"] for s in specs} == {"global", "local"}
    assert {s.encoder["colors"] for s in specs} == {32, 64, 128, 256}
    backgrounds = [s.background for s in specs]
    assert 0.5 < np.mean([b == "white" for b in backgrounds]) < 0.7
    assert {"blobs", "room", "plain"} <= set(backgrounds)
    assert 0.7 < np.mean([s.identity.palette == "yellow" for s in specs]) < 0.9
    assert all(s.second_face is None for s in specs)
    like_hearts = np.mean([s.hearts > 0 for s in emoji_specs["like"]])
    assert like_hearts == pytest.approx(cue_frequencies("like")[("hearts", "floating")], abs=0.1)


def test_most_emoji_hold_their_expression_and_humans_never_do(emoji_specs):
    specs = [s for group in emoji_specs.values() for s in group]
    floors = np.array([s.envelope.floor for s in specs])
    held = floors > 0
    p, n = EMOJI_HELD_P, len(specs)
    assert abs(held.mean() - p) <= 4.5 * np.sqrt(p * (1 - p) / n)
    lo, hi = EMOJI_FLOOR_RANGE
    assert np.all((floors[held] >= lo) & (floors[held] <= hi))
    for spec in specs[:: len(specs) // 50]:
        t = frame_times(spec.delays_ms)
        level = spec.envelope(np.concatenate([t, t + 7.3]))
        assert level.min() >= spec.envelope.floor - 1e-12 and level.max() <= 1.0 + 1e-12
        recorded = spec.params()["envelope"]
        if spec.envelope.floor:
            assert recorded["floor"] == pytest.approx(spec.envelope.floor, abs=1e-3)
        else:
            assert "floor" not in recorded
    for seed in range(40):
        human = sample_spec("like", seed, size=32)
        assert human.envelope.floor == 0.0 and "floor" not in human.params()["envelope"]


def test_a_floor_lifts_the_episode_without_reshaping_it():
    episode = Envelope(0.5, 0.3, 0.6, 0.4, 0.5, 0.2, 0.0, None)
    held = dataclasses.replace(episode, floor=0.6)
    t = np.linspace(0, 2.5, 60)
    assert episode(t).min() == 0.0  # the neutral stretches before and after
    np.testing.assert_allclose(held(t), 0.6 + 0.4 * episode(t))
    assert held(t).min() == pytest.approx(0.6) and held(t).max() == pytest.approx(1.0)


def test_a_held_expression_shows_its_cue_in_the_first_frame():
    # A neutral first frame (the episode starts after a pause) shows no heart eyes; held at a
    # floor of 0.6 the same GIF shows them from its first frame.
    base = dataclasses.replace(
        _clean_emoji("like", 5),
        envelope=Envelope(0.4, 0.3, 1.0, 0.3, 0.0, 0.0, 0.0, None),
        cues={"eyes": {"kind": "hearts", "amount": 0.9, "side": 1.0}},
    )
    held = dataclasses.replace(base, envelope=dataclasses.replace(base.envelope, floor=0.6))

    def red(spec):
        f = render_frames(spec)[0].astype(float)
        return int((f[..., 0] - f[..., 1] > 60).sum())

    assert red(held) > red(base) + 10


# ---------------------------------------------------------------- painting


def _face_controls(**aus: float) -> dict[str, float]:
    c = au_controls({f"AU{k[2:]}": v for k, v in aus.items()})
    c["speech"] = 0.0
    return c


def test_mouth_follows_the_action_units():
    face = sample_spec("happiness", 1, size=32, style="emoji").identity
    neutral = mouth_shape(face, _face_controls(), 0.0, 0.0)
    smile = mouth_shape(face, _face_controls(au12=1.0), 0.0, 0.0)
    frown = mouth_shape(face, _face_controls(au15=1.0), 0.0, 0.0)
    gasp = mouth_shape(face, _face_controls(au26=1.0), 0.0, 0.0)
    press = mouth_shape(face, _face_controls(au23=1.0), 0.0, 0.0)
    stretch = mouth_shape(face, _face_controls(au20=1.0), 0.0, 0.0)
    assert neutral.gap < 0.03  # closed: a stroke
    assert smile.line[0] < smile.line[8] and frown.line[0] > frown.line[8]  # corners up / down
    assert gasp.gap > 0.3 and gasp.x[-1] < neutral.x[-1]  # an "O": open and narrower
    assert press.x[-1] < neutral.x[-1] < stretch.x[-1]
    assert np.all(gasp.lower >= gasp.upper)
    grimace = mouth_shape(face, _face_controls(au20=1.0), 0.0, 1.0)
    assert grimace.gap > stretch.gap and grimace.x[-1] > stretch.x[-1]


def _apex_frame(spec) -> np.ndarray:
    return render_frames(spec)[-1].astype(float)


# At the apex from the first frame on.
APEX = Envelope(0.0, 0.15, 60.0, 0.3, 0.0, 0.0, 0.2, None)


def _clean_emoji(label: str, seed: int):
    """A plain emoji spec without cues or nuisances, to add one cue at a time."""
    spec = sample_spec(label, seed, size=48, style="emoji")
    return dataclasses.replace(
        spec, cues={}, blush=0.0, hearts=0, caption=None, blur=None, noise=0.0,
        background="white", delays_ms=(50,) * 10, envelope=APEX,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cue", "kind", "colour"),
    [
        ("tint", "red", lambda f: f[..., 0] - f[..., 1]),
        ("tint", "blue", lambda f: f[..., 2] - f[..., 0]),
        ("tears", "stream", lambda f: f[..., 2] - f[..., 0]),
        ("eyes", "hearts", lambda f: f[..., 0] - f[..., 1]),
        ("mouth", "vomit", lambda f: f[..., 1] - f[..., 0]),
    ],
)
def test_cues_are_painted_at_the_apex(cue, kind, colour):
    base = _clean_emoji("sadness", 11)
    with_cue = dataclasses.replace(base, cues={cue: {"kind": kind, "amount": 0.9, "side": 1.0}})
    before, after = colour(_apex_frame(base)), colour(_apex_frame(with_cue))
    assert (after > 60).sum() > (before > 60).sum() + 10


def test_emoji_motion_cue_moves_the_head():
    base = _clean_emoji("fear", 2)
    shaky = dataclasses.replace(base, cues={"motion": {"kind": "shake", "amount": 1.0, "side": 1}})

    def spread(spec):
        frames = render_frames(spec).astype(float)
        dark = frames.mean(-1) < 200
        xs = [np.nonzero(f.any(0))[0].mean() for f in dark if f.any()]
        return np.ptp(xs)

    assert spread(shaky) > spread(base) + 1


# ---------------------------------------------------------------- preview and CLI


def test_contact_sheet_shows_each_style(tmp_path: Path):
    sheet = render_contact_sheet(
        tmp_path / "s.png", size=32, gifs_per_class=1, frames_per_gif=2,
        labels=["fear"], styles="human,emoji",
    )  # fmt: skip
    assert sheet.size[1] == 2 * (32 + 4) + 4
    with Image.open(tmp_path / "s.png") as im:
        assert im.size == sheet.size


def test_cli_generates_a_mix(tmp_path: Path):
    from gifemo.cli import app
    from gifemo.cli.data_synth import _style_counts

    assert _style_counts("human,emoji=2", 1) == {"human": 1, "emoji": 2}
    assert _style_counts("emoji=3, human", 5) == {"emoji": 3, "human": 5}
    runner = CliRunner()
    out, sheet = tmp_path / "out", tmp_path / "sheet.png"
    args = ["data", "synth", str(out), "--size", "32", "--workers", "1"]
    result = runner.invoke(app, [*args, "--styles", "emoji=1", "--preview", str(sheet)])
    assert result.exit_code == 0, result.output
    rows = _read_csv(out / "labels.csv")
    assert [r["style"] for r in rows] == ["emoji"] * 7
    with Image.open(sheet) as im:  # the sheet shows the styles asked for: 2 rows per class
        assert im.size[1] == 14 * (32 + 4) + 4
    for bad in ("robot", "emoji=0", "emoji=x"):
        result = runner.invoke(app, [*args, "--styles", bad])
        assert result.exit_code == 2 and "--styles" in result.output
