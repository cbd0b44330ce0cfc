"""Rasa's SQL tracker store, with the conversations it served recently kept in memory and a
turn's reads and writes each one short statement, run off the event loop.

Rasa 3.6's SQLTrackerStore rebuilds a conversation at every message: it reads every event
of the session, parses each one's JSON and replays them all into a new tracker; and at every
save it counts the session's events again to know which ones are new, then writes them one
ORM object (one INSERT) at a time, all of it synchronously on Rasa's event loop. On the
production topology that was half of the Rasa process's CPU on a chat turn (py-spy,
bench/scale_out.py --profile; docs/operations.md, "Capacity").

This subclass keeps the tracker it last saved or read for each conversation (least recently
used first out, ``cache_size`` of them). Before handing one back it asks the database one
cheap question, how many events the conversation has and the id of the newest one, and uses
the kept tracker only if that is what it saved or read:

- another Rasa replica (or anything else) that wrote to the conversation since changes the
  answer, and the tracker is read from the database as before;
- a turn that failed after changing the tracker and before saving it leaves the tracker
  longer than what was saved: read from the database again;
- a save that fails forgets the conversation;
- a tracker is kept only when it holds what reading the conversation would give (the
  events of its latest session): one that has just started a new session is read again at
  the next message.

Saving a kept tracker writes the events after the ones it saved last, in one INSERT, without
counting them in the database; the answer to the question above after the save follows from
the one before (the count plus the new events, the newest id the INSERT returned), so it is
not asked again. Everything is still written at every save: a restart or a crash loses
nothing. With the event broker of bot/event_stream.py the events are published after they
are stored, and published again until RabbitMQ confirms them (Rasa's own order, publish
first and never check, loses a turn's events when a replica dies at the wrong moment); with
another broker, as Rasa does.

The SQL runs in threads of the store's own (one for SQLite, whose writes take turns anyway),
so that Rasa's event loop serves other conversations while the database answers. Reads run
in autocommit (no BEGIN and ROLLBACK around a SELECT).

After PostgreSQL restarts, the pooled connections are dead. Rather than checking every
connection before each use (``pool_pre_ping``: a round trip on every checkout, a tenth of
Rasa's work on a turn), a read that fails on a dropped connection is made again once:
SQLAlchemy then discards every connection the pool held from before, so the turn goes on and
so do the saves after it. A save is not made again (it may have reached the database): the
turn fails, the shopper is asked to try again (bot/resilience.py). On SQLite (the embedded
mode) the database runs in write-ahead-log mode with ``synchronous=NORMAL``: a commit no
longer waits for the disk; a crash of the process loses nothing, a power cut can lose the
last turns. Its connections are pooled rather than opened for every query.

Configure it in the endpoints as ``type: bot.tracker_store.CachedSQLTrackerStore`` with the
SQL tracker store's own settings, plus ``cache_size`` (default 2000; 0 turns the cache off).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import json
import logging
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Text, Tuple, TypeVar

import sqlalchemy as sa
from rasa.core.constants import POSTGRESQL_SCHEMA
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.event_stream import Batch, Stored, stream_for

logger = logging.getLogger(__name__)

# (number of events, id of the newest) of one conversation in the database
Marker = Tuple[int, Optional[int]]
Result = TypeVar("Result")
POOL_SIZE = 5  # PostgreSQL connections (and threads) of one Rasa process
INSERT_ROWS = 500  # events per INSERT (the databases' limits on parameters are far above)
EVENT_COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
KEPT_INSERT_ROWS = 32  # INSERTs kept for saves of up to this many events (a turn's: 2 to 12)


# The message being handled, set by bot/resilience.py under the conversation's lock: a
# tracker checked against the database during it is not checked again during it (the web
# chat's message is looked up for a repeat, then Rasa reads the tracker again).
TURN: "contextvars.ContextVar[Optional[object]]" = contextvars.ContextVar("aisle_turn",
                                                                          default=None)


class _Kept(NamedTuple):
    tracker: DialogueStateTracker
    events: int  # how many events the tracker had when it was saved or read
    marker: Marker
    checked_in: Optional[object] = None  # the TURN it was last checked against the database


class _Saved(NamedTuple):
    marker: Marker
    batch: Optional[Batch]  # what the event stream publishes (None: nothing)
    stored: List[Stored]


def holds_one_session(tracker: DialogueStateTracker) -> bool:
    """True when the tracker has what reading its conversation gives: the latest session
    only (a session start, if any, comes first)."""
    return not any(isinstance(event, SessionStarted)
                   for event in itertools.islice(tracker.events, 1, None))


def _write_ahead_log(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _dropped(error: BaseException) -> bool:
    """True for a failure on a connection the database had closed (SQLAlchemy has then
    discarded it, and every pooled connection older than it)."""
    return isinstance(error, sa.exc.DBAPIError) and bool(error.connection_invalidated)


class _Compiled:
    """A statement compiled once and run on the driver, its values bound by name
    (``data_0``...) and passed through the column types' own conversions, as SQLAlchemy's
    execution would (which also builds the statement's cache key at every run: about a third
    of a millisecond of CPU for the marker's SELECT on PostgreSQL, two thirds of its cost)."""

    def __init__(self, compiled: Any) -> None:
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        self.conversions = dict(compiled._bind_processors)

    def run(self, connection: Any, values: Dict[Text, Any]) -> Any:
        for name, convert in self.conversions.items():
            values[name] = convert(values[name])
        if self.order is not None:
            return connection.exec_driver_sql(self.sql, tuple(values[n] for n in self.order))
        return connection.exec_driver_sql(self.sql, values)


class CachedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that skips rebuilding a conversation it saved or read itself,
    unchanged, and runs its SQL off the event loop."""

    def __init__(self, *args: Any, cache_size: int = 2000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_size = max(0, int(cache_size))
        self._kept: "OrderedDict[Text, _Kept]" = OrderedDict()
        self._inserts: Dict[Tuple[str, int, bool], _Compiled] = {}  # see _insert_compiled
        self._markers: Dict[str, _Compiled] = {}  # the marker's SELECT, per dialect
        self._reader: Any = None
        threads = 1
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (
                None, "", ":memory:"):
            # SQLAlchemy 1.4 (Rasa 3.6's) opens and closes a new connection for every
            # session on an SQLite file (NullPool): four per turn, each with its pragmas.
            # Connections are kept, as SQLAlchemy 2.0 does by default.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2,
                                           connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _write_ahead_log)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        elif self.engine.dialect.name == "postgresql":
            # No pre-ping: a read on a dropped connection is made again (see above).
            url = self.engine.url
            self.engine.dispose()
            # the schema Rasa's store was told to use (POSTGRESQL_SCHEMA), as its engine had
            schema = os.environ.get(POSTGRESQL_SCHEMA)
            connect = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
            self.engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=10, **connect)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            threads = POOL_SIZE
            # reads on connections of their own, in autocommit for good (switching a pooled
            # connection there and back is a round trip each time)
            self._reader = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=10, **connect,
                                            isolation_level="AUTOCOMMIT")
        self.events_table = self.SQLEvent.__table__
        if self._reader is None:
            self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="tracker-store")
        self.stream = stream_for(self, self.event_broker)

    async def _off_loop(self, work: Callable[..., Result], *args: Any) -> Result:
        context = contextvars.copy_context()  # the conversation id of the log lines
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, functools.partial(context.run, work, *args))

    async def _read(self, work: Callable[..., Result], *args: Any) -> Result:
        """A read, made again once if it met a connection the database had dropped."""
        try:
            return await self._off_loop(work, *args)
        except sa.exc.DBAPIError as error:
            if not _dropped(error):
                raise
            logger.warning("tracker store: the database had closed a pooled connection (%s);"
                           " reading again on a new one", type(error.orig).__name__)
            if self._reader is not self.engine:
                # the writes' pool holds connections as old: the turn's save needs a new one
                await self._off_loop(self.engine.dispose)
            return await self._off_loop(work, *args)

    # --- reading ----------------------------------------------------------------------------

    def _marker(self, connection: Any, sender_id: Text) -> Marker:
        """How many events the conversation has stored, and the newest one's id."""
        select = self._markers.get(connection.dialect.name)
        if select is None:
            events = self.events_table
            select = self._markers[connection.dialect.name] = _Compiled(
                sa.select(sa.func.count(events.c.id), sa.func.max(events.c.id))
                .where(events.c.sender_id == sa.bindparam("sender_id",
                                                          type_=events.c.sender_id.type))
                .compile(dialect=connection.dialect))
        count, newest = select.run(connection, {"sender_id": sender_id}).one()
        return int(count), newest

    def _marker_now(self, sender_id: Text) -> Marker:
        with self._reader.connect() as connection:
            return self._marker(connection, sender_id)

    def _session_events(self, sender_id: Text, all_sessions: bool = False
                        ) -> Tuple[Marker, List[Dict[Text, Any]]]:
        """The conversation's marker, then its events (of the latest session, as Rasa's
        SQL store reads them). In that order: a write in between makes the marker older
        than the events, so the kept tracker is read again next time, never the reverse."""
        events = self.events_table
        query = sa.select(events.c.data).where(events.c.sender_id == sender_id)
        if not all_sessions:
            query = query.where(self._in_latest_session(sender_id))
        with self._reader.connect() as connection:
            marker = self._marker(connection, sender_id)
            rows = connection.execute(query.order_by(events.c.id)).all()
        return marker, [json.loads(row[0]) for row in rows]

    def _in_latest_session(self, sender_id: Text) -> Any:
        events = self.events_table
        start = (sa.select(sa.func.max(events.c.timestamp))
                 .where(events.c.sender_id == sender_id,
                        events.c.type_name == SessionStarted.type_name).scalar_subquery())
        return sa.or_(events.c.timestamp >= start, start.is_(None))

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        kept = self._kept.pop(sender_id, None)
        turn = TURN.get()
        if kept is not None and len(kept.tracker.events) == kept.events:
            if (turn is not None and kept.checked_in is turn) or \
                    await self._read(self._marker_now, sender_id) == kept.marker:
                self._kept[sender_id] = kept._replace(checked_in=turn)  # most recently used
                return kept.tracker
        marker, events = await self._read(self._session_events, sender_id)
        if not events or not self.domain:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        self._keep(tracker, marker, turn)
        return tracker

    async def retrieve_full_tracker(self, conversation_id: Text
                                    ) -> Optional[DialogueStateTracker]:
        _, events = await self._read(self._session_events, conversation_id, True)
        if not events or not self.domain:
            return None
        return DialogueStateTracker.from_dict(conversation_id, events, self.domain.slots)

    def _keep(self, tracker: DialogueStateTracker, marker: Marker,
              turn: Optional[object] = None) -> None:
        if not self.cache_size or not holds_one_session(tracker):
            return  # e.g. a new session began in this tracker: read it afresh next time
        self._kept[tracker.sender_id] = _Kept(tracker, len(tracker.events), marker, turn)
        while len(self._kept) > self.cache_size:
            self._kept.popitem(last=False)

    # --- saving -----------------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        kept = self._kept.pop(sender_id, None)
        if kept is not None and kept.tracker is not tracker:
            kept = None  # a tracker of the conversation this store did not hand out
        if self.stream is None:  # Rasa's order with another broker: publish, then store
            await self._stream_before_storing(tracker, kept)
        # if this raises, the conversation stays forgotten
        saved = await self._off_loop(self._write, tracker, kept)
        if saved.batch:
            self.stream.publish_soon(sender_id, saved.batch, saved.stored)
        self._keep(tracker, saved.marker)

    def _write(self, tracker: DialogueStateTracker, kept: Optional[_Kept]) -> _Saved:
        """The events not stored yet, in one INSERT, with the event stream's bookkeeping in
        the same transaction (its publishing comes after)."""
        sender_id = tracker.sender_id
        with self.engine.begin() as connection:
            if kept is not None:
                before: Optional[Marker] = kept.marker
                start = kept.events
            else:  # how many the database holds, as Rasa's SQL store counts them
                before = None
                start = self._session_event_count(connection, sender_id)
            new = [event.as_dict() for event in
                   itertools.islice(tracker.events, start, len(tracker.events))]
            ids = self._insert(connection, sender_id, new)
            batch, stored = None, []
            if self.stream is not None and ids:
                batch = self.stream.record_stored(connection, sender_id, ids[0], ids[-1],
                                                  stored_before=before and before[1])
                stored = list(zip(ids, new))
            if before is None or not ids:
                marker = self._marker(connection, sender_id) if before is None else before
            else:
                marker = (before[0] + len(ids), ids[-1])
        return _Saved(marker, batch, stored)

    def _session_event_count(self, connection: Any, sender_id: Text) -> int:
        events = self.events_table
        return connection.execute(
            sa.select(sa.func.count(events.c.id))
            .where(events.c.sender_id == sender_id, self._in_latest_session(sender_id))
        ).scalar()

    def _insert(self, connection: Any, sender_id: Text,
                new: List[Dict[Text, Any]]) -> List[int]:
        """Insert the events (dicts, in order) as Rasa's SQL store writes them; their ids."""
        if not new:
            return []
        rows = [{"sender_id": sender_id, "type_name": data.get("event"),
                 "timestamp": data.get("timestamp"),
                 "intent_name": data.get("parse_data", {}).get("intent", {}).get(
                     INTENT_NAME_KEY),
                 "action_name": data.get("name"), "data": json.dumps(data)}
                for data in new]
        ids: List[int] = []
        postgresql = connection.dialect.name == "postgresql"
        for first in range(0, len(rows), INSERT_ROWS):
            chunk = rows[first:first + INSERT_ROWS]
            values = {f"{column}_{n}": value for n, row in enumerate(chunk)
                      for column, value in row.items()}
            result = self._insert_compiled(connection, len(chunk), postgresql).run(
                connection, values)
            if postgresql:  # PostgreSQL numbers the rows in the order they are listed
                ids.extend(sorted(row[0] for row in result))
            else:  # SQLite: consecutively (nobody else writes inside this transaction)
                last = result.lastrowid
                ids.extend(range(last - len(chunk) + 1, last + 1))
        return ids

    def _insert_compiled(self, connection: Any, rows: int, returning: bool) -> _Compiled:
        """The INSERT of ``rows`` events, compiled once per number of rows (SQLAlchemy 1.4
        caches no compiled INSERT of several rows: it compiled one at every save)."""
        key = (connection.dialect.name, rows, returning)
        insert = self._inserts.get(key)
        if insert is None:
            events = self.events_table
            statement = events.insert().values([
                {column: sa.bindparam(f"{column}_{n}", type_=events.c[column].type)
                 for column in EVENT_COLUMNS}
                for n in range(rows)])
            if returning:
                statement = statement.returning(events.c.id)
            insert = _Compiled(statement.compile(dialect=connection.dialect))
            if rows <= KEPT_INSERT_ROWS:  # a turn's few sizes; a catch-up's large ones not
                self._inserts[key] = insert
        return insert


    async def _stream_before_storing(self, tracker: DialogueStateTracker,
                                     kept: Optional[_Kept]) -> None:
        if self.event_broker is None:
            return
        if kept is None:
            return await super().stream_events(tracker)  # reads the stored tracker
        new_events = list(itertools.islice(tracker.events, kept.events, len(tracker.events)))
        await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
