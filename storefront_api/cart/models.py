"""Carts and their lines. A cart is addressed by its unguessable token, never by its row id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow


class Cart(Base):
    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # active -> merged (into a customer's cart at sign-in) | converted (became an order)
    status: Mapped[str] = mapped_column(String(16), default="active")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    promo_code_id: Mapped[int | None] = mapped_column(ForeignKey("promo_codes.id"))
    country: Mapped[str | None] = mapped_column(String(2))
    shipping_method: Mapped[str | None] = mapped_column(String(20))
    conversation_id: Mapped[str | None] = mapped_column(String(128), index=True)
    channel: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    lines: Mapped[list["CartLine"]] = relationship(
        back_populates="cart", lazy="raise", order_by="CartLine.id", cascade="all, delete-orphan")


class CartLine(Base):
    __tablename__ = "cart_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    saved_for_later: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    cart: Mapped[Cart] = relationship(back_populates="lines", lazy="raise")

    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id", "saved_for_later", name="uq_cart_lines_variant"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )


class CartRequest(Base):
    """A change to a cart made with an ``Idempotency-Key``: the same key again changes
    nothing (cart/idempotency.py). Written in the change's own transaction."""

    __tablename__ = "cart_requests"

    # sha256 of the key's scope (the cart, or a new cart of the service) and the key
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"),
                                         index=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # method, path and body
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
