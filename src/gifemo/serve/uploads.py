"""Reading what a client sends to ``POST /v1/predict``, within the size and time limits.

Three request bodies are accepted:

* ``multipart/form-data`` with the GIF in the field ``file`` (an HTML form,
  ``curl -F file=@x.gif``);
* ``application/json`` ``{"url": "https://..."}``: the server downloads the GIF;
* the GIF itself, with an ``image/*`` or ``application/octet-stream`` content type
  (``curl --data-binary @x.gif -H 'Content-Type: image/gif'``).

The size limit is enforced while the body streams in (:class:`BodyLimitMiddleware`): a body that
announces a larger ``Content-Length`` is refused before any of it is read, and one that sends
more than it announced (or streams without a length) is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gifemo.serve.errors import ApiError

#: Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
#: The form field holding the upload.
FILE_FIELD = "file"
#: The name given to a prediction's ``source`` when the client sends no file name.
UNNAMED = "<upload>"


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "upload_too_large", f"the upload is larger than the limit of {_megabytes(limit)}"
    )


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / (1024 * 1024):.3g} MB ({n_bytes} bytes)"


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body_bytes`` with 413, without reading them whole.

    ``limit`` is what clients are told (the file size limit); the body may be
    ``MULTIPART_OVERHEAD`` bytes larger, for the multipart framing around the file.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.max_body_bytes = limit + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_large(self.limit).response()(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise too_large(self.limit)
            return message

        await self.app(scope, limited_receive, send)


@dataclass(frozen=True)
class PredictInput:
    """One request's input: the GIF's bytes (``data``) or a URL to fetch (``url``)."""

    name: str
    data: bytes | None = None
    url: str | None = None


async def read_predict_input(request: Request, *, max_upload_bytes: int) -> PredictInput:
    """Parse the body of ``POST /v1/predict`` (see the module docstring); raises
    :class:`ApiError`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _read_multipart(request, max_upload_bytes)
    if content_type == "application/json" or content_type.endswith("+json"):
        return _parse_json(await request.body())
    if content_type.startswith("image/") or content_type == "application/octet-stream":
        data = await request.body()
        if len(data) > max_upload_bytes:
            raise too_large(max_upload_bytes)
        if not data:
            raise ApiError(400, "bad_request", "the request body is empty")
        return PredictInput(name=UNNAMED, data=data)
    raise ApiError(
        415,
        "unsupported_media_type",
        f"unsupported content type {content_type or '(none)'!r}: send multipart/form-data with a "
        f"'{FILE_FIELD}' field, JSON {{\"url\": ...}}, or the image itself (image/gif)",
    )


async def _read_multipart(request: Request, max_upload_bytes: int) -> PredictInput:
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "bad_request", f"the form has no file field named '{FILE_FIELD}'")
        if upload.size is not None and upload.size > max_upload_bytes:
            raise too_large(max_upload_bytes)
        data = await upload.read()
    if len(data) > max_upload_bytes:
        raise too_large(max_upload_bytes)
    if not data:
        raise ApiError(
            400, "bad_request", f"{upload.filename or UNNAMED}: the uploaded file is empty"
        )
    return PredictInput(name=upload.filename or UNNAMED, data=data)


def _parse_json(body: bytes) -> PredictInput:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "bad_json", f"the request body is not valid JSON: {error}") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("url"), str)
        or not payload["url"]
    ):
        raise ApiError(
            400, "bad_request", 'the JSON body must be an object {"url": "http(s)://..."}'
        )
    unknown = sorted(set(payload) - {"url"})
    if unknown:
        raise ApiError(
            400, "bad_request", f"unknown field(s) in the JSON body: {', '.join(unknown)}"
        )
    return PredictInput(name=payload["url"], url=payload["url"])
