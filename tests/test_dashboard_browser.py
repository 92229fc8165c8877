"""The served dashboard in a real browser (Chromium through Playwright)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.dashboard_helpers import (
    COMMITTED,
    png_bytes,
)

ARTIFACTS = ROOT / ".ci-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


# ----- the served dashboard in a real browser -----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, "the dashboard exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode() == "ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the dashboard did not answer on port {port} within {seconds} s")


def _settle(page, title: str | None = None, seconds: float = 300) -> None:
    """Waits for the page ``title`` and until no script run has been going for 1.5 s."""
    from playwright.sync_api import expect

    if title is not None:
        expect(page.locator("h1").first).to_have_text(title)
    deadline, quiet = time.time() + seconds, 0
    while quiet < 3:
        assert time.time() < deadline, "the page kept running"
        running = page.get_by_test_id("stStatusWidget").count() > 0
        quiet = 0 if running else quiet + 1
        page.wait_for_timeout(500)


@contextlib.contextmanager
def _served_page(extra_args: list[str], height: int, timeout_ms: int):
    """``glasswing dashboard`` on a free local port and a Chromium page of it: yields ``(page, port)``.

    The server runs in its own session and is stopped with its children afterwards.
    """
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "dashboard", "--port", str(port), *extra_args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_healthy(port, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": height})
            page.set_default_timeout(timeout_ms)
            expect.set_options(timeout=timeout_ms)
            yield page, port
            browser.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


# ~29 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_browser_upload_predict_and_explain(image_only, tmp_path):
    """`glasswing dashboard` on localhost, driven by headless Chromium: upload, predict, explain."""
    from playwright.sync_api import expect

    good, bad = tmp_path / "shirt.png", tmp_path / "broken.png"
    good.write_bytes(png_bytes((60, 80)))
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Bounded waits: the first page load imports TensorFlow and loads the model
    # (generous, because CI machines are slower than a warm developer machine).
    with _served_page(["--models-dir", str(image_only)], height=1000, timeout_ms=120_000) as (page, port):
        try:
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.get_by_text("image · image classify").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "overview.png")
            nav = page.locator("[data-testid=stSidebarNav]")
            nav.get_by_text("Playground", exact=True).click()
            page.get_by_text("Your own").click()
            page.locator("input[type=file]").set_input_files(str(bad))
            expect(page.locator("[data-testid=stAlertContentError]")).to_contain_text("Cannot read the image")
            page.locator("input[type=file]").set_input_files(str(good))
            captions = page.get_by_test_id("stImageCaption")
            expect(captions.filter(has_text="shirt.png").first).to_be_visible()
            # Until the run ends, Streamlit still shows the test example's stale panels
            # below the new ones (CI once saw two "Keras model" headings): settle first.
            _settle(page, "Playground", 120)
            expect(page.get_by_text("Keras model", exact=True)).to_have_count(1)
            expect(page.get_by_text("test example #", exact=False)).to_have_count(0)
            expect(page.locator("[data-testid=stAlertContentError]")).to_have_count(0)
            expect(page.locator("[data-testid=stMetricValue]").first).not_to_be_empty()
            page.screenshot(path=ARTIFACTS / "playground.png")
            nav.get_by_text("Explain", exact=True).click()
            expect(page.get_by_text("deletion AUC").first).to_be_visible()
            _settle(page, "Explain", 120)
            # The upload, not a test example, is what is explained (checked once the
            # run has ended, so a stale Playground caption cannot pass for it).
            expect(captions.filter(has_text="shirt.png").first).to_be_visible()
            expect(page.get_by_text("test example #", exact=False)).to_have_count(0)
            page.screenshot(path=ARTIFACTS / "explain.png")
            nav.get_by_text("Insights", exact=True).click()
            _settle(page, "Insights", 120)
            expect(page.get_by_text("each explained for its true class").first).to_be_visible()
            expect(page.get_by_text("Download the report (HTML)")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "insights.png")
        except Exception:
            # Leave evidence for a failure seen only on a loaded machine.
            page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
            print("page text at failure:", page.inner_text("body")[:2000])
            raise
    assert (ARTIFACTS / "explain.png").stat().st_size > 10_000


@pytest.mark.slow
# A fresh clone synthesizes the speech set inside this test (~4-8 min on 2 cores) before the
# pages: 500 s on one run, over the 600-s default on a slower one (2026-12-06).
@pytest.mark.timeout(1500)
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_browser_screenshots_of_every_page_with_the_committed_models():
    """Every page of every committed app in Chromium, saved under .ci-artifacts/dashboard/pages/."""
    from playwright.sync_api import expect

    from apps import APPS, artifacts
    from apps.artifacts import list_trained

    out = ARTIFACTS / "pages"
    out.mkdir(parents=True, exist_ok=True)
    # Data first, outside the pages' time limits: a fresh clone synthesizes the speech set
    # (~8 min on 2 cores) on its first use, which a page would otherwise have to wait for.
    for name in list_trained(COMMITTED):
        app = APPS[name]
        app.prepare(artifacts.load_config(app, COMMITTED / name))
    # First visits read and predict whole test splits.
    with _served_page([], height=2000, timeout_ms=300_000) as (page, port):
        page.goto(f"http://127.0.0.1:{port}/")
        nav = page.locator("[data-testid=stSidebarNav]")
        for name in [n for n in APPS if n in list_trained(COMMITTED)]:
            page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").click()
            page.get_by_role("option", name=f"{name} ·").click()
            titles = ["Overview", "Export"]
            titles += ["Generate"] if APPS[name].task == "generate" else []
            titles += (
                ["Data", "Playground", "Explain", "Insights", "Features", "Errors"]
                if APPS[name].task == "classify"
                else []
            )
            for title in titles:
                nav.get_by_text(title, exact=True).click()
                _settle(page, "Glasswing models" if title == "Overview" else title)
                expect(page.locator("[data-testid=stException]")).to_have_count(0)
                if title == "Explain" and APPS[name].raw is not None:
                    # Each map can be heard three ways (as recorded, kept, removed), plus the input.
                    expect(page.locator("[data-testid=stAudio]")).not_to_have_count(0)
                    assert page.locator("[data-testid=stAudio]").count() >= 4
                page.screenshot(path=out / f"{name}-{title.lower()}.png")
