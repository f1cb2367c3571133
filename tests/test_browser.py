"""End to end in a real browser: the app served by `streamlit run`, driven by Playwright
with the system's Chromium. Home -> Run the demo -> the run's curve appears -> Compare
shows maps; then a look at every other page. Screenshots go to test-output/screenshots/.

Skipped when /usr/bin/chromium (or Playwright) is missing. The demo is shortened with
LAKD_DEMO_EPOCHS / LAKD_DEMO_PER_CLASS (one epoch on 500 sample images) and uses the
real bundled teacher, so the screenshots show what a user sees.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    runs = tmp_path_factory.mktemp("runs")
    port = free_port()
    env = {**os.environ, "LAKD_RUNS_DIR": str(runs), "LAKD_DEMO_EPOCHS": "1", "LAKD_DEMO_PER_CLASS": "50",
           "PYTHONUNBUFFERED": "1"}
    env.pop("LAKD_BUNDLED_TEACHER", None)
    log = open(runs.parent / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, runs
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        # the run store's worker exits by itself when idle; wait for it so the temp folder can go
        from lakd.worker import worker_alive
        deadline = time.monotonic() + 30
        while worker_alive(runs) and time.monotonic() < deadline:
            time.sleep(0.5)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1400, "height": 950}, accept_downloads=True)
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the
    window is made as tall as that block for the picture."""
    page.wait_for_timeout(800)  # let charts finish drawing
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return Math.max(main ? main.scrollHeight : 0, document.body.scrollHeight); }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height + 20, size["height"]), 5000)})
    page.wait_for_timeout(700)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until Streamlit has not been running the script for 1.5 s in a row (its status
    widget shows while a run is going on, and appears a moment after a click)."""
    deadline = time.monotonic() + timeout / 1000
    quiet = 0
    while quiet < 3:
        if time.monotonic() > deadline:
            raise TimeoutError("the app kept running its script")
        busy = page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if busy else quiet + 1
        page.wait_for_timeout(500)


def no_exceptions(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()


def goto(page, url: str, label: str) -> None:
    page.get_by_role("link", name=label).first.click()
    page.wait_for_timeout(500)
    wait_idle(page, 120_000)
    no_exceptions(page)


def test_demo_to_compare(server, page):
    url, runs = server
    page.goto(url)
    demo = page.get_by_role("button", name="Run the demo")
    demo.wait_for()
    wait_idle(page)
    no_exceptions(page)
    shot(page, "01-home")

    demo.click()
    # the live panel: progress first, then the accuracy curve once the first epoch is done
    page.locator('[data-testid="stMetricLabel"]', has_text="Test accuracy").first.wait_for(timeout=150_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=30_000)
    no_exceptions(page)
    shot(page, "02-home-demo-curve")
    assert any("-demo-" in p.name for p in runs.iterdir()), "the demo run is not in the run store"

    goto(page, url, "Compare")
    image = page.locator('[data-testid="stImage"] img').first
    try:
        image.wait_for(timeout=60_000)
    except Exception:
        shot(page, "99-compare-failure")
        raise
    wait_idle(page, 120_000)
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) > 200
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)  # the accuracy curves
    no_exceptions(page)
    shot(page, "03-compare-maps")


def test_other_pages(server, page):
    url, _ = server
    page.goto(url)
    wait_idle(page)
    for label, name, wait_text in [("Runs", "04-runs", "Follow a run"), ("Executive summary", "05-summary", "Accuracy kept"),
                                   ("Distill", "06-distill", "Launch"), ("Teacher", "07-teacher", "The bundled teacher"),
                                   ("Explore", "08-explore", "Queue the sweep")]:
        goto(page, url, label)
        page.get_by_text(wait_text).first.wait_for(timeout=90_000)
        wait_idle(page, 120_000)
        no_exceptions(page)
        shot(page, name)
        if label == "Executive summary":  # the one-page report downloads, with its pictures inside
            with page.expect_download() as download:
                page.get_by_role("button", name="Download the one-page report (HTML)").click()
            html = Path(download.value.path()).read_text(encoding="utf-8")
            assert "<h1>" in html and html.count("data:image/png;base64,") == 2


def test_teacher_pack_made_in_the_browser(server, page):
    url, runs = server
    page.goto(url)
    wait_idle(page)
    goto(page, url, "Teacher")
    page.get_by_role("button", name="Make the pack").click()
    page.get_by_text("is ready").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    no_exceptions(page)
    assert (runs / "packs").is_dir() and any((p / "manifest.json").exists() for p in (runs / "packs").iterdir())
    page.get_by_text("Bytes per image").first.wait_for(timeout=30_000)
    shot(page, "09-teacher-pack")
