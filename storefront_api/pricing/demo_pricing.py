"""Demo pricing rules: shipping zones and rates, tax rates and a few promo codes.

``seed_pricing(db)`` is idempotent: what exists is left alone (a merchant may have edited
it), only what is missing is added. The shop ships from the United States; countries outside
the zones below are not served.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..db import Database, utcnow
from ..money import minor_unit_exponent
from ..settings import DEFAULT_TAX_RATES
from .models import PromoCode, ShippingRate, ShippingZone, ShippingZoneCountry, TaxRate

# zone code -> (name, countries)
ZONES = {
    "domestic": ("United States", ("US",)),
    "north-america": ("Canada & Mexico", ("CA", "MX")),
    "europe": ("Europe", ("GB", "IE", "FR", "DE", "ES", "IT", "NL", "BE", "AT", "PT", "SE", "DK",
                          "FI", "PL", "CH", "NO", "LU", "CZ", "GR", "HU")),
    "oceania": ("Australia & New Zealand", ("AU", "NZ")),
    "asia": ("Asia", ("JP", "SG", "KR")),
}

# (zone, method) -> (price, free_above, min_days, max_days); amounts in US cents. Pickup points
# exist only where the carrier has a network (domestic, Europe).
RATES = {
    ("domestic", "standard"): (599, 7_500, 3, 5),
    ("domestic", "express"): (1_499, None, 1, 2),
    ("domestic", "pickup"): (0, None, 2, 4),
    ("north-america", "standard"): (1_299, 15_000, 5, 10),
    ("north-america", "express"): (2_999, None, 2, 4),
    ("europe", "standard"): (1_499, 15_000, 5, 9),
    ("europe", "express"): (3_499, None, 2, 4),
    ("europe", "pickup"): (699, 10_000, 6, 10),
    ("oceania", "standard"): (1_999, 20_000, 8, 14),
    ("oceania", "express"): (4_499, None, 3, 6),
    ("asia", "standard"): (1_799, 20_000, 7, 12),
    ("asia", "express"): (3_999, None, 3, 5),
}

# Served countries missing from settings.DEFAULT_TAX_RATES (basis points).
EXTRA_TAX_RATES = {"MX": 1600, "LU": 1700, "CZ": 2100, "GR": 2400, "HU": 2700, "SG": 900,
                   "KR": 1000}
TAX_NAMES = {"US": "Sales tax", "CA": "GST", "AU": "GST", "NZ": "GST", "SG": "GST",
             "JP": "Consumption tax"}  # everyone else: VAT

# code -> (kind, value, min_subtotal in US cents, usage_limit)
PROMO_CODES = {
    "WELCOME10": ("percentage", 10, 0, None),
    "SAVE20": ("percentage", 20, 10_000, None),
    "TENOFF": ("fixed_amount", 1_000, 5_000, None),
    "FREESHIP": ("free_shipping", 0, 0, None),
    "EXPIRED5": ("percentage", 5, 0, None),
    "LIMITED1": ("percentage", 15, 0, 1),
}


def demo_amount(cents: int, currency: str) -> int:
    """A demo price written in US cents, in ``currency``'s minor units at face value.

    Face value keeps numbers familiar ($5.99 -> 5.99 EUR); zero-decimal currencies count
    one unit per cent, rounded to hundreds ($35.99 -> 3,600 JPY), which reads like a real
    price there.
    """
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return (cents + 50) // 100 * 100
    return cents * 10 ** (exponent - 2)


async def seed_pricing(db: Database, *, currency: str = "USD",
                       tax_rates: dict[str, int] | None = None) -> None:
    """Add the demo zones, rates, tax rates and promo codes that are not there yet.

    ``tax_rates`` defaults to settings.DEFAULT_TAX_RATES (pass Settings.tax_rates to seed a
    merchant's TAX_RATES instead).
    """
    currency = currency.upper()
    async with db.write() as session:
        zone_ids = await _seed_zones(session)
        await _seed_rates(session, zone_ids, currency)
        await _seed_tax_rates(session, {**EXTRA_TAX_RATES, **(tax_rates or DEFAULT_TAX_RATES)})
        await _seed_promo_codes(session, currency)


async def _seed_zones(session) -> dict[str, int]:
    zones = {z.code: z for z in (await session.execute(select(ShippingZone))).scalars()}
    assigned = set((await session.execute(select(ShippingZoneCountry.country))).scalars())
    for code, (name, countries) in ZONES.items():
        if code not in zones:
            zones[code] = ShippingZone(code=code, name=name)
            session.add(zones[code])
            await session.flush()
        # A country belongs to one zone: one the merchant moved elsewhere stays there.
        for country in countries:
            if country not in assigned:
                session.add(ShippingZoneCountry(country=country, zone_id=zones[code].id))
    await session.flush()
    return {code: zone.id for code, zone in zones.items()}


async def _seed_rates(session, zone_ids: dict[str, int], currency: str) -> None:
    existing = {(zone_id, method) for zone_id, method in await session.execute(
        select(ShippingRate.zone_id, ShippingRate.method))}
    for (zone, method), (price, free_above, min_days, max_days) in RATES.items():
        if (zone_ids[zone], method) in existing:
            continue
        session.add(ShippingRate(
            method=method, zone_id=zone_ids[zone], price=demo_amount(price, currency),
            currency=currency,
            free_above=demo_amount(free_above, currency) if free_above is not None else None,
            min_days=min_days, max_days=max_days))


async def _seed_tax_rates(session, rates: dict[str, int]) -> None:
    existing = set((await session.execute(select(TaxRate.country))).scalars())
    for country, rate_bp in sorted(rates.items()):
        if country not in existing:
            session.add(TaxRate(country=country, rate_bp=rate_bp,
                                name=TAX_NAMES.get(country, "VAT")))


async def _seed_promo_codes(session, currency: str) -> None:
    existing = set((await session.execute(select(PromoCode.code))).scalars())
    now = utcnow()
    for code, (kind, value, min_subtotal, usage_limit) in PROMO_CODES.items():
        if code in existing:
            continue
        if kind == "fixed_amount":
            value = demo_amount(value, currency)
        # EXPIRED5 exists to show how an expired code is explained: it ended yesterday.
        expired = code == "EXPIRED5"
        session.add(PromoCode(
            code=code, kind=kind, value=value, currency=currency,
            min_subtotal=demo_amount(min_subtotal, currency),
            starts_at=now - timedelta(days=30) if expired else None,
            expires_at=now - timedelta(days=1) if expired else None,
            usage_limit=usage_limit, times_used=0, single_use=False, active=True,
            created_at=now))
