"""Every conversation event Rasa stores reaches RabbitMQ, even if Rasa dies right after.

Rasa 3.6 publishes a turn's events to the event broker before it writes them to the tracker
store, and its RabbitMQ broker publishes in a background task that nobody waits for: a
replica killed at the wrong moment stores events that never reach the queue (or, the other
way round, publishes a turn it never stored). Here the tracker store is the source of truth
and the queue follows it, as with a transactional outbox:

- ``aisle_event_stream``, a table beside Rasa's ``events`` in the tracker store's database,
  holds per conversation the newest event id stored (``stored_upto``, written in the same
  transaction as the events), the newest id up to which RabbitMQ confirmed every event
  (``streamed_upto``) and since when the conversation has been waiting for confirmations
  without progress (``pending_since``).
- After the commit the new events are published with publisher confirms (the broker below),
  each carrying its id in the tracker store (``aisle_event_id``): the event's identity,
  on which the analytics consumer deduplicates. Confirmations are written back a second at a
  time, off the event loop, and only where they continue what was confirmed before: a turn
  whose events a dead replica never published keeps ``streamed_upto`` below it, however
  many later turns the other replica publishes.
- Every replica sweeps, every ``STREAM_SWEEP_SECONDS``: conversations waiting for longer
  than that (a replica died between commit and confirm, RabbitMQ was away) have every event
  after ``streamed_upto`` published again. A replica and a sweep may both publish the same
  event: the consumer writes it once.

So an event is published at least once and only once it is stored; with the consumer's
deduplication every stored event reaches analytics exactly once.

Configure the broker in the endpoints as ``type: bot.event_stream.ConfirmingPikaEventBroker``
with the pika broker's own settings; the SQL tracker store of bot/tracker_store.py does the
rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Dict, Iterable, List, Optional, Text, Tuple

import sqlalchemy as sa
from rasa.core.brokers.pika import PikaEventBroker

logger = logging.getLogger(__name__)

EVENT_ID_KEY = "aisle_event_id"  # the event's row in the tracker store, in each message
SWEEP_SECONDS = float(os.environ.get("STREAM_SWEEP_SECONDS", "5"))
FLUSH_SECONDS = 1.0
SWEEP_BATCH = 200  # conversations per sweep

metadata = sa.MetaData()
stream_table = sa.Table(
    "aisle_event_stream", metadata,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("stored_upto", sa.BigInteger, nullable=False),
    sa.Column("streamed_upto", sa.BigInteger, nullable=False),
    # time.time() since which the conversation waits for confirmations without progress
    sa.Column("pending_since", sa.Float, nullable=False),
)
sa.Index("ix_aisle_event_stream_pending", stream_table.c.pending_since)

Stored = Tuple[int, Dict[Text, Any]]  # (id in the tracker store, the event as Rasa has it)
Batch = Tuple[int, int]  # a conversation's events with ids in (after, upto]


CREATE_LOCK = 0x415353_31_36  # pg_advisory_xact_lock key: the stream's tables being made


def create_tables(engine: Any) -> None:
    """The stream's table, made once however many replicas start at the same moment: on
    PostgreSQL two concurrent ``CREATE TABLE`` of the same name collide (a unique violation
    on ``pg_type``, even with IF NOT EXISTS), so the replicas take turns on an advisory lock
    held by the transaction, and the second one finds the table there."""
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": CREATE_LOCK})
            metadata.create_all(connection, checkfirst=True)
    except sa.exc.OperationalError:  # SQLite: another process made it (or holds the file)
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(stream_table.name):
                raise


class ConfirmingPikaEventBroker(PikaEventBroker):
    """Rasa's RabbitMQ broker, with a publish that returns once RabbitMQ has the message."""

    async def publish_confirmed(self, events: Iterable[Dict[Text, Any]]) -> None:
        """Publish, in order, and return once RabbitMQ confirmed every one (the channel has
        publisher confirms on); raises if RabbitMQ is not reachable or refuses one. The
        messages go out one after the other without waiting for each confirmation (the
        channel writes them in the order they were started), then the confirmations are
        awaited together: one round trip for the lot, not one per event."""
        if self._exchange is None:
            raise ConnectionError("not connected to RabbitMQ")
        await asyncio.gather(*(self._exchange.publish(self._message(event, None), "")
                               for event in events))


def message(sender_id: Text, event_id: int, event: Dict[Text, Any]) -> Dict[Text, Any]:
    """What goes to the queue: Rasa's own message for the event, plus its identity."""
    return {"sender_id": sender_id, **event, EVENT_ID_KEY: event_id}


class EventStream:
    """The outbox of one tracker store: record, publish, confirm, sweep."""

    def __init__(self, store: Any, broker: ConfirmingPikaEventBroker) -> None:
        self.store = store
        self.broker = broker
        self._confirmed: Dict[Text, List[Batch]] = {}  # confirmed, not yet written back
        self._tasks: set = set()
        self._started = False
        self._outbox: Optional[asyncio.Queue] = None
        create_tables(store.engine)

    # --- in the save's transaction ----------------------------------------------------------

    def record_stored(self, connection: Any, sender_id: Text, first: int, upto: int,
                      stored_before: Optional[int] = None) -> Batch:
        """The conversation's events ``first``..``upto`` are stored (the caller commits);
        the batch to publish. ``stored_before``: the newest event id the caller saw stored
        before (its own last save), which saves reading the row when it is right."""
        table, now = stream_table, time.time()
        if stored_before is not None:
            # the wait starts now if nothing was waiting (as below), in one statement
            moved = connection.execute(
                table.update().where(table.c.sender_id == sender_id,
                                     table.c.stored_upto == stored_before)
                .values(stored_upto=upto, pending_since=sa.case(
                    (table.c.streamed_upto >= table.c.stored_upto, now),
                    else_=table.c.pending_since)))
            if moved.rowcount == 1:
                return stored_before, upto
        row = connection.execute(sa.select(table.c.stored_upto, table.c.streamed_upto)
                                 .where(table.c.sender_id == sender_id)).first()
        if row is None:
            connection.execute(table.insert().values(
                sender_id=sender_id, stored_upto=upto, streamed_upto=first - 1,
                pending_since=now))
            return first - 1, upto
        stored, streamed = int(row[0]), int(row[1])
        values: Dict[Text, Any] = {"stored_upto": upto}
        if streamed >= stored:  # nothing was waiting: the wait starts now
            values["pending_since"] = now
        connection.execute(table.update().where(table.c.sender_id == sender_id)
                           .values(**values))
        return stored, upto

    # --- after the commit -------------------------------------------------------------------

    def publish_soon(self, sender_id: Text, batch: Batch, stored: List[Stored]) -> None:
        """Publish what a save just committed, in the background (the turn does not wait),
        after what earlier saves of this replica committed: the queue gets them in order."""
        self.start()
        if stored and self._outbox is not None:
            self._outbox.put_nowait((sender_id, batch, stored))

    async def _publisher(self) -> None:
        """Publishes what the saves committed, everything waiting at once, in order."""
        while True:
            waiting = [await self._outbox.get()]
            while not self._outbox.empty():
                waiting.append(self._outbox.get_nowait())
            try:
                await asyncio.gather(*(self._publish(*saved) for saved in waiting))
            finally:
                for _ in waiting:
                    self._outbox.task_done()

    async def _publish(self, sender_id: Text, batch: Batch, stored: List[Stored]) -> None:
        try:
            await self.broker.publish_confirmed(message(sender_id, event_id, event)
                                                for event_id, event in stored)
        except Exception as error:  # noqa: BLE001 - the sweep publishes them later
            logger.warning("events of conversation %s not confirmed by RabbitMQ (%s); the "
                           "sweep publishes them again", sender_id, error)
        else:
            self._confirmed.setdefault(sender_id, []).append(batch)

    async def published(self) -> None:
        """Wait until what was committed so far has been published (tests, shutdown)."""
        if self._outbox is not None:
            await self._outbox.join()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Start writing confirmations back and sweeping (once, in the running loop)."""
        if self._started:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the first save starts it
        self._started = True
        self._outbox = asyncio.Queue()
        self._spawn(self._publisher())
        self._spawn(self._every(FLUSH_SECONDS, self.write_back))
        self._spawn(self._every(SWEEP_SECONDS, self.sweep))

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as error:  # noqa: BLE001 - e.g. the database restarting
                logger.warning("event stream: %s failed (%s: %s); again in %.0f s",
                               job.__name__, type(error).__name__, error, seconds)

    async def write_back(self) -> None:
        """Write the confirmed batches to the table (one transaction, off the event loop)."""
        confirmed, self._confirmed = self._confirmed, {}
        if not confirmed:
            return
        try:
            await asyncio.to_thread(self._write_back, confirmed)
        except Exception:
            for sender_id, batches in confirmed.items():  # again next time
                self._confirmed.setdefault(sender_id, []).extend(batches)
            raise

    def _write_back(self, confirmed: Dict[Text, List[Batch]]) -> None:
        table, now = stream_table, time.time()
        with self.store.engine.begin() as connection:
            for sender_id, batches in confirmed.items():
                for after, upto in sorted(batches):
                    # only where it continues what was confirmed before
                    connection.execute(
                        table.update().where(table.c.sender_id == sender_id,
                                             table.c.streamed_upto >= after,
                                             table.c.streamed_upto < upto)
                        .values(streamed_upto=upto, pending_since=now))

    # --- the sweep --------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Publish again every event after ``streamed_upto`` of the conversations that
        waited more than a sweep; the number of events published."""
        await self.write_back()
        waiting = await asyncio.to_thread(self._waiting, time.time() - SWEEP_SECONDS)
        published = 0
        for sender_id, after, upto in waiting:
            stored = await asyncio.to_thread(self._events, sender_id, after, upto)
            await self.broker.publish_confirmed(message(sender_id, event_id, event)
                                                for event_id, event in stored)
            published += len(stored)
            self._confirmed.setdefault(sender_id, []).append((after, upto))
        if waiting:
            await self.write_back()
            logger.info("event stream: published again %d events of %d conversations that "
                        "RabbitMQ had not confirmed", published, len(waiting))
        return published

    def _waiting(self, before: float) -> List[Tuple[Text, int, int]]:
        table = stream_table
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table.c.sender_id, table.c.streamed_upto, table.c.stored_upto)
                .where(table.c.stored_upto > table.c.streamed_upto,
                       table.c.pending_since < before)
                .order_by(table.c.pending_since).limit(SWEEP_BATCH)).all()
        return [(row[0], int(row[1]), int(row[2])) for row in rows]

    def _events(self, sender_id: Text, after: int, upto: int) -> List[Stored]:
        import json
        events = self.store.SQLEvent.__table__
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                sa.select(events.c.id, events.c.data)
                .where(events.c.sender_id == sender_id, events.c.id > after,
                       events.c.id <= upto).order_by(events.c.id)).all()
        return [(int(row[0]), json.loads(row[1])) for row in rows]

    async def close(self) -> None:
        """Stop publishing and sweeping (what is left, the next sweep of any replica
        sends)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def stream_for(store: Any, broker: Optional[Any]) -> Optional[EventStream]:
    """The outbox when the broker can confirm; None otherwise (Rasa's own streaming)."""
    if isinstance(broker, ConfirmingPikaEventBroker):
        return EventStream(store, broker)
    return None
