"""Every dashboard page in a real browser: `streamlit run` over a synthetic shop, headless
Chromium opens each page, waits until it has rendered, checks that no exception is shown
and saves var/screenshots/dashboard-<page>.png (kept by CI as an artefact). With
AISLE_UPDATE_DOCS_IMAGES=1 the Overview and Funnel pictures also replace the README's in
docs/images/ (only then: a test run leaves the tracked files as they are)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta

import polars as pl
import pytest
from dashboard_fixtures import ROOT, write_tracker_store

from analytics.audience import audience_hashes, with_advertising
from analytics.consent import advertising_consents, synthetic_decisions
from analytics.segments import members, rfm, rule_segments
from analytics.synthetic import generate

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
PORTS = range(8601, 8611)
SHOTS = ROOT / "var" / "screenshots"
DOCS_IMAGES = ROOT / "docs" / "images"
# page url path -> (screenshot name, charts the page draws on the demo data)
PAGES = {"": ("overview", 1), "funnel": ("funnel", 2), "abandonment": ("abandonment", 2),
         "segments": ("segments", 3), "conversations": ("conversations", 3)}
DEMO_EVENTS = 200_000  # the size `make run` loads
DAYS = 90

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("ports 8601-8610 are all taken")


def _wait_healthy(url: str, server: subprocess.Popen, log, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture(scope="module")
def demo_shop(tmp_path_factory):
    """A shop's last 90 days of synthetic traffic, ending today, and a Rasa tracker store
    with a few conversations yesterday."""
    folder = tmp_path_factory.mktemp("screenshots")
    today = datetime.combine(datetime.utcnow().date(), datetime.min.time())
    events = generate(DEMO_EVENTS, seed=3, start=today - timedelta(days=DAYS), days=DAYS)
    events.write_parquet(folder / "events.parquet")
    synthetic_decisions(events).write_parquet(folder / "consents.parquet")
    write_tracker_store(folder / "rasa_tracker.db", today - timedelta(days=1))
    return folder, events


@pytest.fixture(scope="module")
def dashboard_url(demo_shop):
    folder, _ = demo_shop
    port = _free_port()
    env = {**os.environ, "ANALYTICS_EVENTS_URL": str(folder / "events.parquet"),
           "ANALYTICS_CONSENTS_URL": str(folder / "consents.parquet"),
           "TRACKER_STORE_URL": f"sqlite:///{folder / 'rasa_tracker.db'}"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]
    with open(folder / "streamlit.log", "w+") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"])
        yield chromium
        chromium.close()


def _rendered(page, charts: int, timeout: float = 120) -> None:
    """Wait until the script run is over (no running indicator, no spinner) and every chart
    has drawn itself, twice in a row (a rerun may start right after the first)."""
    deadline, settled = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSpinner"]').count()
        drawn = page.locator('[data-testid="stVegaLiteChart"] canvas, '
                             '[data-testid="stVegaLiteChart"] svg.marks').count()
        ready = page.locator('[data-testid="stMain"] h1').count() and not busy \
            and drawn >= charts
        settled = settled + 1 if ready else 0
        if settled >= 2:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the page did not finish rendering ({drawn} of {charts} charts)")


def _screenshot(page, name: str):
    """The whole page: the main area scrolls inside the window, so the window grows to it."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": max(900, height + 24)})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    return path


@pytest.mark.slow
def test_every_page_renders_in_chromium(dashboard_url, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    saved = {}
    for path, (name, charts) in PAGES.items():
        started = time.monotonic()
        page.goto(f"{dashboard_url}/{path}")
        _rendered(page, charts)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        assert page.get_by_text("Traceback").count() == 0, name
        saved[name] = _screenshot(page, name)
        assert saved[name].stat().st_size > 20_000, name  # a picture, not a blank page
        print(f"{name}: rendered in {time.monotonic() - started:.1f} s")
    if os.environ.get("AISLE_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for name in ("overview", "funnel"):
            shutil.copyfile(saved[name], DOCS_IMAGES / f"dashboard-{name}.png")
    page.close()


@pytest.mark.slow
def test_funnel_breakdown_and_audience_download_in_chromium(dashboard_url, browser,
                                                            demo_shop, tmp_path):
    """Two things only a browser proves: the step builder's breakdown redraws the funnel with
    one series per channel, and the audience CSV a merchant downloads is the hashed list."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page.goto(f"{dashboard_url}/funnel")
    _rendered(page, 2)
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    one_series = chart.bounding_box()["height"]
    page.get_by_test_id("stSelectbox").filter(has_text="Breakdown").click()
    page.get_by_role("option", name="channel", exact=True).click()
    page.wait_for_timeout(500)
    _rendered(page, 2)
    assert page.locator('[data-testid="stException"]').count() == 0
    # six channels: six bars per step instead of one
    assert chart.bounding_box()["height"] > 2 * one_series

    page.goto(f"{dashboard_url}/segments")
    _rendered(page, 3)
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    csv = tmp_path / "audience.csv"
    download.value.save_as(csv)
    lines = csv.read_text().splitlines()
    assert lines[0] == "Email"
    _, events = demo_shop
    segment = download.value.suggested_filename.removeprefix("audience-").rsplit("-", 1)[0]
    today = datetime.combine(datetime.utcnow().date(), datetime.min.time())
    first_day = today - timedelta(days=29)
    period = events.filter(pl.col("ts") >= first_day, pl.col("ts") < today + timedelta(days=1))
    now = min(today + timedelta(days=1), events["ts"].max())
    chosen = members(rfm(period.lazy(), now=now), rule_segments(period.lazy(), now=now),
                     segment)
    folder, _ = demo_shop
    granted = advertising_consents(None, str(folder / "consents.parquet"))
    assert lines[1:] == audience_hashes(chosen, granted).to_list()
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in lines[1:])
    consented = with_advertising(chosen, granted).filter(pl.col("advertising"))
    email = consented["email"][0].strip().lower()
    assert hashlib.sha256(email.encode()).hexdigest() in lines[1:]
    page.close()
