"""Batch scoring: ``gifemo score``, millions of GIFs into Parquet shards, on Ray Data or locally.

>>> from gifemo.inference.scoring import score
>>> result = score("runs/paper", ["gifs/", "more.csv"], "scores/")  # doctest: +SKIP
>>> result.summary["rows"], result.summary["failed"]  # doctest: +SKIP

The job, its exactly-once design and the output layout: :mod:`.job`, :mod:`.plan`,
:mod:`.rows`; docs/scale.md.
"""

from __future__ import annotations

from gifemo.inference.scoring.inputs import PlanRow, iter_plan_rows
from gifemo.inference.scoring.job import ENGINES, ScoreResult, ray_available, score
from gifemo.inference.scoring.plan import ShardPlan, load_plan

__all__ = [
    "ENGINES",
    "PlanRow",
    "ScoreResult",
    "ShardPlan",
    "iter_plan_rows",
    "load_plan",
    "ray_available",
    "score",
]
