"""Pricing rules: promo codes, shipping quotes by zone, tax by country, and the totals.

All amounts are integer minor units in the shop's currency. The pure functions
(``check_promo``, ``discount_for``, ``quote_shipping``, ``tax_amount``, ``compute_totals``)
hold the arithmetic; the async ones only fetch the rows they need.

    merchandise  = subtotal - discount            (a discount never exceeds the subtotal)
    shipping     = rate price, waived at or above the zone's free_above (compared with the
                   merchandise total) or by a free-shipping code
    tax          = round-half-up((merchandise + shipping) * rate_bp / 10000)
    total        = merchandise + shipping + tax
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..money import format_money
from ..problems import Problem, conflict, unprocessable
from ..settings import Settings
from .models import PromoCode, ShippingRate, ShippingZone, ShippingZoneCountry, TaxRate

PROMO_KINDS = ("percentage", "fixed_amount", "free_shipping")
SHIPPING_METHODS = {"standard": "Standard delivery", "express": "Express delivery",
                    "pickup": "Pickup point"}


# --- promo codes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PromoStatus:
    """Whether an applied (or candidate) code gives its benefit to a cart right now."""

    promo: PromoCode
    valid: bool
    reason: str | None = None   # a sentence for the shopper
    problem: str | None = None  # not-active | not-yet-valid | expired | used-up | minimum-not-met
    missing: int | None = None  # minor units still to add to reach the minimum

    @property
    def free_shipping(self) -> bool:
        return self.valid and self.promo.kind == "free_shipping"


def normalise_code(code: str) -> str:
    return code.strip().upper()


def promo_description(promo: PromoCode) -> str:
    if promo.kind == "percentage":
        benefit = f"{promo.value}% off"
    elif promo.kind == "fixed_amount":
        benefit = f"{format_money(promo.value, promo.currency)} off"
    else:
        benefit = "Free shipping"
    if promo.min_subtotal:
        benefit += f" on orders of {format_money(promo.min_subtotal, promo.currency)} or more"
    return benefit


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def check_promo(promo: PromoCode, subtotal: int, currency: str,
                now: datetime | None = None) -> PromoStatus:
    """The first reason, if any, why ``promo`` does not apply to a cart of ``subtotal``."""
    now = now or utcnow()
    code = promo.code
    if not promo.active:
        return PromoStatus(promo, False, f"Code {code} is no longer active.", "not-active")
    if promo.starts_at and now < promo.starts_at:
        return PromoStatus(promo, False, f"Code {code} is valid from {_utc(promo.starts_at)}.",
                           "not-yet-valid")
    if promo.expires_at and now >= promo.expires_at:
        return PromoStatus(promo, False, f"Code {code} expired on {_utc(promo.expires_at)}.",
                           "expired")
    if promo.usage_limit is not None and promo.times_used >= promo.usage_limit:
        return PromoStatus(promo, False, f"Code {code} has been used the maximum number of "
                                         "times.", "used-up")
    if promo.kind == "fixed_amount" and promo.currency != currency:
        return PromoStatus(promo, False, f"Code {code} is for {promo.currency} orders.",
                           "wrong-currency")
    if subtotal < promo.min_subtotal:
        missing = promo.min_subtotal - subtotal
        return PromoStatus(
            promo, False,
            f"Code {code} needs a subtotal of {format_money(promo.min_subtotal, currency)}; "
            f"add {format_money(missing, currency)} more to use it.",
            "minimum-not-met", missing)
    return PromoStatus(promo, True)


def discount_for(status: PromoStatus | None, subtotal: int) -> int:
    """The merchandise discount of a valid code, never more than the subtotal."""
    if status is None or not status.valid:
        return 0
    promo = status.promo
    if promo.kind == "percentage":
        discount = (subtotal * promo.value + 50) // 100  # round half up
    elif promo.kind == "fixed_amount":
        discount = promo.value
    else:
        discount = 0
    return max(0, min(discount, subtotal))


async def find_promo(session: AsyncSession, code: str) -> PromoCode | None:
    """The code, case-insensitively; None if it does not exist."""
    return (await session.execute(
        select(PromoCode).where(func.upper(PromoCode.code) == normalise_code(code))
    )).scalar_one_or_none()


async def promo_by_id(session: AsyncSession, promo_id: int) -> PromoCode | None:
    return await session.get(PromoCode, promo_id)


def invalid_code(code: str) -> Problem:
    return Problem(404, "Not found", f"{code.strip()!r} is not a valid code.",
                   type="invalid-promo-code", code=code.strip())


async def create_promo(session: AsyncSession, **fields) -> PromoCode:
    code = normalise_code(fields.pop("code"))
    if await find_promo(session, code) is not None:
        raise conflict(f"Code {code} already exists.", type="duplicate-promo-code", code=code)
    promo = PromoCode(code=code, times_used=0, **fields)
    session.add(promo)
    try:
        await session.flush()
    except IntegrityError:  # created concurrently by another request
        raise conflict(f"Code {code} already exists.", type="duplicate-promo-code",
                       code=code) from None
    return promo


async def list_promos(session: AsyncSession, limit: int = 500) -> list[PromoCode]:
    return list((await session.execute(
        select(PromoCode).order_by(PromoCode.code).limit(limit))).scalars())


# --- shipping ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShippingQuote:
    method: str
    name: str
    zone: str
    price: int           # what the shopper pays
    regular_price: int   # before a threshold or a code waived it
    currency: str
    free_above: int | None
    min_days: int
    max_days: int
    free_reason: str | None = None  # "threshold" | "promo_code"


def quote_shipping(rate: ShippingRate, zone: ShippingZone, merchandise: int,
                   free_shipping_code: bool = False) -> ShippingQuote:
    free_reason = None
    if free_shipping_code:
        free_reason = "promo_code"
    elif rate.free_above is not None and merchandise >= rate.free_above:
        free_reason = "threshold"
    return ShippingQuote(
        method=rate.method, name=SHIPPING_METHODS.get(rate.method, rate.method.title()),
        zone=zone.name, price=0 if free_reason else rate.price, regular_price=rate.price,
        currency=rate.currency, free_above=rate.free_above, min_days=rate.min_days,
        max_days=rate.max_days, free_reason=free_reason)


async def countries_served(session: AsyncSession) -> list[str]:
    return list((await session.execute(
        select(ShippingZoneCountry.country).order_by(ShippingZoneCountry.country))).scalars())


async def country_not_served(session: AsyncSession, country: str) -> Problem:
    served = await countries_served(session)
    return unprocessable(f"We do not ship to {country}. Countries served: {', '.join(served)}.",
                         type="country-not-served", country=country, countries_served=served)


def _method_order(quote: ShippingQuote) -> tuple[int, str]:
    order = list(SHIPPING_METHODS)
    return (order.index(quote.method) if quote.method in order else len(order), quote.method)


async def shipping_quotes(session: AsyncSession, country: str, merchandise: int = 0,
                          free_shipping_code: bool = False) -> list[ShippingQuote]:
    """Every method offered in ``country``'s zone; a 422 problem if the country is not served."""
    zone = (await session.execute(
        select(ShippingZone).join(ShippingZoneCountry, ShippingZoneCountry.zone_id == ShippingZone.id)
        .where(ShippingZoneCountry.country == country))).scalar_one_or_none()
    if zone is None:
        raise await country_not_served(session, country)
    rates = (await session.execute(
        select(ShippingRate).where(ShippingRate.zone_id == zone.id))).scalars()
    quotes = [quote_shipping(rate, zone, merchandise, free_shipping_code) for rate in rates]
    return sorted(quotes, key=_method_order)


async def shipping_quote(session: AsyncSession, country: str, method: str, merchandise: int = 0,
                         free_shipping_code: bool = False) -> ShippingQuote:
    """The quote of one method; 422 problems if the country or the method is not served."""
    quotes = await shipping_quotes(session, country, merchandise, free_shipping_code)
    for quote in quotes:
        if quote.method == method:
            return quote
    offered = [quote.method for quote in quotes]
    raise unprocessable(
        f"{SHIPPING_METHODS.get(method, method)} is not available for {country}; "
        f"choose one of: {', '.join(offered) or 'none'}.",
        type="shipping-method-not-available", country=country, method=method,
        methods_available=offered)


# --- tax -----------------------------------------------------------------------------------

def tax_amount(taxable: int, rate_bp: int) -> int:
    """round-half-up(taxable * rate): basis points, so 10000 is 100 %."""
    return (max(taxable, 0) * rate_bp + 5000) // 10000


async def tax_rate_bp(session: AsyncSession, country: str, settings: Settings) -> int:
    """The merchant's rate for ``country`` (tax_rates table), else the default from settings."""
    row = await session.get(TaxRate, country)
    if row is not None:
        return row.rate_bp
    return settings.tax_rates.get(country, 0)


async def set_tax_rate(session: AsyncSession, country: str, rate_bp: int, name: str) -> TaxRate:
    row = await session.get(TaxRate, country, with_for_update=True)
    if row is None:
        row = TaxRate(country=country, rate_bp=rate_bp, name=name)
        session.add(row)
    else:
        row.rate_bp, row.name = rate_bp, name
    await session.flush()
    return row


async def reset_tax_rate(session: AsyncSession, country: str) -> bool:
    """Forget the merchant's rate (back to the default); False if there was none."""
    row = await session.get(TaxRate, country)
    if row is None:
        return False
    await session.delete(row)
    return True


async def list_tax_rates(session: AsyncSession, settings: Settings) -> list[dict]:
    """Every country with a rate: the merchant's own first, then the built-in defaults."""
    rows = {row.country: row for row in (await session.execute(select(TaxRate))).scalars()}
    rates = [{"country": c, "rate_bp": r.rate_bp, "name": r.name, "source": "merchant"}
             for c, r in rows.items()]
    rates += [{"country": c, "rate_bp": bp, "name": "Tax", "source": "default"}
              for c, bp in settings.tax_rates.items() if c not in rows]
    return sorted(rates, key=lambda rate: rate["country"])


# --- totals --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Totals:
    currency: str
    subtotal: int
    discount: int
    shipping: int
    tax: int
    tax_rate_bp: int | None  # None until the cart has a country
    total: int


def compute_totals(currency: str, subtotal: int, discount: int, shipping: int,
                   tax_rate_bp: int | None) -> Totals:
    discount = max(0, min(discount, subtotal))
    taxable = subtotal - discount + shipping
    tax = tax_amount(taxable, tax_rate_bp) if tax_rate_bp is not None else 0
    return Totals(currency, subtotal, discount, shipping, tax, tax_rate_bp, taxable + tax)


def as_utc_naive(moment: datetime | None) -> datetime | None:
    """Database datetimes are naive UTC; accept aware input and convert it."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


async def mark_promo_used(session: AsyncSession, promo_id: int) -> None:
    """Count one use of a code by a paid order (atomic, whatever runs concurrently)."""
    await session.execute(update(PromoCode).where(PromoCode.id == promo_id)
                          .values(times_used=PromoCode.times_used + 1))
