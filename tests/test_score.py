"""``gifemo score`` without Ray: the inputs, the shard plan, the local engine, resuming.

The Ray engine's tests are in ``test_score_ray.py``; both use the session's ``score_job`` (a real
tiny run and 200+ inputs with a corrupt file, a missing file and a dead 127.0.0.1 URL).
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from predict_helpers import write_test_gif
from score_helpers import (
    JOB_OPTIONS,
    assert_same_rows,
    kill_after_first_shard,
    read_rows,
    start_killable_score,
)
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.inference.inputs import find_media_files
from gifemo.inference.scoring import PlanRow, iter_plan_rows, load_plan, score
from gifemo.inference.scoring.inputs import iter_media_files
from gifemo.inference.scoring.plan import prepare_plan


def _predict_json(job, tmp_path) -> tuple[dict[str, dict], str]:
    """``gifemo predict --format json`` of the job's inputs: (results by source, stderr)."""
    args = ["predict", str(job.model), *job.inputs, "--format", "json", "--precision", "32"]
    args += ["--allow-private", "--timeout", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the three bad inputs
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {d["source"]: d for d in lines}, result.stderr


def _as_prediction_json(row: dict, labels: list[str]) -> dict:
    """The fields of ``predict --format json`` that an output row holds."""
    return {
        "source": row["source"],
        "top_label": row["top_label"],
        "top_score": row["top_score"],
        "intensities": {label: row[f"prob_{label}"] for label in labels},
        "n_frames": row["n_frames"],
        "duration_s": row["duration_s"],
        "truncated": row["truncated"],
        "n_clips": row["n_clips"],
        "clips": row["clips"],
        "precision": row["precision"],
    }


# -- inputs ----------------------------------------------------------------------------------


def test_a_folder_is_walked_in_predicts_order(tmp_path):
    for rel in ("b/x.gif", "a-b/y.gif", "a/z.GIF", "a/.hidden.gif", ".dot/w.gif", "a0.webp"):
        write_test_gif(tmp_path / rel, 2)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    walked = list(iter_media_files(tmp_path))
    assert walked == find_media_files(tmp_path)  # predict's order: sorted part by part
    assert [p.relative_to(tmp_path).as_posix() for p in walked] == [
        "a/z.GIF",
        "a-b/y.gif",
        "a0.webp",
        "b/x.gif",
    ]


def test_manifests_give_one_row_per_manifest_row_in_their_order(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    lists = tmp_path / "lists"
    lists.mkdir()
    values = ["a.gif", str(tmp_path / "abs.gif"), "https://example.com/c.gif", "a.gif", ""]
    expected = [
        PlanRow(str(lists / "a.gif"), str(lists / "a.gif")),
        PlanRow(str(tmp_path / "abs.gif"), str(tmp_path / "abs.gif")),
        PlanRow("https://example.com/c.gif"),
        PlanRow(str(lists / "a.gif"), str(lists / "a.gif")),  # a duplicate is a row of its own
    ]
    with open(lists / "m.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "url"])
        writer.writerows([i, v] for i, v in enumerate(values))
    with gzip.open(lists / "m.jsonl.gz", "wt") as handle:
        for i, v in enumerate(values):
            handle.write(json.dumps({"url": v, "id": i}) + "\n\n")
    pq.write_table(pa.table({"url": values, "id": range(5)}), lists / "m.parquet")

    for name in ("m.csv", "m.jsonl.gz", "m.parquet"):
        rows = list(iter_plan_rows([str(lists / name)], column="url"))
        assert rows[:4] == expected, name
        assert rows[4] == PlanRow(f"{lists / name} row 5", error="empty 'url' cell"), name
        with pytest.raises(ValueError, match=r"no column 'path' \(it has: .*url"):
            list(iter_plan_rows([str(lists / name)]))


def test_globs_urls_missing_paths_and_stdin(tmp_path):
    for rel in ("g/b.gif", "g/a.gif", "g/sub/c.gif"):
        write_test_gif(tmp_path / rel, 2)
    rows = list(
        iter_plan_rows(
            [str(tmp_path / "g" / "*"), "http://h/x.gif", str(tmp_path / "nope*.gif"), "gone.gif"]
        )
    )
    assert [r.source for r in rows] == [
        str(tmp_path / "g" / "a.gif"),
        str(tmp_path / "g" / "b.gif"),
        str(tmp_path / "g" / "sub" / "c.gif"),  # a matching folder is walked
        "http://h/x.gif",
        str(tmp_path / "nope*.gif"),
        "gone.gif",
    ]
    assert rows[4].error == "no file matches this pattern"
    assert rows[5].path == str(Path("gone.gif").absolute()) and rows[5].error is None
    with pytest.raises(ValueError, match="not stdin"):
        list(iter_plan_rows(["-"]))


# -- the plan --------------------------------------------------------------------------------


def test_a_folder_made_for_another_job_is_refused_naming_what_differs(tmp_path):
    rows = [PlanRow(f"g{i}.gif", f"/x/g{i}.gif") for i in range(5)]
    plan = prepare_plan(tmp_path / "out", rows, shard_size=2, model_sha256="a" * 64, options={})
    assert plan.n_shards == 3 and list(plan.shard_rows(2)) == [4]
    assert plan.read_shard(1).column("source").to_pylist() == ["g2.gif", "g3.gif"]
    again = prepare_plan(
        tmp_path / "out", iter(rows), shard_size=2, model_sha256="a" * 64, options={}
    )
    assert again == plan == load_plan(tmp_path / "out")

    with pytest.raises(ValueError, match=r"the inputs \(5 rows then, 4 now\)"):
        prepare_plan(tmp_path / "out", rows[:4], shard_size=2, model_sha256="a" * 64, options={})
    with pytest.raises(ValueError, match=r"the model \(sha256 aaaa.*then, bbbb"):
        prepare_plan(tmp_path / "out", rows, shard_size=2, model_sha256="b" * 64, options={})
    with pytest.raises(ValueError, match=r"clips \(None then, True now\)"):
        prepare_plan(
            tmp_path / "out", rows, shard_size=2, model_sha256="a" * 64, options={"clips": True}
        )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.csv").write_text("x\n")
    with pytest.raises(ValueError, match="not a gifemo score job's"):
        prepare_plan(tmp_path / "other", rows, shard_size=2, model_sha256="a" * 64, options={})


# -- the local engine ------------------------------------------------------------------------


def score_locally(job, out: Path):
    """The job scored by the local engine into ``out``, with the clip timeline."""
    return score(
        job.model,
        job.inputs,
        out,
        engine="local",
        clips=True,
        shard_size=25,
        progress=False,
        **JOB_OPTIONS,
    )


@pytest.fixture(scope="module")
def local_scores(score_job, tmp_path_factory):
    out = tmp_path_factory.mktemp("score-local") / "out"
    return out, score_locally(score_job, out)


def test_local_rows_equal_predict_json_and_failures_are_rows(local_scores, score_job, tmp_path):
    out, result = local_scores
    rows = read_rows(out)
    assert [r["row"] for r in rows] == list(range(score_job.n_rows))
    labels = result.summary["model"]["labels"]
    predicted, stderr = _predict_json(score_job, tmp_path)
    ok = [r for r in rows if r["ok"]]
    assert len(ok) == len(predicted) == score_job.n_rows - 3
    for row in ok:
        got = _as_prediction_json(row, labels)
        expected = {**predicted[row["source"]]}
        expected["precision"] = expected["model"]["precision"]
        assert got == {k: expected[k] for k in got}
    failed = {r["source"]: r for r in rows if not r["ok"]}
    assert {s: r["error_type"] for s, r in failed.items()} == score_job.bad
    for failure in failed.values():
        assert failure["error"].startswith(failure["source"] + ": ")
        assert f"  {failure['error']}" in stderr  # predict's message for the same input
        assert failure["top_label"] is None and failure[f"prob_{labels[0]}"] is None

    summary = json.loads((out / "_SUCCESS").read_text())
    assert summary == result.summary
    assert (summary["rows"], summary["ok"], summary["failed"]) == (score_job.n_rows, len(ok), 3)
    assert summary["failures_by_type"] == {
        "FetchError": 1,
        "NotAnImageError": 1,
        "TruncatedGifError": 1,
    }
    assert summary["shards"] == len(list(out.glob("part-*.parquet"))) == 9
    assert summary["this_run"]["rows_scored"] == score_job.n_rows
    assert summary["model"]["sha256"] == load_plan(out).model_sha256
    assert len(summary["model"]["sha256"]) == 64 and summary["model"]["precision"] == ["32"]


def test_a_rerun_scores_only_the_missing_shards(local_scores, score_job, tmp_path):
    import shutil

    done, _ = local_scores
    out = tmp_path / "out"
    shutil.copytree(done, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    (out / "part-00003.parquet").unlink()
    (out / ".part-00004.parquet.abc.tmp").write_bytes(b"half a file")  # a killed write's
    again = score_locally(score_job, out)
    run = again.summary["this_run"]
    assert (run["shards_scored"], run["shards_skipped"], run["rows_scored"]) == (1, 8, 25)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert {k for k in after if after[k] != before.get(k)} == {"part-00003.parquet"}
    assert not list(out.glob(".*.tmp"))
    assert_same_rows(read_rows(out), read_rows(done))
    with pytest.raises(ValueError, match=r"--shard-size \(25 then, 10 now\)"):
        score(score_job.model, score_job.inputs, out, engine="local", shard_size=10, **JOB_OPTIONS)


@pytest.mark.slow
def test_sigkill_then_rerun_gives_every_input_exactly_once(score_job, tmp_path):
    # A manifest that lists some files twice: each line is a row of its own.
    paths = [str(p) for p in find_media_files(Path(score_job.inputs[1]))][:30]
    manifest = tmp_path / "list.csv"
    manifest.write_text("path\n" + "\n".join(paths + paths[:7]) + "\n")
    out, marker = tmp_path / "out", tmp_path / "first-shard"
    child = start_killable_score(
        score_job.model, [str(manifest)], out, marker, engine="local", shard_size=5, **JOB_OPTIONS
    )
    written = kill_after_first_shard(child, marker, out)

    result = score(
        score_job.model, [str(manifest)], out, engine="local", shard_size=5, progress=False,
        **JOB_OPTIONS,
    )  # fmt: skip
    assert result.summary["this_run"]["shards_skipped"] == len(written)
    rows = read_rows(out)
    assert [r["row"] for r in rows] == list(range(37))
    assert [r["source"] for r in rows] == paths + paths[:7]
    assert all(r["ok"] for r in rows)
    for i in range(7):  # the duplicates score like their first listing
        first, again = rows[i], rows[30 + i]
        assert {k: v for k, v in first.items() if k != "row"} == {
            k: v for k, v in again.items() if k != "row"
        }


# -- the command -----------------------------------------------------------------------------


def test_the_command_scores_reports_failures_and_refuses_bad_settings(score_job, tmp_path):
    gifs = score_job.inputs[1]
    out = tmp_path / "cli"
    runner = CliRunner()
    args = ["score", str(score_job.model), gifs, "--out", str(out), "--engine", "local"]
    args += ["--precision", "32", "--shard-size", "50", "--no-progress"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert f"{out}: 166 rows in 4 shard(s), 1 failed" in done.stdout
    assert "1 of 166 input(s) failed" in done.stderr and "zz-corrupt.gif" in done.stderr

    other = runner.invoke(app, [*args[:-1], "--clips", "--no-progress"])
    assert other.exit_code == 2 and "was made for another job" in other.stderr
    assert "clips (False then, True now)" in other.stderr
    manifest = tmp_path / "m.csv"
    manifest.write_text("file\nx.gif\n")
    bad_column = runner.invoke(app, [*args[:2], str(manifest), "--out", str(tmp_path / "m")])
    assert bad_column.exit_code == 2 and "no column 'path' (it has: file)" in bad_column.stderr
    no_model = runner.invoke(app, ["score", str(tmp_path / "none"), gifs, "--out", str(out)])
    assert no_model.exit_code == 2 and "error:" in no_model.stderr
