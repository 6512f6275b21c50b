"""``gifemo score --engine ray``: the same rows as the local engine, resumable after a SIGKILL.

A local Ray of 2 CPUs on 127.0.0.1 is started for the module and stopped after it; a job run in
this process uses that connection, a child process joins it by its address.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray reads this at import: the test cluster listens on 127.0.0.1 only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip(
    "ray", reason="Ray is not installed (pip install 'gifemo[ray]'); the Ray engine is untested"
)

from score_helpers import (  # noqa: E402
    JOB_OPTIONS,
    assert_same_rows,
    kill_after_first_shard,
    read_rows,
    start_killable_score,
)
from typer.testing import CliRunner  # noqa: E402

from gifemo.cli import app  # noqa: E402
from gifemo.inference.scoring import score  # noqa: E402
from gifemo.inference.scoring.engines import actor_resources  # noqa: E402


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray of 2 CPUs for the module; yields its address."""
    import logging

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_rows_equal_the_local_engines_with_two_actors(ray_address, score_job, tmp_path_factory):
    base = tmp_path_factory.mktemp("score-ray")
    common = {"clips": True, "shard_size": 25, "progress": False, **JOB_OPTIONS}
    local = score(score_job.model, score_job.inputs, base / "local", engine="local", **common)
    on_ray = score(
        score_job.model,
        score_job.inputs,
        base / "ray",
        engine="ray",
        ray_address=ray_address,
        actors=2,
        gifs_per_batch=8,
        batch_size=16,
        **common,
    )
    run = on_ray.summary["this_run"]
    assert (run["engine"], run["actors"], run["cpus_per_actor"]) == ("ray", 2, 0.5)
    assert run["cluster"]["CPU"] == 2 and run["address"] == ray_address
    rows = read_rows(base / "ray")
    assert [r["row"] for r in rows] == list(range(score_job.n_rows))
    # The same Predictor steps in both engines: every field equal, the probabilities up to
    # float32's last bit. A clip's output can move by an ulp with the clips it shares a batch
    # with (oneDNN picks kernels by batch size), and the engines pack batches differently: the
    # local engine over the whole input stream, an actor within each call.
    assert_same_rows(rows, read_rows(base / "local"))
    for key in ("rows", "ok", "failed", "failures_by_type", "failures", "model"):
        assert on_ray.summary[key] == local.summary[key], key
    assert {r["source"]: r["error_type"] for r in rows if not r["ok"]} == score_job.bad


@pytest.mark.slow
def test_a_killed_ray_driver_resumes_with_every_input_exactly_once(
    ray_address, score_job, tmp_path
):
    from gifemo.inference.inputs import find_media_files

    # Duplicated paths in the manifest: each line is a row of its own.
    paths = [str(p) for p in find_media_files(Path(score_job.inputs[1]))][:24]
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("".join(f'{{"url": "{p}"}}\n' for p in paths + paths[:6]))
    out, marker = tmp_path / "out", tmp_path / "first-shard"
    options = {"engine": "ray", "ray_address": ray_address, "column": "url", "shard_size": 4}
    child = start_killable_score(
        score_job.model, [str(manifest)], out, marker, **options, **JOB_OPTIONS
    )
    written = kill_after_first_shard(child, marker, out)

    # The rerun: the command line, on the same cluster.
    args = ["score", str(score_job.model), str(manifest), "--out", str(out), "--engine", "ray"]
    args += ["--ray-address", ray_address, "--column", "url", "--shard-size", "4"]
    args += ["--precision", "32", "--allow-private", "--timeout", "5", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{len(written)} shard(s) were done" in result.stdout
    rows = read_rows(out)
    assert [r["row"] for r in rows] == list(range(30))
    assert [r["source"] for r in rows] == paths + paths[:6]
    assert all(r["ok"] for r in rows)
    for i in range(6):
        assert rows[i]["prob_happiness"] == rows[24 + i]["prob_happiness"]
    # The shards the killed driver had finished were kept, not redone.
    assert {n: t for n, t in written.items()} == {n: (out / n).stat().st_mtime_ns for n in written}


def test_an_unreachable_cluster_is_an_error_naming_its_address(score_job, tmp_path):
    from score_helpers import dead_url

    address = dead_url().split("/")[2]  # 127.0.0.1:PORT, nothing listening
    args = ["score", str(score_job.model), score_job.inputs[1], "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "--ray-address", address])
    assert result.exit_code == 2
    assert f"cannot reach the Ray cluster at {address}" in result.stderr
    assert "ray start --head" in result.stderr


def test_actor_resources_fit_the_cluster():
    assert actor_resources({"CPU": 16}, actors=None, gpus_per_actor=None, cpus_per_actor=None) == (
        8,
        0.0,
        1.0,
    )
    assert actor_resources(
        {"CPU": 16, "GPU": 4}, actors=None, gpus_per_actor=0.5, cpus_per_actor=None
    ) == (8, 0.5, 1.0)
    assert actor_resources({"CPU": 2}, actors=2, gpus_per_actor=None, cpus_per_actor=None) == (
        2,
        0.0,
        0.5,
    )
    with pytest.raises(ValueError, match="the cluster has 0 GPU"):
        actor_resources({"CPU": 4}, actors=1, gpus_per_actor=1, cpus_per_actor=None)
    with pytest.raises(ValueError, match="too few for 2 actor"):
        actor_resources({"CPU": 2}, actors=2, gpus_per_actor=None, cpus_per_actor=1)
