"""The limits of the HTTP service: what one request may send, how much work the server takes
on."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """Limits of :func:`gifemo.serve.create_app`; every one is answered with a clear 4xx/5xx.

    Attributes:
        max_upload_bytes: largest request body (an upload) or URL download; 413 past it. A body
            whose ``Content-Length`` announces more is refused before any of it is read.
        max_frames: GIFs with more frames are refused with 422 (read from the headers, before
            decoding). Memory per request is about ``max_frames * S * S * 3`` bytes.
        max_pixels: canvases with more pixels are refused with 422 (decompression bombs).
        request_timeout_s: one deadline per request, from its arrival: 408 when the body has not
            arrived by then, 504 when the download or the prediction has not finished.
        workers: threads running predictions (decode + model) at the same time.
        max_queue: admitted requests that may wait for a worker; past ``workers + max_queue``
            requests in progress, new ones get 503 with ``Retry-After`` instead of queueing.
        retry_after_s: the ``Retry-After`` header of a 503.
        allow_private: let ``{"url": ...}`` reach loopback/private addresses (trusted networks
            only).
    """

    max_upload_bytes: int = 20 * MB
    max_frames: int | None = 500
    max_pixels: int | None = 2048 * 2048
    request_timeout_s: float = 60.0
    workers: int = 2
    max_queue: int = 16
    retry_after_s: int = 2
    allow_private: bool = False

    def __post_init__(self) -> None:
        positive = {
            "max_upload_bytes": self.max_upload_bytes,
            "max_frames": self.max_frames,
            "max_pixels": self.max_pixels,
            "request_timeout_s": self.request_timeout_s,
            "workers": self.workers,
            "retry_after_s": self.retry_after_s,
        }
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise ValueError(f"ServeSettings.{name} must be positive, got {value!r}")
        if self.max_queue < 0:
            raise ValueError(f"ServeSettings.max_queue must be >= 0, got {self.max_queue!r}")

    @property
    def capacity(self) -> int:
        """Requests that may be in progress (running or waiting for a worker) at once."""
        return self.workers + self.max_queue
