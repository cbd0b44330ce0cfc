"""The daily visits PostgreSQL keeps for the Overview (migration 0012, ``event_visits``):
after every kind of write to the events table (COPY, the API's inserts, deletions, updates,
TRUNCATE, writers at the same time, the migration over existing events), the table holds
exactly the reduction of the events, as ``analytics.overview_data`` computes it in polars."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

import polars as pl
import pytest
from databases import create_postgres_database, drop_postgres_database
from sqlalchemy import create_engine, text

from analytics.loaders import load_events, sync_url
from analytics.overview_data import SCAN_COLUMNS, _reduce
from analytics.synthesize import append_to_database
from storefront_api.db import Database
from storefront_api.events.service import EventContext, event_row, record_rows
from storefront_api.events.visits import compact_visits, has_visits, run_compaction
from storefront_api.migrations import upgrade

START = datetime(2026, 10, 1)
KEY = ["day", "channel", "session_id", "conversation_id", "cart_started"]


@pytest.fixture
def url():
    url = create_postgres_database()
    upgrade(url)
    yield url
    drop_postgres_database(url)


def _engine(url: str):
    return create_engine(sync_url(url))


def _held(url: str) -> pl.DataFrame:
    """Each visit's events: the sum of its rows (appended rows until compaction)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {', '.join(KEY)}, sum(events) FROM event_visits "
                                     "GROUP BY 1, 2, 3, 4, 5"))
            frame = pl.DataFrame([tuple(r) for r in rows], orient="row",
                                 schema={"day": pl.Date, "channel": pl.Utf8,
                                         "session_id": pl.Utf8, "conversation_id": pl.Utf8,
                                         "cart_started": pl.Utf8, "events": pl.Int64})
    finally:
        engine.dispose()
    return frame.sort(KEY, nulls_last=True)


def _expected(url: str) -> pl.DataFrame:
    """The reduction of every event, in polars (the Overview's scan)."""
    events = load_events(url, columns=SCAN_COLUMNS).collect()
    with_day = events.with_columns(pl.col("ts").dt.date().alias("day"),
                                   pl.col("channel").fill_null("site"),
                                   pl.when(pl.col("name") == "add_to_cart")
                                   .then(pl.col("cart_id")).alias("cart_started"))
    counted = with_day.group_by(KEY).agg(pl.len().cast(pl.Int64).alias("events"))
    visits = _reduce(events)[0]  # the scan's distinct visits: the same keys
    assert counted.height == visits.height
    return counted.sort(KEY, nulls_last=True)


def _assert_kept(url: str) -> pl.DataFrame:
    held = _held(url)
    assert held.equals(_expected(url))
    return held


def _row(name: str, when: datetime, session: str, *, channel: str | None = None,
         cart: str | None = None, conversation: str | None = None) -> dict:
    ctx = EventContext(session_id=session, channel=channel, conversation_id=conversation)
    row = event_row(name, ctx, cart_id=cart)
    row["ts"] = when
    return row


async def _record(url: str, rows: list[dict]) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            await record_rows(session, rows)
    finally:
        await db.dispose()


def test_every_kind_of_write_leaves_the_reduction_of_the_events(url):
    append_to_database(url, 4_000, seed=5, start=START, days=10)  # COPY, 20k rows a statement
    held = _assert_kept(url)
    assert held["events"].sum() == 4_000 and held.height > 500
    # the API's inserts: a session seen again the same day adds to its row; a cart started,
    # a conversation on another channel, no channel at all (the shop's own site)
    day = START + timedelta(days=3, hours=5)
    asyncio.run(_record(url, [
        _row("page_view", day, "api-1"),
        _row("add_to_cart", day + timedelta(minutes=1), "api-1", cart="c-api-1"),
        _row("add_to_cart", day + timedelta(minutes=2), "api-1", cart="c-api-1"),
        _row("chat_started", day, "api-2", channel="telegram", conversation="conv-2"),
        _row("page_view", day + timedelta(days=1), "api-1", channel="site")]))
    asyncio.run(_record(url, [_row("page_view", day + timedelta(minutes=5), "api-1")]))
    held = _assert_kept(url)
    api = held.filter(pl.col("session_id") == "api-1")
    assert api.height == 3  # day 3 without a cart, day 3 with c-api-1, day 4
    assert api.filter(pl.col("cart_started") == "c-api-1")["events"].to_list() == [2]
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            # a deletion takes its rows out and leaves no empty row behind
            conn.execute(text("DELETE FROM events WHERE session_id = 'api-2'"))
            conn.execute(text("DELETE FROM events WHERE ts >= :a AND ts < :b"),
                         {"a": START + timedelta(days=6), "b": START + timedelta(days=7)})
        assert _held(url).filter(pl.col("session_id") == "api-2").height == 0
        _assert_kept(url)
        with engine.begin() as conn:
            # an update moves events between days and channels
            conn.execute(text("UPDATE events SET ts = ts + interval '1 day', channel = 'web' "
                              "WHERE session_id = 'api-1'"))
            conn.execute(text("UPDATE events SET channel = NULL WHERE ts < :b"),
                         {"b": START + timedelta(days=1)})
        _assert_kept(url)
        with engine.begin() as conn:  # a statement that touches nothing changes nothing
            conn.execute(text("DELETE FROM events WHERE session_id = 'nobody'"))
            conn.execute(text("UPDATE events SET name = name WHERE session_id = 'nobody'"))
        _assert_kept(url)
        # the synthesizer's --replace deletes its events and writes new ones
        append_to_database(url, 3_000, seed=6, start=START, days=10, replace=True)
        _assert_kept(url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE events"))
        assert _held(url).height == 0
    finally:
        engine.dispose()


def test_a_failed_write_adds_nothing(url):
    append_to_database(url, 1_000, seed=7, start=START, days=3)
    before = _held(url)
    engine = _engine(url)
    try:
        with pytest.raises(Exception), engine.begin() as conn:
            conn.execute(text("INSERT INTO events (event_id, ts, name, session_id, consent, "
                              "properties) VALUES ('once', now(), 'page_view', 's', false, "
                              "'{}'), ('once', now(), 'page_view', 's', false, '{}')"))
    finally:
        engine.dispose()
    assert _held(url).equals(before)


def test_writers_at_the_same_time_add_up(url):
    """Four writers insert events of the same sessions and days in many small transactions
    while a fifth deletes some: every count adds up, none is lost or counted twice."""
    append_to_database(url, 1_000, seed=8, start=START, days=3)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        engine = _engine(url)
        try:
            for batch in range(25):
                with engine.begin() as conn:
                    conn.execute(text(
                        "INSERT INTO events (event_id, ts, name, session_id, cart_id, "
                        "channel, consent, properties) VALUES (:id, :ts, :name, :session, "
                        ":cart, :channel, false, '{}')"),
                        [{"id": f"w{writer}-{batch}-{i}",
                          "ts": START + timedelta(hours=(batch * 7 + i) % 60),
                          "name": "add_to_cart" if i % 3 == 0 else "view_item",
                          "session": f"shared-{i % 4}", "cart": f"cart-{i % 2}",
                          "channel": ("web", None)[i % 2]} for i in range(8)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    def delete() -> None:
        engine = _engine(url)
        try:
            for hour in range(0, 60, 6):
                with engine.begin() as conn:
                    conn.execute(text("DELETE FROM events WHERE session_id LIKE 'shared-%' "
                                      "AND ts >= :a AND ts < :b"),
                                 {"a": START + timedelta(hours=hour),
                                  "b": START + timedelta(hours=hour + 1)})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=delete))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    held = _assert_kept(url)
    assert held.filter(pl.col("session_id").str.starts_with("shared-"))["events"].sum() > 0


def test_the_migration_reduces_the_events_already_there_and_goes_back(url):
    engine = _engine(url)
    try:
        upgrade_to = "0011"
        from storefront_api.migrations import alembic_config
        from alembic import command
        command.downgrade(alembic_config(url), upgrade_to)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('event_visits')")).scalar() is None
        append_to_database(url, 2_000, seed=9, start=START, days=5)  # no trigger yet
        command.upgrade(alembic_config(url), "head")
        held = _assert_kept(url)
        assert held["events"].sum() == 2_000
    finally:
        engine.dispose()


def _rows(url: str) -> tuple[int, int]:
    """(rows, rows not compacted) of the table."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(text(
                "SELECT count(*), count(*) FILTER (WHERE NOT compact) FROM event_visits")).one())
    finally:
        engine.dispose()


def test_compaction_folds_appended_rows_and_changes_no_number(url):
    append_to_database(url, 2_000, seed=10, start=START, days=4)  # compacted when written
    compacted = _rows(url)
    assert compacted[1] == 0
    day = START + timedelta(days=1, hours=2)
    # the same visit written by three requests: three appended rows until the next run
    for minute in range(3):
        asyncio.run(_record(url, [_row("page_view", day + timedelta(minutes=minute), "s-c")]))
    assert _rows(url) == (compacted[0] + 3, 3)
    before = _assert_kept(url)

    async def compact() -> int:
        db = Database(url)
        try:
            assert await has_visits(db)
            return await compact_visits(db)
        finally:
            await db.dispose()

    assert asyncio.run(compact()) == 1  # one day had appended rows
    assert _rows(url) == (compacted[0] + 1, 0)
    assert _assert_kept(url).equals(before)
    assert asyncio.run(compact()) == 0


def test_the_api_process_compacts_on_its_interval(url):
    asyncio.run(_record(url, [_row("page_view", START, "s-1"), _row("page_view", START, "s-1")]))
    asyncio.run(_record(url, [_row("page_view", START, "s-1")]))
    assert _rows(url)[1] >= 2  # a row per statement (the driver sends a row each)

    async def run() -> None:
        db, stop = Database(url), asyncio.Event()
        try:
            task = asyncio.create_task(run_compaction(db, stop, every=0.2))
            for _ in range(50):
                await asyncio.sleep(0.1)
                if _rows(url)[1] == 0:
                    break
            stop.set()
            await asyncio.wait_for(task, 5)
        finally:
            await db.dispose()

    asyncio.run(run())
    assert _rows(url) == (1, 0)
    _assert_kept(url)


def test_sqlite_keeps_no_visits_and_the_compaction_does_nothing(tmp_path):
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(sqlite)

    async def run() -> bool:
        db = Database(sqlite)
        try:
            await run_compaction(db, asyncio.Event(), every=0.1)  # returns at once
            return await has_visits(db)
        finally:
            await db.dispose()

    assert asyncio.run(run()) is False
