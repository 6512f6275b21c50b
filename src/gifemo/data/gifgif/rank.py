"""Turn GIFGIF votes into the paper's dataset manifest: top-N GIFs per emotion, one label each.

Steps (``gifemo data gifgif rank``):

1. read the comparisons once (:func:`~gifemo.data.gifgif.comparisons.read_comparisons`);
2. score every GIF per emotion (:mod:`~gifemo.data.gifgif.scoring`): GIFs without a vote in an
   emotion get no score there and are never selected for it;
3. take the top N per emotion and give a GIF that lands in several lists to one of them
   (:func:`select_top`);
4. write ``id,url,label,score,rank`` (:func:`write_manifest`), GIFGIF's metric names mapped to
   the paper's labels (``satisfaction`` -> ``like``; the other ten keep their names).

Conflict rule
    Scores are standardised per emotion (z-score over the GIFs scored in it), so that "how
    unusually strong" is comparable across emotions whose score scales differ. A GIF in the top N
    of several emotions is kept by the emotion where its z-score is highest (ties: the emotion
    listed first) and dropped from the others, which take their next-ranked GIF instead. That is
    repeated until no GIF is in two lists; each list then has N GIFs, or all its candidates.
    A refill can pull a GIF into a list where its z beats its current one: it moves, and the list
    it leaves refills in turn. Every step removes a (GIF, emotion) pair for good, so it ends.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gifemo.atomic import atomic_write_text
from gifemo.data.gifgif.comparisons import Comparisons, MetricVotes
from gifemo.data.gifgif.scoring import (
    DEFAULT_ALPHA,
    fit_bradley_terry,
    fit_trueskill,
    trueskill_score,
)
from gifemo.labels import GIFGIF_EMOTIONS, GIFGIF_TO_PAPER, PAPER_EMOTIONS

_METRIC_OF_LABEL = {label: metric for metric, label in GIFGIF_TO_PAPER.items()}

#: The paper's seven classes as GIFGIF metrics, in the paper's order ("like" is "satisfaction").
DEFAULT_EMOTIONS: tuple[str, ...] = tuple(_METRIC_OF_LABEL[label] for label in PAPER_EMOTIONS)

#: Where a GIPHY id's GIF lives; ``{id}`` is replaced.
DEFAULT_BASE_URL = "https://media.giphy.com/media/{id}/giphy.gif"

MANIFEST_COLUMNS: tuple[str, ...] = ("id", "url", "label", "score", "rank")

Method = Literal["bt", "trueskill"]
METHODS: tuple[str, ...] = ("bt", "trueskill")


def gifgif_label(metric: str) -> str:
    """The label a GIFGIF metric gets in the manifest: the paper's name where it has one."""
    return GIFGIF_TO_PAPER.get(metric, metric)


def parse_emotions(spec: str | Sequence[str]) -> tuple[str, ...]:
    """GIFGIF metrics from ``"happiness,like,..."``, a sequence, or ``"all"`` (all 17).

    A paper label is accepted for its GIFGIF metric (``like`` -> ``satisfaction``).
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    if items == ["all"]:
        return GIFGIF_EMOTIONS
    metrics = tuple(_METRIC_OF_LABEL.get(s, s) for s in items)
    unknown = [s for s, m in zip(items, metrics, strict=True) if m not in GIFGIF_EMOTIONS]
    if unknown:
        raise ValueError(
            f"unknown emotion(s) {unknown}; use GIFGIF's metrics ({', '.join(GIFGIF_EMOTIONS)}), "
            "'like' for satisfaction, or 'all'"
        )
    if not metrics:
        raise ValueError("no emotion given")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"emotion listed twice in {items}")
    return metrics


@dataclass(frozen=True)
class RankConfig:
    """How to rank. ``emotions`` are GIFGIF metrics (a paper label such as ``like`` is mapped to
    its metric); ``alpha`` is the Bradley-Terry prior strength (ignored by TrueSkill)."""

    top: int = 300
    emotions: tuple[str, ...] = DEFAULT_EMOTIONS
    method: Method = "bt"
    alpha: float = DEFAULT_ALPHA
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        if self.top < 1:
            raise ValueError(f"top must be >= 1, got {self.top}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if "{id}" not in self.base_url:
            raise ValueError(f"base_url must contain '{{id}}', got {self.base_url!r}")
        # Normalised here so that paper labels ("like") work through the API as on the CLI.
        object.__setattr__(self, "emotions", parse_emotions(self.emotions))


def score_metric(votes: MetricVotes, n_items: int, *, method: Method, alpha: float) -> np.ndarray:
    """Score of each GIF in one metric, shape ``(n_items,)``; NaN for GIFs without a vote here.

    For Bradley-Terry "without a vote" means without a decisive vote ("neither" carries no
    order); for TrueSkill a "neither" (a draw) counts.
    """
    scores = np.full(n_items, np.nan)
    if method == "bt":
        winners, losers = votes.decisive()
        seen, local = np.unique(np.concatenate([winners, losers]), return_inverse=True)
        if seen.size == 0:
            return scores
        # Fit only the GIFs voted on here: unvoted ones would sit at the prior mean anyway.
        theta = fit_bradley_terry(
            seen.size, local[: winners.size], local[winners.size :], alpha=alpha
        )
        scores[seen] = theta
        return scores
    seen, local = np.unique(np.concatenate([votes.left, votes.right]), return_inverse=True)
    mu, sigma = fit_trueskill(seen.size, local[: len(votes)], local[len(votes) :], votes.outcome)
    scores[seen] = trueskill_score(mu, sigma)
    return scores


def standardise(scores: np.ndarray) -> np.ndarray:
    """z-scores over the finite entries of ``scores`` ``(N,)``; NaN stays NaN."""
    finite = np.isfinite(scores)
    z = np.full_like(scores, np.nan, dtype=np.float64)
    if finite.any():
        values = scores[finite]
        std = values.std()
        z[finite] = (values - values.mean()) / (std if std > 0 else 1.0)
    return z


def select_top(scores: Mapping[str, np.ndarray], *, top: int) -> dict[str, list[int]]:
    """Top-``top`` GIF indices per emotion, each GIF in at most one list (see the module doc).

    Args:
        scores: emotion -> ``(N,)`` scores over the same GIF indices; NaN = not scored there.
            The mapping's order breaks ties in z-score (earlier emotion wins).
        top: list length wanted.

    Returns:
        emotion -> GIF indices, best first; shorter than ``top`` when the emotion runs out.
    """
    emotions = list(scores)
    order: dict[str, np.ndarray] = {}
    z: dict[str, np.ndarray] = {}
    for e in emotions:
        s = np.asarray(scores[e], dtype=np.float64)
        finite = np.flatnonzero(np.isfinite(s))
        # Best first; equal scores by index, so the result does not depend on sort internals.
        order[e] = finite[np.lexsort((finite, -s[finite]))]
        z[e] = standardise(s)
    dropped: dict[str, set[int]] = {e: set() for e in emotions}

    while True:
        lists = {
            e: list(itertools.islice((i for i in order[e].tolist() if i not in dropped[e]), top))
            for e in emotions
        }
        holders: dict[int, list[str]] = {}
        for e in emotions:
            for i in lists[e]:
                holders.setdefault(i, []).append(e)
        conflicts = {i: es for i, es in holders.items() if len(es) > 1}
        if not conflicts:
            return lists
        for i, es in conflicts.items():
            keeper = max(es, key=lambda e: (z[e][i], -emotions.index(e)))
            for e in es:
                if e != keeper:
                    dropped[e].add(i)


@dataclass(frozen=True)
class ManifestRow:
    id: str
    url: str
    label: str
    score: float
    rank: int


@dataclass(frozen=True)
class EmotionStats:
    """Per-emotion numbers for the report."""

    metric: str
    label: str
    n_votes: int
    n_neither: int
    n_scored: int
    n_selected: int
    n_ceded: int  # GIFs of this emotion's plain top-N that went to another emotion


@dataclass
class RankResult:
    rows: list[ManifestRow]
    stats: list[EmotionStats]
    config: RankConfig
    comparisons: Comparisons = field(repr=False)


def rank_comparisons(comparisons: Comparisons, config: RankConfig = RankConfig()) -> RankResult:
    """Score, select and label: the manifest rows for ``comparisons`` (see the module doc).

    Raises:
        ValueError: an emotion asked for has no vote in the file.
    """
    missing = [m for m in config.emotions if m not in comparisons.votes]
    if missing:
        raise ValueError(f"{comparisons.source}: no usable vote for emotion(s) {missing}")
    n_items = len(comparisons.ids)
    scores = {
        m: score_metric(comparisons.votes[m], n_items, method=config.method, alpha=config.alpha)
        for m in config.emotions
    }
    selected = select_top(scores, top=config.top)

    rows: list[ManifestRow] = []
    stats: list[EmotionStats] = []
    for metric in config.emotions:
        label = gifgif_label(metric)
        s = scores[metric]
        plain_top = select_top({metric: s}, top=config.top)[metric]
        for rank, i in enumerate(selected[metric], start=1):
            gif_id = comparisons.ids[i]
            url = config.base_url.replace("{id}", gif_id)
            rows.append(ManifestRow(gif_id, url, label, float(s[i]), rank))
        votes = comparisons.votes[metric]
        stats.append(
            EmotionStats(
                metric=metric,
                label=label,
                n_votes=len(votes),
                n_neither=votes.n_neither,
                n_scored=int(np.isfinite(s).sum()),
                n_selected=len(selected[metric]),
                n_ceded=len(set(plain_top) - set(selected[metric])),
            )
        )
    return RankResult(rows=rows, stats=stats, config=config, comparisons=comparisons)


def write_manifest(rows: Sequence[ManifestRow], path: str | os.PathLike) -> None:
    """Write ``id,url,label,score,rank`` to ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for r in rows:
        writer.writerow([r.id, r.url, r.label, f"{r.score:.6f}", r.rank])
    atomic_write_text(path, buffer.getvalue())
