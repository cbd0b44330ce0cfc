"""Telling the open inboxes (and a shopper's chat page) what changed.

Called after the change is committed, never inside its transaction: a notice for a change
that then rolled back would show agents something that did not happen. A notice carries
the handoff's whole queue row, so a page replaces what it had instead of guessing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..support import handoffs as handoff_service
from ..support.models import Handoff
from . import INBOX_APP_KEY, Inbox
from .documents import queue_row, shopper_times
from .hub import INBOX, chat_topic


def inbox_of(app: web.Application) -> Inbox | None:
    return app.get(INBOX_APP_KEY)


async def handoffs_changed(inbox: Inbox, ids: list[int]) -> None:
    """Each handoff's current queue row to every inbox."""
    async with inbox.db.read() as session:
        rows = list((await session.scalars(
            select(Handoff).where(Handoff.id.in_(ids))
            .options(selectinload(Handoff.messages)))).all())
        times = await shopper_times(inbox.tracker, rows)
        documents = []
        for handoff in rows:
            position = await handoff_service.position_of(session, handoff)
            documents.append(await queue_row(session, handoff, inbox.settings, position=position,
                                             shopper_times=times.get(handoff.conversation_id, [])))
    for document in documents:
        await inbox.hub.publish(INBOX, "handoff", {"handoff": document})


async def handoff_changed(app: web.Application, handoff_id: int, *,
                          watch: str | None = None) -> None:
    """After a route changed a handoff. ``watch``: a conversation that just got a handoff,
    for this process's tracker store watch."""
    inbox = inbox_of(app)
    if inbox is None:
        return
    if watch is not None and inbox.watch is not None:
        inbox.watch.watch(watch, handoff_id)
    await handoffs_changed(inbox, [handoff_id])


async def item_added(app: web.Application, handoff: Handoff, item: dict[str, Any]) -> None:
    """A line of the conversation (an agent's reply, a note) to every inbox."""
    inbox = inbox_of(app)
    if inbox is not None:
        await inbox.hub.publish(INBOX, "message", {
            "handoff_id": handoff.id, "conversation_id": handoff.conversation_id, "item": item})


async def to_shopper(app: web.Application, conversation_id: str, kind: str,
                     data: dict[str, Any]) -> None:
    """To the shopper's open chat page (typing, who is with them): never their words."""
    inbox = inbox_of(app)
    if inbox is not None:
        await inbox.hub.publish(chat_topic(conversation_id), kind, data)


async def to_inbox(app: web.Application, kind: str, data: dict[str, Any]) -> None:
    inbox = inbox_of(app)
    if inbox is not None:
        await inbox.hub.publish(INBOX, kind, data)
