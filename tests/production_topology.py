"""The production topology's pieces shared by its tests (tests/e2e/test_production_topology.py,
tests/production/) and bench/scale_out.py: the services' settings as
docker-compose.yml gives them, a RabbitMQ queue of the stack's own, and the check that every
event stored in Rasa's tracker store reached the analytics store, once."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
from sqlalchemy.engine import make_url

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


def production_environment(tracker_url: str) -> dict[str, str]:
    """The services' addresses, as docker-compose.yml gives them to Rasa."""
    rasa_url = make_url(tracker_url).set(drivername="postgresql")  # psycopg2, in Rasa
    return {"TRACKER_STORE_URL": rasa_url.render_as_string(hide_password=False),
            "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_PASSWORD": "",
            "REDIS_LOCK_DB": "1", "RABBITMQ_HOST": "127.0.0.1",
            "RABBITMQ_USER": "guest", "RABBITMQ_PASSWORD": "guest", "RABBITMQ_URL": AMQP,
            "CHAT_MESSAGE_QUEUE_URL": "redis://127.0.0.1:6379/3",
            # a dead replica's lock on a conversation frees after this (docker-compose too)
            "TICKET_LOCK_LIFETIME": "30"}


def own_queue() -> str:
    return f"rasa_events_{uuid.uuid4().hex[:8]}"


def delete_queue(name: str) -> None:
    """The stack's queue, its dead letters and its exchange, once the stack stopped."""
    import pika
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    except pika.exceptions.AMQPError:
        return
    channel = connection.channel()
    for queue in (name, name + ".dead"):
        channel.queue_delete(queue)
    channel.exchange_delete(name)
    connection.close()


def require_rabbitmq() -> None:
    import pika
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP)).close()
    except pika.exceptions.AMQPError as error:
        reason = f"RabbitMQ is not reachable on 127.0.0.1:5672: {error!r}"
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


async def fetch(url: str, query: str, *args):
    import asyncpg
    connection = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


def tracker_event_ids(tracker_url: str, senders: list[str]) -> dict[int, str]:
    """Every event of these conversations in Rasa's tracker store: id -> conversation."""
    rows = asyncio.run(fetch(tracker_url, "SELECT id, sender_id FROM events WHERE "
                              "sender_id = ANY($1::text[])", senders))
    return {row["id"]: row["sender_id"] for row in rows}


def analytics_event_keys(shop_url: str, senders: list[str]) -> list[str]:
    """The event keys the consumer wrote for these conversations (a list: doubles show)."""
    import sqlalchemy as sa
    from analytics.loaders import sync_url
    engine = sa.create_engine(sync_url(shop_url))
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(
                sa.text("SELECT event_key FROM rasa_events WHERE conversation_id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True)), {"ids": senders})]
    finally:
        engine.dispose()


def wait_until_analytics_has_every_event(tracker_url: str, shop_url: str,
                                         senders: list[str], timeout: float = 60) -> None:
    """Each stored event reaches the analytics store, once (the stream may need a sweep)."""
    deadline = time.monotonic() + timeout
    while True:
        stored = {f"t:{event_id}" for event_id in tracker_event_ids(tracker_url, senders)}
        written = analytics_event_keys(shop_url, senders)
        if set(written) >= stored or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(written) == len(set(written))  # nothing twice (a primary key, but still)
    missing = stored - set(written)
    assert not missing, f"{len(missing)} of {len(stored)} events never reached analytics"
    assert set(written) == stored


