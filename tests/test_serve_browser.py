"""End to end: ``gifemo serve``'s page in headless Chromium, against uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from serve_helpers import gif_bytes, live_server

from gifemo.doctor import DEFAULT_CHROMIUM, find_chromium

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
NOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"


@pytest.fixture(scope="module")
def browser():
    chromium = find_chromium()
    if chromium is None:
        where = os.environ.get("GIFEMO_CHROMIUM", DEFAULT_CHROMIUM)
        pytest.skip(
            f"Chromium not found at {where} (Debian package 'chromium'; .ci/run installs it)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the 'playwright' package is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server():
    with live_server() as url:
        yield url


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/")
    page.wait_for_selector("#bars .bar[data-label]", state="attached")
    yield page
    page.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def a_gif(tmp_path: Path) -> Path:
    """A real animated emoji when the shared data is there, else a generated GIF."""
    real = sorted((NOTO / "happiness").glob("*.gif")) if NOTO.is_dir() else []
    if real:
        return real[0]
    path = tmp_path / "generated.gif"
    path.write_bytes(gif_bytes(12, size=(96, 80)))
    return path


def test_upload_shows_the_gif_bars_and_timeline(page, server, tmp_path):
    gif = a_gif(tmp_path)
    labels = httpx.get(server + "/v1/labels").json()["labels"]
    assert (
        page.eval_on_selector_all("#bars .bar", "rows => rows.map(r => r.dataset.label)") == labels
    )

    page.set_input_files("#file-input", str(gif))
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)

    rows = page.eval_on_selector_all(
        "#bars .bar",
        "rows => rows.map(r => [r.dataset.label, r.dataset.value, "
        "r.querySelector('.bar-value').textContent])",
    )
    with gif.open("rb") as handle:
        expected = httpx.post(
            server + "/v1/predict", files={"file": (gif.name, handle, "image/gif")}, timeout=60
        )
    assert expected.status_code == 200, expected.text
    intensities = expected.json()["intensities"]
    assert [label for label, _, _ in rows] == labels
    for label, value, text in rows:
        assert float(value) == pytest.approx(intensities[label], abs=1e-6)
        assert text == f"{100 * float(value):.1f}%"
    assert sum(float(value) for _, value, _ in rows) == pytest.approx(1.0, abs=1e-5)
    top = page.eval_on_selector("#bars .bar.is-top", "r => r.dataset.label")
    assert top == expected.json()["top_label"]

    # The GIF plays from an object URL and has loaded.
    src, width = page.eval_on_selector("#preview", "img => [img.src, img.naturalWidth]")
    assert src.startswith("blob:") and width > 0
    # One timeline line and one legend entry per emotion.
    assert (
        page.eval_on_selector_all("#timeline path.series", "p => p.map(x => x.dataset.label)")
        == labels
    )
    assert page.eval_on_selector_all("#legend .legend-item", "items => items.length") == len(labels)
    assert page.is_hidden("#error")

    # Then the explanation of the top emotion: the heat-map GIF and one bar per frame.
    page.wait_for_selector("#explain[data-state=ready]", timeout=120_000)
    top_label = expected.json()["top_label"]
    with gif.open("rb") as handle:
        explained = httpx.post(
            server + "/v1/explain",
            params={"label": top_label},
            files={"file": (gif.name, handle, "image/gif")},
            timeout=120,
        )
    assert explained.status_code == 200, explained.text
    frames = explained.json()["frames"]
    bars = page.eval_on_selector_all(
        "#importance rect.frame", "rects => rects.map(r => [r.dataset.frame, r.dataset.value])"
    )
    assert [int(i) for i, _ in bars] == [f["index"] for f in frames]
    for (_, value), frame in zip(bars, frames):
        assert float(value) == pytest.approx(frame["importance"], abs=1e-6)
    src, width = page.eval_on_selector("#heatmap", "img => [img.src, img.naturalWidth]")
    assert src.startswith("data:image/gif;base64,") and width > 0
    assert top_label in page.text_content("#explain-label")
    # The untrained test model has no test report: the page says its reliability is unknown.
    assert "unknown" in page.inner_text("#reliability")


def test_a_file_that_is_not_a_gif_shows_the_servers_error(page):
    page.set_input_files(
        "#file-input", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    )
    page.wait_for_selector("body[data-state=error]", timeout=30_000)
    assert page.get_attribute("#error", "data-code") == "not_an_image"
    assert "notes.txt" in page.inner_text("#error")
    assert page.is_hidden("#results")


def test_the_page_shows_the_test_ece_of_a_calibrated_run(browser, explain_run):
    import json

    import gifemo

    run, _, _ = explain_run
    report = json.loads((run / "report.json").read_text())
    ece = report["metrics"]["calibration"]["ece"]["value"]
    temperature = report["metrics"]["calibration"]["temperature"]
    with live_server(predictor=gifemo.load(run, precision="32")) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#reliability[data-ece]:not([data-ece=''])", timeout=30_000)
        assert float(page.get_attribute("#reliability", "data-ece")) == pytest.approx(ece)
        text = page.inner_text("#reliability")
        assert f"{100 * ece:.1f}%" in text and f"temperature {temperature:.2f}" in text
        page.close()
