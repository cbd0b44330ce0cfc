"""The analytics ``events`` table (docs/storefront-api.md, "Analytics events"): GA4 names, one
row per event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Event(Base):
    __tablename__ = "events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime, default=utcnow)  # UTC, naive
    name: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(128))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    cart_id: Mapped[str | None] = mapped_column(String(64))
    order_number: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(80))
    device: Mapped[str | None] = mapped_column(String(40))
    item_id: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[int | None] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str | None] = mapped_column(String(3))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_events_ts", "ts"),
        Index("ix_events_name_ts", "name", "ts"),
        Index("ix_events_conversation_id", "conversation_id"),
    )


class ConversationEvent(Base):
    """Rasa's conversation events, written once each by the analytics consumer
    (``python -m analytics consume-rasa-events``, analytics/rasa_events.py) from RabbitMQ;
    the chat outcomes read them. What shoppers and the bot wrote stays in Rasa's tracker
    store: no message text here."""

    __tablename__ = "rasa_events"

    # the event's identity: its row in Rasa's tracker store ("t:<id>", bot/event_stream.py),
    # else a digest of the event ("h:<sha256>")
    event_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255))
    ts: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive: Rasa's timestamp
    type: Mapped[str] = mapped_column(String(40))  # Rasa's event name: user, bot, action...
    intent: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str | None] = mapped_column(String(255))
    confidence: Mapped[float | None] = mapped_column(Float)
    input_channel: Mapped[str | None] = mapped_column(String(64))
    policy: Mapped[str | None] = mapped_column(String(255))
    slot: Mapped[str | None] = mapped_column(String(255))
    slot_value: Mapped[str | None] = mapped_column(Text)  # JSON
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_rasa_events_ts", "ts"),
        Index("ix_rasa_events_conversation_id", "conversation_id"),
    )
