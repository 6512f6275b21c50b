"""Every error of the HTTP service has one JSON shape: ``{"error": {"code": ..., "message": ...}}``.

``code`` is a stable machine-readable word; ``message`` is for people and names the input. The
status codes (see ``docs/serve.md``):

====  =========================  ======================================================
400   bad_request, bad_json,     the request is malformed; the data is not an image; the
      not_an_image, bad_gif,     GIF is damaged or empty; the URL could not be fetched
      fetch_failed
403   url_blocked                the URL points at a loopback/private address
404   not_found                  unknown path
405   method_not_allowed         unknown method for the path
408   upload_timeout             the body did not arrive within the request time limit
413   upload_too_large           the body (or the URL's download) is over the size limit
415   unsupported_media_type     neither multipart, JSON nor an image body
422   too_many_frames,           the GIF is well-formed but over the frame or canvas limit
      too_many_pixels
499   client_closed_request      the client disconnected first (logged; nobody reads it)
500   internal_error             a bug; details go to the server log only
501   explain_unavailable        ``/v1/explain`` without captum installed
503   busy                       every worker and queue slot is taken (``Retry-After`` set)
504   timeout                    the download or prediction overran the request time limit
====  =========================  ======================================================
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

from gifemo.inference.fetch import BlockedAddressError, FetchError
from gifemo.io import CanvasTooLargeError, GifError, NotAnImageError, TooManyFramesError


class ApiError(Exception):
    """An answer other than 200, raised anywhere in a request and rendered by the app's handler."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, headers=self.headers)


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


# Most specific first: the first matching class decides.
_INPUT_ERRORS: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], int, str], ...
] = (
    (TooManyFramesError, 422, "too_many_frames"),
    (CanvasTooLargeError, 422, "too_many_pixels"),
    (NotAnImageError, 400, "not_an_image"),
    (GifError, 400, "bad_gif"),
    (BlockedAddressError, 403, "url_blocked"),
    (FetchError, 400, "fetch_failed"),
    ((ValueError, OSError), 400, "bad_request"),
)

#: Exceptions that mean "this input is bad" (a 4xx); anything else is a bug (500).
INPUT_EXCEPTIONS = (ValueError, OSError)


def input_error(error: BaseException, source: str) -> ApiError:
    """The 4xx answer for an exception raised by reading or predicting the input ``source``."""
    matches = [
        (status, code) for classes, status, code in _INPUT_ERRORS if isinstance(error, classes)
    ]
    if not matches:
        raise TypeError(f"not an input error: {error!r}")
    status, code = matches[0]
    message = str(error) or type(error).__name__
    if source not in message:
        message = f"{source}: {message}"
    return ApiError(status, code, message)
