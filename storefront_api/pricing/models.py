"""Promo codes, shipping methods and rates by zone, tax rates by country."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class PromoCode(Base):
    __tablename__ = "promo_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # stored upper-case
    kind: Mapped[str] = mapped_column(String(16))  # percentage | fixed_amount | free_shipping
    # percentage: whole percent (1-100); fixed_amount: minor units; free_shipping: unused
    value: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    min_subtotal: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    single_use: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ShippingZone(Base):
    __tablename__ = "shipping_zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class ShippingZoneCountry(Base):
    __tablename__ = "shipping_zone_countries"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)  # a country is in one zone
    zone_id: Mapped[int] = mapped_column(ForeignKey("shipping_zones.id"), index=True)


class ShippingRate(Base):
    """The price of one shipping method in one zone; ``free_above`` waives it."""

    __tablename__ = "shipping_rates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(20))  # standard | express | pickup
    zone_id: Mapped[int] = mapped_column(ForeignKey("shipping_zones.id"))
    price: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    free_above: Mapped[int | None] = mapped_column(Integer)
    min_days: Mapped[int] = mapped_column(Integer)
    max_days: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("method", "zone_id", name="uq_shipping_rates_method_zone"),)


class TaxRate(Base):
    __tablename__ = "tax_rates"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    rate_bp: Mapped[int] = mapped_column(Integer)  # basis points: 2000 = 20 %
    name: Mapped[str] = mapped_column(String(40), default="Tax")
