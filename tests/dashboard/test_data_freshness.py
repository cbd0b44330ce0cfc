"""The dashboard says when its events were read, and a page reads only its window."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from dashboard_fixtures import APP
from streamlit.testing.v1 import AppTest

from analytics.synthesize import append_to_database
from storefront_api.migrations import upgrade


def test_sidebar_says_when_the_events_were_read(monkeypatch, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    append_to_database(url, 3_000, seed=2, start=datetime(2026, 6, 1), days=100)
    monkeypatch.setenv("ANALYTICS_EVENTS_URL", url)
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    before = datetime.utcnow().replace(microsecond=0)
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not app.exception
    captions = " ".join(c.value for c in app.sidebar.caption)
    read = re.search(r"read at (\d\d:\d\d:\d\d) UTC", captions)
    assert read, captions
    at = datetime.combine(before.date(), datetime.strptime(read.group(1), "%H:%M:%S").time())
    assert abs(at - before) < timedelta(minutes=2)
    # the Overview read the last 30 days with data and the 30 before them, nothing earlier,
    # and held no events: only its reduction of them (analytics.overview_data)
    from dashboard import data
    window = data.overview_window(url, data.window_start(app.session_state["filters"]))
    first_day = window.last.date() - timedelta(days=29)
    assert window.reads[0]["start"] == datetime.combine(first_day - timedelta(days=30),
                                                        datetime.min.time())
    assert len(window.reads) == 1 and data.event_cache(url, False).frame is None
    # a page that works on events reads the same window of them, without the properties
    app.switch_page("views/abandonment.py").run()
    assert not app.exception
    cache = data.event_cache(url, False)
    assert cache.reads[0]["start"] == window.reads[0]["start"]
    assert cache.frame["ts"].min() >= cache.reads[0]["start"]
    assert "properties" not in cache.frame.columns
