"""Fixtures for the dashboard tests: synthetic events on disk, the app under AppTest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_fixtures import APP, synthetic_events  # noqa: E402


@pytest.fixture(scope="session")
def shop_events():
    return synthetic_events()


@pytest.fixture(scope="session")
def events_file(shop_events, tmp_path_factory):
    path = tmp_path_factory.mktemp("dashboard") / "events.parquet"
    shop_events.write_parquet(path)
    return path


@pytest.fixture(scope="session")
def consents_file(shop_events, tmp_path_factory):
    """The synthetic shoppers' advertising decisions (what the audience export reads)."""
    from analytics.consent import synthetic_decisions
    path = tmp_path_factory.mktemp("dashboard") / "consents.parquet"
    synthetic_decisions(shop_events).write_parquet(path)
    return path


@pytest.fixture
def dashboard_env(events_file, consents_file, tmp_path, monkeypatch):
    """The dashboard reads the synthetic events and consent decisions; no tracker store
    unless a test adds one."""
    monkeypatch.setenv("ANALYTICS_EVENTS_URL", str(events_file))
    monkeypatch.setenv("ANALYTICS_CONSENTS_URL", str(consents_file))
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'no-tracker.db'}")
    return events_file


@pytest.fixture
def app(dashboard_env):
    """The dashboard after its first run (the Overview page)."""
    from streamlit.testing.v1 import AppTest
    return AppTest.from_file(str(APP), default_timeout=120).run()
