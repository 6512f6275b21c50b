"""The shard plan of a scoring job, and the output folder's layout.

Exactly once, whatever kills the command: the input list is expanded deterministically
(:func:`~gifemo.inference.scoring.inputs.iter_plan_rows`) and cut into shards of fixed row
ranges numbered by position, shard ``k`` holding rows ``[k * shard_size, (k + 1) * shard_size)``.
A shard's output is ``part-NNNNN.parquet``, written whole through a temporary file and a rename,
so **a shard is done iff its file exists**. A rerun expands the inputs again, checks that the plan
is the one ``DIR`` was made for (its fingerprint: the input rows, the model's SHA-256, the options
that change rows, the shard size) and scores only the shards without a file.

``DIR`` holds::

    _plan.parquet     the expanded input list: row, source, path, error (one row group per shard)
    _plan.json        the plan's fingerprint and sizes, written after _plan.parquet
    part-00000.parquet ...   one per shard, in the schema of rows.result_schema
    _SUCCESS          the summary (JSON), written last, when every shard is done
    _lock             held (flock) by the command that writes DIR

Files starting with ``_`` or ``.`` are skipped by Parquet readers that read ``DIR`` as one
dataset (``pyarrow.parquet.read_table(DIR)``, Spark, DuckDB's ``DIR/part-*.parquet``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write, atomic_write_text
from gifemo.inference.scoring.inputs import PlanRow

PLAN_FILE = "_plan.parquet"
PLAN_META = "_plan.json"
SUMMARY_FILE = "_SUCCESS"
LOCK_FILE = "_lock"
PART_PREFIX = "part-"
#: Bumped when the plan or the shard layout changes incompatibly.
PLAN_FORMAT = 1
DEFAULT_SHARD_SIZE = 1000


@dataclass(frozen=True)
class ShardPlan:
    """A job's rows cut into shards; see the module docstring."""

    out_dir: Path
    n_rows: int
    shard_size: int
    inputs_sha256: str
    model_sha256: str
    options: dict[str, Any] = field(default_factory=dict)
    format: int = PLAN_FORMAT

    @property
    def fingerprint(self) -> str:
        return _sha256_json(self.identity())

    def identity(self) -> dict[str, Any]:
        """What makes two plans the same job (the fingerprint's contents)."""
        return {
            "format": self.format,
            "n_rows": self.n_rows,
            "shard_size": self.shard_size,
            "inputs_sha256": self.inputs_sha256,
            "model_sha256": self.model_sha256,
            "options": self.options,
        }

    @property
    def n_shards(self) -> int:
        return -(-self.n_rows // self.shard_size)

    @property
    def plan_file(self) -> Path:
        return self.out_dir / PLAN_FILE

    def shard_rows(self, shard: int) -> range:
        """The rows of ``shard``."""
        start = shard * self.shard_size
        return range(start, min(start + self.shard_size, self.n_rows))

    def part_path(self, shard: int) -> Path:
        width = max(5, len(str(max(self.n_shards - 1, 0))))
        return self.out_dir / f"{PART_PREFIX}{shard:0{width}d}.parquet"

    def part_paths(self) -> list[Path]:
        return [self.part_path(k) for k in range(self.n_shards)]

    def missing_shards(self) -> list[int]:
        """The shards without a part file, in order."""
        return [k for k in range(self.n_shards) if not self.part_path(k).is_file()]

    def read_shard(self, shard: int):
        """The plan rows of ``shard`` (an Arrow table: row, source, path, error)."""
        return read_plan_shard(self.plan_file, shard, self.shard_rows(shard))

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "fingerprint": self.fingerprint, "n_shards": self.n_shards}
        out["out_dir"] = str(self.out_dir)
        return out


def model_file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a model file; an ``.onnx`` with its external ``.onnx.data`` hashes both."""
    from gifemo.data.sources import file_sha256

    path = Path(path)
    digest = file_sha256(path)
    data = path.with_name(path.name + ".data")
    if path.suffix.lower() == ".onnx" and data.is_file():
        digest = hashlib.sha256(f"{digest} {file_sha256(data)}".encode()).hexdigest()
    return digest


def read_plan_shard(plan_file: str | os.PathLike, shard: int, rows: range):
    """Row group ``shard`` of ``_plan.parquet``, checked to hold exactly ``rows``."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(plan_file).read_row_group(shard)
    got = table.column("row").to_pylist()
    if got != list(rows):
        raise RuntimeError(f"{plan_file}: row group {shard} does not hold rows {rows}")
    return table


def plan_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("row", pa.int64()),
            ("source", pa.string()),
            ("path", pa.string()),
            ("error", pa.string()),
        ]
    )


def prepare_plan(
    out_dir: str | os.PathLike,
    rows: Iterable[PlanRow],
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    model_sha256: str,
    options: dict[str, Any],
) -> ShardPlan:
    """The plan of ``rows`` in ``out_dir``: made there (a new job) or checked against the one
    there (a rerun).

    ``rows`` are streamed once: hashed, counted and, for a new job, written to ``_plan.parquet``
    one shard at a time, so memory does not grow with the number of rows. Raises ``ValueError``
    when ``out_dir`` was made for other inputs, another model or other options (naming what
    differs), or holds files that are not a scoring job's.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = json.loads(json.dumps(options))  # as it reads back from _plan.json
    stored = _read_meta(out)
    if stored is None:
        _check_new_dir(out)
        n_rows, digest = _write_plan(out / PLAN_FILE, rows, shard_size)
    else:
        n_rows, digest = _hash_rows(rows)
    plan = ShardPlan(
        out_dir=out,
        n_rows=n_rows,
        shard_size=shard_size,
        inputs_sha256=digest,
        model_sha256=model_sha256,
        options=options,
    )
    if stored is None:
        atomic_write_text(out / PLAN_META, json.dumps(plan.to_dict(), indent=2) + "\n")
    elif stored.get("fingerprint") != plan.fingerprint:
        raise ValueError(_mismatch(out, stored, plan))
    return plan


def load_plan(out_dir: str | os.PathLike) -> ShardPlan:
    """The plan stored in ``out_dir`` (for readers of a finished job)."""
    out = Path(out_dir)
    stored = _read_meta(out)
    if stored is None:
        raise ValueError(f"{out}: no {PLAN_META}; not a gifemo score output folder")
    return ShardPlan(out_dir=out, **{k: stored[k] for k in _IDENTITY_FIELDS})


_IDENTITY_FIELDS = ("n_rows", "shard_size", "inputs_sha256", "model_sha256", "options", "format")


@contextlib.contextmanager
def locked(out_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``out_dir/_lock`` (an exclusive ``flock``) for the block.

    Two commands writing one folder would score the same shards twice; the second is refused.
    The kernel drops the lock when its holder dies, SIGKILL included, so a killed job's folder
    can be resumed at once.
    """
    import fcntl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{out} is being written by another gifemo score; wait for it to end"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_temporary_files(out_dir: str | os.PathLike) -> int:
    """Delete what killed writes left behind (``.part-*.tmp``...); the lock is held, so none
    of them is being written. Returns how many were removed."""
    removed = 0
    for path in Path(out_dir).glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def write_part(path: Path, table) -> None:
    """Write one shard's table to ``path`` atomically (temporary file, fsync, rename)."""
    import pyarrow.parquet as pq

    with atomic_write(path, "wb") as handle:
        pq.write_table(table, handle)


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _read_meta(out: Path) -> dict[str, Any] | None:
    path = out / PLAN_META
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable plan ({error}); use another --out") from None
    if not (out / PLAN_FILE).is_file():
        raise ValueError(f"{out}: {PLAN_META} without {PLAN_FILE}; use another --out")
    return stored


def _check_new_dir(out: Path) -> None:
    # A plan interrupted before _plan.json leaves only files of its own, which are redone.
    ours = {PLAN_FILE, LOCK_FILE}
    foreign = sorted(
        p.name for p in out.iterdir() if p.name not in ours and not p.name.startswith(".")
    )
    if foreign:
        raise ValueError(
            f"{out} holds files that are not a gifemo score job's ({', '.join(foreign[:5])}"
            f"{'...' if len(foreign) > 5 else ''}); use an empty or new --out"
        )


def _row_bytes(row: PlanRow) -> bytes:
    return json.dumps([row.source, row.path, row.error]).encode() + b"\n"


def _hash_rows(rows: Iterable[PlanRow]) -> tuple[int, str]:
    digest, n = hashlib.sha256(), 0
    for row in rows:
        digest.update(_row_bytes(row))
        n += 1
    return n, digest.hexdigest()


def _write_plan(path: Path, rows: Iterable[PlanRow], shard_size: int) -> tuple[int, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = plan_schema()
    digest, n = hashlib.sha256(), 0
    chunk: list[PlanRow] = []

    def flush(writer) -> None:
        table = pa.table(
            {
                "row": range(n - len(chunk), n),
                "source": [r.source for r in chunk],
                "path": [r.path for r in chunk],
                "error": [r.error for r in chunk],
            },
            schema=schema,
        )
        writer.write_table(table, row_group_size=shard_size)  # one row group per shard
        chunk.clear()

    with atomic_write(path, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
        for row in rows:
            digest.update(_row_bytes(row))
            chunk.append(row)
            n += 1
            if len(chunk) == shard_size:
                flush(writer)
        if chunk:
            flush(writer)
    return n, digest.hexdigest()


def _mismatch(out: Path, stored: dict[str, Any], plan: ShardPlan) -> str:
    new = plan.identity()
    differs = []
    if stored.get("inputs_sha256") != new["inputs_sha256"] or stored.get("n_rows") != plan.n_rows:
        differs.append(f"the inputs ({stored.get('n_rows')} rows then, {plan.n_rows} now)")
    if stored.get("model_sha256") != new["model_sha256"]:
        differs.append(
            f"the model (sha256 {str(stored.get('model_sha256'))[:12]}... then, "
            f"{plan.model_sha256[:12]}... now)"
        )
    if stored.get("shard_size") != plan.shard_size:
        differs.append(f"--shard-size ({stored.get('shard_size')} then, {plan.shard_size} now)")
    old_options = stored.get("options") or {}
    for key in sorted(set(old_options) | set(plan.options)):
        if old_options.get(key) != plan.options.get(key):
            differs.append(f"{key} ({old_options.get(key)!r} then, {plan.options.get(key)!r} now)")
    if stored.get("format") != plan.format:
        differs.append(f"the plan format ({stored.get('format')} then, {plan.format} now)")
    return (
        f"{out} was made for another job: {'; '.join(differs) or 'its plan differs'}. "
        "Rerun with the same inputs, model and options to resume it, or use another --out"
    )
