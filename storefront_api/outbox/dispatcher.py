"""The outbox sender: delivers due messages, with retries, from every server process at once.

A message is *claimed* before it is sent: in one short transaction its ``next_attempt_at``
moves a lease (5 minutes) into the future and its attempt is counted. PostgreSQL picks rows
with ``FOR UPDATE SKIP LOCKED`` and SQLite's write transaction excludes every other writer,
so two processes never claim the same message. Sending happens outside any transaction
(SMTP and Rasa can be slow), then the outcome is written only if the lease is still ours. A
process that dies mid-send leaves the message to be retried when its lease ends: delivery is
at least once, never lost.

Failures are retried on Stripe's kind of schedule, exponential back-off over three days:
after 5 s, 10 s, 20 s... doubling up to one hour apart, for as long as less than 72 hours
have passed since the first attempt (about 80 attempts); a failure after that, or one that
retrying cannot help (PermanentFailure), marks the message failed and logs one ERROR line
that starts with FAILED_FOR_GOOD, without personal data, for operators to alert on.
``python -m storefront_api outbox --failed`` lists such messages and ``--retry`` requeues
them (outbox/cli.py).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..redaction import redact_emails
from ..settings import Settings
from .delivery import ConversationNotices, Mailer, PermanentFailure
from .models import OutboxMessage

log = logging.getLogger("storefront_api.outbox")

RETRY_FIRST = 5.0  # seconds after the first failure
RETRY_CAP = 3600.0  # never more than an hour between two attempts
GIVE_UP_AFTER = timedelta(hours=72)  # counted from the first attempt
LEASE = timedelta(minutes=5)  # longer than any one batch can take (SMTP 30 s, Rasa 5 s)
FAILED_FOR_GOOD = "outbox message failed for good"  # the alert's prefix: keep it stable


def retry_delay(attempts: int, first: float = RETRY_FIRST, cap: float = RETRY_CAP) -> float:
    """Seconds to wait after the ``attempts``-th failure: 5, 10, 20, ... 3600."""
    return min(first * 2 ** min(max(attempts - 1, 0), 64), cap)


def retry_schedule(first: float = RETRY_FIRST, cap: float = RETRY_CAP,
                   give_up_after: timedelta = GIVE_UP_AFTER) -> list[float]:
    """Seconds after the first attempt at which a message that always fails is tried: the
    first is 0, the last the first at or past ``give_up_after`` (its failure is final)."""
    times, attempts = [0.0], 1
    while times[-1] < give_up_after.total_seconds():
        times.append(times[-1] + retry_delay(attempts, first, cap))
        attempts += 1
    return times


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    created_at: datetime
    lease: datetime  # our claim: the next_attempt_at we wrote
    first_attempt_at: datetime  # this one, or the first of earlier ones


class OutboxDispatcher:
    def __init__(self, db: Database, settings: Settings, *, batch_size: int = 20,
                 poll_seconds: float | None = None, retry_first: float = RETRY_FIRST,
                 retry_cap: float = RETRY_CAP, give_up_after: timedelta = GIVE_UP_AFTER,
                 clock: Callable[[], datetime] = utcnow):
        self.db, self.settings, self.batch_size = db, settings, batch_size
        self.poll = settings.outbox_poll_seconds if poll_seconds is None else poll_seconds
        self.retry_first, self.retry_cap = retry_first, retry_cap
        self.give_up_after = give_up_after
        self.clock = clock  # naive UTC, like every time in the database
        self.mailer = Mailer(settings)
        self.notices = ConversationNotices(settings)
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # --- one round -----------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim and deliver the due messages (up to a batch); how many were handled."""
        now = now or self.clock()
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
                            OutboxMessage.attempts, OutboxMessage.created_at,
                            OutboxMessage.first_attempt_at)
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
                ).values(next_attempt_at=lease, attempts=OutboxMessage.attempts + 1,
                         first_attempt_at=func.coalesce(OutboxMessage.first_attempt_at, now),
                         last_attempt_at=now))
        return [Claimed(row.id, row.kind, row.payload, row.attempts + 1, row.created_at, lease,
                        row.first_attempt_at or now)
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
        now = self.clock()
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
        trying_for = now - message.first_attempt_at
        if isinstance(error, PermanentFailure) or trying_for >= self.give_up_after:
            log.error("%s: id=%d kind=%s what=%s attempts=%d tried_for=%dh error=%s",
                      FAILED_FOR_GOOD, message.id, message.kind, describe_message(
                          message.kind, message.payload), message.attempts,
                      trying_for.total_seconds() // 3600, redact_emails(reason))
            return {"status": "failed", "last_error": reason}
        delay = retry_delay(message.attempts, self.retry_first, self.retry_cap)
        log.info("outbox message %d (%s): attempt %d failed, retrying in %.0f s: %s",
                 message.id, message.kind, message.attempts, delay, redact_emails(reason))
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


def describe_message(kind: str, payload: dict[str, Any]) -> str:
    """What a message is, without whom it is for: an e-mail's tag, a notice's intent."""
    what = payload.get("tag") if kind == "email" else payload.get("intent")
    return str(what or "-")[:60]


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
