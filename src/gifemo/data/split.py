"""Leak-free train/test(/val) splits, by GIF and by content, stratified by label.

A split assigns whole GIFs, never clips, so that no frame of a test GIF is ever trained on. It is
keyed by content hash: :func:`~gifemo.data.sources.load_dataset` already keeps a single copy of
content-identical files, and a saved ``split.csv`` is matched back to a dataset by hash first, so a
renamed or copied GIF keeps its side.

Within each label the GIFs are ranked by ``sha256(f"{seed}:{content_hash}")`` and the first
``round(n * test_fraction)`` go to test, the next ``round(n * val_fraction)`` to val, the rest to
train. The ranking depends only on the seed and the contents, not on file names or their order, and
adding GIFs to a class moves few of the existing ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from gifemo.atomic import atomic_write_text
from gifemo.data.sources import SPLIT_NAMES, GifDataset

SPLIT_COLUMNS: tuple[str, ...] = ("path", "label", "split", "sha256")


@dataclass(frozen=True)
class Split:
    """A split: content hash -> ``"train"``, ``"val"`` or ``"test"``, and the rows it came from.

    ``rows`` are ``(path, label, split, sha256)`` tuples, as written to ``split.csv``.
    """

    rows: tuple[tuple[str, str, str, str], ...]

    @property
    def by_hash(self) -> dict[str, str]:
        return {sha: split for _, _, split, sha in self.rows}

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {label: n_gifs}}`` for the splits present."""
        out: dict[str, Counter] = defaultdict(Counter)
        for _, label, split, _ in self.rows:
            out[split][label] += 1
        return {s: dict(out[s]) for s in SPLIT_NAMES if s in out}

    def indices(self, dataset: GifDataset) -> tuple[dict[str, list[int]], list[int]]:
        """Record indices of ``dataset`` per split, and those of records the split does not cover.

        Records are matched by content hash, so the split survives renames and moves.
        """
        by_hash = self.by_hash
        sides: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
        uncovered: list[int] = []
        for i, record in enumerate(dataset.records):
            side = by_hash.get(record.sha256)
            (sides[side] if side else uncovered).append(i)
        return sides, uncovered

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(SPLIT_COLUMNS)
        writer.writerows(self.rows)
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write ``split.csv`` atomically; return its path."""
        atomic_write_text(path, self.to_csv())
        return Path(path)


def make_split(
    dataset: GifDataset,
    *,
    test_fraction: float = 0.2,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> Split:
    """Split ``dataset`` by GIF, stratified by label (see the module docstring for the rule).

    A record that already has a split (from a manifest's ``split`` column) keeps it; only the others
    are assigned, stratified among themselves. ``val_fraction`` is a fraction of each class taken
    from what would otherwise be train (0 means no validation split: the paper validates on test).
    """
    if not 0.0 <= test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"fractions must be in [0, 1), got test={test_fraction} val={val_fraction}"
        )
    if test_fraction + val_fraction >= 1.0:
        raise ValueError(
            f"test_fraction + val_fraction must be < 1, got {test_fraction + val_fraction}"
        )

    assigned: dict[str, str] = {r.sha256: r.split for r in dataset.records if r.split}
    pending: dict[str, list[str]] = defaultdict(list)
    for record in dataset.records:
        if not record.split:
            pending[record.label].append(record.sha256)
    for hashes in pending.values():
        ranked = sorted(hashes, key=lambda sha: hashlib.sha256(f"{seed}:{sha}".encode()).digest())
        n_test = _round_half_up(len(ranked) * test_fraction)
        n_val = _round_half_up(len(ranked) * val_fraction)
        for rank, sha in enumerate(ranked):
            assigned[sha] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"

    rows = tuple((r.rel_path, r.label, assigned[r.sha256], r.sha256) for r in dataset.records)
    return Split(rows)


def load_split(path: str | Path) -> Split:
    """Read a ``split.csv`` written by :meth:`Split.save` (or by hand, same columns)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(SPLIT_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {sorted(missing)}; expected {SPLIT_COLUMNS}"
            )
        rows = []
        for row in reader:
            split = row["split"].strip().lower()
            if split not in SPLIT_NAMES:
                raise ValueError(f"{path}: line {reader.line_num}: unknown split {split!r}")
            rows.append((row["path"], row["label"], split, row["sha256"].strip().lower()))
    seen: dict[str, str] = {}
    for _, _, split, sha in rows:
        if seen.setdefault(sha, split) != split:
            raise ValueError(
                f"{path}: content {sha[:12]}... is listed on both {seen[sha]} and {split}"
            )
    return Split(tuple(rows))


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))
