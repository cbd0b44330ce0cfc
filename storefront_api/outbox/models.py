"""The transactional outbox: messages to send after a change commits (e-mails, chat notices).

A message is written in the same transaction as the change that causes it (an order, a
restock), so it exists exactly when the change does; a background sender delivers it with
retries. A crash or an outage of the mail server or of Rasa delays a message, never loses it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | conversation
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)  # retries: 72 h from it
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)
