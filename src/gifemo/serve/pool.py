"""A bounded worker pool: predictions run in a few threads; past a fixed capacity, requests are
refused.

The event loop only receives requests and sends answers; decoding and the model run in
``workers`` threads. At most ``capacity`` requests hold a *slot* at once (running, waiting for a
thread, or downloading their URL); one more is refused at once (503) instead of joining an
unbounded queue, so the server answers quickly even when it is saturated.

A slot is released when its job **finishes**, not when its request gives up: a request that
times out answers 504 at once, but a job already running cannot be interrupted, so its slot (and
its thread) stay taken until it ends. That keeps the work in progress bounded by ``capacity``
whatever the clients do. A job still waiting for a thread when its request times out is
cancelled and never runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class PoolBusy(Exception):
    """Every slot is taken."""


class Slot:
    """The right to run one job; released once, by its job's end or by :meth:`WorkerPool.slot`."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._lock = threading.Lock()
        self._released = False
        self.handed_over = False

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._release()


class WorkerPool:
    """``workers`` threads; at most ``capacity`` (>= workers) slots taken at once."""

    def __init__(self, *, workers: int, capacity: int) -> None:
        if workers < 1 or capacity < workers:
            raise ValueError(
                f"need 1 <= workers <= capacity, got workers={workers}, capacity={capacity}"
            )
        self.workers = workers
        self.capacity = capacity
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="gifemo-serve")
        self._lock = threading.Lock()
        self._taken = 0
        self._running = 0

    @property
    def taken(self) -> int:
        """Slots in use: requests downloading, waiting for a thread or running."""
        return self._taken

    @property
    def running(self) -> int:
        """Jobs running in a thread now."""
        return self._running

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Take a slot for the ``with`` block, or raise :class:`PoolBusy` at once.

        The slot is released at the end of the block unless :meth:`run` handed it to a job,
        which then releases it when it ends.
        """
        with self._lock:
            if self._taken >= self.capacity:
                raise PoolBusy()
            self._taken += 1
        slot = Slot(self._give_back)
        try:
            yield slot
        finally:
            if not slot.handed_over:
                slot.release()

    def _give_back(self) -> None:
        with self._lock:
            self._taken -= 1

    async def run(self, slot: Slot, fn: Callable[..., T], *args, timeout: float) -> T:
        """Run ``fn(*args)`` in a worker thread under ``slot``; wait at most ``timeout`` seconds.

        Raises:
            TimeoutError: the job did not finish in time (it is cancelled if it had not started).
        """
        if slot.handed_over:
            raise RuntimeError("a slot runs one job")
        future: Future[T] = self._executor.submit(self._call, fn, *args)
        slot.handed_over = True
        future.add_done_callback(lambda _: slot.release())
        # Cancelling the awaited wrapper (timeout, client gone) cancels a job not started yet.
        return await asyncio.wait_for(asyncio.wrap_future(future), max(timeout, 0.0))

    def _call(self, fn: Callable[..., T], *args) -> T:
        with self._lock:
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1

    def shutdown(self) -> None:
        """Stop taking jobs; drop those not started; do not wait for the running ones."""
        self._executor.shutdown(wait=False, cancel_futures=True)
