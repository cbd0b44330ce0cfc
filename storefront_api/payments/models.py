"""What the payment gateway told us (webhook events, stored once) and refunds we asked for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class PaymentEvent(Base):
    """A verified webhook event, stored by its gateway id exactly once (deduplication)."""

    __tablename__ = "payment_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the gateway's event id
    type: Mapped[str] = mapped_column(String(80))
    gateway: Mapped[str] = mapped_column(String(20))
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(255), default="")  # what processing did
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Refund(Base):
    """Money given back for an order (all of it on cancellation, part of it for a return)."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # An order's refund; or, for a payment that arrived after its stock was sold to someone
    # else, the checkout's (no order was made).
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"))
    return_id: Mapped[int | None] = mapped_column(ForeignKey("return_requests.id"))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(40))  # cancellation | return | out_of_stock | ...
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|succeeded|failed
    gateway_refund_id: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
