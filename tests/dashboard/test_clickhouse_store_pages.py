"""ANALYTICS_STORE=chdb:PATH: the Funnel and Abandonment pages and the Conversations page's
chat outcomes are computed inside ClickHouse, in a real browser. The store is filled in
this process with the synthetic shop's events (then closed: chdb is one process per path),
`streamlit run` reads it, and every number shown equals the polars engine's on the same
events and filters. A strict funnel (which ClickHouse refuses) falls back to polars and
says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import polars as pl
import pytest
from dashboard_fixtures import ROOT, in_period, synthetic_events

from analytics.abandonment import abandoned_carts, abandonment_summary
from analytics.chat import chat_metrics
from analytics.funnel import Funnel, Step, compute_funnel
from dashboard import data, display

playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("chdb")

CHROMIUM = "/usr/bin/chromium"
PORTS = range(8611, 8621)
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")


def test_the_caption_names_the_store_without_its_password():
    assert data.store_label("clickhouse://aisle:s3cret@clickhouse:8123/aisle") \
        == "clickhouse://aisle@clickhouse:8123/aisle"
    assert "s3cret" not in data.store_caption("clickhouses://u:s3cret@db.example/x")
    assert data.store_label("chdb:/var/aisle/store") == "chdb:/var/aisle/store"


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("ports 8611-8620 are all taken")


@pytest.fixture(scope="module")
def store_shop(tmp_path_factory):
    """The synthetic shop's events in a parquet file (the sidebar's source) and in a chdb
    store (the pages' source), the store closed again."""
    from analytics.clickhouse.store import open_store
    folder = tmp_path_factory.mktemp("clickhouse-pages")
    events = synthetic_events()
    events.write_parquet(folder / "events.parquet")
    store = open_store(f"chdb:{folder / 'store'}")
    try:
        store.create_tables()
        store.insert_events(events)
    finally:
        store.close()
    return folder, events


@pytest.fixture(scope="module")
def dashboard_url(store_shop):
    folder, _ = store_shop
    port = _free_port()
    env = {**os.environ, "ANALYTICS_EVENTS_URL": str(folder / "events.parquet"),
           "ANALYTICS_STORE": f"chdb:{folder / 'store'}",
           "TRACKER_STORE_URL": f"sqlite:///{folder / 'no-tracker.db'}"}
    env.pop("CONVERSATIONS_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]
    with open(folder / "streamlit.log", "w+") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                if server.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"streamlit exited:\n{log.read()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("streamlit did not become healthy") from None
                    time.sleep(0.3)
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
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    tab = browser.new_page(viewport={"width": 1440, "height": 900})
    yield tab
    tab.close()


@pytest.fixture(scope="module")
def filters(store_shop):
    """The sidebar's default filters for these events."""
    _, events = store_shop
    return data.default_filters(events["ts"].min().date(), events["ts"].max().date())


def _rendered(page, metrics: int, timeout: float = 120) -> None:
    """Wait until the run is over (no running indicator or spinner) with ``metrics``
    metrics shown, twice in a row."""
    deadline, settled = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSpinner"]').count()
        ready = (page.locator('[data-testid="stMain"] h1').count() and not busy
                 and page.get_by_test_id("stMetric").count() >= metrics)
        settled = settled + 1 if ready else 0
        if settled >= 2:
            break
        time.sleep(0.5)
    else:
        raise TimeoutError("the page did not finish rendering")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Traceback").count() == 0


def _shown(page) -> dict[str, tuple[str, str | None]]:
    """Metrics by label: (value, delta)."""
    out = {}
    for metric in page.get_by_test_id("stMetric").all():
        label = metric.get_by_test_id("stMetricLabel").inner_text().strip()
        value = metric.get_by_test_id("stMetricValue").inner_text().strip()
        delta = metric.get_by_test_id("stMetricDelta")
        out[label] = (value, delta.inner_text().strip() if delta.count() else None)
    return out


def _says_clickhouse(page, store_shop) -> None:
    folder, _ = store_shop
    assert page.get_by_text(f"Computed in ClickHouse (chdb:{folder / 'store'})").count() >= 1


def _funnel_totals(result: pl.DataFrame) -> list[int]:
    return (result.group_by("step_index").agg(pl.col("entered").sum()).sort("step_index")
            ["entered"].to_list())


def _assert_funnel(shown, result) -> None:
    totals = _funnel_totals(result)
    assert totals[0] > 0
    assert shown["Entered step 1 (users)"][0] == display.count(totals[0])
    assert shown["Reached the last step (users)"][0] == display.count(totals[-1])
    assert shown["Overall conversion"][0] == display.percent(totals[-1] / totals[0])


def test_funnel_page_computes_in_clickhouse(dashboard_url, page, store_shop, filters):
    _, events = store_shop
    page.goto(f"{dashboard_url}/funnel")
    _rendered(page, 3)
    _says_clickhouse(page, store_shop)
    steps = [Step(s) for s in ("view_item", "add_to_cart", "begin_checkout", "purchase")]
    period = in_period(events, filters).lazy()
    ordered = compute_funnel(period, Funnel(steps))
    assert _funnel_totals(ordered)[-1] > 0
    _assert_funnel(_shown(page), ordered)

    # a strict funnel: ClickHouse refuses it, polars computes it and the page says so
    page.get_by_test_id("stSelectbox").filter(has_text="Order").click()
    page.get_by_role("option", name="strict", exact=True).click()
    page.wait_for_timeout(500)
    _rendered(page, 3)
    assert page.get_by_text("ClickHouse computes ordered funnels only").count() == 1
    assert page.get_by_text("Computed in ClickHouse").count() == 0
    _assert_funnel(_shown(page), compute_funnel(period, Funnel(steps, order="strict")))


def test_abandonment_page_computes_in_clickhouse(dashboard_url, page, store_shop, filters):
    _, events = store_shop
    page.goto(f"{dashboard_url}/abandonment")
    _rendered(page, 6)
    _says_clickhouse(page, store_shop)
    period = in_period(events, filters).lazy()
    now = min(filters.end, events["ts"].max())
    carts = abandoned_carts(period, idle=timedelta(hours=1), recovery_window=timedelta(days=7),
                            now=now)
    summary = abandonment_summary(period, carts=carts)
    assert carts.height > 0
    eur = next(row for row in summary["by_currency"] if row["currency"] == "EUR")
    kinds = dict(carts.group_by("kind").len().iter_rows())
    shown = _shown(page)
    assert shown["Abandoned carts"][0] == display.count(kinds.get("cart", 0))
    assert shown["Abandoned checkouts"][0] == display.count(kinds.get("checkout", 0))
    assert shown["Value at risk"][0] == display.money(eur["value_at_risk"], "EUR")
    assert shown["Recovered"] == (display.money(eur["recovered_value"], "EUR"),
                                  f"{summary['recovered']:,} carts")
    assert shown["Recovery rate"][0] == display.percent(summary["recovery_rate"])
    assert shown["Still open"][0] == display.count(summary["open"])


def test_chat_outcomes_compute_in_clickhouse(dashboard_url, page, store_shop, filters):
    _, events = store_shop
    page.goto(f"{dashboard_url}/conversations")
    _rendered(page, 6)
    _says_clickhouse(page, store_shop)
    assert page.get_by_text("ClickHouse does not compute the support inbox").count() == 1
    metrics = chat_metrics(in_period(events, filters).lazy(), None)
    assert metrics["conversations"] > 0
    shown = _shown(page)
    assert shown["Conversations"][0] == display.count(metrics["conversations"])
    assert shown["Containment"][0] == display.percent(metrics["containment_rate"])
    assert shown["Handoff rate"] == (display.percent(metrics["handoff_rate"]),
                                     f"{metrics['handoffs']:,} handoffs")
    reply = metrics["first_agent_reply"]
    assert shown["Time to first agent reply (median)"][0] == \
        display.duration(reply["median_seconds"])
    eur = next(row for row in metrics["attributed_revenue"] if row["currency"] == "EUR")
    assert shown["Attributed revenue (EUR)"] == (display.money(eur["net"], "EUR"),
                                                 f"{eur['orders']:,} orders")
