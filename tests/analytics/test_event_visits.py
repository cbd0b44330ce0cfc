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
from test_overview_data import _record  # the API's own write of event rows
from sqlalchemy import create_engine, text

from analytics.loaders import load_events, sync_url
from analytics.overview_data import SCAN_COLUMNS, _reduce
from analytics.synthesize import append_to_database
from storefront_api.db import Database
from storefront_api.events.service import EventContext, event_row
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
    """Each visit's events: the sum of its rows (a deletion appends negative counts until
    compaction); a visit whose sum is 0 has none left. No sum is ever negative."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(
                f"SELECT count(*) FROM (SELECT 1 FROM event_visits GROUP BY {', '.join(KEY)} "
                "HAVING sum(events) < 0) AS negative")).scalar_one() == 0
            rows = conn.execute(text(f"SELECT {', '.join(KEY)}, sum(events) FROM event_visits "
                                     "GROUP BY 1, 2, 3, 4, 5 HAVING sum(events) > 0"))
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
    visits, per_day, _, _ = _reduce(events)  # the scan's reduction: the same visits and days
    assert visits.sort(KEY, nulls_last=True).equals(
        counted.select(KEY).sort(KEY, nulls_last=True))
    assert per_day.sort("day", "channel").equals(
        counted.group_by("day", "channel").agg(pl.col("events").sum())
        .sort("day", "channel"))
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
        # compaction folds the appended rows, negative ones too, and drops emptied visits
        assert asyncio.run(_compact(url)) > 0
        assert _rows(url)[1] == 0 and _zero_rows(url) == 0
        _assert_kept(url)
        # the synthesizer's --replace deletes its events and writes new ones, then compacts
        append_to_database(url, 3_000, seed=6, start=START, days=10, replace=True)
        assert _rows(url)[1] == 0 and _zero_rows(url) == 0
        _assert_kept(url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE events"))
        assert _held(url).height == 0 and _rows(url) == (0, 0)
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

    def write_and_delete(writer: int) -> None:
        """Inserts and deletes in one transaction (as a correction would)."""
        engine = _engine(url)
        try:
            for batch in range(15):
                with engine.begin() as conn:
                    conn.execute(text(
                        "INSERT INTO events (event_id, ts, name, session_id, consent, "
                        "properties) VALUES (:id, :ts, 'page_view', :session, false, '{}')"),
                        {"id": f"wd{writer}-{batch}", "ts": START + timedelta(hours=batch),
                         "session": f"shared-{batch % 4}"})
                    conn.execute(text("DELETE FROM events WHERE event_id = :id"),
                                 {"id": f"w{writer}-{batch}-0"})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            engine.dispose()

    def compact_all_along() -> None:
        try:
            while any(t.is_alive() for t in threads[:-1]):
                asyncio.run(_compact(url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=delete),
                threading.Thread(target=write_and_delete, args=(0,)),
                threading.Thread(target=write_and_delete, args=(1,))]
    threads.append(threading.Thread(target=compact_all_along))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
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
            assert conn.execute(text(
                "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'event_visits%') "
                "+ (SELECT count(*) FROM pg_proc WHERE proname LIKE '%event_visits%')")
            ).scalar_one() == 0
        append_to_database(url, 2_000, seed=9, start=START, days=5)  # no trigger yet
        command.upgrade(alembic_config(url), "head")
        held = _assert_kept(url)
        assert held["events"].sum() == 2_000
    finally:
        engine.dispose()


async def _compact(url: str) -> int:
    db = Database(url)
    try:
        return await compact_visits(db)
    finally:
        await db.dispose()


def _zero_rows(url: str) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM event_visits WHERE compact AND events = 0")).scalar_one()
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

    assert asyncio.run(compact()) == 3  # the three appended rows
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


def test_compactions_at_once_fold_each_row_once(url):
    """Two API replicas compacting at the same moment: one folds, the other finds it at
    work and returns; the numbers are right and each visit has one compact row."""
    append_to_database(url, 500, seed=12, start=START, days=2)
    for i in range(40):
        asyncio.run(_record(url, [_row("page_view", START + timedelta(minutes=i),
                                       f"twice-{i % 5}")]))

    async def both() -> list[int]:
        dbs = [Database(url), Database(url)]
        try:
            return list(await asyncio.gather(*(compact_visits(db) for db in dbs)))
        finally:
            for db in dbs:
                await db.dispose()

    folded = asyncio.run(both())
    folded.append(asyncio.run(_compact(url)))  # whatever the second one left
    assert sum(folded) == 40 and _rows(url)[1] == 0
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(
                f"SELECT count(*) FROM (SELECT 1 FROM event_visits GROUP BY {', '.join(KEY)} "
                "HAVING count(*) > 1) AS twice")).scalar_one() == 0
    finally:
        engine.dispose()
    _assert_kept(url)


def test_a_deletion_does_not_hold_up_the_shops_writes(url):
    """A transaction still open after recording an event, a deletion, then another write:
    nothing waits (the triggers only append)."""
    append_to_database(url, 300, seed=13, start=START, days=2)
    engine = _engine(url)
    try:
        with engine.connect() as open_one:
            open_one.begin()
            open_one.execute(text(
                "INSERT INTO events (event_id, ts, name, session_id, consent, properties) "
                "VALUES ('open-1', :ts, 'page_view', 'open', false, '{}')"), {"ts": START})
            with engine.begin() as deleting:
                deleting.execute(text("SET LOCAL lock_timeout = '2s'"))
                deleting.execute(text("DELETE FROM events WHERE event_id IN "
                                      "(SELECT event_id FROM events LIMIT 3)"))
            with engine.begin() as writing:
                writing.execute(text("SET LOCAL lock_timeout = '2s'"))
                writing.execute(text(
                    "INSERT INTO events (event_id, ts, name, session_id, consent, properties) "
                    "VALUES ('later-1', :ts, 'page_view', 'later', false, '{}')"),
                    {"ts": START + timedelta(days=1)})
            open_one.commit()
    finally:
        engine.dispose()
    _assert_kept(url)


def test_attack_the_dashboards_read_only_role_reads_the_visits_and_cannot_change_them(url):
    """The dashboard's role (deploy/postgres-reader.sql's grants) reads event_visits, and
    neither compacts nor writes them."""
    import uuid

    from sqlalchemy.exc import ProgrammingError
    append_to_database(url, 200, seed=14, start=START, days=2)
    asyncio.run(_record(url, [_row("page_view", START, "attacker")]))
    role = f"aisle_reader_{uuid.uuid4().hex[:8]}"
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}"'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        for attempt in ("SELECT compact_event_visits()",
                        "DELETE FROM event_visits",
                        "INSERT INTO event_visits (day, channel, events, compact) "
                        "VALUES (CURRENT_DATE, 'site', 1000, true)"):
            with pytest.raises(ProgrammingError, match="permission denied"), \
                    engine.begin() as conn:
                conn.execute(text(f'SET LOCAL ROLE "{role}"'))
                conn.execute(text(attempt))
        with engine.begin() as conn:
            conn.execute(text(f'SET LOCAL ROLE "{role}"'))
            assert conn.execute(text("SELECT sum(events) FROM event_visits")).scalar() == 201
        _assert_kept(url)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        engine.dispose()
