"""Shipping by zone (thresholds, pickup points, countries not served), tax by country, totals."""

from __future__ import annotations

import pytest
from cart_helpers import (ADMIN, amount, apply_code, assert_problem, cart_snapshot, cart_with,
                          get_cart, new_cart, pick_variant)
from sqlalchemy import delete, select, update

from storefront_api.app import create_app
from storefront_api.cart.models import Cart
from storefront_api.pricing.demo_pricing import RATES
from storefront_api.pricing.models import TaxRate
from storefront_api.settings import Settings

US_STANDARD, US_FREE_ABOVE = RATES[("domestic", "standard")][:2]
EU_STANDARD, EU_FREE_ABOVE = RATES[("europe", "standard")][:2]
EU_PICKUP = RATES[("europe", "pickup")][0]


async def put_shipping(client, token: str, country: str, method: str = "standard"):
    resp = await client.put(f"/api/carts/{token}/shipping",
                            json={"country": country, "method": method})
    return resp, await resp.json()


async def cart_worth(client, db, least: int, most: int):
    """A cart whose subtotal is between ``least`` and ``most`` (one line)."""
    for quantity in (1, 2, 3, 4, 5, 6, 8, 10):
        low, high = -(-least // quantity), most // quantity
        if low > high:
            continue
        try:
            variant = await pick_variant(db, min_stock=quantity, min_price=low, max_price=high)
        except AssertionError:
            continue
        cart = await cart_with(client, db, [(variant, quantity)])
        return cart, variant["price"] * quantity
    raise AssertionError(f"no demo variant makes a cart worth {least}-{most}")


async def rate_of(db, country: str) -> int:
    async with db.read() as session:
        return (await session.get(TaxRate, country)).rate_bp


def half_up(value: int, bp: int) -> int:
    return (value * bp + 5000) // 10000


# --- the public list -----------------------------------------------------------------------

async def test_shipping_methods_for_a_country(client):
    resp = await client.get("/api/shipping-methods?country=de")
    data = await resp.json()
    assert resp.status == 200 and data["country"] == "DE"
    options = {o["method"]: o for o in data["options"]}
    assert list(options) == ["standard", "express", "pickup"]
    assert amount(options["standard"]["price"]) == EU_STANDARD
    assert amount(options["standard"]["free_above"]) == EU_FREE_ABOVE
    assert amount(options["pickup"]["price"]) == EU_PICKUP
    assert options["express"]["delivery_days"] == {"min": 2, "max": 4}
    assert options["pickup"]["name"] == "Pickup point"


async def test_pickup_points_only_where_the_carrier_has_them(client):
    data = await (await client.get("/api/shipping-methods?country=JP")).json()
    assert [o["method"] for o in data["options"]] == ["standard", "express"]


async def test_countries_not_served_are_listed(client):
    resp = await client.get("/api/shipping-methods?country=BR")
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 422)
    assert "BR" in problem["detail"] and "US" in problem["countries_served"]
    assert "DE" in problem["countries_served"] and "BR" not in problem["countries_served"]
    everything = await (await client.get("/api/shipping-methods")).json()
    assert everything["countries_served"] == problem["countries_served"]


# --- a cart's shipping ---------------------------------------------------------------------

async def test_standard_shipping_below_and_above_the_free_threshold(client, db):
    small, subtotal = await cart_worth(client, db, 1000, US_FREE_ABOVE - 1)
    resp, cart = await put_shipping(client, small["token"], "us")
    assert resp.status == 200
    shipping = cart["shipping"]
    assert shipping["country"] == "US" and shipping["method"] == "standard"
    assert amount(shipping["price"]) == US_STANDARD and shipping["free"] is False
    assert shipping["delivery_days"] == {"min": 3, "max": 5}
    assert amount(cart["totals"]["shipping"]) == US_STANDARD
    large, _ = await cart_worth(client, db, US_FREE_ABOVE, US_FREE_ABOVE * 3)
    resp, cart = await put_shipping(client, large["token"], "US")
    assert cart["shipping"]["free_reason"] == "threshold"
    assert amount(cart["totals"]["shipping"]) == 0


async def test_threshold_counts_the_subtotal_after_discount(client, db):
    # just above the threshold before a 10 % discount, below it after
    cart, subtotal = await cart_worth(client, db, US_FREE_ABOVE, int(US_FREE_ABOVE * 1.1) - 1)
    await apply_code(client, cart["token"], "WELCOME10")
    _, cart = await put_shipping(client, cart["token"], "US")
    assert amount(cart["totals"]["shipping"]) == US_STANDARD


async def test_pickup_and_express(client, db):
    cart, _ = await cart_worth(client, db, 1000, 5000)
    _, priced = await put_shipping(client, cart["token"], "FR", "pickup")
    assert priced["shipping"]["name"] == "Pickup point"
    assert amount(priced["totals"]["shipping"]) == EU_PICKUP
    _, priced = await put_shipping(client, cart["token"], "FR", "express")
    assert amount(priced["totals"]["shipping"]) == RATES[("europe", "express")][0]


async def test_pickup_where_there_is_none_is_refused(client, db):
    cart, _ = await cart_worth(client, db, 1000, 5000)
    await put_shipping(client, cart["token"], "DE")
    before = await cart_snapshot(db, cart["token"])
    resp, problem = await put_shipping(client, cart["token"], "AU", "pickup")
    assert_problem(resp.status, resp.content_type, problem, 422)
    assert problem["methods_available"] == ["standard", "express"]
    assert await cart_snapshot(db, cart["token"]) == before


async def test_country_not_served_is_refused_with_the_list(client, db):
    cart, _ = await cart_worth(client, db, 1000, 5000)
    before = await cart_snapshot(db, cart["token"])
    resp, problem = await put_shipping(client, cart["token"], "BR")
    assert_problem(resp.status, resp.content_type, problem, 422)
    assert "US" in problem["countries_served"] and "We do not ship to BR" in problem["detail"]
    assert await cart_snapshot(db, cart["token"]) == before


async def test_shipping_options_for_a_cart(client, db):
    cart, subtotal = await cart_worth(client, db, 10_000, EU_FREE_ABOVE - 1)
    resp = await client.get(f"/api/carts/{cart['token']}/shipping-options?country=DE")
    data = await resp.json()
    assert resp.status == 200
    options = {o["method"]: o for o in data["options"]}
    assert amount(options["standard"]["price"]) == EU_STANDARD
    assert options["pickup"]["free"] is True  # pickup is free from 100.00 in Europe
    assert "business days" in options["express"]["description"]
    resp = await client.get(f"/api/carts/{cart['token']}/shipping-options")
    assert resp.status == 422  # no country given and none chosen yet
    await put_shipping(client, cart["token"], "US")
    data = await (await client.get(f"/api/carts/{cart['token']}/shipping-options")).json()
    assert data["country"] == "US"


async def test_empty_cart_pays_no_shipping(client):
    cart = await new_cart(client)
    _, cart = await put_shipping(client, cart["token"], "US")
    assert cart["shipping"]["method"] == "standard"
    assert amount(cart["totals"]["total"]) == 0


# --- tax -----------------------------------------------------------------------------------

@pytest.mark.parametrize("country", ["DE", "GB", "US", "JP", "CA"])
async def test_tax_by_country_on_top_of_prices(client, db, country):
    cart, subtotal = await cart_worth(client, db, 1000, 5000)
    _, cart = await put_shipping(client, cart["token"], country)
    rate = await rate_of(db, country)
    totals = cart["totals"]
    shipping = amount(totals["shipping"])
    assert totals["tax_rate_bp"] == rate
    assert amount(totals["tax"]) == half_up(subtotal + shipping, rate)
    assert amount(totals["total"]) == subtotal + shipping + amount(totals["tax"])


async def test_no_tax_until_the_cart_has_a_country(client, db):
    cart, subtotal = await cart_worth(client, db, 1000, 5000)
    totals = cart["totals"]
    assert totals["tax_rate_bp"] is None and amount(totals["tax"]) == 0
    assert amount(totals["total"]) == subtotal


async def test_totals_arithmetic(client, db):
    """subtotal - discount + shipping, then tax on that, rounded half up."""
    cart, subtotal = await cart_worth(client, db, 3000, 9000)
    await apply_code(client, cart["token"], "WELCOME10")
    _, cart = await put_shipping(client, cart["token"], "DE", "express")
    rate = await rate_of(db, "DE")
    discount = (subtotal * 10 + 50) // 100
    shipping = RATES[("europe", "express")][0]
    tax = half_up(subtotal - discount + shipping, rate)
    totals = {key: value["amount"] if isinstance(value, dict) else value
              for key, value in cart["totals"].items()}
    assert totals == {"subtotal": subtotal, "discount": discount, "shipping": shipping,
                      "tax": tax, "tax_rate_bp": rate,
                      "total": subtotal - discount + shipping + tax}
    assert cart["totals"]["total"]["formatted"].startswith("$")


async def test_admin_sets_a_tax_rate(client, db):
    cart, subtotal = await cart_worth(client, db, 1000, 5000)
    async with db.read() as session:
        original = await session.get(TaxRate, "MX")
        original_rate, original_name = original.rate_bp, original.name
    try:
        resp = await client.put("/api/admin/tax-rates/mx", json={"rate_bp": 1234, "name": "IVA"},
                                headers=ADMIN)
        assert resp.status == 200 and (await resp.json())["rate_bp"] == 1234
        _, cart = await put_shipping(client, cart["token"], "MX")
        assert cart["totals"]["tax_rate_bp"] == 1234
        shipping = amount(cart["totals"]["shipping"])
        assert amount(cart["totals"]["tax"]) == half_up(subtotal + shipping, 1234)
        listed = await (await client.get("/api/admin/tax-rates", headers=ADMIN)).json()
        mexico = next(r for r in listed["tax_rates"] if r["country"] == "MX")
        assert mexico == {"country": "MX", "rate_bp": 1234, "name": "IVA", "source": "merchant"}
    finally:
        await client.put("/api/admin/tax-rates/MX",
                         json={"rate_bp": original_rate, "name": original_name}, headers=ADMIN)


async def test_tax_rate_falls_back_to_settings(db, aiohttp_client, settings):
    """A country without a row in tax_rates uses Settings.tax_rates."""
    async with db.read() as session:
        row = await session.get(TaxRate, "PT")
        saved = (row.rate_bp, row.name)
    custom = Settings.from_env(database_url=settings.database_url, var_dir=settings.var_dir,
                               admin_token="test-admin", tax_rates={"PT": 777})
    client = await aiohttp_client(create_app(custom, migrate=False))
    async with db.write() as session:
        await session.execute(delete(TaxRate).where(TaxRate.country == "PT"))
    try:
        cart, subtotal = await cart_worth(client, db, 1000, 5000)
        _, cart = await put_shipping(client, cart["token"], "PT")
        assert cart["totals"]["tax_rate_bp"] == 777
    finally:
        async with db.write() as session:
            session.add(TaxRate(country="PT", rate_bp=saved[0], name=saved[1]))


async def test_tax_rate_routes_reset_and_validation(client, db):
    resp = await client.put("/api/admin/tax-rates/BR", json={"rate_bp": 1700}, headers=ADMIN)
    assert resp.status == 200
    resp = await client.delete("/api/admin/tax-rates/BR", headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["source"] == "default"
    resp = await client.delete("/api/admin/tax-rates/BR", headers=ADMIN)
    assert resp.status == 404
    async with db.read() as session:
        assert (await session.execute(
            select(TaxRate).where(TaxRate.country == "BR"))).scalar_one_or_none() is None
    for path, body in [("BRA", {"rate_bp": 10}), ("B1", {"rate_bp": 10}),
                       ("BR", {"rate_bp": -1}), ("BR", {"rate_bp": 10001}),
                       ("BR", {"rate_bp": "20%"}), ("BR", {"rate_bp": 10, "name": "x" * 41})]:
        resp = await client.put(f"/api/admin/tax-rates/{path}", json=body, headers=ADMIN)
        problem = await resp.json()
        assert_problem(resp.status, resp.content_type, problem, 422)
    resp = await client.put("/api/admin/tax-rates/BR", json={"rate_bp": 10})
    assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    resp = await client.get("/api/admin/tax-rates")
    assert resp.status == 401


async def test_cart_read_after_zone_changed(client, db):
    """A shipping choice that is no longer offered is reported, not charged."""
    cart, _ = await cart_worth(client, db, 1000, 5000)
    _, cart = await put_shipping(client, cart["token"], "DE", "pickup")
    async with db.write() as session:
        await session.execute(update(Cart).where(Cart.token == cart["token"])
                              .values(country="BR"))
    cart = await get_cart(client, cart["token"])
    assert cart["shipping"]["valid"] is False and "BR" in cart["shipping"]["reason"]
    assert amount(cart["totals"]["shipping"]) == 0
