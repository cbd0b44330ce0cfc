"""Fan-out of inbox changes to the live streams of every storefront_api process.

A change (a handoff claimed, an agent's reply, a note, a shopper typing) is published once
and reaches every open stream that listens to its topic: ``inbox`` (every agent's inbox)
or ``chat:<conversation id>`` (that shopper's chat page). With REDIS_URL set, a publication
goes through one Redis pub/sub channel that every process subscribes to, so an agent
connected to either replica sees it, in the order Redis received them; without Redis (the
embedded default, one process) it is delivered in this process. If Redis stops answering,
publications are delivered here only (logged) until it is back: the streams of this
process stay live, the other replicas' agents get the change at their next reload.

What shoppers write reaches the inbox another way: each process reads Rasa's tracker store
itself (watch.py) and publishes with ``everywhere=False``, so no message is delivered twice.

Every inbox notice gets an id ``<process>.<sequence>``; the last RECENT of them are kept,
so a stream that reconnects with Last-Event-ID gets what it missed, or, if that id is not
this process's or too old, a ``resync`` (the page then reloads its lists).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("storefront_api.inbox")

CHANNEL = "aisle:inbox:v1"
RECENT = 2000  # inbox notices kept for streams that reconnect
QUEUE_SIZE = 1000  # notices a slow stream may fall behind before it is dropped
INBOX = "inbox"
CLOSED = object()  # the hub is closing: streams end


def chat_topic(conversation_id: str) -> str:
    return f"chat:{conversation_id}"


@dataclass
class Notice:
    topic: str
    kind: str  # handoff | message | typing | presence | canned | ...
    data: dict[str, Any]
    id: str = ""


@dataclass(eq=False)  # each one is itself (kept in sets)
class Listener:
    """One stream's queue of notices. ``overflowed``: it fell too far behind; the stream
    ends and the page reconnects (and resyncs)."""

    topic: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    def offer(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


class InboxHub:
    def __init__(self, redis_url: str = ""):
        self.redis_url = redis_url
        self.process = secrets.token_hex(4)
        self._sequence = 0
        self._recent: deque[Notice] = deque(maxlen=RECENT)
        self._listeners: dict[str, set[Listener]] = {}
        self._redis = None
        self._reader: asyncio.Task | None = None
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.redis_url:
            import redis.asyncio as redis
            self._redis = redis.from_url(self.redis_url, socket_connect_timeout=2,
                                         health_check_interval=30)
            self._reader = asyncio.get_running_loop().create_task(self._read_redis())

    async def close(self) -> None:
        """End every stream (on shutdown: otherwise the server waits for them)."""
        self._closing = True
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener.offer(CLOSED)
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        if self._redis is not None:
            await self._redis.aclose()

    # --- publishing ------------------------------------------------------------------------

    async def publish(self, topic: str, kind: str, data: dict[str, Any], *,
                      everywhere: bool = True) -> None:
        """To every process's streams (through Redis when configured), or with
        ``everywhere=False`` to this process's only."""
        notice = Notice(topic, kind, data)
        if everywhere and self._redis is not None:
            try:
                await self._redis.publish(CHANNEL, json.dumps(
                    {"topic": topic, "kind": kind, "data": data}, default=str))
                return
            except Exception as exc:  # Redis down: this process's streams still get it
                log.warning("inbox: Redis publish failed, delivering locally only: %s", exc)
        self._deliver(notice)

    def _deliver(self, notice: Notice) -> None:
        if notice.topic == INBOX:
            self._sequence += 1
            notice.id = f"{self.process}.{self._sequence}"
            self._recent.append(notice)
        for listener in list(self._listeners.get(notice.topic, ())):
            listener.offer(notice)

    async def _read_redis(self) -> None:
        """Deliver what any process published; reconnect (1 s, 2 s... 15 s) when Redis goes."""
        delay = 1.0
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                delay = 1.0
                while not self._closing:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None:
                        self._deliver_raw(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("inbox: Redis subscription lost (%s); retrying in %.0f s",
                            exc, delay)
                await asyncio.sleep(delay)
                delay = min(15.0, delay * 2)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    def _deliver_raw(self, raw: Any) -> None:
        try:
            body = json.loads(raw)
            notice = Notice(str(body["topic"]), str(body["kind"]), dict(body["data"]))
        except (ValueError, KeyError, TypeError):
            log.warning("inbox: ignored a malformed notice on %s", CHANNEL)
            return
        self._deliver(notice)

    # --- listening -------------------------------------------------------------------------

    def listen(self, topic: str) -> Listener:
        listener = Listener(topic)
        if self._closing:
            listener.offer(CLOSED)
        self._listeners.setdefault(topic, set()).add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.topic)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.topic]

    def missed_since(self, last_id: str) -> list[Notice] | None:
        """The inbox notices after ``last_id``, or None when they cannot be told (another
        process's id, or older than what is kept): the stream then says ``resync``."""
        process, _, sequence = last_id.partition(".")
        if process != self.process or not sequence.isdigit():
            return None
        after = int(sequence)
        if after > self._sequence:
            return None
        oldest = self._sequence - len(self._recent) + 1
        if after < oldest - 1:
            return None
        return [notice for notice in self._recent if int(notice.id.split(".")[1]) > after]

    def listening(self, topic: str) -> int:
        return len(self._listeners.get(topic, ()))
