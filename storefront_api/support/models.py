"""Support tickets (complaints and questions, linked to an order when there is one) and
handoffs: chat conversations waiting for, or talking with, a human agent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, SmallInteger, String,
                        Text, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow


class SupportTicket(Base):
    __tablename__ = "support_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)  # "T-4F7K2M", for people
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # complaint | question
    email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | closed
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# waiting (in the queue) -> active (an agent claimed it) -> closed (handed back to the bot)
HANDOFF_STATUSES = ("waiting", "active", "closed")
_OPEN = text("status <> 'closed'")


class Handoff(Base):
    """A conversation the bot handed to a person. The bot is paused in Rasa meanwhile."""

    __tablename__ = "handoffs"
    __table_args__ = (
        # At most one open handoff per conversation, even when two requests race.
        Index("uq_handoffs_open_conversation", "conversation_id", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_handoffs_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)  # "H-4F7K2M", for people
    conversation_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    agent: Mapped[str | None] = mapped_column(String(80))
    email: Mapped[str | None] = mapped_column(String(254))
    cart_token: Mapped[str | None] = mapped_column(String(64))
    order_numbers: Mapped[list] = mapped_column(JSON, default=list)
    transcript: Mapped[list] = mapped_column(JSON, default=list)  # as the bot saw it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The inbox (migration 0010): who holds it as a staff account (None for the break-glass
    # token), when an agent first wrote, how it ended, and the shopper's rating.
    agent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    first_reply_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))  # resolved | handed_back
    csat_asked_at: Mapped[datetime | None] = mapped_column(DateTime)
    csat: Mapped[int | None] = mapped_column(SmallInteger)  # 1 to 5
    rated_at: Mapped[datetime | None] = mapped_column(DateTime)

    messages: Mapped[list["HandoffMessage"]] = relationship(
        lazy="raise", order_by="HandoffMessage.id", cascade="all, delete-orphan")


class HandoffMessage(Base):
    """What an agent wrote to the shopper, kept whether or not Rasa delivered it."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"),
                                            index=True)
    agent: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(String(300))  # why Rasa did not take it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class HandoffNote(Base):
    """An agent's internal note on a handoff: for the team, never sent to the shopper."""

    __tablename__ = "handoff_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"),
                                            index=True)
    author: Mapped[str] = mapped_column(String(80))
    author_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CannedReply(Base):
    """A reply agents share, with placeholders ({first_name}, {order_number}...); admins
    write them."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40), unique=True)  # typed as /shortcut
    title: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AgentPresence(Base):
    """When an agent's inbox was last open (its live stream beats every few seconds): who
    is online, and whose claims outlived the grace period."""

    __tablename__ = "agent_presence"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)  # "staff:12", "break-glass"
    agent: Mapped[str] = mapped_column(String(80))
    agent_id: Mapped[int | None] = mapped_column(Integer)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, index=True)
