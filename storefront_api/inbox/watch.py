"""What held shoppers write, pushed to this process's inbox streams as Rasa records it.

Every POLL_SECONDS the watch asks Rasa's tracker store for user and bot events with a
higher id than it has seen, in the conversations that have an open handoff (their list
is read from the shop's database every REFRESH_SECONDS, and at once when a handoff opens
here). A shopper's message becomes a ``message`` notice; the bot's own turns are not
pushed (they are read with the conversation). Each process watches for itself and
publishes only to its own streams, so with several replicas nothing is delivered twice.

Ids are not always committed in their order on PostgreSQL (two Rasa replicas writing at
once), so the watch reads again from the newest id it had seen LOOKBACK_SECONDS ago and
skips the rows it has already pushed: a late commit is pushed late, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from sqlalchemy import select

from ..db import Database
from ..support.handoffs import OPEN_STATUSES
from ..support.models import Handoff
from .hub import INBOX, InboxHub
from .tracker import TrackerStore, TrackerUnavailable, transcript_item

log = logging.getLogger("storefront_api.inbox")

POLL_SECONDS = 0.2  # a few times a second: a message waits 0.1 s on average
REFRESH_SECONDS = 1.0
LOOKBACK_SECONDS = 5.0


class ShopperWatch:
    def __init__(self, db: Database, tracker: TrackerStore, hub: InboxHub):
        self.db, self.tracker, self.hub = db, tracker, hub
        self.open: dict[str, int] = {}  # conversation id -> open handoff id
        self._refreshed = 0.0
        self._newest: int | None = None  # the highest id seen
        self._marks: deque[tuple[float, int]] = deque()  # (when, newest id then)
        self._pushed: dict[int, float] = {}  # ids pushed within the look-back
        self._failing = False

    def watch(self, conversation_id: str, handoff_id: int) -> None:
        """A handoff opened in this process: watch its conversation from the next poll."""
        self.open[conversation_id] = handoff_id

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll()
                if self._failing:
                    log.info("inbox: reading Rasa's tracker store again")
                self._failing = False
            except TrackerUnavailable as error:
                if not self._failing:  # once, not five times a second
                    log.warning("inbox: %s; shoppers' messages reach the inbox when it is "
                                "readable", error)
                self._failing = True
            except Exception:
                log.exception("inbox: the tracker store watch failed; retrying")
                self._failing = True
            try:
                await asyncio.wait_for(stop.wait(),
                                       timeout=2.0 if self._failing else POLL_SECONDS)
            except asyncio.TimeoutError:
                pass

    async def poll(self) -> None:
        now = time.monotonic()
        if self._newest is None:
            self._newest = await self.tracker.newest_id()  # older turns: read with the page
            self._marks.append((now, self._newest))
        if now - self._refreshed >= REFRESH_SECONDS:
            await self._refresh()
            self._refreshed = now
        rows = await self.tracker.said_after(self._floor(now), list(self.open))
        for row in rows:
            row_id = int(row[0])
            self._newest = max(self._newest, row_id)
            if row_id in self._pushed:
                continue
            self._pushed[row_id] = now
            await self._push(row)
        self._marks.append((now, self._newest))
        self._forget(now)

    def _floor(self, now: float) -> int:
        """The newest id seen LOOKBACK_SECONDS ago: everything above is read again."""
        floor = self._marks[0][1]
        for when, newest in self._marks:
            if now - when < LOOKBACK_SECONDS:
                break
            floor = newest
        return floor

    def _forget(self, now: float) -> None:
        while len(self._marks) > 1 and now - self._marks[1][0] >= LOOKBACK_SECONDS:
            self._marks.popleft()
        floor = self._marks[0][1]
        for row_id in [i for i in self._pushed if i <= floor]:
            del self._pushed[row_id]

    async def _refresh(self) -> None:
        async with self.db.read() as session:
            rows = await session.execute(select(Handoff.conversation_id, Handoff.id)
                                         .where(Handoff.status.in_(OPEN_STATUSES)))
            self.open = {conversation: handoff_id for conversation, handoff_id in rows.all()}

    async def _push(self, row) -> None:
        item = transcript_item(row)
        handoff_id = self.open.get(row[1])
        if item is None or item["sender"] != "user" or handoff_id is None:
            return
        await self.hub.publish(INBOX, "message", {"handoff_id": handoff_id,
                                                  "conversation_id": row[1], "item": item},
                               everywhere=False)
