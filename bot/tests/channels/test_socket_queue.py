"""The web chat's sockets of two Rasa replicas share a message queue in the real Redis
(bot/channels/socketio.py, JSONRedisManager): a push emitted by the replica that got
storefront_api's call reaches the socket the other replica holds, and the queue carries JSON
only: a pickle published on it by someone who reached Redis runs nothing. The same push with
the web chat in Chromium: tests/e2e/test_production_topology.py."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import uuid
from pathlib import Path

import pytest
import redis
from socketio import AsyncServer

from bot.channels.socketio import QUEUE_CHANNEL, AisleSocketIOInput, queue_url, shared_queue

REDIS = "redis://127.0.0.1:6379/4"


@pytest.fixture
def redis_url():
    try:
        redis.StrictRedis.from_url(REDIS).ping()
    except redis.ConnectionError as error:
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is not reachable: {error}", pytrace=False)
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    return REDIS


class Replica:
    """One Rasa replica's socket.io server on the shared queue, with one socket of its own
    in a conversation's room; what it sends to its sockets is recorded."""

    def __init__(self, url: str, channel: str) -> None:
        manager = shared_queue(url)
        manager.channel = channel  # a channel of this test's own
        self.sio = AsyncServer(async_mode="asgi", client_manager=manager)
        self.sent: list[tuple[str, object]] = []

        async def record(eio_sid, event, data, namespace=None, id=None):
            self.sent.append((event, data))
        self.sio._emit_internal = record

    async def hold_socket(self, conversation: str) -> None:
        manager = self.sio.manager
        manager.initialize()  # as on the first connection: starts listening to the queue
        sid = manager.connect("eio-" + uuid.uuid4().hex, "/")
        manager.enter_room(sid, "/", conversation)
        await asyncio.sleep(0.3)  # subscribed

    async def close(self) -> None:
        listening = getattr(self.sio.manager, "thread", None)  # a replica with sockets
        if listening is not None:
            listening.cancel()
        await self.sio.manager.redis.close()


async def received(replica: Replica, count: int, timeout: float = 5) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(replica.sent) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return replica.sent


async def test_a_push_emitted_by_one_replica_reaches_the_socket_the_other_holds(redis_url):
    channel = f"{QUEUE_CHANNEL}-{uuid.uuid4().hex[:8]}"
    holding, pushing = Replica(redis_url, channel), Replica(redis_url, channel)
    try:
        await holding.hold_socket("conv-a")
        # storefront_api's trigger_intent reached the other replica: it emits to the room
        await pushing.sio.emit("bot_uttered", {"text": "Payment received, order AB-12345"},
                               room="conv-a")
        await pushing.sio.emit("bot_uttered", {"text": "not for this shopper"}, room="conv-b")
        assert await received(holding, 1) == [
            ("bot_uttered", {"text": "Payment received, order AB-12345"})]
        await asyncio.sleep(0.3)
        assert len(holding.sent) == 1  # another conversation's push reached nobody here
    finally:
        await holding.close()
        await pushing.close()


async def test_attack_a_pickle_on_the_queue_runs_nothing(redis_url, tmp_path):
    channel = f"{QUEUE_CHANNEL}-{uuid.uuid4().hex[:8]}"
    holding = Replica(redis_url, channel)
    marker = tmp_path / "owned"

    class Payload:  # what unpickling would run
        def __reduce__(self):
            return (Path.touch, (marker,))

    try:
        await holding.hold_socket("conv-a")
        publisher = redis.StrictRedis.from_url(redis_url)
        evil = {"method": "emit", "event": "bot_uttered", "data": Payload(),
                "namespace": "/", "room": "conv-a"}
        publisher.publish(channel, pickle.dumps(evil))
        publisher.publish(channel, b"\x00 not even json")
        publisher.publish(channel, json.dumps({"method": "emit", "event": "bot_uttered",
                                               "data": {"text": "a real push"},
                                               "namespace": "/", "room": "conv-a"}))
        assert await received(holding, 1) == [("bot_uttered", {"text": "a real push"})]
        assert not marker.exists()
    finally:
        await holding.close()


def test_the_queue_must_be_redis():
    assert queue_url(None) is None and queue_url("") is None
    assert queue_url("rediss://:pw@redis:6379/3") == "rediss://:pw@redis:6379/3"
    with pytest.raises(ValueError, match="redis://"):
        queue_url("amqp://guest@rabbit/")


def test_the_channel_takes_the_queue_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHAT_MESSAGE_QUEUE_URL", "redis://127.0.0.1:6379/4")
    channel = AisleSocketIOInput.from_credentials({"jwt_key": "k" * 32})
    assert channel.message_queue == "redis://127.0.0.1:6379/4"
    monkeypatch.delenv("CHAT_MESSAGE_QUEUE_URL")
    assert AisleSocketIOInput.from_credentials({"jwt_key": "k" * 32}).message_queue is None
