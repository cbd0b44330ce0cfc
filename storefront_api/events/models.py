"""The analytics ``events`` table (DESIGN.md section 5): GA4 names, one row per event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, String
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
