"""The cached SQL tracker store against real databases (a SQLite file and PostgreSQL): what
it hands back is always what Rasa's own SQL tracker store would read, also when another
replica wrote to the conversation, a turn failed half-way or a new session began."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, SessionStarted, SlotSet, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.tracker_store import TURN, CachedSQLTrackerStore

DOMAIN = Domain.from_dict({"version": "3.1", "intents": ["greet", "search_products"],
                           "slots": {"cart_id": {"type": "text", "mappings": [
                               {"type": "custom"}]}}})
POSTGRES = os.environ.get("AISLE_TEST_POSTGRES_URL",
                          "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_database():
    """A throwaway PostgreSQL database; None if the server cannot be reached."""
    admin = sa.create_engine(POSTGRES.replace("+asyncpg", ""), isolation_level="AUTOCOMMIT")
    name = f"aisle_tracker_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as error:
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL unreachable at {POSTGRES}: {error}", pytrace=False)
        return None, None
    url = sa.engine.make_url(POSTGRES.replace("+asyncpg", "")).set(database=name)
    return str(url), lambda: _drop(admin, name)


def _drop(admin, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    url, drop = _postgres_database()
    if url is None:
        pytest.skip("PostgreSQL is not reachable")
    yield url
    drop()


def stores(url: str, broker=None, **kwargs):
    """A cached store and, on the same database, a plain one (another replica, or the
    reference for what reading the conversation gives)."""
    dialect = url.split(":")[0].split("+")[0]
    return (CachedSQLTrackerStore(domain=DOMAIN, dialect=dialect, host=url,
                                  event_broker=broker, **kwargs),
            SQLTrackerStore(domain=DOMAIN, dialect=dialect, host=url))


class CollectingBroker(EventBroker):
    """An event broker that keeps what it is given (RabbitMQ's place in production)."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict) -> None:
        self.published.append(event)


def new_conversation(sender: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, DOMAIN.slots)
    for event in (ActionExecuted("action_session_start"), SessionStarted(),
                  ActionExecuted("action_listen")):
        tracker.update(event)
    return tracker


def turn(tracker: DialogueStateTracker, text: str, cart: str | None = None) -> None:
    tracker.update(UserUttered(text, {"name": "search_products", "confidence": 1.0}))
    if cart:
        tracker.update(SlotSet("cart_id", cart))
    tracker.update(ActionExecuted("action_listen"))


def state(tracker: DialogueStateTracker) -> list:
    return [{k: v for k, v in event.items() if k != "timestamp"}
            for event in tracker.current_state(EventVerbosity.ALL)["events"]]


async def test_a_conversation_saved_here_and_unchanged_is_not_read_again(database_url):
    cached, plain = stores(database_url)
    tracker = new_conversation("a")
    await cached.save(tracker)  # a new conversation: its first save is read afresh...
    first = await cached.retrieve("a")
    assert state(first) == state(await plain.retrieve("a"))
    turn(first, "hoodies", cart="c1")
    await cached.save(first)
    again = await cached.retrieve("a")
    assert again is first  # ...then kept: no rebuild
    assert state(again) == state(await plain.retrieve("a"))
    assert again.get_slot("cart_id") == "c1"


async def kept_conversation(cached: CachedSQLTrackerStore,
                            sender: str) -> DialogueStateTracker:
    """A conversation saved, read back and saved again by the cached store: kept by it."""
    await cached.save(new_conversation(sender))
    tracker = await cached.retrieve(sender)
    turn(tracker, "hi")
    await cached.save(tracker)
    return tracker


async def test_what_another_replica_wrote_is_read_from_the_database(database_url):
    cached, replica = stores(database_url)
    mine = await kept_conversation(cached, "b")
    theirs = await replica.retrieve("b")
    turn(theirs, "jeans", cart="c2")
    await replica.save(theirs)
    now = await cached.retrieve("b")
    assert now is not mine
    assert state(now) == state(await replica.retrieve("b"))
    assert now.get_slot("cart_id") == "c2"


async def test_a_turn_that_failed_before_saving_leaves_nothing_behind(database_url):
    cached, plain = stores(database_url)
    tracker = await kept_conversation(cached, "c")
    turn(tracker, "this turn crashes before its save", cart="lost")
    now = await cached.retrieve("c")
    assert state(now) == state(await plain.retrieve("c"))
    assert now.get_slot("cart_id") is None


async def test_a_save_that_fails_forgets_the_conversation(database_url, monkeypatch):
    cached, plain = stores(database_url)
    tracker = await kept_conversation(cached, "d")

    def broken(self, connection, sender_id, new):
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(CachedSQLTrackerStore, "_insert", broken)
    turn(tracker, "not saved", cart="lost")
    with pytest.raises(sa.exc.OperationalError):
        await cached.save(tracker)
    monkeypatch.undo()
    now = await cached.retrieve("d")
    assert now is not tracker and now.get_slot("cart_id") is None
    assert state(now) == state(await plain.retrieve("d"))


async def test_a_new_session_gives_what_reading_the_latest_session_gives(database_url):
    cached, plain = stores(database_url)
    await cached.save(new_conversation("e"))
    tracker = await cached.retrieve("e")
    turn(tracker, "first session", cart="c3")
    await cached.save(tracker)
    for event in (ActionExecuted("action_session_start"), SessionStarted(),
                  SlotSet("cart_id", "c3"), ActionExecuted("action_listen")):
        tracker.update(event)
    await cached.save(tracker)
    now = await cached.retrieve("e")
    assert now is not tracker  # it held both sessions; reading gives the latest only
    assert state(now) == state(await plain.retrieve("e"))
    assert [e["event"] for e in state(now)][0] in ("session_started", "action")
    turn(now, "second session")
    await cached.save(now)
    assert await cached.retrieve("e") is now


async def test_the_least_recently_used_conversations_go_first(database_url):
    cached, _ = stores(database_url, cache_size=2)
    for sender in ("f1", "f2", "f3"):
        await kept_conversation(cached, sender)
    assert list(cached._kept) == ["f2", "f3"]
    off, _ = stores(database_url, cache_size=0)
    tracker = await off.retrieve("f1")
    turn(tracker, "again")
    await off.save(tracker)
    assert await off.retrieve("f1") is not tracker and not off._kept


async def test_each_event_is_written_and_streamed_once(database_url):
    broker = CollectingBroker()
    cached, plain = stores(database_url, broker=broker)
    await cached.save(new_conversation("g"))
    tracker = await cached.retrieve("g")
    for text in ("hi", "hoodies", "the second one"):
        turn(tracker, text)
        await cached.save(tracker)
        assert await cached.retrieve("g") is tracker
    assert state(await plain.retrieve("g")) == state(tracker)  # nothing written twice
    everything = state(await plain.retrieve_full_tracker("g"))  # with action_session_start
    streamed = [{k: v for k, v in e.items() if k not in ("timestamp", "sender_id")}
                for e in broker.published]
    assert streamed == everything
    assert {e["sender_id"] for e in broker.published} == {"g"}


def test_sqlite_commits_through_a_write_ahead_log(tmp_path):
    cached, _ = stores(f"sqlite:///{tmp_path / 'tracker.db'}")
    with cached.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


async def test_sqlite_connections_are_kept_between_turns(tmp_path):
    cached, plain = stores(f"sqlite:///{tmp_path / 'tracker.db'}")
    opened = []
    sa.event.listen(cached.engine, "connect", lambda *_: opened.append(1))
    tracker = new_conversation("p")
    for number in range(5):
        turn(tracker, f"turn {number}")
        await cached.save(tracker)
        tracker = await cached.retrieve("p")
    assert len(opened) == 1  # not one connection per query, as SQLAlchemy 1.4's NullPool
    assert state(tracker) == state(await plain.retrieve("p"))


async def test_a_conversation_read_from_the_database_is_kept(database_url):
    cached, replica = stores(database_url)
    await replica.save(new_conversation("h"))  # written elsewhere: not known here
    tracker = await cached.retrieve("h")
    turn(tracker, "hoodies", cart="c4")
    await cached.save(tracker)  # writes what it added, from what it read
    assert await cached.retrieve("h") is tracker
    assert state(tracker) == state(await replica.retrieve("h"))


def statements(store) -> list[str]:
    """The SQL statements the store sends from now on (their first word)."""
    sent: list[str] = []
    for engine in {store.engine, getattr(store._reader, "_proxied", store._reader)}:
        sa.event.listen(engine, "before_cursor_execute",
                        lambda _c, _cur, statement, *_: sent.append(statement.split()[0].upper()))
    return sent


async def test_a_turn_of_a_kept_conversation_is_one_query_and_one_insert(database_url):
    cached, plain = stores(database_url)
    tracker = await kept_conversation(cached, "i")
    sent = statements(cached)
    tracker = await cached.retrieve("i")
    turn(tracker, "jeans", cart="c5")  # three events
    await cached.save(tracker)
    assert sent == ["SELECT", "INSERT"]
    assert state(await plain.retrieve("i")) == state(tracker)


async def test_after_postgresql_restarts_the_next_turn_reads_on_a_new_connection(
        database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL closing the pooled connections")
    cached, _ = stores(database_url)
    kept = await kept_conversation(cached, "j")
    await cached.save(new_conversation("k"))
    # what a restart does to the pool: every connection it holds is closed by the server
    with sa.create_engine(database_url, isolation_level="AUTOCOMMIT").connect() as admin:
        admin.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> "
                              "pg_backend_pid()"))
    tracker = await cached.retrieve("j")  # no error: read again on a new connection
    assert tracker is kept
    turn(tracker, "socks", cart="c6")
    await cached.save(tracker)  # the pool holds no dead connection any more
    assert (await cached.retrieve("k")) is not None
    _, plain = stores(database_url)
    assert state(await plain.retrieve("j")) == state(tracker)


async def test_within_one_message_the_tracker_is_checked_against_the_database_once(
        database_url):
    cached, replica = stores(database_url)
    tracker = await kept_conversation(cached, "l")
    sent = statements(cached)
    message = TURN.set(object())  # bot/resilience.py, under the conversation's lock
    try:
        assert await cached.retrieve("l") is tracker  # looking for a repeated message
        assert await cached.retrieve("l") is tracker  # Rasa's own read
    finally:
        TURN.reset(message)
    assert sent == ["SELECT"]
    theirs = await replica.retrieve("l")  # the next message comes through another replica
    turn(theirs, "belts", cart="c7")
    await replica.save(theirs)
    message = TURN.set(object())
    try:
        assert (await cached.retrieve("l")).get_slot("cart_id") == "c7"
    finally:
        TURN.reset(message)


async def test_inserts_are_built_once_per_size_and_bind_their_values(database_url):
    """Saves of the same number of events reuse one INSERT (compiled once: SQLAlchemy 1.4
    caches none of several rows); what a shopper wrote goes in as a bound value, stored as
    written, whatever it holds."""
    cached, plain = stores(database_url)
    tracker = new_conversation("binds")
    await cached.save(tracker)
    odd = ["'); DROP TABLE events; --", "data_0 :data_1 %(x)s ? $1", "quote \" \\ \x01 é"]
    for text in odd:
        turn(tracker, text)  # two events a turn
        await cached.save(tracker)
    dialect, returning = database_url.split(":")[0], database_url.startswith("postgresql")
    assert list(cached._inserts) == [(dialect, 3, returning), (dialect, 2, returning)]
    read = await plain.retrieve("binds")
    assert [e.text for e in read.events if isinstance(e, UserUttered)] == odd
    assert state(read) == state(await cached.retrieve("binds"))
    for _ in range(40):  # a save of many events (a catch-up) is not kept
        turn(tracker, "again")
    await cached.save(tracker)
    assert len(cached._inserts) == 2
    assert len((await plain.retrieve("binds")).events) == len(read.events) + 80


async def test_the_marker_is_built_once_and_reads_only_its_own_conversation(database_url):
    """The SELECT that checks a kept conversation is compiled once, and its conversation id
    is a bound value: ids that look like SQL, LIKE patterns or placeholders check their own
    conversation only, so another replica's write to one is seen there and nowhere else."""
    cached, replica = stores(database_url)
    senders = ["x' OR '1'='1", "x%", "x_", "%(sender_id)s", "x"]
    kept = {sender: await kept_conversation(cached, sender) for sender in senders}
    assert list(cached._markers) == [database_url.split(":")[0].split("+")[0]]
    theirs = await replica.retrieve("x%")
    turn(theirs, "boots", cart="c9")
    await replica.save(theirs)
    for sender in senders:
        now = await cached.retrieve(sender)
        assert (now is kept[sender]) == (sender != "x%"), sender
        assert state(now) == state(await replica.retrieve(sender))
    assert (await cached.retrieve("x%")).get_slot("cart_id") == "c9"
    assert len(cached._markers) == 1


async def test_a_postgresql_schema_set_for_rasa_is_the_one_read_and_written(monkeypatch):
    """POSTGRESQL_SCHEMA (Rasa's setting) puts the events in that schema: this store's own
    connections use it too, for reads and writes, and nothing lands in ``public``."""
    url, drop = _postgres_database()
    if url is None:
        pytest.skip("PostgreSQL is not reachable")
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text("CREATE SCHEMA shop_bot"))
        monkeypatch.setenv("POSTGRESQL_SCHEMA", "shop_bot")
        cached, plain = stores(url)
        tracker = await kept_conversation(cached, "schema")
        turn(tracker, "scarves", cart="c11")
        await cached.save(tracker)
        assert state(await cached.retrieve("schema")) == state(await plain.retrieve("schema"))
        every_event = len((await plain.retrieve_full_tracker("schema")).events)
        with engine.connect() as connection:
            tables = connection.execute(sa.text(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events'"
            )).scalars().all()
            stored = connection.execute(sa.text(
                "SELECT count(*) FROM shop_bot.events WHERE sender_id = 'schema'")).scalar()
        assert tables == ["shop_bot"] and stored == every_event == 8
        for store in (cached, plain):
            store.engine.dispose()
        cached._reader.dispose()
        engine.dispose()
    finally:
        drop()
