"""Putting messages in the outbox, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .models import OutboxMessage


async def enqueue_email(session: AsyncSession, *, to: str, subject: str, text: str,
                        html: str | None = None, tag: str = "") -> None:
    """An e-mail to send once the transaction commits (SMTP_URL, or var/outbox/*.eml)."""
    session.add(OutboxMessage(kind="email", payload={
        "to": to, "subject": subject, "text": text, "html": html, "tag": tag}))


async def enqueue_conversation_notice(session: AsyncSession, *, conversation_id: str,
                                      intent: str, entities: dict[str, Any]) -> None:
    """Tell a chat conversation something happened (Rasa's trigger_intent with an EXTERNAL_
    intent), with retries and backoff while Rasa is unreachable."""
    session.add(OutboxMessage(kind="conversation", payload={
        "conversation_id": conversation_id, "intent": intent, "entities": entities}))
