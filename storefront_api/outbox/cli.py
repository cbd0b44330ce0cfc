"""``python -m storefront_api outbox``: what an operator does about messages that failed.

    outbox --failed             list failed messages, oldest first
    outbox --retry ID [ID ...]  requeue these failed messages (due now, a new 72-hour run)
    outbox --retry-all          requeue every failed message

The listing shows what a message is (kind, its tag or intent), how often and when it was
tried and the last error with e-mail addresses masked: never whom it was for nor its text,
so it can be pasted into a ticket. Requeueing resets the attempts; a running server's
sender picks the messages up at its next poll.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from sqlalchemy import select, update

from ..db import Database, utcnow
from ..redaction import redact_emails
from ..settings import Settings
from .dispatcher import describe_message
from .models import OutboxMessage

_REQUEUED = {"status": "pending", "attempts": 0, "first_attempt_at": None,
             "last_attempt_at": None, "sent_at": None}


def outbox_command(settings: Settings, args) -> int:
    from ..migrations import upgrade
    upgrade(settings.database_url)  # the attempt times came with migration 0008
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args) -> int:
    db = Database(settings.database_url)
    try:
        if args.failed:
            return await _list_failed(db, args.limit)
        return await _retry(db, None if args.retry_all else args.retry)
    finally:
        await db.dispose()


async def failed_messages(db: Database, limit: int = 1000) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.id).limit(limit))).all())


async def _list_failed(db: Database, limit: int) -> int:
    found = await failed_messages(db, limit)
    if not found:
        print("no failed messages")
        return 0
    print("id\tkind\twhat\tattempts\tfirst attempt (UTC)\tlast attempt (UTC)\tlast error")
    for message in found:
        print("\t".join([
            str(message.id), message.kind, describe_message(message.kind, message.payload),
            str(message.attempts), _time(message.first_attempt_at),
            _time(message.last_attempt_at),
            redact_emails(message.last_error or "-").replace("\n", " ")]))
    print(f"{len(found)} failed message(s); requeue with --retry ID ... or --retry-all")
    return 0


async def requeue(db: Database, ids: list[int] | None) -> list[int]:
    """Failed messages back to pending, due now; ``ids=None`` means every failed one.
    Returns the ids requeued (an id that is not a failed message is left alone)."""
    async with db.write() as session:
        query = select(OutboxMessage.id).where(OutboxMessage.status == "failed")
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(ids))
        found = list((await session.scalars(query.order_by(OutboxMessage.id))).all())
        if found:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(found))
                                  .values(next_attempt_at=utcnow(), **_REQUEUED))
    return found


async def _retry(db: Database, ids: list[int] | None) -> int:
    done = await requeue(db, ids)
    missing = sorted(set(ids or []) - set(done))
    if done:
        print(f"requeued {len(done)} message(s): {', '.join(map(str, done))}")
    else:
        print("nothing to requeue")
    if missing:
        print(f"not failed messages (left alone): {', '.join(map(str, missing))}",
              file=sys.stderr)
        return 1
    return 0


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def add_arguments(parser) -> None:
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--failed", action="store_true", help="list failed messages")
    action.add_argument("--retry", type=int, nargs="+", metavar="ID",
                        help="requeue these failed messages")
    action.add_argument("--retry-all", action="store_true",
                        help="requeue every failed message")
    parser.add_argument("--limit", type=int, default=1000,
                        help="list at most this many (default 1000)")
