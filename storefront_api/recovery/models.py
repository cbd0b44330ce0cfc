"""One row per reminder sent about an abandoned cart (an e-mail or a chat message).

The unique (cart, kind, number) triple makes the job idempotent: two runs racing on the same
cart cannot both send its n-th reminder of one kind; the second insert fails and rolls back
its outbox messages with it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow

REMINDER_KINDS = ("email", "chat")
# pending: sent, the cart is still open within the recovery window
# recovered: the cart became an order within the window after the reminder
# lost: the window passed without an order
OUTCOMES = ("pending", "recovered", "lost")


class CartReminder(Base):
    __tablename__ = "cart_reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # email | chat
    number: Mapped[int] = mapped_column(Integer, default=1)  # 1st, 2nd... reminder of this kind
    email: Mapped[str | None] = mapped_column(String(254))
    channel: Mapped[str | None] = mapped_column(String(40))
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    promo_code_id: Mapped[int | None] = mapped_column(ForeignKey("promo_codes.id"))
    cart_total: Mapped[int] = mapped_column(Integer, default=0)  # minor units, at sending time
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(12), default="pending")
    order_number: Mapped[str | None] = mapped_column(String(16))
    recovered_at: Mapped[datetime | None] = mapped_column(DateTime)
    recovered_value: Mapped[int | None] = mapped_column(Integer)  # the order's total

    __table_args__ = (
        UniqueConstraint("cart_id", "kind", "number", name="uq_cart_reminders_cart_kind_number"),
        Index("ix_cart_reminders_outcome_sent", "outcome", "sent_at"),
    )
