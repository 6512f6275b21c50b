"""The emoji each class is drawn as: the face emoji of the Unicode standard, as recipes.

Every emoji set, whoever draws it, implements the same Unicode list of face emoji ("grinning
face", "loudly crying face", "face screaming in fear"...), so what tells a happy emoji from a
fearful one is the same across artists: the recipe (which eyes, which mouth, which cues), not
one artist's drawing. An :class:`Archetype` is one such recipe, written from the emoji's
Unicode name and its common description, not from any artwork: the action units that shape its
eyes, brows and mouth (painted by ``emoji.py``) and the odds of each stylised cue (``cues.py``).

A class is a weighted mix of archetypes. A GIF draws one archetype, then each cue from that
archetype's odds. Cues are shared across classes where the emoji share them (tears in tears of
joy and in crying, sweat in a sheepish grin and in anxiety, blush in love and in a flushed face,
teeth in a beaming grin, a grimace and anger), and on top of its recipe a GIF sometimes carries
one *stray* overlay cue of any kind, as artists decorate their emoji; so no overlay cue is
certain proof of a class, and the face has to be read as well.

:func:`cue_frequencies` gives each class's exact odds of every cue option, which the tests check
the generator against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gifemo.labels import PAPER_EMOTIONS

#: Every cue and its options, in the order a GIF draws them. ``eyes`` and ``mouth`` replace a
#: feature at the expression's peak, ``tint`` washes the head, the rest are overlays or motion.
CUE_OPTIONS: dict[str, tuple[str, ...]] = {
    # smile: closed "^ ^" arcs; squeeze: shut "> <"; roll: pupils up; closed: relaxed, shut;
    # half: half-lidded, glancing aside.
    "eyes": ("smile", "squeeze", "hearts", "stars", "roll", "closed", "half"),
    # open: wider open than the AUs alone; teeth: a clenched or grinning row of teeth; tongue:
    # sticking out; kiss: puckered lips; wavy: a queasy zigzag; vomit: a stream from the mouth.
    "mouth": ("open", "teeth", "tongue", "kiss", "wavy", "vomit"),
    "tint": ("red", "green", "blue"),
    "tears": ("drop", "stream", "spray"),
    "motion": ("shake", "tremble", "bounce"),
    "sweat": ("drop",),
    "steam": ("puffs",),
    "blush": ("cheeks",),
    "hearts": ("floating",),
    "hands": ("cheeks", "mouth", "hug"),
    "symbol": ("vein", "gloom", "sparkles", "shock"),
}
#: Cues a GIF may carry as a stray decoration, whatever its archetype.
STRAY_CUES: tuple[str, ...] = (
    "tint", "tears", "motion", "sweat", "steam", "blush", "hands", "symbol"
)  # fmt: skip
#: Chance that a GIF draws one stray cue (uniform over ``STRAY_CUES``, then over its options);
#: it is dropped when the archetype has already drawn that cue.
STRAY_P = 0.15

#: Cue options only one class's recipes use: heart eyes, star eyes, floating hearts and a kiss
#: are love, rolled eyes, a queasy mouth and vomit are disgust, in every emoji set. Overlays
#: and tints are shared (by recipes, or as stray decorations).
EXCLUSIVE_OPTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("eyes", "hearts"), ("eyes", "stars"), ("eyes", "roll"), ("hearts", "floating"),
        ("mouth", "kiss"), ("mouth", "wavy"), ("mouth", "vomit"),
    }
)  # fmt: skip


@dataclass(frozen=True)
class Archetype:
    """One face emoji as a recipe: its Unicode name, its weight in its class, the action units
    at full strength (before the GIF's own intensity) and ``cue -> option -> probability``
    (the rest of a cue's mass: not drawn)."""

    name: str
    weight: float
    aus: Mapping[str, float]
    cues: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def _a(name: str, weight: float, aus: dict, **cues: dict) -> Archetype:
    return Archetype(name, weight, aus, cues)


# Brows: AU1 inner up (worry), AU2 outer up (surprise), AU4 down (anger, and with AU1 distress).
# Eyes: AU5 wide (white shows), AU7 narrowed, AU6 smiling. Mouth: AU12 corners up, AU15 down,
# AU20 stretched, AU23 pressed, AU26 open, AU9/AU16 disgust.
ARCHETYPES: dict[str, tuple[Archetype, ...]] = {
    "happiness": (
        _a("grinning face", 0.17, {"AU6": 0.3, "AU12": 1.0, "AU26": 0.5},
           mouth={"open": 0.8, "teeth": 0.1}, motion={"bounce": 0.3}),
        _a("grinning face with smiling eyes", 0.18, {"AU6": 1.0, "AU12": 1.0, "AU26": 0.4},
           eyes={"smile": 0.9}, mouth={"open": 0.5, "teeth": 0.4}, motion={"bounce": 0.3}),
        _a("grinning squinting face", 0.14, {"AU6": 1.0, "AU12": 1.0, "AU26": 0.8},
           eyes={"squeeze": 0.9}, mouth={"open": 0.9}, motion={"bounce": 0.4, "shake": 0.2}),
        _a("face with tears of joy", 0.14, {"AU6": 1.0, "AU12": 1.0, "AU26": 0.6},
           eyes={"smile": 0.5, "squeeze": 0.45}, mouth={"open": 0.8},
           tears={"spray": 0.6, "stream": 0.3, "drop": 0.1}, motion={"bounce": 0.3, "shake": 0.3}),
        _a("slightly smiling face", 0.14, {"AU12": 0.6}),
        _a("grinning face with sweat", 0.08, {"AU6": 0.6, "AU12": 1.0, "AU26": 0.3},
           eyes={"smile": 0.6}, mouth={"teeth": 0.6, "open": 0.3}, sweat={"drop": 1.0}),
        _a("beaming face", 0.09, {"AU6": 1.0, "AU12": 1.0},
           eyes={"smile": 0.8}, mouth={"teeth": 0.9}, symbol={"sparkles": 0.2}),
        _a("face with hand over mouth", 0.06, {"AU6": 0.8, "AU12": 0.8},
           eyes={"smile": 0.7}, hands={"mouth": 1.0}, blush={"cheeks": 0.3}),
    ),
    "like": (
        _a("smiling face with smiling eyes", 0.14, {"AU6": 0.6, "AU12": 0.6},
           eyes={"smile": 0.8, "closed": 0.2}, blush={"cheeks": 0.8}),
        _a("smiling face with heart-eyes", 0.2, {"AU6": 0.4, "AU12": 1.0, "AU26": 0.4},
           eyes={"hearts": 1.0}, mouth={"open": 0.6}, hearts={"floating": 0.3}),
        _a("smiling face with hearts", 0.15, {"AU6": 0.6, "AU12": 0.7},
           eyes={"smile": 0.8}, hearts={"floating": 1.0}, blush={"cheeks": 0.5}),
        _a("face blowing a kiss", 0.14, {"AU12": 0.2, "AU6": 0.3},
           eyes={"closed": 0.4, "smile": 0.3}, mouth={"kiss": 1.0},
           hearts={"floating": 0.5}, blush={"cheeks": 0.3}),
        _a("relieved face", 0.08, {"AU12": 0.5, "AU1": 0.3},
           eyes={"closed": 1.0}, blush={"cheeks": 0.3}, steam={"puffs": 0.3}),
        _a("face savoring food", 0.08, {"AU6": 0.6, "AU12": 0.8},
           eyes={"smile": 0.7, "squeeze": 0.3}, mouth={"tongue": 1.0}),
        _a("star-struck", 0.11, {"AU12": 1.0, "AU26": 0.5},
           eyes={"stars": 1.0}, mouth={"open": 0.7}, symbol={"sparkles": 0.4}),
        _a("smiling face with open hands", 0.1, {"AU6": 0.6, "AU12": 0.8},
           eyes={"smile": 0.6}, hands={"hug": 1.0}, blush={"cheeks": 0.3}),
    ),
    "surprise": (
        _a("face with open mouth", 0.28, {"AU1": 0.6, "AU2": 0.6, "AU26": 0.8},
           mouth={"open": 0.3}, motion={"bounce": 0.1}),
        _a("hushed face", 0.15, {"AU1": 0.8, "AU2": 0.8, "AU5": 0.3, "AU26": 0.4}),
        _a("astonished face", 0.25, {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
           symbol={"shock": 0.2}, motion={"bounce": 0.1}, tint={"blue": 0.1}),
        _a("flushed face", 0.12, {"AU1": 0.5, "AU2": 0.5, "AU5": 1.0},
           blush={"cheeks": 1.0}, tint={"red": 0.2}),
        _a("face with hand over mouth", 0.08, {"AU1": 0.6, "AU2": 0.6, "AU5": 0.8, "AU26": 0.6},
           hands={"mouth": 1.0}),
        _a("exploding head", 0.12, {"AU1": 0.6, "AU2": 0.8, "AU5": 1.0, "AU26": 1.0},
           symbol={"shock": 1.0}),
    ),
    "sadness": (
        # Round eyes and a frown, brows barely moved: how most sets draw these two.
        _a("frowning face", 0.16, {"AU1": 0.35, "AU4": 0.15, "AU15": 1.0}),
        _a("slightly frowning face", 0.12, {"AU15": 0.7}),
        _a("pensive face", 0.1, {"AU1": 0.8, "AU4": 0.4, "AU15": 0.6},
           eyes={"closed": 1.0}, symbol={"gloom": 0.15}),
        _a("crying face", 0.12, {"AU1": 1.0, "AU4": 0.5, "AU15": 1.0},
           tears={"drop": 1.0}),
        _a("loudly crying face", 0.14, {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0, "AU26": 1.0},
           eyes={"squeeze": 0.6, "closed": 0.3}, mouth={"open": 0.7}, tears={"stream": 1.0},
           motion={"shake": 0.2, "tremble": 0.2}),
        _a("pleading face", 0.1, {"AU1": 1.0, "AU5": 0.6, "AU15": 0.4},
           tears={"drop": 0.3}),
        _a("weary face", 0.12, {"AU1": 1.0, "AU4": 0.6, "AU15": 0.8, "AU26": 0.7},
           eyes={"squeeze": 1.0}, mouth={"open": 0.5}, steam={"puffs": 0.2}, tint={"blue": 0.1}),
        _a("disappointed face", 0.14, {"AU1": 0.6, "AU4": 0.2, "AU15": 0.8},
           eyes={"closed": 0.4, "half": 0.2}, sweat={"drop": 0.3}),
    ),
    "anger": (
        _a("angry face", 0.3, {"AU4": 1.0, "AU7": 0.6, "AU15": 0.6, "AU23": 0.6},
           symbol={"vein": 0.15}),
        _a("enraged face", 0.3, {"AU4": 1.0, "AU7": 1.0, "AU15": 0.5, "AU23": 1.0},
           tint={"red": 1.0}, symbol={"vein": 0.3}, motion={"tremble": 0.2}),
        _a("face with steam from nose", 0.2, {"AU4": 1.0, "AU7": 0.8, "AU23": 1.0},
           steam={"puffs": 1.0}, eyes={"squeeze": 0.2}, tint={"red": 0.2}),
        _a("shouting face", 0.2, {"AU4": 1.0, "AU7": 0.7, "AU20": 0.4, "AU26": 0.8},
           mouth={"teeth": 0.5, "open": 0.5}, tint={"red": 0.4}, motion={"shake": 0.5}),
    ),
    "disgust": (
        _a("unamused face", 0.3, {"AU9": 0.3, "AU15": 0.6}, eyes={"half": 1.0}),
        _a("face with rolling eyes", 0.2, {"AU15": 0.3, "AU23": 0.3}, eyes={"roll": 1.0}),
        _a("nauseated face", 0.25, {"AU9": 1.0, "AU15": 0.6, "AU16": 0.3},
           tint={"green": 1.0}, mouth={"wavy": 0.6, "teeth": 0.2}, blush={"cheeks": 0.3},
           eyes={"half": 0.3}),
        _a("face vomiting", 0.15, {"AU9": 1.0, "AU26": 0.8},
           tint={"green": 0.6}, eyes={"squeeze": 1.0}, mouth={"vomit": 1.0}),
        _a("face with tongue", 0.1, {"AU9": 0.8, "AU16": 0.6},
           eyes={"squeeze": 0.5}, mouth={"tongue": 1.0}),
    ),
    "fear": (
        _a("fearful face", 0.22,
           {"AU1": 1.0, "AU2": 0.6, "AU4": 0.6, "AU5": 0.4, "AU15": 0.5, "AU26": 0.6},
           tint={"blue": 0.7}),
        _a("face screaming in fear", 0.2, {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU20": 0.3,
                                           "AU26": 1.0},
           hands={"cheeks": 0.8}, tint={"blue": 0.6}, motion={"tremble": 0.3}),
        _a("anxious face with sweat", 0.18,
           {"AU1": 1.0, "AU4": 0.5, "AU15": 0.6, "AU26": 0.5},
           sweat={"drop": 1.0}, tint={"blue": 0.6}),
        _a("anguished face", 0.15, {"AU1": 1.0, "AU4": 0.8, "AU5": 0.3, "AU15": 0.8,
                                    "AU26": 0.8}),
        _a("grimacing face", 0.12, {"AU1": 0.5, "AU5": 0.6, "AU20": 1.0},
           mouth={"teeth": 1.0}, sweat={"drop": 0.3}),
        _a("shaking face", 0.13, {"AU1": 0.8, "AU5": 0.8, "AU20": 0.5, "AU26": 0.3},
           motion={"tremble": 1.0}),
    ),
}  # fmt: skip


def _check_table() -> None:
    """Import-time sanity: known classes, cues and options; each cue's odds sum to at most 1."""
    assert set(ARCHETYPES) == set(PAPER_EMOTIONS), sorted(ARCHETYPES)
    for label, archetypes in ARCHETYPES.items():
        assert abs(sum(a.weight for a in archetypes) - 1.0) < 1e-9, label
        for a in archetypes:
            for cue, odds in a.cues.items():
                assert set(odds) <= set(CUE_OPTIONS[cue]), (a.name, cue)
                assert sum(odds.values()) <= 1.0 + 1e-9, (a.name, cue)


_check_table()


def sample_archetype(rng: np.random.Generator, label: str) -> Archetype:
    """One archetype of class ``label``, by weight."""
    archetypes = ARCHETYPES[label]
    weights = np.array([a.weight for a in archetypes])
    return archetypes[int(rng.choice(len(archetypes), p=weights / weights.sum()))]


def sample_cues(rng: np.random.Generator, archetype: Archetype) -> dict[str, dict]:
    """Draw one GIF's cues: ``cue -> {"kind": option, "amount": a, "side": s}``.

    Every cue consumes the same random numbers whether or not it is drawn, so the odds of one
    cue never shift another's. ``amount`` (0.5-1) and ``side`` (-1 or 1) vary the painting.
    """
    cues: dict[str, dict] = {}
    for cue, options in CUE_OPTIONS.items():
        u, amount, side = rng.random(), rng.uniform(0.5, 1.0), float(rng.choice([-1.0, 1.0]))
        odds = archetype.cues.get(cue, {})
        edge = 0.0
        for option in options:
            edge += odds.get(option, 0.0)
            if u < edge:
                cues[cue] = {"kind": option, "amount": float(amount), "side": side}
                break
    u, amount, side = rng.random(), rng.uniform(0.5, 1.0), float(rng.choice([-1.0, 1.0]))
    cue = STRAY_CUES[int(rng.integers(len(STRAY_CUES)))]
    option = CUE_OPTIONS[cue][int(rng.integers(len(CUE_OPTIONS[cue])))]
    if u < STRAY_P and cue not in cues:
        cues[cue] = {"kind": option, "amount": float(amount), "side": side}
    return cues


def cue_frequencies(label: str) -> dict[tuple[str, str], float]:
    """The exact probability of every ``(cue, option)`` in a GIF of class ``label``."""
    archetypes = ARCHETYPES[label]
    total = sum(a.weight for a in archetypes)
    out = dict.fromkeys(((c, o) for c, opts in CUE_OPTIONS.items() for o in opts), 0.0)
    for a in archetypes:
        w = a.weight / total
        for cue, options in CUE_OPTIONS.items():
            odds = a.cues.get(cue, {})
            none = 1.0 - sum(odds.values())
            for option in options:
                stray = 0.0
                if cue in STRAY_CUES:
                    stray = STRAY_P / len(STRAY_CUES) / len(options)
                out[(cue, option)] += w * (odds.get(option, 0.0) + none * stray)
    return out


# -- the tables in docs/synthetic-data.md (a test checks that the page shows these) ------------


def recipe_table() -> str:
    """The archetypes as a Markdown table: class, name, weight, AUs, cue odds."""
    rows = [
        "| class | archetype (Unicode name) | weight | AUs (full strength) | cues (probability) |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for label, archetypes in ARCHETYPES.items():
        for a in archetypes:
            aus = " ".join(f"{au[2:]}:{v:g}" for au, v in a.aus.items())
            cues = ", ".join(
                f"{cue} {option} {p:g}"
                for cue, odds in a.cues.items()
                for option, p in odds.items()
            )
            rows.append(f"| {label} | {a.name} | {a.weight:g} | {aus} | {cues or '-'} |")
    return "\n".join(rows)


def cue_table() -> str:
    """:func:`cue_frequencies` of every class as a Markdown table ("-": never drawn)."""
    labels = list(ARCHETYPES)
    table = {label: cue_frequencies(label) for label in labels}
    rows = [
        "| cue | option | " + " | ".join(labels) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in labels) + " |",
    ]
    for cue, options in CUE_OPTIONS.items():
        for option in options:
            cells = [table[label][(cue, option)] for label in labels]
            text = " | ".join("-" if p == 0 else f"{p:.2f}" for p in cells)
            rows.append(f"| {cue} | {option} | {text} |")
    return "\n".join(rows)
