"""Return and exchange requests (RMA)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow

# requested -> approved -> received -> refunded (returns) | exchanged; or rejected
RETURN_STATUSES = ("requested", "approved", "rejected", "received", "refunded", "exchanged")


class ReturnRequest(Base):
    __tablename__ = "return_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rma_number: Mapped[str] = mapped_column(String(20), unique=True)  # "RMA-7K3Q9P"
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # return | exchange
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    refund_amount: Mapped[int] = mapped_column(Integer, default=0)
    # The merchant's word to the shopper (why it was rejected, what to do next).
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list["ReturnLine"]] = relationship(lazy="raise", order_by="ReturnLine.id",
                                                     cascade="all, delete-orphan")


class ReturnLine(Base):
    __tablename__ = "return_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("return_requests.id", ondelete="CASCADE"),
                                           index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    exchange_variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id"))
