"""``score(MODEL, INPUTS, OUT_DIR)``: batch scoring into Parquet shards, resumable, on one machine
or a Ray cluster.

The job: expand the inputs into rows and cut them into shards (:mod:`.plan`), score the shards
that have no file yet with one engine (:mod:`.engines`), write each shard atomically as it
completes (:mod:`.shards`), then the summary ``_SUCCESS``. A bad input is a row with its error;
a killed job (SIGKILL included) is resumed by running the same command again, and every input
then has exactly one row.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.hardware import hardware_line, normalize_precision
from gifemo.inference.predictor import INPUT_LIMITS
from gifemo.inference.scoring.inputs import iter_plan_rows
from gifemo.inference.scoring.plan import (
    DEFAULT_SHARD_SIZE,
    SUMMARY_FILE,
    ShardPlan,
    locked,
    model_file_sha256,
    prepare_plan,
    remove_temporary_files,
)
from gifemo.inference.scoring.rows import result_schema
from gifemo.inference.scoring.shards import ShardCollector, count_parts

ENGINES: tuple[str, ...] = ("auto", "ray", "local")
SUMMARY_VERSION = 1


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score` did: the summary it wrote (``summary``, the content of ``_SUCCESS``)."""

    out_dir: Path
    summary: dict[str, Any]

    @property
    def failed(self) -> int:
        return int(self.summary["failed"])

    @property
    def summary_path(self) -> Path:
        return self.out_dir / SUMMARY_FILE


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def resolve_engine(engine: str) -> str:
    """``"ray"`` or ``"local"``; ``"auto"`` is Ray where it is installed."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        return "ray" if ray_available() else "local"
    if engine == "ray" and not ray_available():
        raise ValueError("--engine ray needs Ray Data: pip install 'gifemo[ray]'")
    return engine


def score(
    model: str | os.PathLike,
    inputs: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    engine: str = "auto",
    ray_address: str | None = None,
    column: str = "path",
    clips: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = 32,
    gifs_per_batch: int = 16,
    actors: int | None = None,
    gpus_per_actor: float | None = None,
    cpus_per_actor: float | None = None,
    device: str = "cpu",
    precision: str = "auto",
    channels_last: bool | None = None,
    decode_workers: int = 1,
    progress: bool = True,
    on_shard: Callable[[int, int], None] | None = None,
    **limits: Any,
) -> ScoreResult:
    """Score every GIF of ``inputs`` with ``model`` into Parquet shards under ``out_dir``.

    Args:
        model: a run directory, a ``.ckpt`` or an ``.onnx`` file (as :func:`gifemo.load`).
        inputs: folders, globs, manifests (CSV, Parquet, JSON Lines) and URLs
            (:mod:`gifemo.inference.scoring.inputs`).
        out_dir: the job's folder: new or empty, or one this job started (it resumes).
        engine: ``"ray"``, ``"local"`` (in-process ``predict_many``) or ``"auto"`` (Ray where
            installed).
        ray_address: ``None`` (a local Ray started for the job, or ``RAY_ADDRESS``), ``"auto"``
            (the cluster ``ray start`` runs on this machine) or ``HOST:PORT``.
        column: the manifests' column of paths or URLs.
        clips: add the clip timeline (a list column).
        shard_size: rows per shard file (part of the plan: a rerun must give the same).
        batch_size: clips per forward pass; ``gifs_per_batch``: GIFs per actor call (Ray).
        actors, gpus_per_actor, cpus_per_actor: the Ray actor pool (``None``: chosen for the
            cluster, see :func:`~gifemo.inference.scoring.engines.actor_resources`).
        device: the local engine's device (Ray actors use the GPU Ray gives them, if any).
        precision, channels_last: as :func:`gifemo.load` (``auto``: resolved where the model
            runs).
        decode_workers: the local engine's decoding threads.
        progress: progress bars on stderr (Ray Data's, or a rich bar for the local engine).
        on_shard: called as ``on_shard(shard, n_rows)`` after each shard file is written.
        **limits: the input limits and URL guards of :class:`~gifemo.inference.Predictor`
            (``max_frames``, ``max_pixels``, ``strict``, ``allow_private``,
            ``max_download_bytes``, ``download_timeout_s``).

    Returns the :class:`ScoreResult`. Raises ``ValueError`` for bad settings, an unusable
    ``out_dir`` (made for another job, written by another command) or an unreachable cluster.
    """
    from gifemo.inference.predictor import load

    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    engine = resolve_engine(engine)
    precision = normalize_precision(precision)
    for name, value in (("batch_size", batch_size), ("gifs_per_batch", gifs_per_batch)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    unknown = sorted(set(limits) - set(INPUT_LIMITS))
    if unknown:
        raise TypeError(f"unknown score option(s) {unknown}; input limits: {list(INPUT_LIMITS)}")
    out = Path(out_dir)
    if engine == "ray" and ray_address not in (None, "auto", "local"):
        from gifemo.inference.scoring.engines import check_reachable

        check_reachable(ray_address)  # before anything is written or loaded
    # The local engine scores with this predictor; for Ray it tells what the model expects
    # (the actors load their own, in the precision their device resolves).
    local = engine == "local"
    predictor = load(
        model,
        device=device if local else "cpu",
        precision=precision if local else "32",
        channels_last=channels_last if local else False,
        batch_size=batch_size,
        decode_workers=decode_workers,
        **limits,
    )
    model_path = Path(predictor.info.path)
    model_sha = model_file_sha256(model_path)
    # What changes rows is part of the plan: a rerun with other limits is another job.
    options = {"clips": clips, "precision": precision, "channels_last": channels_last}
    options.update({name: getattr(predictor, name) for name in INPUT_LIMITS})

    with locked(out):
        remove_temporary_files(out)
        plan = prepare_plan(
            out,
            iter_plan_rows(list(inputs), column=column),
            shard_size=shard_size,
            model_sha256=model_sha,
            options=options,
        )
        missing = plan.missing_shards()
        if missing:
            # The folder no longer says "complete" while shards are missing.
            (out / SUMMARY_FILE).unlink(missing_ok=True)
        collector = ShardCollector(
            plan, result_schema(predictor.labels, clips=clips), on_shard=on_shard
        )
        scoring_started = time.perf_counter()
        engine_info: dict[str, Any] = {"engine": engine}
        if missing and local:
            from gifemo.inference.scoring.engines import run_local

            engine_info = run_local(
                plan, missing, collector, predictor=predictor, clips=clips, progress=progress
            )
        elif missing:
            from gifemo.inference.scoring.engines import ray_session, run_ray
            from gifemo.inference.scoring.stages import DecodeSpec

            actor_options = {
                "model_file": str(model_path.resolve()),
                "model_sha256": model_sha,
                "load_options": {
                    "precision": precision,
                    "channels_last": channels_last,
                    "batch_size": batch_size,
                },
                "clips": clips,
            }
            with ray_session(ray_address, progress=progress) as session:
                engine_info = run_ray(
                    plan,
                    missing,
                    collector,
                    spec=DecodeSpec.of(predictor),
                    actor_options=actor_options,
                    gifs_per_batch=gifs_per_batch,
                    actors=actors,
                    gpus_per_actor=gpus_per_actor,
                    cpus_per_actor=cpus_per_actor,
                    progress=progress,
                )
                engine_info["address"] = session["address"]
                engine_info["started_here"] = session["started_here"]
        collector.finish()
        scoring_s = time.perf_counter() - scoring_started
        summary = _summary(
            plan,
            collector,
            engine_info=engine_info,
            predictor=predictor,
            model_path=model_path,
            inputs=list(inputs),
            column=column,
            skipped=plan.n_shards - len(missing),
            scoring_s=scoring_s,
            wall_s=time.perf_counter() - started,
            started_at=started_at,
        )
        atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return ScoreResult(out_dir=out, summary=summary)


def _summary(
    plan: ShardPlan,
    collector: ShardCollector,
    *,
    engine_info: dict[str, Any],
    predictor,
    model_path: Path,
    inputs: list[str],
    column: str,
    skipped: int,
    scoring_s: float,
    wall_s: float,
    started_at: str,
) -> dict[str, Any]:
    from gifemo import __version__

    counts = count_parts(plan)
    scored = collector.counts
    info = predictor.info
    precisions = sorted(scored.precisions) or None
    return {
        "summary_version": SUMMARY_VERSION,
        "status": "complete",
        "rows": counts.rows,
        "ok": counts.ok,
        "failed": counts.failed,
        "failures_by_type": counts.failures_by_type,
        "failures": counts.failures,
        "shards": plan.n_shards,
        "shard_size": plan.shard_size,
        "this_run": {
            "rows_scored": scored.rows,
            "shards_scored": scored.shards,
            "shards_skipped": skipped,
            "failed": scored.failed,
            "scoring_s": round(scoring_s, 3),
            "wall_s": round(wall_s, 3),
            "gifs_per_s": round(scored.rows / scoring_s, 3) if scored.rows and scoring_s else None,
            "started_at": started_at,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **engine_info,
            "driver": hardware_line(),
        },
        "model": {
            "path": str(model_path),
            "sha256": plan.model_sha256,
            "name": info.name,
            "backend": info.backend,
            "size": info.size,
            "clip_len": info.clip_len,
            "labels": list(predictor.labels),
            "precision": precisions,
        },
        "inputs": inputs,
        "column": column,
        "options": plan.options,
        "plan_fingerprint": plan.fingerprint,
        "gifemo_version": __version__,
    }
