"""The outbox sender: delivers due messages, with retries, from every server process at once.

A message is *claimed* before it is sent: in one short transaction its ``next_attempt_at``
moves a lease (5 minutes) into the future and its attempt is counted. PostgreSQL picks rows
with ``FOR UPDATE SKIP LOCKED`` and SQLite's write transaction excludes every other writer,
so two processes never claim the same message. Sending happens outside any transaction
(SMTP and Rasa can be slow), then the outcome is written only if the lease is still ours. A
process that dies mid-send leaves the message to be retried when its lease ends: delivery is
at least once, never lost.

Failures are retried after 5 s, 10 s, 20 s... at most 10 minutes apart; after 20 attempts
(about two and a half hours) the message is marked failed and logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..settings import Settings
from .delivery import ConversationNotices, Mailer, PermanentFailure
from .models import OutboxMessage

log = logging.getLogger("storefront_api.outbox")

MAX_ATTEMPTS = 20
LEASE = timedelta(minutes=5)  # longer than any one batch can take (SMTP 30 s, Rasa 5 s)
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def retry_delay(attempts: int, first: float = 5.0, cap: float = 600.0) -> float:
    """Seconds to wait after the ``attempts``-th failure: 5, 10, 20, ... 600."""
    return min(first * 2 ** max(attempts - 1, 0), cap)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    created_at: datetime
    lease: datetime  # our claim: the next_attempt_at we wrote


class OutboxDispatcher:
    def __init__(self, db: Database, settings: Settings, *, batch_size: int = 20,
                 poll_seconds: float | None = None, retry_first: float = 5.0,
                 retry_cap: float = 600.0, max_attempts: int = MAX_ATTEMPTS):
        self.db, self.settings, self.batch_size = db, settings, batch_size
        self.poll = settings.outbox_poll_seconds if poll_seconds is None else poll_seconds
        self.retry_first, self.retry_cap, self.max_attempts = retry_first, retry_cap, max_attempts
        self.mailer = Mailer(settings)
        self.notices = ConversationNotices(settings)
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # --- one round -----------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim and deliver the due messages (up to a batch); how many were handled."""
        now = now or utcnow()
        if not await self._anything_due(now):  # a read: no write lock taken while idle
            return 0
        claimed = await self._claim(now)
        if not claimed:
            return 0
        errors = await asyncio.gather(*(self._deliver(message) for message in claimed))
        await self._record(list(zip(claimed, errors)))
        return len(claimed)

    async def _anything_due(self, now: datetime) -> bool:
        async with self.db.read() as session:
            return await session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now
            ).limit(1)) is not None

    async def _claim(self, now: datetime) -> list[Claimed]:
        lease = now + LEASE
        async with self.db.write() as session:
            query = (select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload,
                            OutboxMessage.attempts, OutboxMessage.created_at)
                     .where(OutboxMessage.status == "pending",
                            OutboxMessage.next_attempt_at <= now)
                     .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                     .limit(self.batch_size))
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            if rows:
                await session.execute(update(OutboxMessage).where(
                    OutboxMessage.id.in_([row.id for row in rows])
                ).values(next_attempt_at=lease, attempts=OutboxMessage.attempts + 1))
        return [Claimed(row.id, row.kind, row.payload, row.attempts + 1, row.created_at, lease)
                for row in rows]

    async def _deliver(self, message: Claimed) -> BaseException | None:
        try:
            if message.kind == "email":
                await self.mailer.send(message.id, message.payload, message.created_at)
            elif message.kind == "conversation":
                await self.notices.send(message.payload)
            else:
                raise PermanentFailure(f"unknown message kind {message.kind!r}")
        except Exception as exc:  # every failure is recorded on the message, none escapes
            return exc
        return None

    async def _record(self, outcomes: list[tuple[Claimed, BaseException | None]]) -> None:
        now = utcnow()
        async with self.db.write() as session:
            for message, error in outcomes:
                ours = (OutboxMessage.id == message.id, OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at == message.lease)
                values = self._outcome(message, error, now)
                result = await session.execute(update(OutboxMessage).where(*ours).values(**values))
                if result.rowcount != 1:
                    log.warning("outbox message %d: lease expired during delivery; "
                                "another sender may deliver it again", message.id)

    def _outcome(self, message: Claimed, error: BaseException | None,
                 now: datetime) -> dict[str, Any]:
        if error is None:
            return {"status": "sent", "sent_at": now, "last_error": None}
        reason = _describe(error)
        if isinstance(error, PermanentFailure) or message.attempts >= self.max_attempts:
            what = message.payload.get("tag") or message.payload.get("intent", "")
            log.error("outbox message %d (%s, %s) failed for good after %d attempts: %s",
                      message.id, message.kind, what, message.attempts,
                      _EMAIL.sub("<address>", reason))
            return {"status": "failed", "last_error": reason}
        delay = retry_delay(message.attempts, self.retry_first, self.retry_cap)
        log.info("outbox message %d (%s): attempt %d failed, retrying in %.0f s: %s",
                 message.id, message.kind, message.attempts, delay,
                 _EMAIL.sub("<address>", reason))
        return {"last_error": reason, "next_attempt_at": now + timedelta(seconds=delay)}

    # --- the background task -------------------------------------------------------------

    def start(self) -> None:
        if self.poll <= 0:  # OUTBOX_POLL_SECONDS=0: another process sends
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run())
        _RUNNING.add(self)

    def wake(self) -> None:
        """Something was just enqueued: look now rather than at the next poll."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except Exception:  # the database may be restarting: try again at the next poll
                log.exception("outbox: could not process due messages; will retry")
                handled = 0
            if handled >= self.batch_size or self._stopping:
                continue  # more are waiting
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def stop(self) -> None:
        """Finish the batch in hand (so nothing is left claimed), then close."""
        _RUNNING.discard(self)
        self._stopping = True
        if self._task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(self._task, timeout=15)
            except asyncio.TimeoutError:
                log.warning("outbox: stopped in the middle of a batch; it will be retried")
        await self.close()

    async def close(self) -> None:
        await self.notices.close()


def _describe(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    if isinstance(error, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        text = f"{error.__class__.__name__}: {text}"
    return text[:500]


# Wake the senders of this process when a transaction that enqueued something commits.
_RUNNING: weakref.WeakSet[OutboxDispatcher] = weakref.WeakSet()


@event.listens_for(Session, "after_flush")
def _note_enqueued(session: Session, _flush_context) -> None:
    if any(isinstance(obj, OutboxMessage) for obj in session.new):
        session.info["outbox_enqueued"] = True


@event.listens_for(Session, "after_commit")
def _wake_senders(session: Session) -> None:
    if session.info.pop("outbox_enqueued", False):
        for dispatcher in list(_RUNNING):
            dispatcher.wake()


@event.listens_for(Session, "after_rollback")
def _forget_enqueued(session: Session) -> None:
    session.info.pop("outbox_enqueued", None)
