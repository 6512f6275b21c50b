"""Load test of ``gifemo serve``: N concurrent clients POSTing a GIF for a bounded time.

Starts a server on 127.0.0.1 in a subprocess (``gifemo serve MODEL``, or with ``--untrained``
the paper's ResNet-ConvGRU with random weights at ``--size``: the speed does not depend on the
weights), or targets a running one with ``--url``. Then ``--clients`` httpx async clients (one
connection each) post the GIF in a loop for ``--duration`` seconds and the script prints
requests/s, latency percentiles and the answers that were not 200; requests still waiting when
the time is up are abandoned and reported as unfinished. A client that gets 503 waits
``Retry-After`` as a well-behaved client would.

    .venv/bin/python benchmarks/serve_load.py --untrained                     # 50 clients, 20 s
    .venv/bin/python benchmarks/serve_load.py runs/paper --workers 2 --queue 8
    .venv/bin/python benchmarks/serve_load.py --url http://127.0.0.1:8000 --gif cat.gif

The clients run on the same machine as the server and take some of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

NOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"


def default_gif() -> tuple[str, bytes]:
    """A generated 160x160, 24-frame GIF (6 clips): the same load on every machine."""
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = []
    for i in range(24):
        frame = np.full((160, 160, 3), 40 + 8 * i, np.uint8)
        frame[40:120, 10 + 5 * i : 50 + 5 * i] = rng.integers(0, 256, 3, dtype=np.uint8)
        frames.append(Image.fromarray(frame))
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=60, loop=0)
    return "generated-24f-160px.gif", out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    limits = ["--workers", str(args.workers), "--queue", str(args.queue), "--port", str(port)]
    if args.untrained:
        command = [sys.executable, __file__, "--serve-untrained", "--size", str(args.size), *limits]
    else:
        gifemo = Path(sys.executable).with_name("gifemo")
        command = [str(gifemo), "serve", str(args.model), "--log-level", "warning", *limits]
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    server.terminate()
    raise SystemExit("the server did not start within 300 s")


def serve_untrained(args: argparse.Namespace) -> None:
    """The server process of ``--untrained``: random weights, same code path as ``gifemo serve``."""
    import torch
    import uvicorn

    from gifemo.inference import load
    from gifemo.labels import PAPER_EMOTIONS
    from gifemo.models import create_model
    from gifemo.preprocess import PreprocessConfig
    from gifemo.serve import ServeSettings, create_app
    from gifemo.training.checkpoint import TrainedModel

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.workers))
    model = create_model("resnet_convgru", num_classes=len(PAPER_EMOTIONS), clip_len=4).eval()
    trained = TrainedModel(
        model=model,
        labels=tuple(PAPER_EMOTIONS),
        preprocess=PreprocessConfig(size=args.size),
        model_name="resnet_convgru",
        model_kwargs={},
        checkpoint_path=Path(f"untrained-resnet_convgru-{args.size}px"),
    )
    settings = ServeSettings(workers=args.workers, max_queue=args.queue)
    app = create_app(load(trained), settings=settings)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


async def client(
    http: httpx.AsyncClient, url: str, name: str, data: bytes, records: list, busy: set
) -> None:
    """Post ``data`` in a loop until cancelled; record ``(latency s, outcome)`` of each answer."""
    while True:
        start = time.monotonic()
        busy.add(asyncio.current_task())
        try:
            response = await http.post(
                url + "/v1/predict", files={"file": (name, data, "image/gif")}
            )
            outcome = response.status_code
            if outcome != 200:
                outcome = f"{outcome} {response.json().get('error', {}).get('code', '')}".strip()
        except httpx.HTTPError as error:
            response, outcome = None, type(error).__name__
        finally:
            busy.discard(asyncio.current_task())
        records.append((time.monotonic() - start, outcome))
        if response is not None and response.status_code == 503:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


async def run_load(
    url: str, name: str, data: bytes, clients: int, duration: float, timeout: float
) -> dict:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as http:
        warm = await http.post(url + "/v1/predict", files={"file": (name, data, "image/gif")})
        if warm.status_code != 200:
            raise SystemExit(f"warm-up request failed: HTTP {warm.status_code} {warm.text[:300]}")
        records: list = []
        busy: set = set()
        start = time.monotonic()
        tasks = [
            asyncio.create_task(client(http, url, name, data, records, busy))
            for _ in range(clients)
        ]
        await asyncio.sleep(duration)
        # Bounded time: answers still pending now are not counted (reported as unfinished).
        unfinished = len(busy)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        wall = time.monotonic() - start
    async with httpx.AsyncClient(timeout=timeout) as fresh:
        health = (await fresh.get(url + "/healthz")).json()
    ok = np.array([latency for latency, outcome in records if outcome == 200])
    other = collections.Counter(str(outcome) for _, outcome in records if outcome != 200)
    return {
        "clients": clients,
        "duration_s": round(wall, 2),
        "requests": len(records),
        "unfinished": unfinished,
        "ok": int(ok.size),
        "ok_per_s": round(ok.size / wall, 2),
        "latency_ms": {
            f"p{q}": round(float(np.percentile(ok, q)) * 1000, 1) if ok.size else None
            for q in (50, 90, 99)
        }
        | {"max": round(float(ok.max()) * 1000, 1) if ok.size else None},
        "not_ok": dict(other),
        "server": health,
        "gif": {
            "name": name,
            "bytes": len(data),
            "n_frames": warm.json()["n_frames"],
            "n_clips": warm.json()["n_clips"],
        },
        "model": warm.json()["model"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model", nargs="?", help="run dir, .ckpt or .onnx to serve (or --untrained / --url)"
    )
    parser.add_argument(
        "--untrained", action="store_true", help="serve resnet_convgru with random weights"
    )
    parser.add_argument("--url", help="target a running server instead of starting one")
    parser.add_argument("--size", type=int, default=112, help="--untrained: input size S")
    parser.add_argument("--workers", type=int, default=2, help="server prediction threads")
    parser.add_argument(
        "--queue", type=int, default=50, help="server queue (default: room for every client)"
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="client timeout per request (s)"
    )
    parser.add_argument(
        "--gif", type=Path, help="the GIF to post (default: a generated 24-frame GIF)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--serve-untrained", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_untrained:
        serve_untrained(args)
        return
    if sum(bool(x) for x in (args.model, args.untrained, args.url)) != 1:
        parser.error("give exactly one of MODEL, --untrained or --url")

    from gifemo.hardware import benchmark_header, cpu_model

    name, data = (args.gif.name, args.gif.read_bytes()) if args.gif else default_gif()
    server = None
    url = args.url.rstrip("/") if args.url else None
    if url is None:
        server, url = start_server(args)
    try:
        result = asyncio.run(run_load(url, name, data, args.clients, args.duration, args.timeout))
    finally:
        if server is not None:
            server.terminate()  # uvicorn lets the predictions already running finish
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result["hardware"] = {
        "cpu": cpu_model(),
        "cores": cores,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    lat = result["latency_ms"]
    model = result["model"]
    print(benchmark_header())
    print("(the clients run on the same machine)")
    print(
        f"server: {url}, {result['server']['workers']} workers, capacity "
        f"{result['server']['capacity']}; "
        f"model {model['name']} {model['size']}px ({model['backend']}, {model['precision']})"
    )
    print(
        f"gif: {name}, {len(data)} bytes, {result['gif']['n_frames']} frames, "
        f"{result['gif']['n_clips']} clips"
    )
    print(
        f"load: {args.clients} clients for {result['duration_s']} s: {result['requests']} answers, "
        f"{result['ok']} ok = {result['ok_per_s']} requests/s ({result['unfinished']} still "
        "waiting at the end)"
    )
    print(
        f"latency of ok requests: p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, "
        f"max {lat['max']} ms"
    )
    print(f"not ok: {result['not_ok'] or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
