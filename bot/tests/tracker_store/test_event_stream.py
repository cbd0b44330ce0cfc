"""The event stream of the tracker store (bot/event_stream.py) against the real RabbitMQ on
127.0.0.1:5672 and real databases: every stored event reaches the queue with its identity,
also when a replica dies between storing a turn and RabbitMQ's confirmation, and a later
turn confirmed by another replica does not hide the lost one."""

from __future__ import annotations

import os
import uuid

import aio_pika
import pytest
from rasa.utils.endpoints import EndpointConfig

from bot import event_stream
from bot.event_stream import EVENT_ID_KEY, ConfirmingPikaEventBroker
from test_cached_sql_tracker_store import (database_url, new_conversation, stores,  # noqa: F401
                                           turn)

AMQP = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
async def rabbitmq(monkeypatch):
    """A broker on an exchange and queue of this test's own; yields (broker, read). The
    event streams made meanwhile are stopped afterwards."""
    streams = []
    made = event_stream.EventStream.__init__

    def keep(self, *args):
        made(self, *args)
        streams.append(self)

    monkeypatch.setattr(event_stream.EventStream, "__init__", keep)
    name = f"test-stream-{uuid.uuid4().hex[:8]}"
    try:
        connection = await aio_pika.connect_robust(AMQP)
    except Exception as error:  # noqa: BLE001 - reported as a missing service
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"RabbitMQ is not reachable: {error}", pytrace=False)
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    broker = await ConfirmingPikaEventBroker.from_endpoint_config(EndpointConfig(
        url="127.0.0.1", username="guest", password="guest", queues=[name],
        exchange_name=name))
    channel = await connection.channel()

    async def read() -> list[dict]:
        import json
        queue = await channel.get_queue(name)
        found = []
        while (got := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            found.append(json.loads(got.body))
        return found

    yield broker, read
    for stream in streams:
        await stream.close()
    await channel.queue_delete(name)
    await channel.exchange_delete(name)
    await broker.close()
    await connection.close()


def stored(store, sender: str) -> list[tuple[int, str]]:
    """(id, Rasa's event name) of the conversation's rows in the tracker store."""
    events = store.SQLEvent.__table__
    with store.engine.connect() as connection:
        return [(row[0], row[1]) for row in connection.execute(
            events.select().with_only_columns(events.c.id, events.c.type_name)
            .where(events.c.sender_id == sender).order_by(events.c.id))]


def stored_ids(store, sender: str) -> list[int]:
    return [event_id for event_id, _ in stored(store, sender)]


async def settled(store) -> None:
    """Let the background publishing finish, then write its confirmations back."""
    await store.stream.published()
    await store.stream.write_back()


async def test_each_stored_event_reaches_the_queue_once_with_its_identity(database_url,
                                                                          rabbitmq):
    broker, read = rabbitmq
    store, _ = stores(database_url, broker)
    await store.save(new_conversation("s1"))
    tracker = await store.retrieve("s1")
    turn(tracker, "show me hoodies", cart="c1")
    await store.save(tracker)
    await settled(store)
    published = await read()
    assert [(m[EVENT_ID_KEY], m["event"]) for m in published] == stored(store, "s1")
    assert {m["sender_id"] for m in published} == {"s1"}
    assert any(m.get("text") == "show me hoodies" for m in published)  # Rasa's own message
    assert await store.stream.sweep() == 0  # all confirmed: nothing to send again


async def test_a_turn_stored_by_a_replica_that_died_before_the_confirmation_is_sent_later(
        database_url, rabbitmq, monkeypatch):
    broker, read = rabbitmq
    dying, _ = stores(database_url, broker)
    survivor, _ = stores(database_url, broker)
    await survivor.save(new_conversation("s2"))
    await settled(survivor)
    # replica one stores a turn and dies before publishing it
    monkeypatch.setattr(dying.stream, "publish_soon", lambda *args: None)
    tracker = await dying.retrieve("s2")
    turn(tracker, "add it", cart="c2")
    await dying.save(tracker)
    # the conversation goes on through replica two, whose turns are confirmed
    tracker = await survivor.retrieve("s2")
    assert tracker.get_slot("cart_id") == "c2"
    turn(tracker, "checkout")
    await survivor.save(tracker)
    await settled(survivor)
    before_sweep = {m[EVENT_ID_KEY] for m in await read()}
    assert before_sweep < set(stored_ids(survivor, "s2"))  # the dead replica's turn is missing
    monkeypatch.setattr(event_stream, "SWEEP_SECONDS", 0.0)
    assert await survivor.stream.sweep() > 0
    again = await read()
    assert before_sweep | {m[EVENT_ID_KEY] for m in again} == set(stored_ids(survivor, "s2"))
    assert await survivor.stream.sweep() == 0  # and then it is done


async def test_while_rabbitmq_refuses_nothing_is_lost(database_url, rabbitmq, monkeypatch):
    broker, read = rabbitmq
    store, _ = stores(database_url, broker)
    await store.save(new_conversation("s3"))
    await settled(store)
    published = {m[EVENT_ID_KEY] for m in await read()}

    async def refused(events):
        raise ConnectionError("RabbitMQ is away")

    real = broker.publish_confirmed
    monkeypatch.setattr(broker, "publish_confirmed", refused)
    tracker = await store.retrieve("s3")
    turn(tracker, "jeans", cart="c3")
    await store.save(tracker)  # the turn itself succeeds
    await settled(store)
    monkeypatch.setattr(broker, "publish_confirmed", real)
    monkeypatch.setattr(event_stream, "SWEEP_SECONDS", 0.0)
    await store.stream.sweep()
    published |= {m[EVENT_ID_KEY] for m in await read()}
    assert published == set(stored_ids(store, "s3"))


def test_replicas_starting_at_the_same_moment_make_the_stream_table_once(database_url):  # noqa: F811
    """Two Rasa replicas started together both make the stream's table: on PostgreSQL two
    concurrent CREATE TABLE collide on pg_type, which stopped a replica from starting."""
    import threading

    import sqlalchemy as sa
    engines = [sa.create_engine(database_url) for _ in range(6)]
    start, errors = threading.Barrier(len(engines)), []

    def make(engine) -> None:
        start.wait()
        try:
            event_stream.create_tables(engine)
        except Exception as error:  # noqa: BLE001 - collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=make, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        with engines[0].connect() as connection:
            assert sa.inspect(connection).has_table("aisle_event_stream")
    finally:
        for engine in engines:
            engine.dispose()
