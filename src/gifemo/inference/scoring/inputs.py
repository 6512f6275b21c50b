"""Expand ``gifemo score``'s INPUTS into one row per GIF, streamed, in an order fixed by the inputs.

Each input becomes zero or more rows, in the order given:

* an ``http://`` / ``https://`` URL: itself (fetched later under the guards of
  :mod:`gifemo.inference.fetch`);
* a folder: every ``.gif``/``.webp``/``.png``/``.apng`` file below it, hidden ones skipped, in
  the order of :func:`gifemo.inference.inputs.find_media_files` (sorted by path), read one
  directory listing at a time;
* a manifest, a file named ``*.csv``, ``*.parquet``/``*.pq`` or ``*.jsonl``/``*.ndjson``
  (``.csv.gz``, ``.jsonl.gz`` too): one row per manifest row, in its row order, from the
  column ``column`` (a path or a URL; a relative path is relative to the manifest's folder).
  Manifests are read in chunks, never whole;
* a glob (``gifs/**/*.gif``, quoted so that the shell leaves it alone): its matches sorted by
  path, folders among them expanded as folders (the matches are listed in memory: for millions
  of files give the folder or a manifest);
* anything else: a file path, kept even when it does not exist, so that it fails as its row.

A manifest that lists a path twice gives two rows: every manifest row is a row of the output.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gifemo.data.sources import is_media_file
from gifemo.inference.fetch import is_url

#: Manifest kinds by file name ending (lower case).
MANIFEST_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
}

#: Rows read from a manifest at a time.
CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class PlanRow:
    """One input GIF: ``source`` is its name in the output (the path as given, the URL),
    ``path`` the absolute local file to read (``None`` for a URL or an invalid input), ``error``
    why the input itself is unusable (an empty manifest cell...), reported as the row's failure.
    """

    source: str
    path: str | None = None
    error: str | None = None


def manifest_kind(path: str | os.PathLike) -> str | None:
    """``"csv"``, ``"parquet"``, ``"jsonl"`` or ``None`` from the file name."""
    name = Path(path).name.lower()
    for suffix, kind in MANIFEST_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


def iter_plan_rows(inputs: Sequence[str], *, column: str = "path") -> Iterator[PlanRow]:
    """The rows of ``inputs`` (see the module docstring), streamed.

    Raises ``ValueError`` before the first row of a manifest that has no column ``column``
    (naming the manifest and the columns it has), and for ``-`` (standard input cannot be
    re-read by a resumed or distributed job).
    """
    for item in inputs:
        if item == "-":
            raise ValueError("gifemo score reads files, folders, manifests and URLs, not stdin")
        if is_url(item):
            yield PlanRow(item)
        elif Path(item).is_dir():
            yield from _folder_rows(Path(item))
        elif Path(item).is_file() and manifest_kind(item):
            yield from _manifest_rows(Path(item), column)
        elif glob.has_magic(item) and not Path(item).exists():
            yield from _glob_rows(item)
        else:
            yield _path_row(item)


def iter_media_files(root: Path) -> Iterator[Path]:
    """:func:`~gifemo.inference.inputs.find_media_files`'s files in its order, streamed.

    ``sorted(root.rglob("*"))`` orders paths part by part, which is the order of a walk that
    sorts each folder's entries by name and descends into a folder where it sorts: so one
    folder's listing is in memory at a time, not the tree's. Like ``rglob``, it does not
    descend into symbolic links to folders, and skips folders it may not read.
    """
    try:
        with os.scandir(root) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except PermissionError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = root / entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from iter_media_files(path)
        elif is_media_file(path) and path.is_file():
            yield path


def _path_row(path: str | os.PathLike) -> PlanRow:
    return PlanRow(str(path), os.path.abspath(path))


def _folder_rows(root: Path) -> Iterator[PlanRow]:
    found = False
    for path in iter_media_files(root):
        found = True
        yield _path_row(path)
    if not found:
        yield PlanRow(str(root), error="the folder holds no .gif, .webp, .png or .apng file")


def _glob_rows(pattern: str) -> Iterator[PlanRow]:
    matches = sorted(Path(match) for match in glob.glob(pattern, recursive=True))
    if not matches:
        yield PlanRow(pattern, error="no file matches this pattern")
    for match in matches:
        if match.is_dir():
            yield from _folder_rows(match)
        else:
            yield _path_row(match)


def _manifest_rows(manifest: Path, column: str) -> Iterator[PlanRow]:
    kind = manifest_kind(manifest)
    values = {"csv": _csv_values, "parquet": _parquet_values, "jsonl": _jsonl_values}[kind]
    folder = manifest.parent
    for number, (value, problem) in enumerate(values(manifest, column), start=1):
        where = f"{manifest} row {number}"
        if problem is not None:
            yield PlanRow(where, error=problem)
        elif value is None or not str(value).strip():
            yield PlanRow(where, error=f"empty {column!r} cell")
        elif is_url(value):
            yield PlanRow(value)
        else:
            yield _path_row(value if os.path.isabs(value) else folder / value)


def _missing_column(manifest: Path, column: str, columns: Sequence[str]) -> ValueError:
    return ValueError(
        f"{manifest}: no column {column!r} (it has: {', '.join(map(str, columns)) or 'none'}); "
        "name the one with the paths or URLs with --column"
    )


def _csv_values(manifest: Path, column: str) -> Iterator[tuple[str | None, None]]:
    import pyarrow as pa
    from pyarrow import csv

    def reader():
        # compression="detect" reads .csv.gz as well; blocks of ~1 MB keep memory flat.
        stream = pa.input_stream(str(manifest), compression="detect")
        return csv.open_csv(
            stream,
            read_options=csv.ReadOptions(block_size=1 << 20),
            convert_options=csv.ConvertOptions(
                include_columns=[column], column_types={column: pa.string()}
            ),
        )

    try:
        batches = reader()
    except (pa.ArrowInvalid, KeyError) as error:
        header = csv.open_csv(pa.input_stream(str(manifest), compression="detect"))
        if column not in header.schema.names:
            raise _missing_column(manifest, column, header.schema.names) from None
        raise ValueError(f"{manifest}: not a readable CSV file ({error})") from None
    for batch in batches:
        for value in batch.column(0).to_pylist():
            yield value, None


def _parquet_values(manifest: Path, column: str) -> Iterator[tuple[str | None, None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(manifest)
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(f"{manifest}: not a readable Parquet file ({error})") from None
    if column not in parquet.schema_arrow.names:
        raise _missing_column(manifest, column, parquet.schema_arrow.names)
    for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=[column]):
        for value in batch.column(0).cast(pa.string()).to_pylist():
            yield value, None


def _jsonl_values(manifest: Path, column: str) -> Iterator[tuple[str | None, str | None]]:
    # Line by line: one object per line, so that a bad line is its row's failure, not the job's.
    opener = gzip.open if manifest.name.lower().endswith(".gz") else open
    checked = False
    with opener(manifest, "rt", encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield None, f"not a JSON object ({error})"
                continue
            if not isinstance(record, dict):
                yield None, "not a JSON object"
                continue
            if not checked:
                # The first object decides whether --column is right, as a header would.
                if column not in record:
                    raise _missing_column(manifest, column, list(record))
                checked = True
            if column not in record:
                yield None, f"no {column!r} field"
                continue
            value = record[column]
            yield (None if value is None else str(value)), None
