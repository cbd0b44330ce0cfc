"""Rasa's SQL tracker store, with the conversations it served recently kept in memory.

Rasa 3.6's SQLTrackerStore rebuilds a conversation at every message: it reads every event
of the session, parses each one's JSON and replays them all into a new tracker; and at every
save it counts the session's events again to know which ones are new. Together that was a
fifth of the Rasa process's CPU on a chat turn, growing with the conversation (measured with
py-spy under the chat benchmark's load, bench/chat_turns.py).

This subclass keeps the tracker it last saved for each conversation (least recently used
first out, ``cache_size`` of them). Before handing one back it asks the database one cheap
question, how many events the conversation has and the id of the newest one, and uses the
kept tracker only if that is what it saved:

- another Rasa replica (or anything else) that wrote to the conversation since changes the
  answer, and the tracker is read from the database as before;
- a turn that failed after changing the tracker and before saving it leaves the tracker
  longer than what was saved: read from the database again;
- a save that fails forgets the conversation;
- a tracker is kept only when it holds what reading the conversation would give (the
  events of its latest session): one that has just started a new session is read again at
  the next message.

Saving a kept tracker writes the events after the ones it saved last, without counting them
in the database. Everything is still written at every save: a restart or a crash loses
nothing. With the event broker of bot/event_stream.py the events are published after they
are stored, and published again until RabbitMQ confirms them (Rasa's own order, publish
first and never check, loses a turn's events when a replica dies at the wrong moment); with
another broker, as Rasa does. On PostgreSQL, pooled connections are checked before use, so
the store carries on by itself after the database restarts. On SQLite (the embedded mode) the database runs in
write-ahead-log mode with ``synchronous=NORMAL``: a commit no longer waits for the disk; a
crash of the process loses nothing, a power cut can lose the last turns. Its connections are
pooled rather than opened for every query.

Configure it in the endpoints as ``type: bot.tracker_store.CachedSQLTrackerStore`` with the
SQL tracker store's own settings, plus ``cache_size`` (default 2000; 0 turns the cache off).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from typing import Any, Dict, Iterator, NamedTuple, Optional, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.event_stream import stream_for

logger = logging.getLogger(__name__)

# (number of events, id of the newest) of one conversation in the database
Marker = Tuple[int, Optional[int]]


class _Kept(NamedTuple):
    tracker: DialogueStateTracker
    events: int  # how many events the tracker had when it was saved
    marker: Marker


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


class CachedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that skips rebuilding a conversation it saved itself, unchanged."""

    def __init__(self, *args: Any, cache_size: int = 2000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_size = max(0, int(cache_size))
        self._kept: "OrderedDict[Text, _Kept]" = OrderedDict()
        self._stored: Dict[Text, int] = {}  # being saved: how many events are in the database
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (
                None, "", ":memory:"):
            # SQLAlchemy 1.4 (Rasa 3.6's) opens and closes a new connection for every
            # session on an SQLite file (NullPool): four per turn, each with its pragmas.
            # Connections are kept, as SQLAlchemy 2.0 does by default; Rasa uses them from
            # its event loop's thread only.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2,
                                           connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _write_ahead_log)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        elif self.engine.dialect.name == "postgresql":
            # A connection the database closed (a restart) is found before a turn uses it,
            # rather than failing that turn.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5,
                                           max_overflow=10)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self.stream = stream_for(self, self.event_broker)

    def _marker(self, session: Any, sender_id: Text) -> Marker:
        count, newest = session.query(
            sa.func.count(self.SQLEvent.id), sa.func.max(self.SQLEvent.id)
        ).filter(self.SQLEvent.sender_id == sender_id).one()
        return int(count), newest

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        kept = self._kept.pop(sender_id, None)
        if kept is not None and len(kept.tracker.events) == kept.events:
            with self.session_scope() as session:
                unchanged = self._marker(session, sender_id) == kept.marker
            if unchanged:
                self._kept[sender_id] = kept  # most recently used
                return kept.tracker
        return await super().retrieve(sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        kept = self._kept.pop(sender_id, None)
        if kept is not None and kept.tracker is tracker:
            # Handed out by `retrieve` after the check above, or saved just now: the
            # database holds its first `kept.events` events.
            self._stored[sender_id] = kept.events
        try:
            await self._write(tracker)  # if this raises, the conversation stays forgotten
        finally:
            self._stored.pop(sender_id, None)
        if not self.cache_size or not holds_one_session(tracker):
            return  # e.g. a new session began in this tracker: read it afresh next time
        with self.session_scope() as session:
            marker = self._marker(session, sender_id)
        self._kept[sender_id] = _Kept(tracker, len(tracker.events), marker)
        while len(self._kept) > self.cache_size:
            self._kept.popitem(last=False)

    async def _write(self, tracker: DialogueStateTracker) -> None:
        """Rasa's SQL save (the events not stored yet, as Rasa stores them), with the event
        stream's bookkeeping in the same transaction and its publishing after it."""
        sender_id = tracker.sender_id
        if self.stream is None:
            await self.stream_events(tracker)  # Rasa's order: publish, then store
        with self.session_scope() as session:
            rows = [self._row(sender_id, event)
                    for event in self._additional_events(session, tracker)]
            session.add_all(row for row, _ in rows)
            batch = None
            if self.stream is not None and rows:
                session.flush()  # the events' ids
                batch = self.stream.record_stored(session, sender_id, rows[0][0].id,
                                                  rows[-1][0].id)
            session.commit()
            stored = [(row.id, data) for row, data in rows] if batch else []
        if batch:
            self.stream.publish_soon(sender_id, batch, stored)

    def _row(self, sender_id: Text, event: Any) -> Tuple[Any, Dict[Text, Any]]:
        """The event's row, as Rasa's SQL store writes it, and the event as a dict."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"), data=json.dumps(data)), data

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        stored = self._stored.get(tracker.sender_id)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        stored = self._stored.get(tracker.sender_id)
        if self.event_broker is None or stored is None:
            return await super().stream_events(tracker)  # reads the old tracker to compare
        new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
        await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
