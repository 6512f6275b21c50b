"""Shared pieces of the model tests (test_models.py, test_convgru.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One intra-op thread for the module's tests.

    On two shared cores a second thread mostly spin-waits for the first: under load the
    overfit tests took 2-3x the CPU time with two threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
