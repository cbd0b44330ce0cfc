"""Where the dashboard reads from: the shop's own database (as `make run` fills it), and
friendly empty states when there is nothing to show: never a traceback."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from dashboard_fixtures import APP, START, expected_kpis, metrics
from streamlit.testing.v1 import AppTest

from analytics.loaders import load_events
from analytics.synthesize import append_to_database
from dashboard import display
from storefront_api.migrations import upgrade

PAGES = ["views/overview.py", "views/funnel.py", "views/abandonment.py", "views/segments.py",
         "views/conversations.py"]


def _every_page(monkeypatch, source: str, tmp_path) -> list[AppTest]:
    monkeypatch.setenv("ANALYTICS_EVENTS_URL", source)
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    seen = []
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, page
        seen.append([info.value for info in app.info])
    return seen


def test_no_database_yet_says_how_to_get_one(monkeypatch, tmp_path):
    missing = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    for infos in _every_page(monkeypatch, missing, tmp_path):
        assert any("cannot read events yet" in i and "make run" in i for i in infos)


def test_empty_shop_database_says_there_are_no_events(monkeypatch, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    for infos in _every_page(monkeypatch, url, tmp_path):
        assert any("no events yet" in i for i in infos)


def test_filters_that_select_nothing_say_so(monkeypatch, tmp_path):
    path = tmp_path / "two-days.parquet"
    pl.DataFrame({"event_id": ["a", "b"], "ts": [datetime(2026, 9, 1, 10), datetime(2026, 9, 5)],
                  "name": ["view_item", "view_item"], "session_id": ["s1", "s2"],
                  "channel": [None, "web"]}).write_parquet(path)
    monkeypatch.setenv("ANALYTICS_EVENTS_URL", str(path))
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    app.sidebar.date_input(key="date_range").set_value((date(2026, 9, 2), date(2026, 9, 4)))
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, page
        assert any("No events for 02 Sep 2026 – 04 Sep 2026" in i.value for i in app.info)


@pytest.fixture(params=["sqlite", "postgresql"])
def shop_database(request, tmp_path):
    """A migrated shop database, as the storefront creates it (SQLite or PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
        return
    from databases import create_postgres_database, drop_postgres_database
    url = create_postgres_database("aisle_dashboard")
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.mark.slow
def test_demo_history_in_the_shop_database(shop_database, monkeypatch, tmp_path):
    """`make run` loads synthetic history into the shop's events table with
    `python -m analytics synthesize --into`; the dashboard reads it with no set-up."""
    url = shop_database
    upgrade(url)
    monkeypatch.setenv("SHOP_CURRENCY", "GBP")  # a shop with no products yet: its setting
    append_to_database(url, 20_000, seed=5, start=START, days=30)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("ANALYTICS_EVENTS_URL", raising=False)
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not app.exception
    events = load_events(url).collect()
    assert events.height == 20_000
    want = expected_kpis(events, app.session_state["filters"])
    shown = metrics(app)
    assert shown["Sessions"][0] == display.count(want["sessions"])
    assert set(events["currency"].drop_nulls()) == {"GBP"}  # the shop's, not another
    assert shown["Revenue (GBP)"][0] == display.money(want["revenue"], "GBP")
    assert shown["Orders"][0] == display.count(want["orders"]) != "0"
