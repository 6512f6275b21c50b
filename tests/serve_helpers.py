"""Shared pieces of the HTTP service tests: a small real model, test GIFs, a live server.

The predictor is a real ``resnet_convgru`` at 32 px with random weights (the service is under
test, not the model's accuracy), built once per test process.
"""

from __future__ import annotations

import functools
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from gifemo.serve import ServeSettings, create_app


@functools.cache
def tiny_predictor():
    import torch

    from gifemo.inference import load
    from gifemo.labels import PAPER_EMOTIONS
    from gifemo.models import create_model
    from gifemo.preprocess import PreprocessConfig
    from gifemo.training.checkpoint import TrainedModel

    torch.manual_seed(0)
    kwargs = {"hidden_dim": 8, "num_layers": 1, "head_hidden": 16}
    model = create_model(
        "resnet_convgru", num_classes=len(PAPER_EMOTIONS), clip_len=4, **kwargs
    ).eval()
    trained = TrainedModel(
        model=model,
        labels=tuple(PAPER_EMOTIONS),
        preprocess=PreprocessConfig(size=32, clip_len=4),
        model_name="resnet_convgru",
        model_kwargs=kwargs,
        checkpoint_path=Path("untrained-test-model"),
    )
    return load(trained, batch_size=8)


def gif_bytes(
    n_frames: int, *, size: tuple[int, int] = (40, 32), seed: int = 0, duration_ms: int = 80
) -> bytes:
    """An animated GIF of ``n_frames`` distinct frames (``size`` is width, height)."""
    width, height = size
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        frame = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        frame[: height // 2, : 1 + (3 * i) % width] = 255  # a moving edge: frames never merge
        frames.append(Image.fromarray(frame))
    out = io.BytesIO()
    frames[0].save(
        out, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0
    )
    return out.getvalue()


@contextmanager
def live_server(settings: ServeSettings | None = None, *, predictor=None) -> Iterator[str]:
    """Run the app with uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    import uvicorn

    app = create_app(predictor or tiny_predictor(), settings=settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gifemo-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
