"""Synthetic GIFGIF-like comparison files sampled from known Bradley-Terry strengths.

Used by the tests (does the ranking recover the truth?) and by ``benchmarks/gifgif_rank.py``
(how long does ranking a release-sized file take?). The file has the release's format, so it
goes through exactly the same reader as the real one.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gifemo.atomic import atomic_write
from gifemo.labels import GIFGIF_EMOTIONS

_CHUNK_ROWS = 100_000
_ID_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


@dataclass(frozen=True)
class SimulatedComparisons:
    """What was written, for checking a ranking against the truth.

    Attributes:
        ids: the ``n_gifs`` GIPHY-like ids.
        strengths: metric -> true Bradley-Terry strength of each GIF, shape ``(n_gifs,)``.
        n_rows: rows written (header excluded), corrupt rows included.
        n_corrupt: rows deliberately written with an empty id.
    """

    ids: list[str]
    strengths: dict[str, np.ndarray]
    n_rows: int
    n_corrupt: int


def random_gif_ids(n: int, *, rng: np.random.Generator, length: int = 13) -> list[str]:
    """``n`` distinct random alphanumeric ids, like GIPHY's (``"k39w535jFPYrK"``)."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        for chars in _ID_ALPHABET[rng.integers(0, len(_ID_ALPHABET), size=(n, length))]:
            gif_id = "".join(chars)
            if gif_id not in seen and len(ids) < n:
                seen.add(gif_id)
                ids.append(gif_id)
    return ids


def simulate_comparisons(
    path: str | os.PathLike,
    *,
    n_gifs: int,
    n_rows: int,
    metrics: tuple[str, ...] = GIFGIF_EMOTIONS,
    neither_rate: float = 0.1,
    corrupt_rate: float = 0.0,
    activity_sigma: float = 1.0,
    strength_sd: float = 1.0,
    seed: int = 0,
    compress: bool | None = None,
) -> SimulatedComparisons:
    """Write a comparisons CSV (``metric,left,right,choice``) sampled from a Bradley-Terry model.

    Each metric gets independent true strengths ``theta ~ N(0, strength_sd**2)``. A row picks a
    metric uniformly and two distinct GIFs with probability proportional to a log-normal
    "activity" weight (``activity_sigma`` spreads it), so some GIFs get many votes and some very
    few, as on the real site. With probability ``neither_rate`` the vote is ``neither``; otherwise
    left wins with probability ``sigmoid(theta_left - theta_right)``. A fraction ``corrupt_rate``
    of rows has an empty id. ``compress`` (default: path ends in ``.gz``) gzips the file.
    """
    if n_gifs < 2 or n_rows < 1:
        raise ValueError(f"need n_gifs >= 2 and n_rows >= 1, got {n_gifs} and {n_rows}")
    rng = np.random.default_rng(seed)
    ids = random_gif_ids(n_gifs, rng=rng)
    strengths = {m: rng.normal(0.0, strength_sd, size=n_gifs) for m in metrics}
    activity = rng.lognormal(0.0, activity_sigma, size=n_gifs)
    p = activity / activity.sum()

    metric_of_row = rng.integers(0, len(metrics), size=n_rows)
    left = rng.choice(n_gifs, size=n_rows, p=p)
    right = rng.choice(n_gifs, size=n_rows, p=p)
    while (same := left == right).any():  # redraw until every pair is two distinct GIFs
        right[same] = rng.choice(n_gifs, size=int(same.sum()), p=p)
    theta = np.stack([strengths[m] for m in metrics])  # (n_metrics, n_gifs)
    diff = theta[metric_of_row, left] - theta[metric_of_row, right]
    left_wins = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-diff))
    choice = np.where(left_wins, "left", "right").astype(object)
    choice[rng.random(n_rows) < neither_rate] = "neither"
    corrupt = rng.random(n_rows) < corrupt_rate

    id_array = np.array(ids, dtype=object)
    metric_names = np.array(metrics, dtype=object)
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    with atomic_write(path, "wb") as handle:
        out = gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=6) if compress else handle
        out.write(b"metric,left,right,choice\n")
        for start in range(0, n_rows, _CHUNK_ROWS):  # chunks bound the memory of the strings
            rows = slice(start, start + _CHUNK_ROWS)
            left_ids = np.where(corrupt[rows], "", id_array[left[rows]])
            lines = (
                metric_names[metric_of_row[rows]]
                + ","
                + left_ids
                + ","
                + id_array[right[rows]]
                + ","
                + choice[rows]
                + "\n"
            )
            out.write("".join(lines).encode("ascii"))
        if compress:
            out.close()  # writes the gzip trailer; the underlying handle stays open
    return SimulatedComparisons(
        ids=ids, strengths=strengths, n_rows=n_rows, n_corrupt=int(corrupt.sum())
    )
