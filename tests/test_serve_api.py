"""The HTTP API of ``gifemo serve``: answers, limits, error shapes, concurrency bounds."""

from __future__ import annotations

import asyncio
import functools
import http.server
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient
from serve_helpers import gif_bytes, tiny_predictor

from gifemo.inference import NamedBytes, Predictor
from gifemo.serve import ServeSettings, create_app


def client_for(**settings) -> TestClient:
    return TestClient(create_app(tiny_predictor(), settings=ServeSettings(**settings)))


@pytest.fixture(scope="module")
def client():
    with client_for() as c:
        yield c


def assert_error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    return body["error"]["message"]


def assert_same_prediction(got: dict, expected: dict) -> None:
    """Equal JSON; the probabilities to float32 precision (another thread ran the same model)."""
    for key in ("intensities",):
        assert got[key] == pytest.approx(expected[key], abs=1e-6)
    for got_clip, expected_clip in zip(got["clips"], expected["clips"], strict=True):
        assert got_clip["intensities"] == pytest.approx(expected_clip["intensities"], abs=1e-6)
    strip = {"intensities", "clips", "top_score"}
    assert {k: v for k, v in got.items() if k not in strip} == {
        k: v for k, v in expected.items() if k not in strip
    }
    assert [{k: v for k, v in c.items() if k != "intensities"} for c in got["clips"]] == [
        {k: v for k, v in c.items() if k != "intensities"} for c in expected["clips"]
    ]


# -- predictions -----------------------------------------------------------------------------


def test_upload_returns_the_json_of_gifemo_predict(client):
    data = gif_bytes(9)
    response = client.post("/v1/predict", files={"file": ("wave.gif", data, "image/gif")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_same_prediction(body, tiny_predictor().predict(NamedBytes("wave.gif", data)).to_dict())
    assert body["source"] == "wave.gif"
    assert body["labels"] == list(tiny_predictor().labels)
    assert sum(body["intensities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert body["n_frames"] == 9 and body["n_clips"] == len(body["clips"]) >= 1


def test_raw_image_body_is_accepted(client):
    data = gif_bytes(5, seed=3)
    response = client.post("/v1/predict", content=data, headers={"Content-Type": "image/gif"})
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "<upload>"
    assert_same_prediction(
        response.json(), tiny_predictor().predict(NamedBytes("<upload>", data)).to_dict()
    )


class _GifHandler(http.server.BaseHTTPRequestHandler):
    def __init__(self, *args, payload: bytes, **kwargs):
        self.payload = payload
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def gif_server():
    """A local HTTP server answering every GET with the same GIF; yields (url, gif bytes)."""
    data = gif_bytes(6, seed=7)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_GifHandler, payload=data)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cat.gif", data
    server.shutdown()
    thread.join()


def test_url_is_fetched_when_private_addresses_are_allowed(gif_server):
    url, data = gif_server
    with client_for(allow_private=True) as c:
        response = c.post("/v1/predict", json={"url": url})
    assert response.status_code == 200, response.text
    assert response.json()["source"] == url
    assert_same_prediction(
        response.json(), tiny_predictor().predict(NamedBytes(url, data)).to_dict()
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.gif",
        "http://localhost:{port}/cat.gif",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_private_url_is_refused_by_default(client, gif_server, url):
    port = gif_server[0].split(":")[2].split("/")[0]
    message = assert_error(
        client.post("/v1/predict", json={"url": url.format(port=port)}), 403, "url_blocked"
    )
    assert "non-public address" in message


def test_url_download_over_the_size_limit_is_refused(gif_server):
    url, data = gif_server
    with client_for(allow_private=True, max_upload_bytes=len(data) - 1) as c:
        message = assert_error(c.post("/v1/predict", json={"url": url}), 413, "upload_too_large")
    assert "exceeds the limit" in message


# -- bad input ---------------------------------------------------------------------------------


def test_non_gif_upload_is_400_naming_the_file(client):
    response = client.post(
        "/v1/predict", files={"file": ("notes.txt", b"just some text", "text/plain")}
    )
    message = assert_error(response, 400, "not_an_image")
    assert message.startswith("notes.txt: ")


def test_truncated_gif_is_400(client):
    data = gif_bytes(6)
    response = client.post(
        "/v1/predict", files={"file": ("cut.gif", data[: len(data) // 2], "image/gif")}
    )
    assert "cut.gif" in assert_error(response, 400, "bad_gif")


def test_bad_json_is_400(client):
    response = client.post(
        "/v1/predict", content=b'{"url": ', headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in assert_error(response, 400, "bad_json")


@pytest.mark.parametrize(
    "payload", [[], {"link": "http://x"}, {"url": 3}, {"url": "http://x", "extra": 1}]
)
def test_json_without_a_url_is_400(client, payload):
    assert_error(client.post("/v1/predict", json=payload), 400, "bad_request")


def test_form_without_a_file_field_is_400(client):
    response = client.post("/v1/predict", files={"image": ("a.gif", gif_bytes(4), "image/gif")})
    assert "'file'" in assert_error(response, 400, "bad_request")


def test_unsupported_content_type_is_415(client):
    response = client.post("/v1/predict", content=b"hello", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_path_and_method_use_the_error_shape(client):
    assert_error(client.get("/v2/predict"), 404, "not_found")
    assert_error(client.get("/v1/predict"), 405, "method_not_allowed")


# -- limits ------------------------------------------------------------------------------------


def test_oversize_upload_is_413():
    data = gif_bytes(20, size=(64, 64))
    with client_for(max_upload_bytes=len(data) - 1) as c:
        response = c.post("/v1/predict", files={"file": ("big.gif", data, "image/gif")})
        assert "limit" in assert_error(response, 413, "upload_too_large")
        raw = c.post("/v1/predict", content=data, headers={"Content-Type": "image/gif"})
        assert_error(raw, 413, "upload_too_large")


async def asgi_post(app, headers: list[tuple[bytes, bytes]], receive) -> int:
    """POST to /v1/predict at the ASGI level, with the given ``receive``; the answer's status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/predict",
        "raw_path": b"/v1/predict",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    statuses = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


def call_asgi(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """POST ``chunks`` (then a disconnect): ``(status, chunks the app read)``."""
    reads = []

    async def receive():
        if len(reads) == len(chunks):
            return {"type": "http.disconnect"}
        reads.append(1)
        return {
            "type": "http.request",
            "body": chunks[len(reads) - 1],
            "more_body": len(reads) < len(chunks),
        }

    return asyncio.run(asgi_post(app, headers, receive)), len(reads)


def test_oversize_body_without_content_length_is_cut_off_while_streaming():
    app = create_app(tiny_predictor(), settings=ServeSettings(max_upload_bytes=100_000))
    chunks = [b"\0" * 65536] * 64  # 4 MB, chunked: no Content-Length, only counting can stop it
    status, n_read = call_asgi(app, [(b"content-type", b"image/gif")], chunks)
    assert status == 413
    assert n_read < 5  # refused once past the limit, not after reading all 64 chunks


def test_announced_oversize_body_is_refused_before_reading_it():
    app = create_app(tiny_predictor(), settings=ServeSettings(max_upload_bytes=1000))
    headers = [(b"content-type", b"image/gif"), (b"content-length", b"50000000")]
    assert call_asgi(app, headers, [b"GIF89a"]) == (413, 0)


def test_too_many_frames_is_422():
    with client_for(max_frames=5) as c:
        ok = c.post("/v1/predict", files={"file": ("five.gif", gif_bytes(5), "image/gif")})
        assert ok.status_code == 200, ok.text
        response = c.post("/v1/predict", files={"file": ("six.gif", gif_bytes(6), "image/gif")})
    assert "six.gif" in assert_error(response, 422, "too_many_frames")


def test_too_many_pixels_is_422():
    with client_for(max_pixels=40 * 32 - 1) as c:
        response = c.post(
            "/v1/predict", files={"file": ("wide.gif", gif_bytes(4, size=(40, 32)), "image/gif")}
        )
    assert "wide.gif" in assert_error(response, 422, "too_many_pixels")


def test_limits_do_not_change_the_callers_predictor():
    predictor = tiny_predictor()
    before = (predictor.max_frames, predictor.max_pixels)
    create_app(predictor, settings=ServeSettings(max_frames=3, max_pixels=10))
    assert (predictor.max_frames, predictor.max_pixels) == before


def test_busy_server_answers_503_with_retry_after():
    app = create_app(
        tiny_predictor(), settings=ServeSettings(workers=1, max_queue=0, retry_after_s=7)
    )
    with TestClient(app) as c:
        with app.state.pool.slot():  # the one slot is taken
            response = c.post("/v1/predict", files={"file": ("a.gif", gif_bytes(4), "image/gif")})
            assert_error(response, 503, "busy")
            assert response.headers["Retry-After"] == "7"
            assert c.get("/healthz").json()["in_progress"] == 1
        assert (
            c.post("/v1/predict", files={"file": ("a.gif", gif_bytes(4), "image/gif")}).status_code
            == 200
        )


class GatedBackend:
    """The tiny model's backend, holding every forward pass until ``gate`` opens."""

    def __init__(self, backend, gate: threading.Event):
        self._backend, self._gate = backend, gate
        self.labels, self.preprocess = backend.labels, backend.preprocess
        self.info, self.clip_seed = backend.info, backend.clip_seed

    def __call__(self, clips):
        self._gate.wait(timeout=30)
        return self._backend(clips)


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_timeout_is_504_and_the_slot_stays_taken_until_the_job_ends():
    gate = threading.Event()
    predictor = Predictor(GatedBackend(tiny_predictor().backend, gate))
    app = create_app(
        predictor, settings=ServeSettings(workers=1, max_queue=0, request_timeout_s=1.0)
    )
    with TestClient(app) as c:
        try:
            response = c.post(
                "/v1/predict", files={"file": ("slow.gif", gif_bytes(4), "image/gif")}
            )
            assert "slow.gif" in assert_error(response, 504, "timeout")
            # The job still runs in its thread: its slot is not given to a new request.
            health = c.get("/healthz").json()
            assert (health["running"], health["in_progress"]) == (1, 1)
            assert_error(
                c.post("/v1/predict", files={"file": ("b.gif", gif_bytes(4), "image/gif")}),
                503,
                "busy",
            )
        finally:
            gate.set()
        wait_until(lambda: c.get("/healthz").json()["in_progress"] == 0)
        assert (
            c.post("/v1/predict", files={"file": ("c.gif", gif_bytes(4), "image/gif")}).status_code
            == 200
        )


def test_server_stays_responsive_while_workers_are_busy():
    gate = threading.Event()
    predictor = Predictor(GatedBackend(tiny_predictor().backend, gate))
    app = create_app(predictor, settings=ServeSettings(workers=1, max_queue=2))
    with TestClient(app) as c:
        results: list[int] = []

        def post(i: int) -> None:
            files = {"file": (f"{i}.gif", gif_bytes(4, seed=i), "image/gif")}
            results.append(c.post("/v1/predict", files=files).status_code)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
        try:
            for t in threads:
                t.start()
            wait_until(lambda: c.get("/healthz").json()["in_progress"] == 3)
            # Worker and queue are full: the event loop still answers at once.
            assert c.get("/v1/labels").status_code == 200
            assert_error(
                c.post("/v1/predict", files={"file": ("x.gif", gif_bytes(4), "image/gif")}),
                503,
                "busy",
            )
        finally:
            gate.set()
            for t in threads:
                t.join(timeout=30)
    assert sorted(results) == [200, 200, 200]


def test_a_client_that_disconnects_gives_its_queued_slot_back():
    gate = threading.Event()
    app = create_app(
        Predictor(GatedBackend(tiny_predictor().backend, gate)),
        settings=ServeSettings(workers=1, max_queue=1),
    )
    pool, headers = app.state.pool, [(b"content-type", b"image/gif")]

    def client(leave: asyncio.Event):
        sent = []

        async def receive():
            if not sent:
                sent.append(1)
                return {"type": "http.request", "body": gif_bytes(4), "more_body": False}
            await leave.wait()
            return {"type": "http.disconnect"}

        return receive

    async def until(condition):
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("condition not reached")

    async def scenario():
        stays, leaves = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(asgi_post(app, headers, client(stays)))
        await until(lambda: pool.running == 1)  # holds the only worker, at the gate
        second = asyncio.create_task(asgi_post(app, headers, client(leaves)))
        await until(lambda: pool.taken == 2)  # waits for the worker
        leaves.set()
        assert await second == 499
        assert (pool.taken, pool.running) == (1, 1)  # its job was dropped without running
        gate.set()
        assert await first == 200
        assert pool.taken == 0

    try:
        asyncio.run(scenario())
    finally:
        gate.set()


# -- explanations ----------------------------------------------------------------------------


def test_explain_returns_the_heatmap_gif_and_the_frame_importance_of_gifemo_explain(client):
    import base64

    from gifemo.inference.explain import Explainer
    from gifemo.io import read_gif

    data = gif_bytes(9, seed=4)
    response = client.post(
        "/v1/explain?label=fear", files={"file": ("wave.gif", data, "image/gif")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected, _ = Explainer(tiny_predictor()).explain(NamedBytes("wave.gif", data), label="fear")
    assert body["label"] == "fear" and body["method"] == "gradcam"
    assert body["source"] == "wave.gif" and body["n_frames"] == 9
    assert [f["importance"] for f in body["frames"]] == pytest.approx(
        expected.frame_importance.tolist(), abs=1e-6
    )
    assert body["score"] == pytest.approx(expected.score, abs=1e-6)
    heatmap = read_gif(base64.b64decode(body["heatmap_gif"]))
    assert heatmap.frames.shape[:3] == (9, 32, 40)  # the upload's own frames and size


def test_explain_has_the_limits_and_errors_of_predict(client):
    assert_error(
        client.post("/v1/explain?label=joy", files={"file": ("a.gif", gif_bytes(5), "image/gif")}),
        400,
        "bad_request",
    )
    assert_error(
        client.post(
            "/v1/explain?method=lime", content=gif_bytes(5), headers={"Content-Type": "image/gif"}
        ),
        400,
        "bad_request",
    )
    response = client.post(
        "/v1/explain", files={"file": ("notes.txt", b"not an image", "text/plain")}
    )
    assert "notes.txt" in assert_error(response, 400, "not_an_image")
    with client_for(max_frames=4) as small:
        response = small.post(
            "/v1/explain", files={"file": ("long.gif", gif_bytes(6), "image/gif")}
        )
        assert_error(response, 422, "too_many_frames")
    with client_for(max_upload_bytes=1000) as small:
        response = small.post(
            "/v1/explain", files={"file": ("big.gif", gif_bytes(9, size=(64, 64)), "image/gif")}
        )
        assert_error(response, 413, "upload_too_large")


# -- the other routes --------------------------------------------------------------------------


def test_labels_and_health(client):
    labels = client.get("/v1/labels").json()
    assert labels["labels"] == list(tiny_predictor().labels)
    assert set(labels["colors"]) == set(labels["labels"])
    assert all(re.fullmatch(r"#[0-9a-f]{6}", color) for color in labels["colors"].values())
    assert labels["model"]["name"] == "resnet_convgru" and labels["model"]["size"] == 32
    # an untrained model has no report: its reliability is unknown, its temperature 1
    assert labels["reliability"] is None and labels["model"]["temperature"] == 1.0
    assert labels["explain_methods"] == ["gradcam", "occlusion"]
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["capacity"] == ServeSettings().capacity


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def test_page_and_its_assets_are_served_without_any_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert not EXTERNAL.search(page.text)
    assets = re.findall(r"""(?:src|href)="(static/[^"]+)""", page.text)
    assert sorted(assets) == ["static/app.css", "static/app.js"]
    for asset in assets:
        response = client.get("/" + asset)
        assert response.status_code == 200 and len(response.content) > 500
    # The script fetches only relative URLs; its one absolute URL is the SVG namespace name.
    urls = set(re.findall(r"https?://[^\s\"'`]+", client.get("/static/app.js").text))
    assert urls == {"http://www.w3.org/2000/svg"}


def test_openapi_docs_are_served_without_any_cdn(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/labels", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    for docs in ("/docs", "/redoc"):
        html = client.get(docs).text
        assert not EXTERNAL.search(html), docs
        for asset in re.findall(r"""(?:src|href)="(/static-offline-docs/[^"]+)""", html):
            assert client.get(asset).status_code == 200


def test_settings_are_validated():
    with pytest.raises(ValueError, match="workers"):
        ServeSettings(workers=0)
    with pytest.raises(ValueError, match="max_upload_bytes"):
        ServeSettings(max_upload_bytes=-1)
    with pytest.raises(ValueError, match="max_queue"):
        ServeSettings(max_queue=-1)


def test_cli_serve_refuses_a_missing_model(tmp_path):
    from typer.testing import CliRunner

    from gifemo.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path / "no-such-run")])
    assert result.exit_code == 2
    assert "cannot load model" in result.output
