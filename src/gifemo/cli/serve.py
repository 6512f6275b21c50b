"""``gifemo serve MODEL``: the HTTP service and web page (see ``docs/serve.md``).

The model is loaded once, before the server starts listening; a model that cannot be loaded
exits with code 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gifemo.cli import options as opt


def serve_command(
    model: Path = typer.Argument(
        ..., metavar="MODEL", help="Run directory, .ckpt checkpoint, or exported .onnx file."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        2, "--workers", min=1, help="Threads running predictions at the same time."
    ),
    queue: int = typer.Option(
        16, "--queue", min=0, help="Requests that may wait for a worker before 503 answers."
    ),
    max_upload_mb: float = typer.Option(
        20.0, "--max-upload-mb", min=0.001, help="Largest upload or URL download."
    ),
    max_frames: int = typer.Option(
        500, "--max-frames", min=1, help="Refuse GIFs with more frames (422)."
    ),
    max_megapixels: float = typer.Option(
        2048 * 2048 / 1e6, "--max-megapixels", min=0.001, help="Refuse larger canvases (422)."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=0.1, help="Time limit (s) of one request."
    ),
    allow_private: bool = typer.Option(
        False,
        "--allow-private",
        help='Let {"url": ...} requests reach loopback and private-network addresses.',
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    precision: opt.RunPrecision = "auto",
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Intra-op threads per prediction (default: cores / workers)."
    ),
    calibration: opt.Calibration = True,
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve MODEL over HTTP: POST /v1/predict, GET /v1/labels, /healthz, /docs, the page at /."""
    import os

    import uvicorn
    from rich.console import Console
    from rich.markup import escape

    from gifemo.inference import load
    from gifemo.serve import ServeSettings, create_app

    err = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    # Workers share the cores: without this, each one's torch/onnxruntime would use all of them.
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    with opt.exit_on_error(prefix=f"cannot load model {model}: "):
        settings = ServeSettings(
            max_upload_bytes=int(max_upload_mb * 1024 * 1024),
            max_frames=max_frames,
            max_pixels=int(max_megapixels * 1e6),
            request_timeout_s=timeout,
            workers=workers,
            max_queue=queue,
            allow_private=allow_private,
        )
        is_onnx = model.suffix.lower() == ".onnx"
        if not is_onnx:
            import torch

            torch.set_num_threads(threads)
        predictor = load(
            model,
            device=device,
            precision=precision,
            num_threads=threads if is_onnx else None,
            calibrated=calibration,
        )
    err.print(
        escape(f"gifemo: serving {predictor.info.name} from {model} on http://{host}:{port}/")
    )
    uvicorn.run(create_app(predictor, settings=settings), host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``gifemo serve`` to ``app``."""
    app.command("serve")(serve_command)
