"""Datasets of labelled GIFs: a folder tree ``ROOT/<label>/*.gif`` or a CSV manifest.

:func:`load_dataset` turns either into a :class:`GifDataset`: one :class:`GifRecord` per distinct
file content, the label set, and a :class:`DatasetProblems` report of what was left out and why
(unknown labels, missing files, duplicate content). Loading never decodes a GIF; it reads each file
once to hash it, because the content hash is what splits and caches key on.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gifemo.labels import PAPER_EMOTIONS, validate_label_set

#: File suffixes (lower case) taken as animations; anything else in a folder tree is ignored.
MEDIA_SUFFIXES: tuple[str, ...] = (".gif", ".webp", ".png", ".apng")

#: Values accepted in a manifest's ``split`` column (an empty cell means "not assigned").
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class GifRecord:
    """One labelled file of a dataset.

    ``rel_path`` is the path relative to the dataset root (POSIX separators): it is what split files
    and reports show. ``split`` is set only when a manifest assigns one.
    """

    path: Path
    rel_path: str
    label: str
    label_index: int
    sha256: str
    split: str | None = None


@dataclass
class DatasetProblems:
    """Files left out of a dataset, each as ``(rel_path, detail)``.

    ``unknown_labels``: the label is not in the label set (detail: the label).
    ``missing_files``: a manifest row names a file that does not exist (detail: the row's line).
    ``duplicates``: same content (SHA-256) and label as a file kept earlier (detail: its path).
    ``conflicting_labels``: same content as a file kept earlier under another label (detail: its
    path); the first label wins, so check these by hand.
    ``unlabelled``: a media file directly under a folder tree's root, outside any label folder.
    """

    unknown_labels: list[tuple[str, str]] = field(default_factory=list)
    missing_files: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    conflicting_labels: list[tuple[str, str]] = field(default_factory=list)
    unlabelled: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(self.as_dict().values())

    def as_dict(self) -> dict[str, list[tuple[str, str]]]:
        return {
            "unknown_labels": self.unknown_labels,
            "missing_files": self.missing_files,
            "duplicates": self.duplicates,
            "conflicting_labels": self.conflicting_labels,
            "unlabelled": self.unlabelled,
        }

    def lines(self) -> list[str]:
        """Human-readable lines, one per left-out file."""
        out = [f"{p}: unknown label {label!r}" for p, label in self.unknown_labels]
        out += [f"{p}: file not found ({where})" for p, where in self.missing_files]
        out += [f"{p}: duplicate content of {kept}, skipped" for p, kept in self.duplicates]
        out += [
            f"{p}: same content as {kept}, which has another label; skipped"
            for p, kept in self.conflicting_labels
        ]
        out += [f"{p}: not inside a label folder, skipped" for p, _ in self.unlabelled]
        return out


@dataclass(frozen=True)
class GifDataset:
    """A labelled set of GIFs: distinct contents only, in a stable order (see :func:`load_dataset`).

    The index of a record in ``records`` is its ``gif_index`` everywhere downstream (cache entries,
    clip datasets, evaluation reports).
    """

    root: Path
    labels: tuple[str, ...]
    records: tuple[GifRecord, ...]
    problems: DatasetProblems
    kind: str  # "folder" or "manifest"

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[GifRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> GifRecord:
        return self.records[index]

    def class_counts(self) -> dict[str, int]:
        """GIFs per label, for every label of the label set (zero included), in label order."""
        counts = Counter(r.label for r in self.records)
        return {label: counts.get(label, 0) for label in self.labels}


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def is_media_file(path: Path) -> bool:
    return path.suffix.lower() in MEDIA_SUFFIXES and not path.name.startswith(".")


def default_label_set(found: Iterable[str]) -> tuple[str, ...]:
    """The label set implied by the labels found in a dataset.

    The paper's seven (in the paper's order) when every label found is one of them, so that a
    dataset with a class missing still trains a seven-way model; otherwise the sorted labels found.
    """
    found = set(found)
    if found <= set(PAPER_EMOTIONS):
        return PAPER_EMOTIONS
    return validate_label_set(sorted(found))


def load_dataset(path: str | Path, *, labels: Sequence[str] | None = None) -> GifDataset:
    """Load a dataset from a folder tree or a CSV manifest.

    Args:
        path: a directory laid out as ``ROOT/<label>/**/<file>.gif`` (files at any depth inside a
            label folder; hidden files and non-media files ignored), or a ``.csv`` manifest with
            columns ``path,label[,split]`` (extra columns ignored; relative paths are relative to
            the CSV's folder; ``split`` is ``train``, ``val``, ``test`` or empty).
        labels: the label set, in class-index order. Default: see :func:`default_label_set`.
            Files whose label is outside it are reported in ``problems.unknown_labels``.

    Returns:
        The dataset: records sorted by ``rel_path`` for a folder tree, in row order for a manifest;
        of several files with identical content only the first is kept (the others are reported
        in ``problems.duplicates``), so a content never appears twice, even under two labels.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the manifest is malformed (message names the file and line), or the label set
            is invalid.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset (expected a folder or a .csv manifest)")
    problems = DatasetProblems()
    if path.is_dir():
        root, kind = path, "folder"
        rows = _scan_folder(path, problems)
    elif path.suffix.lower() == ".csv":
        root, kind = path.parent, "manifest"
        rows = _read_manifest(path, problems)
    else:
        raise ValueError(f"{path}: a dataset is a folder of label folders or a .csv manifest")

    label_set = (
        validate_label_set(labels)
        if labels is not None
        else default_label_set(label for _, _, label, _ in rows)
    )
    index_of = {label: i for i, label in enumerate(label_set)}
    records: list[GifRecord] = []
    kept_by_hash: dict[str, GifRecord] = {}
    for file, rel, label, split in rows:
        if label not in index_of:
            problems.unknown_labels.append((rel, label))
            continue
        sha = file_sha256(file)
        if (kept := kept_by_hash.get(sha)) is not None:
            same = kept.label == label
            (problems.duplicates if same else problems.conflicting_labels).append(
                (rel, kept.rel_path)
            )
            continue
        kept_by_hash[sha] = GifRecord(file, rel, label, index_of[label], sha, split)
        records.append(kept_by_hash[sha])
    return GifDataset(root.resolve(), label_set, tuple(records), problems, kind)


_Row = tuple[Path, str, str, "str | None"]  # (absolute path, rel_path, label, split)


def _scan_folder(root: Path, problems: DatasetProblems) -> list[_Row]:
    rows: list[_Row] = []
    for file in sorted(root.rglob("*")):
        rel_parts = file.relative_to(root).parts
        if any(part.startswith(".") for part in rel_parts) or not file.is_file():
            continue
        if not is_media_file(file):
            continue
        rel = "/".join(rel_parts)
        if len(rel_parts) == 1:
            problems.unlabelled.append((rel, ""))
            continue
        rows.append((file.resolve(), rel, rel_parts[0], None))
    return rows


def _read_manifest(csv_path: Path, problems: DatasetProblems) -> list[_Row]:
    base = csv_path.parent
    rows: list[_Row] = []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not {"path", "label"} <= columns:
            raise ValueError(
                f"{csv_path}: a manifest needs columns 'path' and 'label' (found {sorted(columns)})"
            )
        for row in reader:
            line = f"{csv_path.name} line {reader.line_num}"
            rel = (row["path"] or "").strip()
            label = (row["label"] or "").strip()
            if not rel or not label:
                raise ValueError(f"{csv_path}: line {reader.line_num}: empty 'path' or 'label'")
            split = (row.get("split") or "").strip().lower() or None
            if split is not None and split not in SPLIT_NAMES:
                raise ValueError(
                    f"{csv_path}: line {reader.line_num}: split {split!r} is not one of "
                    f"{', '.join(SPLIT_NAMES)} (or empty)"
                )
            file = Path(rel) if Path(rel).is_absolute() else base / rel
            if not file.is_file():
                problems.missing_files.append((rel, line))
                continue
            rows.append((file.resolve(), Path(rel).as_posix(), label, split))
    return rows
