"""``make gpu-check DRY=1``: the GPU check's every step, rehearsed on the CPU at tiny sizes.

The real check runs on a CUDA machine (docs/gpu.md); this runs the same script with ``--dry``
and reads the one report file it writes: every step ran (or was skipped for a stated reason),
the training run's loss fell, and nothing in the Python environment was installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = (
    "environment",
    "install",
    "cuda-tests",
    "data",
    "train-16-mixed",
    "train-bf16-mixed",
    "bench-train-step",
    "bench-predict",
    "data-pipeline",
    "ddp",
)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("gpu-check")
    report = base / "report.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [
            sys.executable,
            "scripts/gpu_check.py",
            "--dry",
            "--report",
            str(report),
            "--work",
            str(base / "work"),
            "--budget",
            "600",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done, report.read_text(encoding="utf-8") if report.is_file() else ""


def results(text: str) -> dict:
    block = text.split("## all results (JSON)", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)\n```", block, re.S).group(1))


@pytest.mark.slow
def test_every_step_runs_or_says_why_not(dry_run):
    done, text = dry_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "mode: dry run on CPU" in text
    found = results(text)
    assert tuple(found) == STEPS
    skipped = {name for name, r in found.items() if r["status"] == "skipped"}
    assert skipped == {"train-bf16-mixed", "ddp"}
    assert all(r["status"] == "ok" for name, r in found.items() if name not in skipped)
    for name in STEPS:
        assert f"| {name} |" in text and f"## {name}:" in text


@pytest.mark.slow
def test_the_steps_did_their_work(dry_run):
    _, text = dry_run
    found = results(text)
    assert found["install"]["installed"] is False  # a dry run plans, it changes nothing
    assert any("--no-deps" in c for c in found["install"]["commands"])
    train = found["train-16-mixed"]
    assert train["finite"] and train["last_loss"] < train["first_loss"] and train["steps"] >= 4
    assert train["size"] == 32 and train["precision"] == "32"
    assert found["bench-train-step"]["best_clips_per_s"] > 0
    assert "workers/GPU" in text and "GIFs/s" in text  # the pipeline and predict tables


def test_make_target_calls_the_script():
    plan = subprocess.run(
        ["make", "-n", "gpu-check", "DRY=1", "GPU_PYTHON=python3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plan.returncode == 0, plan.stderr
    assert "python3 scripts/gpu_check.py --dry" in plan.stdout
