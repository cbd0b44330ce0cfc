"""Rasa's SQL tracker store, with the conversations it served recently kept in memory.

Rasa 3.6's SQLTrackerStore rebuilds a conversation at every message: it reads every event
of the session, parses each one's JSON and replays them all into a new tracker. That is a
sixth of the Rasa process's CPU on a chat turn, and it grows with the conversation (measured
with py-spy under the chat benchmark's load, bench/chat_turns.py).

This subclass keeps the tracker it last saved for each conversation (least recently used
first out, ``cache_size`` of them). Before handing one back it asks the database one cheap
question, how many events the conversation has and the id of the newest one, and uses the
kept tracker only if that is what it saved:

- another Rasa replica (or anything else) that wrote to the conversation since changes the
  answer, and the tracker is read from the database as before;
- a turn that failed after changing the tracker and before saving it leaves the tracker
  longer than what was saved: read from the database again;
- a save that fails forgets the conversation;
- a tracker is kept only when it holds exactly what reading the conversation would give
  (the events of its latest session): one that has just started a new session is read
  again at the next message.

Everything is still written to the database at every save, as before: a restart or a crash
loses nothing. Configure it in the endpoints as ``type: bot.tracker_store.CachedSQLTrackerStore``
with the SQL tracker store's own settings, plus ``cache_size`` (default 2000; 0 turns the
cache off).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, NamedTuple, Optional, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

# (number of events, id of the newest) of one conversation in the database
Marker = Tuple[int, Optional[int]]


class _Kept(NamedTuple):
    tracker: DialogueStateTracker
    events: int  # how many events the tracker had when it was saved
    marker: Marker


class CachedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that skips rebuilding a conversation it saved itself, unchanged."""

    def __init__(self, *args: Any, cache_size: int = 2000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_size = max(0, int(cache_size))
        self._kept: "OrderedDict[Text, _Kept]" = OrderedDict()

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
        self._kept.pop(tracker.sender_id, None)
        await super().save(tracker)  # if this raises, the conversation stays forgotten
        if not self.cache_size:
            return
        with self.session_scope() as session:
            # What `retrieve` would read: the events of the latest session.
            in_session = self._event_query(session, tracker.sender_id,
                                           fetch_events_from_all_sessions=False).count()
            marker = self._marker(session, tracker.sender_id)
        if in_session != len(tracker.events):
            return  # e.g. a new session began in this tracker: read it afresh next time
        self._kept[tracker.sender_id] = _Kept(tracker, len(tracker.events), marker)
        while len(self._kept) > self.cache_size:
            self._kept.popitem(last=False)
