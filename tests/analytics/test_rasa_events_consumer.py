"""``python -m analytics consume-rasa-events`` against the real RabbitMQ (127.0.0.1:5672) and a
migrated analytics store (SQLite and PostgreSQL): each Rasa event is written once however
often it is delivered, what is not an event goes to the dead-letter queue, and a consumer
killed in the middle of a batch (also right after its commit, before its acknowledgement)
loses nothing and doubles nothing."""

from __future__ import annotations

import json
import sqlite3
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from analytics.loaders import sync_url
from analytics.rasa_events import Consumer, Metrics, Store

ROOT = Path(__file__).resolve().parents[2]
AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def queue():
    """A queue of this test's own (and its dead-letter queue), deleted afterwards."""
    pika = pytest.importorskip("pika")
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    except pika.exceptions.AMQPError as error:
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"RabbitMQ is not reachable: {error!r}", pytrace=False)
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    name = f"test_rasa_events_{uuid.uuid4().hex[:8]}"
    channel = connection.channel()
    channel.queue_declare(name, durable=True)
    channel.confirm_delivery()
    yield name, channel
    channel.queue_delete(name)
    channel.queue_delete(name + ".dead")
    connection.close()


def publish(channel, queue: str, bodies: list, exchange: str = "") -> None:
    import pika
    for body in bodies:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        channel.basic_publish(exchange, queue, raw, pika.BasicProperties(delivery_mode=2))


def rasa_event(event_id: int | None, sender: str = "conv-1", kind: str = "user",
               ts: float = 1_765_000_000.0) -> dict:
    """A message as bot/event_stream.py publishes it."""
    body = {"sender_id": sender, "event": kind, "timestamp": ts + (event_id or 0) / 1000}
    if kind == "user":
        body.update(text="show me hoodies", input_channel="socketio",
                    parse_data={"intent": {"name": "search_products", "confidence": 0.97}})
    elif kind == "action":
        body.update(name="action_search_products", policy="RulePolicy", confidence=1.0)
    elif kind == "slot":
        body.update(name="cart_id", value="abc")
    if event_id is not None:
        body["aisle_event_id"] = event_id
    return body


def rows(url: str) -> list[dict]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(sa.text(
                "SELECT event_key, conversation_id, type, intent, action, confidence, "
                "input_channel, slot, slot_value FROM rasa_events ORDER BY event_key"))]
    finally:
        engine.dispose()


def consume(url: str, queue: str, **kwargs) -> int:
    store = Store(url)
    try:
        return Consumer(store, AMQP, queue, **kwargs).run(until_idle=0.5)
    finally:
        store.close()


def test_each_event_is_written_once_however_often_it_is_delivered(empty_url, queue):
    name, channel = queue
    events = [rasa_event(1), rasa_event(2, kind="action"), rasa_event(3, kind="slot"),
              rasa_event(None, sender="conv-2", kind="bot")]
    # redeliveries: a replica and a sweep both published 1 and 2; the message without an
    # identity (another broker) came twice, identical
    publish(channel, name, [*events, events[0], events[1], events[3]])
    metrics = Metrics(CollectorRegistry())
    store = Store(empty_url)
    try:
        assert Consumer(store, AMQP, name, batch=3, metrics=metrics).run(until_idle=0.5) == 4
    finally:
        store.close()
    written = rows(empty_url)  # ordered by key: h:... then t:1, t:2, t:3
    assert [r["event_key"] for r in written][1:] == ["t:1", "t:2", "t:3"]
    assert written[0]["event_key"].startswith("h:") and written[0]["conversation_id"] == "conv-2"
    user, action, slot = written[1:]
    assert (user["type"], user["intent"], user["confidence"], user["input_channel"]) == (
        "user", "search_products", pytest.approx(0.97), "socketio")
    assert (action["action"], slot["slot"], json.loads(slot["slot_value"])) == (
        "action_search_products", "cart_id", "abc")
    assert metrics.written._value.get() == 4 and metrics.duplicates._value.get() == 3
    # the same messages once more (a consumer restarted on a queue that redelivers)
    publish(channel, name, events)
    assert consume(empty_url, name) == 0
    assert len(rows(empty_url)) == 4


def test_what_is_not_a_rasa_event_goes_to_the_dead_letter_queue(empty_url, queue):
    name, channel = queue
    publish(channel, name, [b"\x80\x04pickle?", b"not json", [1, 2],
                            {"event": "user", "timestamp": 1.0},  # whose conversation?
                            {"sender_id": "c", "event": "user", "timestamp": "yesterday"},
                            # half a surrogate pair: no store could encode it
                            b'{"sender_id": "c\\ud800", "event": "user", "timestamp": 1.0}',
                            rasa_event(7)])
    assert consume(empty_url, name) == 1
    assert [r["event_key"] for r in rows(empty_url)] == ["t:7"]
    dead = []
    while True:
        method, properties, body = channel.basic_get(name + ".dead", auto_ack=True)
        if method is None:
            break
        dead.append((body, properties.headers["x-aisle-reason"]))
    assert [reason for _, reason in dead] == ["not JSON", "not JSON", "not a JSON object",
                                              "no sender_id", "no valid timestamp",
                                              "text that is not valid Unicode"]
    assert dead[0][0] == b"\x80\x04pickle?"  # kept as it came, for a person to look at
    assert channel.queue_declare(name, passive=True).method.message_count == 0


def consumer_process(url: str, queue: str, *extra: str, crash_at: str = "") -> subprocess.Popen:
    env = {**os.environ, "AISLE_CRASH_AT": crash_at, "RABBITMQ_URL": AMQP}
    return subprocess.Popen([sys.executable, "-m", "analytics", "consume-rasa-events",
                             "--events", url, "--queue", queue, *extra], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_consumer_killed_mid_batch_loses_and_doubles_nothing(empty_url, queue):
    name, channel = queue
    count = 3000
    publish(channel, name, [rasa_event(i, sender=f"conv-{i % 50}", kind=("user", "action",
                                                                         "slot")[i % 3])
                            for i in range(1, count + 1)])
    # killed right after committing its first batch, before acknowledging it: the batch
    # comes again and is not written twice
    crashed = consumer_process(empty_url, name, "--batch", "100", crash_at="rasa-events-committed")
    assert crashed.wait(timeout=60) == -signal.SIGKILL
    assert len(rows(empty_url)) == 100
    # killed with SIGKILL wherever it happens to be, three times
    for _ in range(3):
        running = consumer_process(empty_url, name, "--batch", "200")
        time.sleep(1.5)
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
    finishing = consumer_process(empty_url, name, "--batch", "200", "--until-idle", "1")
    assert finishing.wait(timeout=120) == 0, finishing.stderr.read().decode()[-2000:]
    written = rows(empty_url)
    assert sorted(int(r["event_key"][2:]) for r in written) == list(range(1, count + 1))
    assert channel.queue_declare(name, passive=True).method.message_count == 0


def tracker_store(path: Path) -> list[tuple]:
    """A tracker store as Rasa's SQLTrackerStore writes it: two conversations, one with a
    fallback and a handoff. Returns its rows as (id, sender, data)."""
    conversations = {
        "c1": [("user", {"text": "red shoes", "input_channel": "socketio", "parse_data": {
                   "intent": {"name": "search_products", "confidence": 0.93}}}),
               ("action", {"name": "action_search_products", "policy": "RulePolicy"}),
               ("slot", {"name": "cart_id", "value": "17"}),
               ("bot", {"text": "Found 3 red shoes"}),
               ("user", {"text": "asdfgh", "parse_data": {
                   "intent": {"name": "nlu_fallback", "confidence": 0.3}}}),
               ("action", {"name": "action_default_fallback", "policy": "RulePolicy"}),
               ("pause", {}), ("bot", {"text": "Hi, I'm Ann from the shop"})],
        "c2": [("user", {"text": "where is my order", "parse_data": {
                   "intent": {"name": "order_status", "confidence": 0.88}}}),
               ("action", {"name": "action_order_status", "policy": "TEDPolicy"})]}
    stored = []
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                   "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                   "action_name VARCHAR(255), data TEXT)")
        ts = 1_788_000_000.0
        for sender, events in conversations.items():
            for kind, fields in events:
                ts += 0.25
                data = {"event": kind, "timestamp": ts, **fields}
                cursor = db.execute(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                    "action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (sender, kind, ts, (fields.get("parse_data") or {}).get("intent", {})
                     .get("name"), fields.get("name"), json.dumps(data)))
                stored.append((cursor.lastrowid, sender, data))
    return stored


def test_chat_outcomes_from_the_analytics_store_equal_those_from_the_tracker_store(
        empty_url, queue, tmp_path):
    from analytics.chat import chat_metrics
    from analytics.loaders import load_conversations, load_events
    name, channel = queue
    stored = tracker_store(tmp_path / "tracker.db")
    publish(channel, name, [{"sender_id": sender, **data, "aisle_event_id": event_id}
                            for event_id, sender, data in stored])
    assert consume(empty_url, name) == len(stored)
    from_tracker = load_conversations(f"sqlite:///{tmp_path / 'tracker.db'}")
    from_analytics = load_conversations(empty_url)
    assert from_analytics.drop("text").equals(from_tracker.drop("text"))
    events = load_events(empty_url)
    assert chat_metrics(events, from_analytics) == chat_metrics(events, from_tracker)
    assert chat_metrics(events, from_analytics)["fallback"]["fallback_messages"] == 1


def test_the_consumers_lag_and_backlog_are_measured(empty_url, queue):
    """aisle_rasa_events_lag_seconds: how old the events of the batch just written were
    (what an alert on a stuck or slow consumer reads); the queue's backlog gauge."""
    name, channel = queue
    now = time.time()
    publish(channel, name, [rasa_event(i, ts=now - 30) for i in range(1, 6)])
    metrics = Metrics(CollectorRegistry())
    store = Store(empty_url)
    consumer = Consumer(store, AMQP, name, batch=100, metrics=metrics)
    try:
        assert consumer.run(until_idle=0.5) == 5
    finally:
        store.close()
    # the events waited 30 s before the consumer came: the lag says so
    assert 29 <= metrics.lag._value.get() < 29 + (time.time() - now) + 1
    assert metrics.written._value.get() == 5
    assert metrics.batch_seconds._sum.get() > 0
    import pika
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    try:
        consumer._measure_backlog(connection.channel())  # idle: no backlog, no lag
    finally:
        connection.close()
    assert metrics.backlog._value.get() == 0 and metrics.lag._value.get() == 0
