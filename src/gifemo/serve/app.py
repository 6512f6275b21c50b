"""The FastAPI application: ``POST /v1/predict``, ``POST /v1/explain``, ``GET /v1/labels``,
``GET /healthz`` and the page at ``/``.

>>> import gifemo
>>> from gifemo.serve import ServeSettings, create_app
>>> app = create_app(gifemo.load("runs/paper"), settings=ServeSettings(workers=2))  # doctest: +SKIP
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)

The model is loaded once (by the caller) and shared by every request; how one prediction
request is handled (slot, body, download, worker thread, deadline) is
:class:`~gifemo.serve.service.PredictService`.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from gifemo import __version__
from gifemo.inference import Predictor
from gifemo.inference.timeline import label_colors
from gifemo.serve.errors import ApiError, error_response
from gifemo.serve.explain import ExplainService
from gifemo.serve.pool import WorkerPool
from gifemo.serve.service import PredictService
from gifemo.serve.settings import ServeSettings
from gifemo.serve.uploads import FILE_FIELD, BodyLimitMiddleware

STATIC_DIR = Path(__file__).parent / "static"

log = logging.getLogger("gifemo.serve")

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}
_ERRORS_DOC = {
    status: {"description": text, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    for status, text in {
        400: "Bad request: malformed body, bad JSON, not an image, damaged GIF, URL not fetchable",
        403: "The URL points at a loopback or private address",
        408: "The body did not arrive within the request time limit",
        413: "The upload (or the URL's download) is over the size limit",
        415: "Unsupported content type",
        422: "The GIF has too many frames or too many pixels",
        503: "Busy: every worker and queue slot is taken; retry after `Retry-After` seconds",
        504: "The prediction did not finish within the request time limit",
    }.items()
}
_PREDICT_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FILE_FIELD],
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"url": {"type": "string", "format": "uri"}},
                    "required": ["url"],
                }
            },
            "image/gif": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def create_app(
    model: Predictor | str | os.PathLike, *, settings: ServeSettings | None = None
) -> FastAPI:
    """The gifemo HTTP application around ``model``.

    Args:
        model: a loaded :class:`~gifemo.inference.Predictor` (shared, never modified), or what
            :func:`gifemo.load` accepts (a run dir, ``.ckpt`` or ``.onnx``), loaded once here.
        settings: the service's limits (default :class:`ServeSettings`).
    """
    settings = settings or ServeSettings()
    predictor = _serving_predictor(model, settings)
    pool = WorkerPool(workers=settings.workers, capacity=settings.capacity)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.shutdown()

    app = FastAPIOffline(
        title="gifemo",
        version=__version__,
        description=(
            "Emotion recognition in animated GIFs. Same JSON as `gifemo predict --format json`."
        ),
        lifespan=lifespan,
    )
    app.state.predictor = predictor
    app.state.settings = settings
    app.state.pool = pool
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    _add_error_handlers(app)
    service = PredictService(predictor, settings, pool)
    explainer = ExplainService(predictor)
    labels_doc = _labels_document(predictor, explainer.methods)

    @app.post(
        "/v1/predict", openapi_extra=_PREDICT_BODY_DOC, responses=_ERRORS_DOC, tags=["predict"]
    )
    async def predict(request: Request) -> dict[str, Any]:
        """Predict the emotions of one GIF: upload it (multipart field `file`, or the raw image
        body) or give its URL as JSON `{"url": ...}`. Returns the JSON of `gifemo predict`."""
        return (await service.predict(request)).to_dict()

    @app.post(
        "/v1/explain", openapi_extra=_PREDICT_BODY_DOC, responses=_ERRORS_DOC, tags=["predict"]
    )
    async def explain(
        request: Request, label: str | None = None, method: str | None = None
    ) -> dict[str, Any]:
        """Explain one GIF's score for `label` (default: its top emotion): the heat-map GIF
        (`heatmap_gif`, base64) and the per-frame importance, as `gifemo explain` writes them.
        The body is that of `/v1/predict`; `method` is `gradcam` (torch models) or `occlusion`."""
        job = explainer.job(label=label, method=method)
        return await service.run(request, job, "no explanation")

    @app.get("/v1/labels", tags=["model"])
    async def labels() -> dict[str, Any]:
        """The model's labels in output order, a display colour for each, the model (with its
        temperature) and its reliability: the test calibration (ECE...) of its run's report."""
        return labels_doc

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Liveness and load: the model is loaded; how many requests are in progress."""
        return {
            "status": "ok",
            "model": predictor.info.name,
            "workers": pool.workers,
            "running": pool.running,
            "in_progress": pool.taken,
            "capacity": pool.capacity,
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _serving_predictor(model: Predictor | str | os.PathLike, settings: ServeSettings) -> Predictor:
    """A predictor with the service's decode limits, sharing ``model``'s backend (weights)."""
    if not isinstance(model, Predictor):
        from gifemo.inference import load

        model = load(model)
    # The caller's predictor keeps its own limits; the loaded model is shared.
    return model.with_options(max_frames=settings.max_frames, max_pixels=settings.max_pixels)


def _labels_document(predictor: Predictor, explain_methods: list[str]) -> dict[str, Any]:
    colors = label_colors(predictor.labels)
    return {
        "labels": list(predictor.labels),
        "colors": {label: "#{:02x}{:02x}{:02x}".format(*rgb) for label, rgb in colors.items()},
        "model": predictor.info.to_dict(),
        "reliability": getattr(predictor.backend, "reliability", None),
        "explain_methods": explain_methods,
    }


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(
            error.status_code, "bad_request" if error.status_code < 500 else "internal_error"
        )
        return error_response(error.status_code, code, str(error.detail), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(
            400, "bad_request", "; ".join(str(e.get("msg", e)) for e in error.errors())
        )

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (see the server log)")
