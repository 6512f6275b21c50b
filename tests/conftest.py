"""Session fixtures: the expensive artefacts that several test modules share, built once.

pytest-timeout's per-test limit covers only the test function (``timeout_func_only`` in
pyproject.toml), so these builds run outside it: the limit is a hang guard, never a budget that
a slow machine could miss. Each is as small as the assertions on it allow and trains in float32:
bfloat16 is emulated, 7-100x slower, on CPUs without native bf16 (``gifemo doctor``).
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs one worker per core) every worker, and every
    process a test starts, computes on one thread: two workers of two threads each on two cores
    would spin-wait on each other (several times slower, not twice)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """``(run_dir, FitResult)`` of the shared 64 px training run (training_helpers)."""
    from training_helpers import build_trained_run

    return build_trained_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``(DemoConfig, DemoResult, console text, CountingTrain)`` of the demo shrunk to seconds."""
    import torch
    from demo_helpers import CountingTrain, capture, tiny

    from gifemo.data.synth import generate_dataset
    from gifemo.demo import run_demo

    base = tmp_path_factory.mktemp("demo")
    # Stands for the real emoji: other GIFs than the training data, through the same code path.
    generate_dataset(base / "ood", per_class=1, size=48, seed=1, workers=1)
    config = tiny(base / "out", base / "ood")
    console, buffer = capture()
    counter = CountingTrain()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_demo(config, console=console, train_fn=counter)
    finally:
        torch.set_num_threads(before)
    return config, result, buffer.getvalue(), counter


@pytest.fixture(scope="session")
def score_job(tmp_path_factory):
    """The ``gifemo score`` tests' model and 200+ inputs (score_helpers), with a live URL served
    from 127.0.0.1 for the whole session."""
    from predict_helpers import local_server, respond, write_test_gif
    from score_helpers import build_score_job

    base = tmp_path_factory.getbasetemp()
    served = write_test_gif(base / "served" / "cat.gif", 6, seed=77, size=(30, 22))
    route = respond(200, served.read_bytes(), {"Content-Type": "image/gif"})
    with local_server({"/cat.gif": route}) as url:
        yield build_score_job(base, f"{url}/cat.gif")


@pytest.fixture(scope="session")
def explain_run(tmp_path_factory):
    """``(run_dir, data_dir, specs)`` of the explain tests' calibrated 64 px run on two classes,
    with a few of its test GIFs (training_helpers.build_explain_run)."""
    from training_helpers import build_explain_run, one_thread

    with one_thread():
        return build_explain_run(tmp_path_factory.mktemp("explain"))


def pytest_collection_modifyitems(session, config, items):
    """Test files with the most ``slow`` tests first, each file's tests in their own order.

    ``make test`` hands whole files to its pytest-xdist workers in this order: started early, the
    long files run beside the many short ones instead of leaving one worker alone at the end.
    """
    order: dict[str, int] = {}
    slow: dict[str, int] = {}
    for item in items:
        path = str(item.path)
        order.setdefault(path, len(order))
        slow[path] = slow.get(path, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: (-slow[str(item.path)], order[str(item.path)]))
