"""Events flowing into the ClickHouse store (chdb here) as they happen:

- ``consume-rasa-events --store``: Rasa's events from the real RabbitMQ (127.0.0.1:5672)
  into ClickHouse's ``rasa_events``, each counted once (FINAL) however often it is delivered,
  also when the consumer is killed between its INSERT and its acknowledgement; what is not
  an event goes to the dead-letter queue; an unreachable server makes the batch wait;
- ``store-load --follow``: the shop's new events copied in rounds, resumed from the store's
  own watermark after a stop or a crash, late commits within the overlap picked up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from analytics.clickhouse.ingest import Follower
from analytics.clickhouse.store import ChdbStore, HttpStore, StoreUnreachable
from analytics.loaders import sync_url
from analytics.rasa_events import ClickHouseStore, Consumer
from analytics.schema import InputError
from test_rasa_events_consumer import AMQP, publish, queue, rasa_event  # noqa: F401 - fixture

pytest.importorskip("chdb")
ROOT = Path(__file__).resolve().parents[2]


# --- RabbitMQ: the consumer's own tests' queue, messages and publishing ------------------------

def counts(path: Path, table: str = "rasa_events") -> tuple[int, int]:
    """(rows read FINAL, rows stored): what queries count, and what was written."""
    store = ChdbStore(str(path))
    try:
        return store.query(f"SELECT (SELECT count() FROM {table} FINAL) AS f, "
                           f"(SELECT count() FROM {table}) AS r").row(0)
    finally:
        store.close()


def keys(path: Path) -> list[str]:
    store = ChdbStore(str(path))
    try:
        return list(store.query("SELECT event_key FROM rasa_events FINAL ORDER BY "
                                "event_key")["event_key"])
    finally:
        store.close()


def consume(url: str, queue: str, **kwargs) -> int:
    store = ClickHouseStore(url)
    try:
        return Consumer(store, AMQP, queue, **kwargs).run(until_idle=0.5)
    finally:
        store.close()


def test_each_event_is_counted_once_in_clickhouse_however_often_it_comes(queue, tmp_path):
    name, channel = queue
    path = tmp_path / "store"
    events = [rasa_event(1), rasa_event(2, kind="action"), rasa_event(3, kind="slot"),
              rasa_event(None, sender="it's \\ odd", kind="bot")]
    publish(channel, name, [*events, events[0], events[1], events[3], b"not json",
                            {"event": "user", "timestamp": 1.0}])
    assert consume(f"chdb:{path}", name, batch=3) == 4
    assert counts(path)[0] == 4
    found = keys(path)
    assert found[1:] == ["t:1", "t:2", "t:3"] and found[0].startswith("h:")
    store = ChdbStore(str(path))
    try:
        user = store.query("SELECT type, intent, confidence, input_channel FROM rasa_events "
                           "FINAL WHERE event_key = 't:1'").row(0)
        slot = store.query("SELECT slot, slot_value FROM rasa_events FINAL "
                           "WHERE event_key = 't:3'").row(0)
    finally:
        store.close()
    assert user == ("user", "search_products", pytest.approx(0.97), "socketio")
    assert slot == ("cart_id", '"abc"')
    dead = []
    while True:
        method, properties, body = channel.basic_get(name + ".dead", auto_ack=True)
        if method is None:
            break
        dead.append((body, properties.headers["x-aisle-reason"]))
    assert dead == [(b"not json", "not JSON"), (b'{"event": "user", "timestamp": 1.0}',
                                                  "no sender_id")]
    # everything once more (a queue that redelivers): nothing new is counted
    publish(channel, name, events)
    assert consume(f"chdb:{path}", name) == 0
    assert counts(path)[0] == 4
    assert channel.queue_declare(name, passive=True).method.message_count == 0


def consumer_process(store: str, queue: str, *extra: str, crash_at: str = "") -> subprocess.Popen:
    env = {**os.environ, "AISLE_CRASH_AT": crash_at, "RABBITMQ_URL": AMQP}
    env.pop("ANALYTICS_STORE", None)
    return subprocess.Popen([sys.executable, "-m", "analytics", "consume-rasa-events",
                             "--store", store, "--queue", queue, "--exchange", "", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_consumer_killed_between_insert_and_ack_counts_nothing_twice(queue, tmp_path):
    name, channel = queue
    path = tmp_path / "store"
    count = 3000
    publish(channel, name, [rasa_event(i, sender=f"conv-{i % 50}",
                                       kind=("user", "action", "slot")[i % 3])
                            for i in range(1, count + 1)])
    # killed right after its INSERT, before acknowledging: the batch comes again
    crashed = consumer_process(f"chdb:{path}", name, "--batch", "100",
                               crash_at="rasa-events-committed")
    assert crashed.wait(timeout=60) == -signal.SIGKILL, crashed.stderr.read().decode()[-2000:]
    assert counts(path) == (100, 100)
    # ... and all 3000 messages wait in the queue again: those 100 come a second time
    deadline = time.monotonic() + 10
    while channel.queue_declare(name, passive=True).method.message_count < count:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # killed wherever it happens to be
    running = consumer_process(f"chdb:{path}", name, "--batch", "200")
    time.sleep(2.5)
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    finishing = consumer_process(f"chdb:{path}", name, "--batch", "200", "--until-idle", "1")
    out, err = finishing.communicate(timeout=120)
    assert finishing.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    assert summary["queue"] == name
    assert counts(path)[0] == count  # (background merges may have folded the copies)
    assert sorted(int(k[2:]) for k in keys(path)) == list(range(1, count + 1))
    assert channel.queue_declare(name, passive=True).method.message_count == 0


def test_the_clickhouse_consumer_reads_its_own_queue_bound_to_rasas_exchange(queue, tmp_path):
    """Bound to the fanout exchange Rasa publishes to, the ClickHouse consumer's queue gets
    every event, as the PostgreSQL consumer's queue does (they do not share messages)."""
    name, channel = queue
    exchange = f"test-exchange-{uuid.uuid4().hex[:8]}"
    other = name + ".postgres"
    try:
        channel.exchange_declare(exchange, exchange_type="fanout")
        channel.queue_declare(other, durable=True)
        channel.queue_bind(other, exchange)
        path = tmp_path / "store"
        store = ClickHouseStore(f"chdb:{path}")
        consumer = Consumer(store, AMQP, name, exchange=exchange)
        try:
            assert consumer.run(until_idle=0.3) == 0  # declares and binds its queue
            publish(channel, "", [rasa_event(i) for i in range(1, 6)], exchange=exchange)
            assert consumer.run(until_idle=0.5) == 5
        finally:
            store.close()
        assert channel.queue_declare(other, passive=True).method.message_count == 5
    finally:
        channel.queue_delete(other)
        channel.exchange_delete(exchange)


class FlakyStore(ClickHouseStore):
    """A ClickHouse server that is restarting for the first ``down`` writes."""

    def __init__(self, url: str, down: int) -> None:
        super().__init__(url)
        self.down, self.attempts = down, 0

    def write(self, rows):
        self.attempts += 1
        if self.attempts <= self.down:
            raise StoreUnreachable("ClickHouse at http://clickhouse:8123/ is unreachable")
        return super().write(rows)


def test_an_unreachable_clickhouse_makes_the_batch_wait(queue, tmp_path):
    name, channel = queue
    publish(channel, name, [rasa_event(i) for i in range(1, 4)])
    store = FlakyStore(f"chdb:{tmp_path / 'store'}", down=2)
    try:
        started = time.monotonic()
        assert Consumer(store, AMQP, name).run(until_idle=0.5) == 3
        assert time.monotonic() - started >= 3  # waited 1 s, then 2 s
        assert store.attempts == 3
    finally:
        store.close()
    assert counts(tmp_path / "store")[0] == 3


def test_http_store_errors_and_password(monkeypatch):
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "p@ss/word:")
    store = HttpStore("clickhouse://aisle@127.0.0.1:1/aisle")
    assert (store.user, store.password, store.database) == ("aisle", "p@ss/word:", "aisle")
    assert HttpStore("clickhouse://aisle:x%40y@h/aisle").password == "x@y"  # the URL's wins
    with pytest.raises(StoreUnreachable):
        store.execute("SELECT 1")


def test_which_store_the_consumer_writes_to_is_explicit(tmp_path):
    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        environ = {**os.environ, **env}
        environ.pop("ANALYTICS_STORE", None) if "ANALYTICS_STORE" not in env else None
        return subprocess.run([sys.executable, "-m", "analytics", "consume-rasa-events",
                               *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                              timeout=60)
    both = run("--store", "chdb:", "--events", "sqlite:///x.db")
    assert both.returncode == 2 and "not both" in both.stderr
    unset = run("--store")
    assert unset.returncode == 2 and "ANALYTICS_STORE" in unset.stderr
    # ANALYTICS_STORE alone does not divert the PostgreSQL consumer: it still wants the
    # analytics database (here a SQLite file without the table)
    missing = tmp_path / "none.db"
    default = run("--events", f"sqlite:///{missing}", ANALYTICS_STORE="chdb:")
    assert default.returncode == 2 and "rasa_events table" in default.stderr


# --- the shop's events, followed -------------------------------------------------------------

BASE = datetime(2026, 11, 30, 23, 0)


def shop_events(url: str, times: list[datetime], prefix: str) -> list[str]:
    """Events as the shop writes them, at the given times; their ids."""
    engine = sa.create_engine(sync_url(url))
    ids = [f"{prefix}-{i}-{uuid.uuid4().hex[:6]}" for i in range(len(times))]
    rows = [{"event_id": event_id, "ts": ts, "name": ("page_view", "add_to_cart")[i % 2],
             "session_id": f"s{i % 17}", "channel": "web", "consent": True,
             "properties": "{}"} for i, (event_id, ts) in enumerate(zip(ids, times))]
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO events (event_id, ts, name, session_id, channel, consent, "
                "properties) VALUES (:event_id, :ts, :name, :session_id, :channel, :consent, "
                ":properties)"), rows)
    finally:
        engine.dispose()
    return ids


def stored_ids(path: Path) -> tuple[list[str], int]:
    store = ChdbStore(str(path))
    try:
        final = list(store.query("SELECT event_id FROM events FINAL")["event_id"])
        raw = store.query("SELECT count() AS n FROM events")["n"][0]
        return final, raw
    finally:
        store.close()


def test_follow_copies_new_events_in_increments_and_resumes_from_the_store(empty_url,
                                                                          tmp_path):
    path = tmp_path / "store"
    # 600 events over two hours across a month's end (windows never straddle a month)
    first = shop_events(empty_url, [BASE + timedelta(seconds=12 * i) for i in range(600)], "a")
    store = ChdbStore(str(path))
    store.create_tables()
    follower = Follower(store, empty_url, overlap=timedelta(seconds=60), batch=100,
                        window=timedelta(minutes=30))
    windows = []
    original = follower._copy
    follower._copy = lambda start, end, stored: windows.append((start, end)) or \
        original(start, end, stored)
    assert follower.round() == 600
    assert len(windows) > 3 and all(end.month == start.month or end == datetime(2026, 12, 1)
                                    for start, end in windows)
    assert follower.round() == 0  # nothing new: the overlap is read, nothing written
    # new events, and events committed late: their time is before the store's latest
    # event (within the overlap)
    last = BASE + timedelta(seconds=12 * 599)
    late = shop_events(empty_url, [last - timedelta(seconds=s) for s in (1, 30, 59)], "late")
    newer = shop_events(empty_url, [last + timedelta(seconds=s) for s in range(1, 41)], "b")
    assert follower.round() == 43
    store.close()
    ids, raw = stored_ids(path)
    assert sorted(ids) == sorted(first + late + newer) and raw == len(ids)
    # a new follower (a restarted process) knows only the store: it resumes from there
    more = shop_events(empty_url, [last + timedelta(seconds=100 + s) for s in range(25)], "c")
    too_late = shop_events(empty_url, [last - timedelta(seconds=600)], "too-late")
    store = ChdbStore(str(path))
    assert Follower(store, empty_url, overlap=timedelta(seconds=60)).round() == 25
    store.close()
    ids, raw = stored_ids(path)
    assert sorted(ids) == sorted(first + late + newer + more) and raw == len(ids)
    assert too_late[0] not in ids  # committed later than the overlap: not followed


def test_a_follower_stopped_mid_round_resumes_without_loss_or_double_count(tmp_path):
    from storefront_api.migrations import upgrade
    shop = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(shop)
    ids = shop_events(shop, [BASE + timedelta(seconds=5 * i) for i in range(1000)], "x")
    path = tmp_path / "store"
    store = ChdbStore(str(path))
    store.create_tables()
    stopping = Follower(store, shop, overlap=timedelta(seconds=30), batch=100,
                        window=timedelta(minutes=5))
    original, calls = stopping._copy, []

    def copy_then_stop(start, end, stored):
        calls.append(start)
        written = original(start, end, stored)
        if len(calls) == 3:
            stopping.stop.set()  # SIGTERM: the window being written is finished, then out
        return written

    stopping._copy = copy_then_stop
    partial = stopping.round()
    assert 0 < partial < 1000
    resumed = Follower(store, shop, overlap=timedelta(seconds=30), batch=100)
    assert partial + resumed.round() == 1000
    store.close()
    final, raw = stored_ids(path)
    assert sorted(final) == sorted(ids) and raw == 1000


def test_store_load_follow_runs_until_sigterm_and_resumes(tmp_path):
    from storefront_api.migrations import upgrade
    shop = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(shop)
    path = tmp_path / "store"
    env = {**os.environ, "ANALYTICS_STORE": f"chdb:{path}"}
    ids = shop_events(shop, [BASE + timedelta(seconds=i) for i in range(300)], "p")

    def follower() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "analytics", "store-load", "--follow",
                                 "--every", "0.3", "--events", shop], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(process: subprocess.Popen, text: str, seconds: float = 60) -> str:
        """Read its log until a line has ``text`` (the reader thread keeps reading)."""
        seen, found = [], threading.Event()

        def read():
            for line in process.stderr:
                seen.append(line)
                if text in line:
                    found.set()
        threading.Thread(target=read, daemon=True).start()
        assert found.wait(seconds), "".join(seen)[-3000:]
        return "".join(seen)

    running = follower()
    wait_for(running, "copied 300 new events")
    later = shop_events(shop, [BASE + timedelta(seconds=300 + i) for i in range(50)], "q")
    time.sleep(1.5)  # a few rounds
    running.send_signal(signal.SIGTERM)
    out, _ = running.communicate(timeout=60)
    assert running.returncode == 0
    assert json.loads(out)["events"]["copied"] == 350
    # stopped: what comes meanwhile is copied by the next follower, from the store's watermark
    meanwhile = shop_events(shop, [BASE + timedelta(seconds=400 + i) for i in range(20)], "r")
    running = follower()
    wait_for(running, "copied 20 new events")
    running.send_signal(signal.SIGTERM)
    out, _ = running.communicate(timeout=60)
    assert running.returncode == 0 and json.loads(out)["events"]["copied"] == 20
    final, raw = stored_ids(path)
    assert sorted(final) == sorted(ids + later + meanwhile) and raw == 370


def test_follow_refuses_what_it_cannot_do(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "analytics", "store-load", "--store",
                               "chdb:", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    done = run("--follow", "--rasa-events", "x.jsonl")
    assert done.returncode == 2 and "--rasa-events" in done.stderr
    done = run("--follow", "--every", "0")
    assert done.returncode == 2 and "--every" in done.stderr


# --- docker-compose --------------------------------------------------------------------------

def test_compose_runs_the_clickhouse_writers_in_the_analytics_profile():
    import yaml
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    consumer, follower = services["rasa_events_clickhouse"], services["events_clickhouse"]
    for service in (consumer, follower):
        assert service["profiles"] == ["analytics"] and "ports" not in service
        assert service["depends_on"]["clickhouse"] == {"condition": "service_healthy"}
        env = service["environment"]
        # the password travels apart from the URL (any characters), as the server's own
        assert env["ANALYTICS_STORE"] == "clickhouse://aisle@clickhouse:8123/aisle"
        assert env["CLICKHOUSE_PASSWORD"] == "${CLICKHOUSE_PASSWORD:-}"
    assert consumer["command"][3:5] == ["consume-rasa-events", "--store"]
    assert "--events" not in consumer["command"] and "--queue" not in consumer["command"]
    assert follower["command"][3:5] == ["store-load", "--follow"]
    # the follower reads the shop's events with the dashboard's read-only role
    assert follower["environment"]["ANALYTICS_EVENTS_URL"].startswith(
        "postgresql+asyncpg://aisle_dashboard:")
    # the PostgreSQL consumer stays as it was: the dashboard reads what it writes
    assert "--store" not in services["rasa_events"]["command"]
    assert "profiles" not in services["rasa_events"]


def test_store_load_copies_the_postgresql_consumers_rasa_events(empty_url, tmp_path):
    """The conversations from before the ClickHouse consumer's queue existed: store-load
    --rasa-events URL copies the PostgreSQL consumer's table, in pages, each row once."""
    from analytics.clickhouse.ingest import copy_rasa_table
    from analytics.rasa_events import Store, row_of
    received = datetime(2026, 12, 1, 8, 0)
    rows = [row_of(json.dumps(rasa_event(i, sender=f"c{i % 4}", kind=("user", "action",
                                                                       "slot")[i % 3])),
                   received) for i in range(1, 11)]
    pg = Store(empty_url)
    try:
        assert pg.write(rows) == 10
    finally:
        pg.close()
    store = ChdbStore(str(tmp_path / "store"))
    store.create_tables()
    try:
        for _ in range(2):  # again: nothing more is counted
            assert copy_rasa_table(store, empty_url, batch=3)["rasa_events"] == 10
        assert store.query("SELECT count() AS n FROM rasa_events FINAL")["n"][0] == 10
        copied = store.query("SELECT event_key, conversation_id, type, intent, confidence, "
                             "slot_value FROM rasa_events FINAL ORDER BY event_key").to_dicts()
    finally:
        store.close()
    expected = sorted(rows, key=lambda r: r["event_key"])
    assert [(r["event_key"], r["conversation_id"], r["type"], r["intent"], r["slot_value"])
            for r in copied] == [(r["event_key"], r["conversation_id"], r["type"], r["intent"],
                                  r["slot_value"]) for r in expected]
    done = subprocess.run([sys.executable, "-m", "analytics", "store-load", "--events",
                           empty_url, "--rasa-events", empty_url, "--store",
                           f"chdb:{tmp_path / 'other'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rasa_events"]["rasa_events"] == 10


class TooLongCounts(ClickHouseStore):
    """A server refusing the count of what is already stored (a query over its size limit)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        original = self.store.query

        def query(sql: str):
            if "SELECT DISTINCT event_key" in sql:
                raise InputError("ClickHouse: Max query size exceeded")
            return original(sql)
        self.store.query = query


def test_a_refused_count_does_not_stop_the_batch(queue, tmp_path):
    """The count of events already stored is for the metric only: the batch is written."""
    name, channel = queue
    publish(channel, name, [rasa_event(i) for i in range(1, 4)])
    store = TooLongCounts(f"chdb:{tmp_path / 'store'}")
    try:
        assert Consumer(store, AMQP, name).run(until_idle=0.5) == 3
        assert store.store.query("SELECT count() AS n FROM rasa_events FINAL")["n"][0] == 3
    finally:
        store.close()
