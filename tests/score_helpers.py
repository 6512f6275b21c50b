"""Shared pieces of the ``gifemo score`` tests (local engine and Ray engine).

* :func:`build_score_job`: the model (the predict tests' real tiny run) and 200+ inputs: the
  built-in synthetic GIFs of the training tests and the test GIF builder's, a corrupt file, a
  missing file, a live URL and a dead one on 127.0.0.1; built once per session (``score_job``
  fixture of ``conftest.py``).
* :func:`start_killable_score` / ``python score_helpers.py JSON``: a scoring job in a child process
  that stops after its first shard file, and :func:`kill_after_first_shard` to kill it there
  with a real ``SIGKILL``.
* :func:`read_rows`: every row of an output folder, by row number.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_helpers import write_test_gif

#: Options every test job shares: float32 (results comparable on every CPU), 127.0.0.1 allowed
#: (the test URLs), short URL time limits.
JOB_OPTIONS: dict[str, Any] = {
    "precision": "32",
    "allow_private": True,
    "download_timeout_s": 5.0,
}


@dataclass(frozen=True)
class ScoreJob:
    model: Path
    inputs: list[str]  #: as given to score/predict
    n_rows: int
    bad: dict[str, str]  #: source -> the error_type it must get


def dead_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.gif"


def build_score_job(base: Path, live_url: str) -> ScoreJob:
    """See the module docstring; ``live_url`` serves a GIF (the caller's local server)."""
    from predict_helpers import tiny_run
    from training_helpers import tiny_dataset

    model = tiny_run(base / "score-run")
    synth = tiny_dataset(base / "synth")  # the training tests' built-in GIFs (42)
    gifs = base / "score-gifs"
    for i in range(165):
        write_test_gif(
            gifs / f"batch{i % 4}" / f"g{i:03d}.gif",
            1 + i % 9,
            seed=1000 + i,
            size=(24 + i % 3, 20),
            duration_ms=30 + 10 * (i % 4),
        )
    # Corrupt: a real GIF cut off inside its third frame.
    whole = write_test_gif(gifs / "batch0" / "zz-corrupt.gif", 6, seed=3, size=(24, 20))
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    missing = str(gifs / "no-such.gif")
    dead = dead_url()
    inputs = [str(synth), str(gifs), missing, live_url, dead]
    return ScoreJob(
        model=model,
        inputs=inputs,
        n_rows=42 + 165 + 1 + 1 + 1 + 1,
        bad={
            str(gifs / "batch0" / "zz-corrupt.gif"): "TruncatedGifError",
            missing: "NotAnImageError",
            dead: "FetchError",
        },
    )


def read_rows(out_dir: Path) -> list[dict[str, Any]]:
    """Every row of ``out_dir``'s shards, in row order."""
    import pyarrow.parquet as pq

    return pq.read_table(out_dir).sort_by("row").to_pylist()


def assert_same_rows(got, expected, *, atol: float = 1e-6) -> None:
    """Rows equal, floats to ``atol``: a clip batch of another size (or thread count) may round
    the last bits of a convolution differently."""

    def same(a, b) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return abs(a - b) <= atol
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(map(same, a, b))
        return type(a) is type(b) and a == b

    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert same(a, b), (a, b)


def start_killable_score(
    model: Path, inputs: list[str], out_dir: Path, marker: Path, **options: Any
) -> subprocess.Popen:
    """``score`` in a child process that writes ``marker`` after its first shard file and then
    waits to be killed (one torch thread, as the in-process runs)."""
    payload = json.dumps(
        {
            "model": str(model),
            "inputs": inputs,
            "out_dir": str(out_dir),
            "marker": str(marker),
            "options": options,
        }
    )
    from training_helpers import start_child

    return start_child(__file__, payload)


def kill_after_first_shard(
    child: subprocess.Popen, marker: Path, out_dir: Path, *, timeout_s: float = 300
) -> dict[str, int]:
    """Wait for ``child`` (:func:`start_killable_score`) to write its first shard, SIGKILL it,
    and return the shard files it left (name -> mtime in ns); checks that no summary was."""
    deadline = time.monotonic() + timeout_s
    try:
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(f"the child ended first:\n{child.communicate()[0][-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("the child wrote no shard in time")
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    written = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("part-*.parquet")}
    assert written and not (out_dir / "_SUCCESS").exists()
    return written


def _child(payload: str) -> None:
    import torch

    from gifemo.inference.scoring import score

    torch.set_num_threads(1)
    args = json.loads(payload)
    marker = Path(args["marker"])

    def stop_after_first(shard: int, n_rows: int) -> None:
        marker.write_text(f"shard {shard} ({n_rows} rows)\n")
        time.sleep(600)

    score(
        args["model"],
        args["inputs"],
        args["out_dir"],
        on_shard=stop_after_first,
        progress=False,
        **args["options"],
    )


if __name__ == "__main__":
    _child(sys.argv[1])
