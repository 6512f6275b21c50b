"""The two engines that score a plan's missing shards: in-process, or on Ray Data.

* :func:`run_local`: ``Predictor.predict_many`` over the shards' inputs, in order (decoding in
  the predictor's threads, the model in this process): ``gifemo predict``'s own path.
* :func:`run_ray`: a Ray Data pipeline, ``shards -> read_shards -> decode_rows`` as tasks on
  CPUs and ``ScoreActor`` in a fixed-size actor pool (a GPU per actor, or a fraction, when the
  cluster has GPUs). Ray's streaming executor runs the stages concurrently with backpressure:
  at any moment only a bounded number of blocks are in flight, so memory does not grow with the
  length of the input list. The driver takes the scored rows as they come and writes each
  shard when it is complete.

Both produce the rows of :func:`~gifemo.inference.scoring.rows.result_row` from the same
``Predictor`` steps (``prepare``, then ``predict_prepared``), so they give the same rows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

from gifemo.inference.predictor import Predictor
from gifemo.inference.scoring.plan import ShardPlan
from gifemo.inference.scoring.rows import named_failure, plan_source, result_row
from gifemo.inference.scoring.shards import ShardCollector
from gifemo.inference.scoring.stages import DecodeSpec, ScoreActor, decode_rows, read_shards

#: GIFs per decoding call (a Ray Data batch of the decode stage).
DECODE_BATCH = 4
#: Memory a decoding task reserves: its batch of decoded frames and the output block it fills
#: (Ray Data's target block size, 128 MiB). Also what keeps decoding a stage of its own: Ray Data
#: fuses adjacent stages whose resource requests are equal, and a fused stage would decode inside
#: the model actors (on the GPU's actor, while the GPU waits).
DECODE_MEMORY = 256 * 1024 * 1024
#: Ray reads this when imported: "0" keeps a Ray that gifemo starts itself on 127.0.0.1 (by
#: default Ray binds the machine's network address, reachable from other machines).
RAY_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def run_local(
    plan: ShardPlan,
    shards: list[int],
    collector: ShardCollector,
    *,
    predictor: Predictor,
    clips: bool,
    progress: bool,
) -> dict[str, Any]:
    """Score ``shards`` in this process; returns what the summary says of the engine."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    rows_in_flight: deque[tuple[int, str | None]] = deque()  # (row, path) of each source

    def sources() -> Iterator[Any]:
        for shard in shards:
            for r in plan.read_shard(shard).to_pylist():
                rows_in_flight.append((r["row"], r["path"]))
                yield plan_source(r["source"], r["path"], r["error"])

    total = sum(len(plan.shard_rows(k)) for k in shards)
    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("score", total=total)
        # predict_many yields one result per source, in order: the rows pair up with a queue.
        for result in predictor.predict_many(sources()):
            row, path = rows_in_flight.popleft()
            collector.add_rows([result_row(named_failure(result, path), row, clips=clips)])
            bar.advance(task)
    return {"engine": "local", "decode_workers": predictor.decode_workers}


@contextlib.contextmanager
def ray_session(address: str | None, *, progress: bool) -> Iterator[dict[str, Any]]:
    """Connected to Ray for the block: the caller's connection if there is one, else ``address``
    (``auto``: the cluster ``ray start`` runs here; ``HOST:PORT``), else a local Ray started
    here and stopped at the end (all of the machine's CPUs and GPUs, on 127.0.0.1 only).

    Raises ``ValueError`` naming the address when the cluster cannot be reached.
    """
    starts_local = address is None and not os.environ.get("RAY_ADDRESS")
    if starts_local and "ray" not in sys.modules:
        os.environ.setdefault(RAY_LOOPBACK_ENV, "0")
    if address not in (None, "auto", "local"):
        check_reachable(address)
    import ray

    if ray.is_initialized():
        yield {"address": ray.get_runtime_context().gcs_address, "started_here": False}
        return
    options: dict[str, Any] = {"logging_level": logging.INFO if progress else logging.WARNING}
    if starts_local:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except ConnectionError as error:
        raise ValueError(f"cannot connect to the Ray cluster at {address}: {error}") from None
    try:
        yield {"address": ray.get_runtime_context().gcs_address, "started_here": starts_local}
    finally:
        ray.shutdown()


def check_reachable(address: str, *, timeout_s: float = 5.0) -> None:
    """Raise ``ValueError`` naming ``address`` (``[ray://]HOST:PORT``) unless a TCP connection to
    it opens within ``timeout_s`` (Ray itself retries for minutes before it gives up)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--ray-address {address!r}: expected auto or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({error}); is `ray start --head` running "
            "there? Leave out --ray-address to run on a Ray started for this command"
        ) from None


def actor_resources(
    cluster: dict[str, float],
    *,
    actors: int | None,
    gpus_per_actor: float | None,
    cpus_per_actor: float | None,
) -> tuple[int, float, float]:
    """``(actors, gpus_per_actor, cpus_per_actor)``, the ``None`` ones chosen for ``cluster``
    (``ray.cluster_resources()``): a GPU per actor and one actor per GPU where there are GPUs;
    else one actor per 2 CPUs; one CPU per actor unless that leaves none for decoding."""
    cpus, gpus = float(cluster.get("CPU", 0)), float(cluster.get("GPU", 0))
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if gpus >= 1 else 0.0
    if gpus_per_actor < 0 or gpus_per_actor > max(gpus, 0):
        raise ValueError(f"--gpus-per-actor {gpus_per_actor}: the cluster has {gpus:g} GPU(s)")
    if actors is None:
        actors = int(gpus // gpus_per_actor) if gpus_per_actor else int(cpus // 2)
        actors = max(1, actors)
    if actors < 1:
        raise ValueError(f"--actors must be >= 1, got {actors}")
    if cpus_per_actor is None:
        # Decoding needs a CPU too: the actors share what is left when there are few.
        cpus_per_actor = 1.0 if cpus - actors >= 1 else (cpus - 1) / actors
    if cpus_per_actor <= 0 or actors * cpus_per_actor > cpus - 1 + 1e-9:
        raise ValueError(
            f"the cluster has {cpus:g} CPU(s): too few for {actors} actor(s) of "
            f"{max(cpus_per_actor, 0):g} CPU and one decoding task; use fewer --actors"
        )
    return actors, float(gpus_per_actor), float(cpus_per_actor)


def run_ray(
    plan: ShardPlan,
    shards: list[int],
    collector: ShardCollector,
    *,
    spec: DecodeSpec,
    actor_options: dict[str, Any],
    gifs_per_batch: int,
    actors: int | None,
    gpus_per_actor: float | None,
    cpus_per_actor: float | None,
    progress: bool,
) -> dict[str, Any]:
    """Score ``shards`` on the connected Ray cluster; returns what the summary says of it.

    ``actor_options`` are :class:`ScoreActor`'s (model file and hash, load options, clips).
    """
    import ray
    import ray.data

    cluster = ray.cluster_resources()
    actors, gpus_per_actor, cpus_per_actor = actor_resources(
        cluster, actors=actors, gpus_per_actor=gpus_per_actor, cpus_per_actor=cpus_per_actor
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    if not progress:
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    # One block per shard, so that the shards' decoding spreads over the cluster's CPUs.
    ds = ray.data.from_items([{"shard": k} for k in shards], override_num_blocks=len(shards))
    ds = ds.map_batches(
        read_shards,
        batch_size=1,
        batch_format="pyarrow",
        fn_kwargs={
            "plan_file": str(plan.plan_file.resolve()),
            "shard_size": plan.shard_size,
            "n_rows": plan.n_rows,
        },
        memory=DECODE_MEMORY,  # the same as decoding's: the two run as one task
    )
    ds = ds.map_batches(
        decode_rows,
        batch_size=DECODE_BATCH,
        batch_format="pyarrow",
        fn_kwargs={"spec": spec},
        num_cpus=1,
        memory=DECODE_MEMORY,
    )
    ds = ds.map_batches(
        ScoreActor,
        batch_size=gifs_per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor or None,
        fn_constructor_kwargs={
            **actor_options,
            "threads": max(1, int(cpus_per_actor)),
            "device": "cuda" if gpus_per_actor else "cpu",
        },
    )
    for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        collector.add_table(table)
    return {
        "engine": "ray",
        "actors": actors,
        "gpus_per_actor": gpus_per_actor,
        "cpus_per_actor": cpus_per_actor,
        "gifs_per_batch": gifs_per_batch,
        "cluster": {
            "CPU": cluster.get("CPU", 0),
            "GPU": cluster.get("GPU", 0),
            "nodes": sum(1 for node in ray.nodes() if node.get("Alive")),
        },
        "ray_version": ray.__version__,
    }
