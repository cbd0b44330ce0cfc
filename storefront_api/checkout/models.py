"""Checkout attempts: the frozen summary a shopper confirmed, and its payment session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Checkout(Base):
    """One attempt to pay for a cart: the priced summary, frozen, and its payment session.
    Created only when the shopper asks for the payment link (a summary is a preview that
    writes no checkout).

    status: open (payment link sent) -> completed (order created) | expired | failed.
    """

    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # public handle, unguessable
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    email: Mapped[str] = mapped_column(String(254))
    shipping_address: Mapped[dict] = mapped_column(JSON)
    country: Mapped[str] = mapped_column(String(2))
    shipping_method: Mapped[str] = mapped_column(String(20))
    promo_code_id: Mapped[int | None] = mapped_column(ForeignKey("promo_codes.id"))
    # The summary the shopper confirmed: lines, amounts (minor units), currency.
    summary: Mapped[dict] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(Integer)
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_url: Mapped[str | None] = mapped_column(String(2000))
    payment_reference: Mapped[str | None] = mapped_column(String(255))  # e.g. PaymentIntent id
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    conversation_id: Mapped[str | None] = mapped_column(String(128), index=True)
    channel: Mapped[str | None] = mapped_column(String(40))
    consent: Mapped[bool] = mapped_column(default=False)  # analytics consent (X-Consent)
    # Who holds the stock (checkout/holds.py): the rate limiter's client key, the caller's
    # address or, for the assistant's calls, the conversation. Null before migration 0008.
    holder: Mapped[str | None] = mapped_column(String(160))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_checkouts_status_expires", "status", "expires_at"),
                      Index("ix_checkouts_holder_status", "holder", "status"))
