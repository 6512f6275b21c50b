"""How ``POST /v1/predict`` (and ``POST /v1/explain``) is handled, from the request to the
:class:`~gifemo.inference.Prediction` (or the explanation's JSON).

1. Take a slot of the :class:`~gifemo.serve.pool.WorkerPool` *before* reading the body, or
   answer 503 at once: uploads held in memory, downloads, decodes and forward passes in progress
   are all bounded by the pool's capacity.
2. Read the body (:mod:`gifemo.serve.uploads`); 408 when it has not arrived by the deadline.
3. For ``{"url": ...}``: download it in a thread with :func:`gifemo.inference.fetch.fetch_url`
   (the private-address guard of ``gifemo predict``), within the size limit and the deadline.
4. Decode and predict in a worker thread; 504 at the deadline. When the client disconnects
   first, a job still waiting for a thread is cancelled (a running one cannot be interrupted).

One deadline (``request_timeout_s``) covers steps 2-4, from the moment the request reaches the
endpoint. Bad input becomes a 4xx through :func:`gifemo.serve.errors.input_error`.
``/v1/explain`` goes through the same steps with another job (:meth:`PredictService.run`): the
same limits, queue and deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request

from gifemo.inference import NamedBytes, Prediction, Predictor
from gifemo.inference.fetch import FetchTimeoutError, FetchTooLargeError, fetch_url
from gifemo.serve.errors import INPUT_EXCEPTIONS, ApiError, input_error
from gifemo.serve.pool import PoolBusy, Slot, WorkerPool
from gifemo.serve.settings import ServeSettings
from gifemo.serve.uploads import UNNAMED, PredictInput, read_predict_input

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready; nobody reads the response."""


@dataclass(frozen=True)
class PredictService:
    predictor: Predictor
    settings: ServeSettings
    pool: WorkerPool

    async def predict(self, request: Request) -> Prediction:
        """The prediction for one request; else raises :class:`~gifemo.serve.errors.ApiError`."""
        return await self.run(request, self.predictor.predict, "no prediction")

    async def run(self, request: Request, job: Callable[[NamedBytes], T], what: str) -> T:
        """``job(input)`` in a worker thread for the GIF of ``request``, under the service's
        slots, limits and deadline (``what`` names a timed-out job's missing result)."""
        deadline = asyncio.get_running_loop().time() + self.settings.request_timeout_s
        source = PredictInput(name=UNNAMED)
        try:
            with self.pool.slot() as slot:
                source = await self._receive(request, deadline)
                if source.url is not None:
                    source = await self._download(source.url, deadline)
                return await self._run(request, slot, source, deadline, job, what)
        except PoolBusy:
            raise ApiError(
                503,
                "busy",
                f"the server is busy ({self.settings.capacity} requests in progress); retry "
                "shortly",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            ) from None
        except ClientGone:
            # 499 (nginx's "client closed request"): logged, never seen by the client.
            raise ApiError(
                499, "client_closed_request", f"{source.name}: the client disconnected"
            ) from None
        except INPUT_EXCEPTIONS as error:
            raise input_error(error, source.name) from None

    def _timed_out(self, what: str) -> ApiError:
        return ApiError(504, "timeout", f"{what} within {self.settings.request_timeout_s:g} s")

    async def _receive(self, request: Request, deadline: float) -> PredictInput:
        try:
            async with asyncio.timeout_at(deadline):
                return await read_predict_input(
                    request, max_upload_bytes=self.settings.max_upload_bytes
                )
        except TimeoutError:
            raise ApiError(
                408,
                "upload_timeout",
                f"the request body did not arrive within {self.settings.request_timeout_s:g} s",
            ) from None

    async def _download(self, url: str, deadline: float) -> PredictInput:
        try:
            # timeout_at as well as fetch_url's timeout: name resolution has no timeout of its own.
            async with asyncio.timeout_at(deadline):
                fetched = await asyncio.to_thread(
                    fetch_url,
                    url,
                    allow_private=self.settings.allow_private,
                    max_bytes=self.settings.max_upload_bytes,
                    timeout_s=max(_remaining(deadline), 1e-3),
                )
        except TimeoutError:
            raise self._timed_out(f"{url}: not downloaded") from None
        except FetchTimeoutError:
            raise self._timed_out(f"{url}: not downloaded") from None
        except FetchTooLargeError as error:
            raise ApiError(413, "upload_too_large", str(error)) from None
        return PredictInput(name=url, data=fetched.content)

    async def _run(
        self,
        request: Request,
        slot: Slot,
        source: PredictInput,
        deadline: float,
        work: Callable[[NamedBytes], T],
        what: str,
    ) -> T:
        job = asyncio.ensure_future(
            self.pool.run(
                slot, work, NamedBytes(source.name, source.data), timeout=_remaining(deadline)
            )
        )
        gone = asyncio.ensure_future(_disconnect(request))
        try:
            await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not job.done():
            job.cancel()  # cancels the job if it is still waiting for a thread
            await asyncio.wait({job})  # and lets that cancellation give its slot back
            raise ClientGone()
        try:
            return job.result()
        except TimeoutError:
            raise self._timed_out(f"{source.name}: {what}") from None


def _remaining(deadline: float) -> float:
    return max(deadline - asyncio.get_running_loop().time(), 0.0)


async def _disconnect(request: Request) -> None:
    """Return when the client disconnects (the body has been read: only that message is left)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
