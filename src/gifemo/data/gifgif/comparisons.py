"""Stream the GIFGIF comparisons file (``metric,left,right,choice``) once into compact arrays.

The public release (L. Maystre, ``gifgif-dataset-20150121-v1.csv``, ~1.1 M rows, 6,170 GIFs) has
one vote a row: ``metric`` is one of GIFGIF's 17 emotions, ``left``/``right`` are GIPHY ids and
``choice`` is ``left``, ``right`` or ``neither``. Some rows are corrupt (an empty id, for one):
they are skipped and counted per reason, never fatal.

Memory stays modest: GIF ids are interned once into consecutive integers, and each metric keeps
three flat arrays (``int32`` left, ``int32`` right, ``int8`` outcome) in file order, about
9 bytes a vote.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from gifemo.labels import GIFGIF_EMOTIONS

#: The header of the public release. A first row equal to it is skipped (case-insensitive).
HEADER: tuple[str, ...] = ("metric", "left", "right", "choice")

#: ``choice`` value -> outcome code stored in :attr:`MetricVotes.outcome`.
OUTCOMES: dict[str, int] = {"left": 1, "right": -1, "neither": 0}

#: Why a row can be skipped; every skipped row is counted under exactly one of these.
SKIP_REASONS: tuple[str, ...] = (
    "wrong_column_count",  # not exactly 4 fields
    "unknown_metric",  # metric not one of GIFGIF's 17 emotions
    "empty_id",  # left or right is empty (present in the public release)
    "bad_id",  # an id with characters a GIPHY id never has (ids become file names later)
    "unknown_choice",  # choice not left / right / neither
    "same_gif",  # left == right: a GIF compared with itself says nothing
)

# GIPHY ids are short alphanumeric strings; anything else is corrupt, and letting it through would
# let a crafted file write outside the download folder (ids become ``<label>/<id>.gif``).
_GIPHY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_GZIP_MAGIC = b"\x1f\x8b"

#: Call ``on_progress(bytes_read, bytes_total)`` every this many rows.
PROGRESS_EVERY_ROWS = 50_000

ProgressCallback = Callable[[int, int], None]


def is_valid_gif_id(gif_id: str) -> bool:
    """True when ``gif_id`` looks like a GIPHY id (and is therefore safe as a file name)."""
    return _GIPHY_ID.fullmatch(gif_id) is not None


@dataclass(frozen=True)
class MetricVotes:
    """The votes of one metric, in file order. All arrays have shape ``(M,)``.

    Attributes:
        left: index (into :attr:`Comparisons.ids`) of the GIF shown on the left, ``int32``.
        right: index of the GIF shown on the right, ``int32``.
        outcome: ``+1`` left won, ``-1`` right won, ``0`` neither, ``int8``.
    """

    left: np.ndarray
    right: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return int(self.outcome.shape[0])

    @property
    def n_neither(self) -> int:
        return int(np.count_nonzero(self.outcome == 0))

    def decisive(self) -> tuple[np.ndarray, np.ndarray]:
        """``(winners, losers)`` of the votes with a winner (``neither`` dropped), each ``(D,)``."""
        left_won = self.outcome > 0
        right_won = self.outcome < 0
        winners = np.concatenate([self.left[left_won], self.right[right_won]])
        losers = np.concatenate([self.right[left_won], self.left[right_won]])
        return winners, losers


@dataclass
class Comparisons:
    """Everything read from a comparisons file.

    Attributes:
        ids: GIPHY id of each GIF index, in order of first appearance (every valid id of the
            file, including GIFs only voted on in metrics not asked for).
        votes: metric -> its votes (only the metrics asked for; a metric without votes is absent).
        n_rows: data rows read (the header excluded).
        skipped: reason (one of :data:`SKIP_REASONS`) -> number of rows skipped for it.
        not_requested: valid rows of a metric that was not asked for (every row is checked,
            so :attr:`skipped` describes the whole file whatever ``metrics`` is).
        source: the file's name, for messages.
    """

    ids: list[str]
    votes: dict[str, MetricVotes]
    n_rows: int
    skipped: Counter
    not_requested: int
    source: str

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def n_used(self) -> int:
        return sum(len(v) for v in self.votes.values())


@contextmanager
def open_comparisons(path: str | os.PathLike) -> Iterator[tuple[TextIO, BinaryIO]]:
    """Open a plain or gzip-compressed CSV as text; yield ``(text, raw)``.

    Compression is detected from the magic bytes, not the suffix, so a ``.csv`` that is really
    gzip (or a ``.csv.gz`` that was already unpacked) still reads. ``raw.tell()`` is the number
    of bytes of the file consumed so far, for progress.
    """
    raw = open(path, "rb")  # noqa: SIM115 - closed below, after the wrappers
    try:
        compressed = raw.peek(2)[:2] == _GZIP_MAGIC
        binary: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        # utf-8-sig: tolerate a byte-order mark from spreadsheet exports.
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield text, raw
        finally:
            text.detach()
            if compressed:
                binary.close()
    finally:
        raw.close()


def read_comparisons(
    path: str | os.PathLike,
    *,
    metrics: Iterable[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> Comparisons:
    """Read ``path`` once and return the votes of ``metrics`` (default: all 17) as arrays.

    Args:
        path: the comparisons CSV, plain or gzip.
        metrics: GIFGIF metric names to keep. Valid rows of other metrics are counted in
            :attr:`Comparisons.not_requested`; rows of unknown metrics are skipped as corrupt.
        on_progress: called as ``on_progress(bytes_read, bytes_total)`` every
            :data:`PROGRESS_EVERY_ROWS` rows and once at the end.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unknown metric in ``metrics``, or the file cannot be read to its end
            (a cut gzip, say); the message names the file.
    """
    wanted = tuple(GIFGIF_EMOTIONS if metrics is None else metrics)
    unknown = sorted(set(wanted) - set(GIFGIF_EMOTIONS))
    if unknown:
        raise ValueError(f"unknown GIFGIF metric(s) {unknown}; known: {', '.join(GIFGIF_EMOTIONS)}")
    known = frozenset(GIFGIF_EMOTIONS)
    path = Path(path)
    total = path.stat().st_size

    # Per metric: left, right (int32) and outcome (int8) buffers; array('i') grows without
    # per-element objects, which is what keeps 1.1 M rows in ~10 MB.
    buffers = {m: (array("i"), array("i"), array("b")) for m in wanted}
    index: dict[str, int] = {}
    ids: list[str] = []
    bad_ids: set[str] = set()
    skipped: Counter = Counter()
    not_requested = 0
    n_rows = 0

    def intern(gif_id: str) -> int | str:
        """The GIF's index, or the skip reason when the id is unusable."""
        if not gif_id:
            return "empty_id"
        if gif_id in bad_ids or not is_valid_gif_id(gif_id):
            bad_ids.add(gif_id)
            return "bad_id"
        index[gif_id] = len(ids)
        ids.append(gif_id)
        return index[gif_id]

    with open_comparisons(path) as (text, raw):
        reader = csv.reader(text)
        try:
            for row in reader:
                if not row:
                    continue  # a blank line is not a row
                if n_rows == 0 and tuple(field.strip().lower() for field in row) == HEADER:
                    continue  # the header, not a data row
                n_rows += 1
                if on_progress is not None and n_rows % PROGRESS_EVERY_ROWS == 0:
                    on_progress(raw.tell(), total)
                if len(row) != 4:
                    skipped["wrong_column_count"] += 1
                    continue
                metric, left, right, choice = row
                if metric not in known:
                    skipped["unknown_metric"] += 1
                    continue
                i = index.get(left)
                if i is None:
                    i = intern(left)
                j = index.get(right)
                if j is None:
                    j = intern(right)
                if isinstance(i, str) or isinstance(j, str):
                    # Count one reason a row; an empty id is the more specific diagnosis.
                    skipped["empty_id" if "empty_id" in (i, j) else "bad_id"] += 1
                    continue
                outcome = OUTCOMES.get(choice)
                if outcome is None:
                    skipped["unknown_choice"] += 1
                    continue
                if i == j:
                    skipped["same_gif"] += 1
                    continue
                buffer = buffers.get(metric)
                if buffer is None:
                    not_requested += 1
                    continue
                buffer[0].append(i)
                buffer[1].append(j)
                buffer[2].append(outcome)
        except (EOFError, OSError, csv.Error) as error:  # a cut gzip, a NUL byte, ...
            raise ValueError(f"{path}: unreadable after {n_rows:,} rows: {error}") from error
        if on_progress is not None:
            on_progress(total, total)

    votes = {
        m: MetricVotes(
            left=np.frombuffer(b[0], dtype=np.intc).astype(np.int32),
            right=np.frombuffer(b[1], dtype=np.intc).astype(np.int32),
            outcome=np.frombuffer(b[2], dtype=np.int8).copy(),
        )
        for m, b in buffers.items()
        if len(b[2])
    }
    return Comparisons(
        ids=ids,
        votes=votes,
        n_rows=n_rows,
        skipped=skipped,
        not_requested=not_requested,
        source=str(path),
    )
