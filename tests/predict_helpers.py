"""Shared pieces of the prediction, export and fetch tests.

* :func:`tiny_trained_model`: an untrained (seeded) model wrapped as a ``TrainedModel`` at 32 px,
  for tests that check plumbing, not accuracy.
* :func:`tiny_run`: one real ``gifemo train`` run (1 epoch, 32 px, small ConvGRU) on a tiny
  dataset, built once per session by whichever test module asks first.
* :func:`local_server`: a threaded HTTP server on 127.0.0.1 with scripted routes.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from data_helpers import make_tree, write_test_gif

__all__ = [
    "local_server",
    "make_tree",
    "tiny_onnx",
    "tiny_run",
    "tiny_trained_model",
    "write_test_gif",
]

_SESSION: dict[str, Any] = {}


def tiny_trained_model(
    model_name: str = "resnet_convgru", *, size: int = 32, seed: int = 0, **kwargs
):
    """A seeded, untrained model as a :class:`~gifemo.training.checkpoint.TrainedModel`.

    The paper's model gets the small ConvGRU of the training tests unless ``kwargs`` say otherwise.
    """
    import torch

    if model_name == "resnet_convgru" and not kwargs:
        from training_helpers import SMALL_CONVGRU

        kwargs = dict(SMALL_CONVGRU)

    from gifemo.labels import PAPER_EMOTIONS
    from gifemo.models import create_model
    from gifemo.preprocess import PreprocessConfig
    from gifemo.training.checkpoint import TrainedModel

    torch.manual_seed(seed)
    model = create_model(model_name, num_classes=len(PAPER_EMOTIONS), clip_len=4, **kwargs).eval()
    return TrainedModel(
        model=model,
        labels=PAPER_EMOTIONS,
        preprocess=PreprocessConfig(size=size, clip_len=4),
        model_name=model_name,
        model_kwargs=dict(kwargs),
        checkpoint_path=Path(f"<untrained {model_name}>"),
        metadata={"config": {"seed": seed}},
    )


def tiny_run(base: Path) -> Path:
    """Run dir of a real ``gifemo train`` (1 epoch) on 3 tiny GIFs per class; made once per
    session."""
    if "run" not in _SESSION:
        from training_helpers import SMALL_CONVGRU  # imports Lightning: only when a run is needed
        from typer.testing import CliRunner

        from gifemo.cli import app
        from gifemo.labels import PAPER_EMOTIONS

        data = base / "data"
        make_tree(data, {label: [3 + i, 5 + i, 9] for i, label in enumerate(PAPER_EMOTIONS)})
        run_dir = base / "run"
        args = [
            "train",
            str(data),
            "--out",
            str(run_dir),
            "--model",
            "resnet_convgru",
            "--size",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--workers",
            "0",
            "--max-clips-per-gif",
            "2",
            "--accelerator",
            "cpu",
            "--cache-dir",
            str(base / "cache"),
            "--seed",
            "3",
            "--no-progress",
        ]
        for key, value in SMALL_CONVGRU.items():
            args += ["--model-kwargs", f"{key}={value}"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        _SESSION["run"] = run_dir
    return _SESSION["run"]


def tiny_onnx(base: Path) -> Path:
    """The float32 ONNX export of :func:`tiny_run`'s run (``gifemo export``); made once per
    session (an export takes tens of seconds on 2 slow cores)."""
    if "onnx" not in _SESSION:
        from gifemo.inference.export import export_onnx

        run_dir = tiny_run(base)
        _SESSION["onnx"] = export_onnx(run_dir, base / "tiny-fp32.onnx").path
    return _SESSION["onnx"]


Route = Callable[[http.server.BaseHTTPRequestHandler], None]


def respond(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    """A route answering ``status`` with ``body`` (and a Content-Length)."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return respond(status, b"", {"Location": location})


def trickle(chunk: bytes, count: int, pause_s: float) -> Route:
    """A body sent in ``count`` pieces ``pause_s`` apart, without Content-Length
    (close-delimited)."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: fine
            for _ in range(count):
                handler.wfile.write(chunk)
                handler.wfile.flush()
                time.sleep(pause_s)

    return route


@contextlib.contextmanager
def local_server(routes: dict[str, Route], host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``routes`` (path -> route) on ``host``; yields the base URL ``http://host:port``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            (route or respond(404, b"not found"))(self)

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
