"""The pricing rules at the amounts where they change, worked out by hand: a promo code one
minor unit short of its minimum and exactly at it, a code at the instant it starts and
expires, at its last use, shipping one unit under the free threshold and at it, tax that
rounds half up. The pure functions are checked directly (no database: fast enough for
mutation testing, docs/testing.md), the promo minimum also through the API."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cart_helpers import amount, apply_code, cart_snapshot, cart_with, make_promo, pick_variant

from storefront_api.pricing.models import PromoCode, ShippingRate, ShippingZone
from storefront_api.problems import Problem
from storefront_api.pricing.service import (
    check_promo,
    compute_totals,
    discount_for,
    normalise_code,
    quote_shipping,
    tax_amount,
)

NOW = datetime(2026, 3, 1, 12, 0, 0)


def promo(**fields) -> PromoCode:
    defaults = dict(code="SPRING", kind="percentage", value=10, currency="USD",
                    min_subtotal=0, starts_at=None, expires_at=None, usage_limit=None,
                    times_used=0, active=True)
    return PromoCode(**{**defaults, **fields})


# --- promo codes ------------------------------------------------------------------------------

def test_a_code_applies_at_exactly_its_minimum():
    status = check_promo(promo(min_subtotal=5000), 5000, "USD", NOW)
    assert (status.valid, status.problem, status.reason, status.missing) == \
        (True, None, None, None)


def test_one_minor_unit_short_of_the_minimum_says_what_is_missing():
    status = check_promo(promo(min_subtotal=5000), 4999, "USD", NOW)
    assert (status.valid, status.problem, status.missing) == (False, "minimum-not-met", 1)
    assert status.reason == ("Code SPRING needs a subtotal of $50.00; add $0.01 more to "
                             "use it.")


def test_a_code_is_valid_from_the_instant_it_starts():
    start = NOW
    assert check_promo(promo(starts_at=start), 100, "USD", start).valid is True
    early = check_promo(promo(starts_at=start), 100, "USD", start - timedelta(microseconds=1))
    assert (early.valid, early.problem) == (False, "not-yet-valid")
    assert early.reason == "Code SPRING is valid from 2026-03-01 12:00 UTC."


def test_a_code_has_expired_at_the_instant_it_expires():
    end = NOW
    last = check_promo(promo(expires_at=end), 100, "USD", end - timedelta(microseconds=1))
    assert last.valid is True
    expired = check_promo(promo(expires_at=end), 100, "USD", end)
    assert (expired.valid, expired.problem) == (False, "expired")
    assert expired.reason == "Code SPRING expired on 2026-03-01 12:00 UTC."


def test_the_last_use_of_a_limited_code_is_allowed_and_the_next_is_not():
    assert check_promo(promo(usage_limit=3, times_used=2), 100, "USD", NOW).valid is True
    used_up = check_promo(promo(usage_limit=3, times_used=3), 100, "USD", NOW)
    assert (used_up.valid, used_up.problem) == (False, "used-up")
    assert used_up.reason == "Code SPRING has been used the maximum number of times."
    assert check_promo(promo(usage_limit=None, times_used=10**6), 100, "USD", NOW).valid


def test_an_inactive_code_gives_nothing():
    status = check_promo(promo(active=False), 100, "USD", NOW)
    assert (status.valid, status.problem) == (False, "not-active")
    assert status.reason == "Code SPRING is no longer active."
    assert discount_for(status, 10_000) == 0


def test_a_fixed_amount_is_in_its_own_currency_a_percentage_in_any():
    wrong = check_promo(promo(kind="fixed_amount", value=500, currency="EUR"), 100, "USD", NOW)
    assert (wrong.valid, wrong.problem) == (False, "wrong-currency")
    assert wrong.reason == "Code SPRING is for EUR orders."
    assert check_promo(promo(kind="percentage", currency="EUR"), 100, "USD", NOW).valid


def test_the_first_reason_wins():
    # inactive and expired and short of the minimum: the shopper hears the first only
    status = check_promo(promo(active=False, expires_at=NOW, min_subtotal=10**6), 1, "USD", NOW)
    assert status.problem == "not-active"
    status = check_promo(promo(expires_at=NOW, usage_limit=1, times_used=1), 1, "USD", NOW)
    assert status.problem == "expired"


def test_a_code_is_checked_against_the_current_time_by_default():
    assert check_promo(promo(expires_at=datetime(2000, 1, 1)), 100, "USD").problem == "expired"
    assert check_promo(promo(starts_at=datetime(2999, 1, 1)), 100, "USD").problem == \
        "not-yet-valid"


@pytest.mark.parametrize("subtotal, percent, discount", [
    (1000, 10, 100),   # exact
    (5, 10, 1),        # 0.5 rounds up
    (4, 10, 0),        # 0.4 rounds down
    (15, 10, 2),       # 1.5 rounds up
    (149, 1, 1),       # 1.49 rounds down
    (150, 1, 2),       # 1.50 rounds up
    (999, 100, 999),   # all of it, never more
])
def test_percentage_discounts_round_half_up(subtotal, percent, discount):
    status = check_promo(promo(value=percent), subtotal, "USD", NOW)
    assert discount_for(status, subtotal) == discount


def test_a_fixed_discount_is_its_value_up_to_the_subtotal():
    code = promo(kind="fixed_amount", value=1000)
    assert discount_for(check_promo(code, 1001, "USD", NOW), 1001) == 1000
    assert discount_for(check_promo(code, 1000, "USD", NOW), 1000) == 1000
    assert discount_for(check_promo(code, 999, "USD", NOW), 999) == 999


def test_free_shipping_and_no_code_discount_nothing():
    free = check_promo(promo(kind="free_shipping", value=0), 5000, "USD", NOW)
    assert free.valid and free.free_shipping and discount_for(free, 5000) == 0
    assert discount_for(None, 5000) == 0
    assert check_promo(promo(value=10), 5000, "USD", NOW).free_shipping is False
    invalid = check_promo(promo(kind="free_shipping", active=False), 5000, "USD", NOW)
    assert invalid.free_shipping is False


def test_codes_are_compared_trimmed_and_upper_case():
    assert normalise_code("  welcome10\t") == "WELCOME10"


async def test_promo_minimum_through_the_api_one_unit_short_and_exactly_at_it(client, db):
    variant = await pick_variant(db, min_stock=5, min_price=1000, max_price=20000)
    price = variant["price"]
    exactly = await make_promo(client, kind="fixed_amount", value=500, min_subtotal=price)
    short = await make_promo(client, kind="fixed_amount", value=500, min_subtotal=price + 1)
    cart = await cart_with(client, db, [(variant, 1)])
    before = await cart_snapshot(db, cart["token"])
    problem = await apply_code(client, cart["token"], short, expect=422)
    assert problem["reason"] == "minimum-not-met"
    assert problem["missing"] == {"amount": 1, "currency": "USD", "formatted": "$0.01"}
    assert await cart_snapshot(db, cart["token"]) == before
    applied = await apply_code(client, cart["token"], exactly)
    assert applied["promo_code"]["valid"] is True
    assert amount(applied["totals"]["discount"]) == 500
    assert amount(applied["totals"]["subtotal"]) == price


async def test_a_code_that_stops_applying_in_the_cart_is_shown_with_why(client, db):
    """The merchant switches a code off (or moves its dates, or it is used up, or its amount is
    now in another currency) after a shopper put it in the cart: the cart still names that code, marked invalid with the reason, and
    takes nothing off."""
    from sqlalchemy import update

    from storefront_api.pricing.models import PromoCode as Code
    variant = await pick_variant(db, min_stock=5, min_price=1000, max_price=20000)
    code = await make_promo(client, kind="fixed_amount", value=500)
    cart = await cart_with(client, db, [(variant, 1)])
    assert amount((await apply_code(client, cart["token"], code))["totals"]["discount"]) == 500
    later, earlier = datetime(2100, 1, 1, 9, 30), datetime(2001, 2, 3, 4, 5)
    for change, reason in (
            ({"active": False}, f"Code {code} is no longer active."),
            ({"starts_at": later}, f"Code {code} is valid from 2100-01-01 09:30 UTC."),
            ({"expires_at": earlier}, f"Code {code} expired on 2001-02-03 04:05 UTC."),
            ({"usage_limit": 3, "times_used": 3},
             f"Code {code} has been used the maximum number of times."),
            ({"currency": "EUR"}, f"Code {code} is for EUR orders.")):
        async with db.write() as session:
            await session.execute(update(Code).where(Code.code == code).values(**{
                "active": True, "starts_at": None, "expires_at": None, "usage_limit": None,
                "times_used": 0, "currency": "USD", **change}))
        shown = await (await client.get(f"/api/carts/{cart['token']}")).json()
        assert (shown["promo_code"]["code"], shown["promo_code"]["valid"],
                shown["promo_code"]["reason"]) == (code, False, reason), change
        assert amount(shown["totals"]["discount"]) == 0, change


# --- shipping ---------------------------------------------------------------------------------

ZONE = ShippingZone(code="eu", name="Europe")


def rate(**fields) -> ShippingRate:
    defaults = dict(method="standard", price=599, currency="USD", free_above=5000,
                    min_days=2, max_days=5)
    return ShippingRate(**{**defaults, **fields})


def test_shipping_is_free_from_exactly_the_threshold():
    under = quote_shipping(rate(), ZONE, 4999)
    assert (under.price, under.regular_price, under.free_reason) == (599, 599, None)
    at = quote_shipping(rate(), ZONE, 5000)
    assert (at.price, at.regular_price, at.free_reason) == (0, 599, "threshold")


def test_a_free_shipping_code_waives_any_rate():
    quote = quote_shipping(rate(free_above=None, method="express", price=1500), ZONE, 1,
                           free_shipping_code=True)
    assert (quote.price, quote.regular_price, quote.free_reason) == (0, 1500, "promo_code")
    assert quote_shipping(rate(free_above=None), ZONE, 10**9).price == 599


def test_a_quote_says_what_it_is():
    quote = quote_shipping(rate(method="express", min_days=1, max_days=2, free_above=9000),
                           ZONE, 100)
    assert (quote.method, quote.name, quote.zone, quote.currency, quote.free_above,
            quote.min_days, quote.max_days) == ("express", "Express delivery", "Europe", "USD",
                                                9000, 1, 2)
    assert quote_shipping(rate(method="drone"), ZONE, 100).name == "Drone"


async def test_a_method_the_country_lacks_is_refused_with_what_it_offers(client, db):
    """Pickup points exist only where the carrier has a network: not in Canada. The shopper
    (or the assistant) is told which methods Canada has, and the cart keeps what it had."""
    variant = await pick_variant(db, min_stock=5, min_price=1000, max_price=20000)
    cart = await cart_with(client, db, [(variant, 1)])
    before = await cart_snapshot(db, cart["token"])
    response = await client.put(f"/api/carts/{cart['token']}/shipping",
                                json={"country": "CA", "method": "pickup"})
    problem = await response.json()
    assert response.status == 422, problem
    assert {k: problem[k] for k in ("title", "status", "detail", "country", "method",
                                    "methods_available")} == {
        "title": "Invalid request", "status": 422,
        "detail": "Pickup point is not available for CA; choose one of: standard, express.",
        "country": "CA", "method": "pickup", "methods_available": ["standard", "express"]}
    assert problem["type"].endswith("/shipping-method-not-available")
    assert await cart_snapshot(db, cart["token"]) == before


# --- tax and totals ---------------------------------------------------------------------------

@pytest.mark.parametrize("taxable, rate_bp, tax", [
    (10_000, 2000, 2000),  # 20 % of $100
    (1, 5000, 1),          # 0.5 rounds up
    (1, 4999, 0),          # 0.4999 rounds down
    (3, 5000, 2),          # 1.5 rounds up
    (2499, 2, 0),          # 0.4998
    (2500, 2, 1),          # 0.5
    (0, 2000, 0),
    (0, 5000, 0),          # nothing to tax is no tax, even at a rate that would round up
    (-500, 2000, 0),       # never a negative tax
    (-1, 10_000, 0),
])
def test_tax_rounds_half_up(taxable, rate_bp, tax):
    assert tax_amount(taxable, rate_bp) == tax


def test_totals_add_up_with_the_discount_before_shipping_and_tax():
    totals = compute_totals("USD", subtotal=10_000, discount=1_000, shipping=599,
                            tax_rate_bp=2000)
    assert (totals.subtotal, totals.discount, totals.shipping, totals.tax, totals.total,
            totals.tax_rate_bp, totals.currency) == \
        (10_000, 1_000, 599, 1920, 10_000 - 1_000 + 599 + 1920, 2000, "USD")


def test_a_discount_never_exceeds_the_subtotal_nor_goes_negative():
    capped = compute_totals("USD", subtotal=800, discount=1_000, shipping=500, tax_rate_bp=0)
    assert (capped.discount, capped.total) == (800, 500)
    negative = compute_totals("USD", subtotal=800, discount=-5, shipping=0, tax_rate_bp=0)
    assert (negative.discount, negative.total) == (0, 800)


def test_no_tax_before_the_cart_has_a_country():
    totals = compute_totals("USD", subtotal=1000, discount=0, shipping=0, tax_rate_bp=None)
    assert (totals.tax, totals.tax_rate_bp, totals.total) == (0, None, 1000)


# --- with the rows the merchant keeps (a database of the module's own) -------------------------

@pytest.fixture
async def own_db(module_url):
    """Zones, rates and tax rates of the test's own: the shared demo shop's would change what
    every other test's checkout pays."""
    from storefront_api.db import Database
    database = Database(module_url)
    yield database
    await database.dispose()


async def test_a_country_without_a_rate_pays_no_tax_and_the_merchants_rate_wins(own_db):
    from storefront_api.pricing.service import set_tax_rate, tax_rate_bp
    from storefront_api.settings import Settings
    settings = Settings.from_env(tax_rates={"DE": 1900})
    async with own_db.write() as session:
        assert await tax_rate_bp(session, "ZZ", settings) == 0  # not None: a rate of 0 %
        assert await tax_rate_bp(session, "DE", settings) == 1900  # the built-in default
        await set_tax_rate(session, "DE", 700, "Reduced")
        assert await tax_rate_bp(session, "DE", settings) == 700  # the merchant's own
    no_rate = compute_totals("USD", subtotal=10_000, discount=0, shipping=0,
                             tax_rate_bp=0)
    assert (no_rate.tax, no_rate.tax_rate_bp, no_rate.total) == (0, 0, 10_000)


async def test_quotes_come_standard_express_pickup_then_other_methods(own_db):
    from storefront_api.pricing.models import ShippingZoneCountry
    from storefront_api.pricing.service import shipping_quote, shipping_quotes
    async with own_db.write() as session:
        zone = ShippingZone(code="far", name="Far away")
        session.add(zone)
        await session.flush()
        session.add(ShippingZoneCountry(country="FA", zone_id=zone.id))
        bare = ShippingZone(code="bare", name="No carrier yet")  # served, but no rates
        session.add(bare)
        await session.flush()
        session.add(ShippingZoneCountry(country="BA", zone_id=bare.id))
        for method, price in (("drone", 2500), ("pickup", 300), ("boat", 900),
                              ("express", 1500), ("standard", 600)):
            session.add(ShippingRate(zone_id=zone.id, method=method, price=price,
                                     currency="USD", free_above=1 if method == "boat" else None,
                                     min_days=1, max_days=9))
    async with own_db.read() as session:
        quotes = await shipping_quotes(session, "FA", merchandise=1000)
        assert [(q.method, q.name, q.price) for q in quotes] == [
            ("standard", "Standard delivery", 600), ("express", "Express delivery", 1500),
            ("pickup", "Pickup point", 300), ("boat", "Boat", 0), ("drone", "Drone", 2500)]
        assert (await shipping_quote(session, "FA", "boat", 1000)).price == 0  # above 1
        # the public list of rates (no cart) is for an empty cart: nothing is free above 1
        assert [q.price for q in await shipping_quotes(session, "FA")] == [
            600, 1500, 300, 900, 2500]
        with pytest.raises(Problem) as unknown:
            await shipping_quote(session, "FA", "rocket", 1000)
    assert unknown.value.body_dict["detail"] == (
        "rocket is not available for FA; choose one of: standard, express, pickup, boat, "
        "drone.")
    async with own_db.read() as session:
        assert await shipping_quotes(session, "BA") == []
        with pytest.raises(Problem) as nothing:
            await shipping_quote(session, "BA", "standard")
    assert nothing.value.body_dict["detail"] == (
        "Standard delivery is not available for BA; choose one of: none.")
    assert nothing.value.body_dict["methods_available"] == []


async def test_each_paid_order_counts_one_use_of_its_code_and_only_of_its_code(own_db):
    """mark_promo_used (called when a payment completes an order): the used-up rule above
    relies on this count; a code with a limit of 2 is used up after exactly two orders."""
    from storefront_api.pricing.service import find_promo, mark_promo_used
    async with own_db.write() as session:
        limited, other = promo(code="TWICE", usage_limit=2), promo(code="OTHER")
        session.add_all([limited, other])
        await session.flush()
        limited_id, other_id = limited.id, other.id
    for expected_valid in (True, True, False):
        async with own_db.write() as session:
            found = await find_promo(session, " twice ")
            assert check_promo(found, 1000, "USD", NOW).valid is expected_valid
            if expected_valid:
                await mark_promo_used(session, limited_id)
    async with own_db.read() as session:
        assert (await session.get(PromoCode, limited_id)).times_used == 2
        assert (await session.get(PromoCode, other_id)).times_used == 0
