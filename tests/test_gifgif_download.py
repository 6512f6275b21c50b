"""``gifemo data gifgif download`` against a local HTTP server on 127.0.0.1 that misbehaves in
the ways real CDNs do (404, slow, cut bodies, HTML instead of a GIF, 503/429 then OK), and from
an images tar."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gifemo.cli import app
from gifemo.data.gifgif.download import read_manifest
from gifemo.data.sources import load_dataset
from gifemo.io import read_gif, write_gif

CLIENT_TIMEOUT_S = 0.5
TOO_SLOW_S = 1.5  # > CLIENT_TIMEOUT_S: the client gives up on this response
RETRIES = 2  # so an always-failing retryable URL gets 3 requests


def _gif_bytes(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(3, size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    write_gif(buffer, frames, 100)
    return buffer.getvalue()


GOOD = {
    name: _gif_bytes(k)
    for k, name in enumerate(
        ["good1", "good2", "slowOnce", "slowOk", "flaky503", "rateLimited", "cutGif"]
    )
}


class _Handler(BaseHTTPRequestHandler):
    """Serves ``/media/<id>/giphy.gif``; what happens depends on ``<id>`` and its request count."""

    server: _Server

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "image/gif",
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = self.path.strip("/").split("/")
        gif_id = parts[1] if len(parts) == 3 and parts[0] == "media" else ""
        n = self.server.count(gif_id)
        try:
            behaviour = _BEHAVIOURS.get(gif_id)
            if behaviour is None:
                self._send(404, b"not found", "text/plain")
            else:
                behaviour(self, n)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left: expected for the slow cases


def _good(handler: _Handler, gif_id: str) -> None:
    handler._send(200, GOOD[gif_id])


_BEHAVIOURS: dict[str, Callable[[_Handler, int], None]] = {
    "good1": lambda h, n: _good(h, "good1"),
    "good2": lambda h, n: _good(h, "good2"),
    # Too slow the first time (client timeout), fine on the retry.
    "slowOnce": lambda h, n: (time.sleep(TOO_SLOW_S) if n == 1 else None) or _good(h, "slowOnce"),
    # Slow but within the client's timeout: one request, success.
    "slowOk": lambda h, n: time.sleep(CLIENT_TIMEOUT_S / 3) or _good(h, "slowOk"),
    "alwaysSlow": lambda h, n: time.sleep(TOO_SLOW_S) or _good(h, "good1"),
    # Announces the full length, sends half, closes: an incomplete body.
    "truncated": lambda h, n: h._send(
        200, GOOD["good1"][: len(GOOD["good1"]) // 2], length=len(GOOD["good1"])
    ),
    # A consistent response whose content is a GIF cut in half (no trailer).
    "cutGif": lambda h, n: h._send(200, GOOD["cutGif"][: len(GOOD["cutGif"]) // 2]),
    "notGif": lambda h, n: h._send(200, b"<html><body>Not here</body></html>", "image/gif"),
    "flaky503": lambda h, n: (
        h._send(503, b"busy", "text/plain") if n == 1 else _good(h, "flaky503")
    ),
    "rateLimited": lambda h, n: (
        h._send(429, b"slow down", "text/plain", headers={"Retry-After": "0"})
        if n == 1
        else _good(h, "rateLimited")
    ),
    "huge": lambda h, n: h._send(200, b"GIF89a" + bytes(40_000)),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # slow handlers may still sleep when the test ends

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self.requests: Counter = Counter()

    def count(self, gif_id: str) -> int:
        with self._lock:
            self.requests[gif_id] += 1
            return self.requests[gif_id]

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-response is part of the test

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/media/{{id}}/giphy.gif"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


LABELS = ["happiness", "like", "surprise", "sadness", "anger", "disgust", "fear"]


def _manifest(path: Path, ids: list[str]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "url", "label", "score", "rank"])
        for k, gif_id in enumerate(ids):
            writer.writerow(
                [
                    gif_id,
                    f"https://media.giphy.com/media/{gif_id}/giphy.gif",
                    LABELS[k % len(LABELS)],
                    f"{1.0 - k / 100:.6f}",
                    k // len(LABELS) + 1,
                ]
            )
    return path


def _download(manifest: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        app,
        [
            "data",
            "gifgif",
            "download",
            str(manifest),
            "--out",
            str(out),
            "--concurrency",
            "4",
            "--timeout",
            str(CLIENT_TIMEOUT_S),
            "--retries",
            str(RETRIES),
            "--backoff",
            "0.02",
            *extra,
        ],
    )


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_download_handles_every_failure_mode_and_resumes(server, tmp_path):
    ids = [
        "good1",
        "good2",
        "missing",
        "slowOnce",
        "slowOk",
        "alwaysSlow",
        "truncated",
        "cutGif",
        "notGif",
        "flaky503",
        "rateLimited",
    ]
    manifest = _manifest(tmp_path / "manifest.csv", ids)
    out = tmp_path / "gifgif"
    result = _download(manifest, out, "--base-url", server.base_url)
    assert result.exit_code == 0, result.output  # failures are reported, not fatal

    report = json.loads((out / "download_report.json").read_text())
    assert report["counts"] == {"downloaded": 6, "present": 0, "failed": 5}
    reasons = {f["id"]: f["reason"] for f in report["failures"]}
    assert reasons["missing"] == "HTTP 404"
    assert "timeout" in reasons["alwaysSlow"]
    assert "RemoteProtocolError" in reasons["truncated"]  # body shorter than Content-Length
    assert reasons["cutGif"].startswith("truncated GIF")
    assert reasons["notGif"].startswith("not a valid GIF")
    for failure in report["failures"]:
        assert failure["url"] == server.base_url.replace("{id}", failure["id"])
    assert "missing" in result.output and "HTTP 404" in result.output  # the on-screen report

    # Retries where they help, none where they cannot.
    retried = RETRIES + 1
    assert server.requests == Counter(
        {
            "good1": 1,
            "good2": 1,
            "slowOk": 1,
            "missing": 1,
            "notGif": 1,
            "slowOnce": 2,
            "flaky503": 2,
            "rateLimited": 2,
            "alwaysSlow": retried,
            "truncated": retried,
            "cutGif": retried,
        }
    )

    # Only complete, decodable GIFs land, with nothing else beside them.
    entries = {e.id: e for e in read_manifest(manifest)}
    downloaded = {"good1", "good2", "slowOnce", "slowOk", "flaky503", "rateLimited"}
    assert _files(out) == {entries[i].relpath for i in downloaded} | {
        "manifest.csv",
        "download_report.json",
    }
    for gif_id in downloaded:
        path = out / entries[gif_id].relpath
        assert path.read_bytes() == GOOD[gif_id]
        assert read_gif(path).frames.shape == (3, 16, 16, 3)

    # The folder is a dataset as it is, and so is its manifest.
    for source in (out, out / "manifest.csv"):
        dataset = load_dataset(source)
        assert sorted(Path(r.rel_path).stem for r in dataset.records) == sorted(downloaded)
        assert not dataset.problems
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) >= {"path", "label", "id", "url", "score", "rank"}

    # Second run: the downloaded files are not requested again; only failures are retried.
    before = Counter(server.requests)
    result = _download(manifest, out, "--base-url", server.base_url, "--strict")
    assert result.exit_code == 1  # --strict: failures make the exit code non-zero
    assert all(server.requests[i] == before[i] for i in downloaded)
    report = json.loads((out / "download_report.json").read_text())
    assert report["counts"] == {"downloaded": 0, "present": 6, "failed": 5}


def test_second_run_downloads_nothing(server, tmp_path):
    manifest = _manifest(tmp_path / "manifest.csv", ["good1", "good2", "slowOk"])
    out = tmp_path / "gifgif"
    assert _download(manifest, out, "--base-url", server.base_url, "--strict").exit_code == 0
    first = sum(server.requests.values())
    assert first == 3
    result = _download(manifest, out, "--base-url", server.base_url, "--strict")
    assert result.exit_code == 0
    assert sum(server.requests.values()) == first
    assert json.loads((out / "download_report.json").read_text())["counts"]["present"] == 3


def test_broken_file_in_place_is_replaced_and_leftovers_are_cleaned(server, tmp_path):
    manifest = _manifest(tmp_path / "manifest.csv", ["good1", "huge"])
    out = tmp_path / "gifgif"
    target = out / "happiness" / "good1.gif"
    target.parent.mkdir(parents=True)
    target.write_bytes(GOOD["good1"][:40])  # a cut file from some other tool
    stale = target.parent / ".good1.gif.abc123.tmp"  # what a killed run leaves
    stale.write_bytes(b"partial")
    result = _download(manifest, out, "--base-url", server.base_url, "--max-mb", "0.01")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == GOOD["good1"]
    assert not stale.exists()
    report = json.loads((out / "download_report.json").read_text())
    assert report["counts"] == {"downloaded": 1, "present": 0, "failed": 1}
    assert "max_bytes" in report["failures"][0]["reason"]
    assert server.requests["huge"] == 1  # too large is final
    assert not (out / "like").exists() or not any((out / "like").iterdir())


def _write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_from_tar(tmp_path):
    tar_path = _write_tar(
        tmp_path / "gifgif-images-v1.tar",
        [
            ("gifgif-images/good1.gif", GOOD["good1"]),
            ("gifgif-images/README.txt", b"hello"),
            ("gifgif-images/notGif.gif", b"<html></html>"),
            ("gifgif-images/sub/good2.GIF", GOOD["good2"]),
        ],
    )
    manifest = _manifest(tmp_path / "manifest.csv", ["good1", "good2", "notGif", "absent"])
    out = tmp_path / "gifgif"
    result = CliRunner().invoke(
        app,
        [
            "data",
            "gifgif",
            "download",
            str(manifest),
            "--out",
            str(out),
            "--from-tar",
            str(tar_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "download_report.json").read_text())
    assert report["counts"] == {"downloaded": 2, "present": 0, "failed": 2}
    reasons = {f["id"]: f["reason"] for f in report["failures"]}
    assert reasons["notGif"].startswith("not a valid GIF")
    assert "no member" in reasons["absent"]
    assert (out / "happiness" / "good1.gif").read_bytes() == GOOD["good1"]
    assert (out / "like" / "good2.gif").read_bytes() == GOOD["good2"]
    assert _files(out) == {
        "happiness/good1.gif",
        "like/good2.gif",
        "manifest.csv",
        "download_report.json",
    }
    # Resume from the tar too.
    result = CliRunner().invoke(
        app,
        [
            "data",
            "gifgif",
            "download",
            str(manifest),
            "--out",
            str(out),
            "--from-tar",
            str(tar_path),
        ],
    )
    report = json.loads((out / "download_report.json").read_text())
    assert report["counts"] == {"downloaded": 0, "present": 2, "failed": 2}


def test_bad_manifest_is_refused_with_its_line(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "id,url,label\ngood1,http://x/1.gif,happiness\n../../etc,http://x/2.gif,fear\n"
    )
    result = CliRunner().invoke(
        app, ["data", "gifgif", "download", str(manifest), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "manifest.csv:3" in result.output and "not a GIPHY id" in result.output
    assert not (tmp_path / "out").exists()


def test_cut_tar_keeps_what_it_could_read_and_bad_tar_is_refused(tmp_path):
    big = _gif_bytes(99, size=96)
    tar_path = _write_tar(
        tmp_path / "images.tar", [("imgs/good1.gif", GOOD["good1"]), ("imgs/good2.gif", big)]
    )
    data = tar_path.read_bytes()
    tar_path.write_bytes(data[: 1024 + len(GOOD["good1"]) + 1024])  # cut inside good2's member
    manifest = _manifest(tmp_path / "manifest.csv", ["good1", "good2"])
    out = tmp_path / "gifgif"
    result = CliRunner().invoke(
        app,
        [
            "data",
            "gifgif",
            "download",
            str(manifest),
            "--out",
            str(out),
            "--from-tar",
            str(tar_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "download_report.json").read_text())
    assert report["counts"] == {"downloaded": 1, "present": 0, "failed": 1}
    assert report["failures"][0]["id"] == "good2"
    assert "tar unreadable" in report["failures"][0]["reason"]
    assert _files(out) == {"happiness/good1.gif", "manifest.csv", "download_report.json"}

    not_a_tar = tmp_path / "images2.tar"
    not_a_tar.write_bytes(b"this is not a tar archive" * 100)
    result = CliRunner().invoke(
        app,
        [
            "data",
            "gifgif",
            "download",
            str(manifest),
            "--out",
            str(tmp_path / "other"),
            "--from-tar",
            str(not_a_tar),
        ],
    )
    assert result.exit_code == 2 and "not a readable tar" in result.output


def test_unusable_url_fails_without_retries(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,url,label\ngood1,ftp://127.0.0.1/good1.gif,happiness\n")
    out = tmp_path / "out"
    result = _download(manifest, out)
    assert result.exit_code == 0, result.output
    failure = json.loads((out / "download_report.json").read_text())["failures"][0]
    assert failure["reason"].startswith("bad URL") and failure["attempts"] == 1
