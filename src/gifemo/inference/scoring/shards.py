"""Output rows -> shard files, and the job's summary from them.

The engines hand over output rows in any order (Ray's streaming execution finishes blocks out of
order); :class:`ShardCollector` keeps each shard's rows until all of them are in, then writes
the shard whole (:func:`~gifemo.inference.scoring.plan.write_part`) and forgets it. Memory holds
the shards in flight only, however long the job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gifemo.inference.scoring.plan import ShardPlan, write_part
from gifemo.inference.scoring.rows import rows_table

#: Failures listed by name in the summary (all of them are rows of the shards).
SUMMARY_FAILURES = 20


@dataclass
class RunCounts:
    """What one command scored (not the rows earlier, killed commands had finished)."""

    rows: int = 0
    shards: int = 0
    failed: int = 0
    precisions: set[str] = field(default_factory=set)


class ShardCollector:
    """Collects output rows per shard and writes each shard once it is complete.

    Args:
        plan: the job's plan (which rows each shard holds, where its file goes).
        schema: the output schema (:func:`~gifemo.inference.scoring.rows.result_schema`).
        on_shard: called as ``on_shard(shard, n_rows)`` after each shard file is written.
    """

    def __init__(
        self,
        plan: ShardPlan,
        schema,
        *,
        on_shard: Callable[[int, int], None] | None = None,
    ) -> None:
        self.plan = plan
        self.schema = schema
        self.on_shard = on_shard
        self.counts = RunCounts()
        self._pending: dict[int, dict[int, dict[str, Any]]] = {}

    @property
    def pending_shards(self) -> int:
        return len(self._pending)

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Take output rows (dicts with a ``row``); writes every shard they complete."""
        touched = set()
        for record in rows:
            row = int(record["row"])
            shard = row // self.plan.shard_size
            # setdefault: a row delivered twice (a retried task) is kept once.
            self._pending.setdefault(shard, {}).setdefault(row, record)
            touched.add(shard)
        for shard in sorted(touched):
            if len(self._pending[shard]) == len(self.plan.shard_rows(shard)):
                self._write(shard)

    def add_table(self, table) -> None:
        """:meth:`add_rows` for an Arrow table of output rows."""
        self.add_rows(table.to_pylist())

    def finish(self) -> None:
        """Check that no shard was left incomplete (a row lost on the way would be a bug)."""
        if self._pending:
            shard, rows = next(iter(self._pending.items()))
            missing = sorted(set(self.plan.shard_rows(shard)) - set(rows))
            raise RuntimeError(
                f"{len(self._pending)} shard(s) incomplete at the end of the job: shard {shard} "
                f"lacks rows {missing[:10]}"
            )

    def _write(self, shard: int) -> None:
        records = self._pending.pop(shard)
        rows = [records[row] for row in self.plan.shard_rows(shard)]
        write_part(self.plan.part_path(shard), rows_table(rows, self.schema))
        self.counts.rows += len(rows)
        self.counts.shards += 1
        self.counts.failed += sum(not r["ok"] for r in rows)
        self.counts.precisions.update(r["precision"] for r in rows if r.get("precision"))
        if self.on_shard is not None:
            self.on_shard(shard, len(rows))


@dataclass(frozen=True)
class PartCounts:
    """Totals over every shard file of a job."""

    rows: int
    ok: int
    failed: int
    failures_by_type: dict[str, int]
    failures: list[dict[str, Any]]  #: the first :data:`SUMMARY_FAILURES`, in row order


def count_parts(plan: ShardPlan) -> PartCounts:
    """Read the failure columns of every shard, one file at a time."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = ok = 0
    by_type: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    for path in plan.part_paths():
        table = pq.read_table(path, columns=["row", "source", "ok", "error_type", "error"])
        flags = table.column("ok").to_pylist()
        rows += len(flags)
        ok += sum(flags)
        if all(flags):
            continue
        for record in table.filter(pc.invert(table.column("ok"))).to_pylist():
            by_type[record["error_type"]] += 1
            if len(failures) < SUMMARY_FAILURES:
                failures.append({k: record[k] for k in ("row", "source", "error_type", "error")})
    return PartCounts(
        rows=rows,
        ok=ok,
        failed=rows - ok,
        failures_by_type=dict(sorted(by_type.items())),
        failures=failures,
    )
