"""Promo codes: each kind, each reason a code is refused, one code per cart, re-validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cart_helpers import (ADMIN, amount, apply_code, assert_problem, cart_snapshot,
                          cart_with, get_cart, make_promo, new_cart, pick_variant, unique_code)
from sqlalchemy import update

from storefront_api.pricing.models import PromoCode


async def _cart_of(client, db, *, min_subtotal: int = 0, max_price: int = 10**9):
    """A cart with one variant, quantity chosen so the subtotal reaches ``min_subtotal``."""
    variant = await pick_variant(db, min_stock=10, min_price=max(min_subtotal // 8, 1),
                                 max_price=max_price)
    quantity = max(1, -(-min_subtotal // variant["price"]))
    cart = await cart_with(client, db, [(variant, quantity)])
    return cart, variant, quantity


async def test_percentage_code_is_case_insensitive(client, db):
    cart, variant, quantity = await _cart_of(client, db, min_subtotal=3000)
    subtotal = variant["price"] * quantity
    cart = await apply_code(client, cart["token"], "  welcome10 ")
    promo = cart["promo_code"]
    assert promo["code"] == "WELCOME10" and promo["kind"] == "percentage"
    assert promo["valid"] is True and promo["reason"] is None
    assert promo["description"] == "10% off"
    assert amount(cart["totals"]["discount"]) == (subtotal * 10 + 50) // 100


async def test_percentage_rounds_half_up(client, db):
    code = await make_promo(client, kind="percentage", value=15)
    cart, variant, quantity = await _cart_of(client, db, min_subtotal=1000)
    cart = await apply_code(client, cart["token"], code.lower())
    subtotal = variant["price"] * quantity
    assert amount(cart["totals"]["discount"]) == (subtotal * 15 + 50) // 100


async def test_fixed_amount_code(client, db):
    cart, variant, quantity = await _cart_of(client, db, min_subtotal=6000)
    cart = await apply_code(client, cart["token"], "TENOFF")
    assert amount(cart["totals"]["discount"]) == 1000
    assert cart["promo_code"]["description"] == "$10.00 off on orders of $50.00 or more"
    totals = cart["totals"]
    assert amount(totals["total"]) == amount(totals["subtotal"]) - 1000


async def test_fixed_discount_never_exceeds_the_subtotal(client, db):
    code = await make_promo(client, kind="fixed_amount", value=1_000_000)
    variant = await pick_variant(db, min_stock=1, max_price=5000)
    cart = await cart_with(client, db, [(variant, 1)])
    cart = await apply_code(client, cart["token"], code)
    totals = cart["totals"]
    assert amount(totals["discount"]) == variant["price"]
    assert amount(totals["total"]) == 0


async def test_free_shipping_code(client, db):
    variant = await pick_variant(db, min_stock=1, max_price=4000)
    cart = await cart_with(client, db, [(variant, 1)])
    token = cart["token"]
    resp = await client.put(f"/api/carts/{token}/shipping", json={"country": "US"})
    cart = await resp.json()
    assert amount(cart["totals"]["shipping"]) == 599
    cart = await apply_code(client, token, "freeship")
    shipping = cart["shipping"]
    assert shipping["free"] is True and shipping["free_reason"] == "promo_code"
    assert amount(shipping["regular_price"]) == 599 and amount(cart["totals"]["shipping"]) == 0
    assert amount(cart["totals"]["discount"]) == 0
    assert cart["promo_code"]["description"] == "Free shipping"


async def test_unknown_code_is_not_a_valid_code(client, db):
    cart, _, _ = await _cart_of(client, db)
    before = await cart_snapshot(db, cart["token"])
    resp = await client.put(f"/api/carts/{cart['token']}/promo-code", json={"code": "NOPE123"})
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 404)
    assert problem["detail"] == "'NOPE123' is not a valid code."
    assert await cart_snapshot(db, cart["token"]) == before


async def test_inactive_code_is_not_a_valid_code(client, db):
    code = await make_promo(client, kind="percentage", value=5, active=False)
    cart, _, _ = await _cart_of(client, db)
    problem = await apply_code(client, cart["token"], code, expect=404)
    assert "not a valid code" in problem["detail"]


def _in(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize("fields, reason, words", [
    ({"starts_at": _in(-10), "expires_at": _in(-1)}, "expired", "expired on"),
    ({"starts_at": _in(2)}, "not-yet-valid", "valid from"),
])
async def test_codes_outside_their_dates_are_refused(client, db, fields, reason, words):
    code = await make_promo(client, kind="percentage", value=5, **fields)
    cart, _, _ = await _cart_of(client, db)
    before = await cart_snapshot(db, cart["token"])
    problem = await apply_code(client, cart["token"], code, expect=422)
    assert problem["reason"] == reason and words in problem["detail"]
    assert problem["type"].endswith(f"promo-code-{reason}")
    assert await cart_snapshot(db, cart["token"]) == before


async def test_demo_expired_code(client, db):
    cart, _, _ = await _cart_of(client, db)
    problem = await apply_code(client, cart["token"], "expired5", expect=422)
    assert problem["reason"] == "expired"


async def test_used_up_code(client, db):
    code = await make_promo(client, kind="percentage", value=15, usage_limit=1)
    async with db.write() as session:
        await session.execute(update(PromoCode).where(PromoCode.code == code)
                              .values(times_used=1))
    cart, _, _ = await _cart_of(client, db)
    problem = await apply_code(client, cart["token"], code, expect=422)
    assert problem["reason"] == "used-up" and "maximum number of times" in problem["detail"]


async def test_minimum_not_met_says_how_much_more(client, db):
    variant = await pick_variant(db, min_stock=1, min_price=1000, max_price=9000)
    cart = await cart_with(client, db, [(variant, 1)])
    before = await cart_snapshot(db, cart["token"])
    problem = await apply_code(client, cart["token"], "SAVE20", expect=422)
    missing = 10_000 - variant["price"]
    assert problem["reason"] == "minimum-not-met"
    assert problem["missing"]["amount"] == missing
    assert f"add {problem['missing']['formatted']} more" in problem["detail"]
    assert "$100.00" in problem["detail"]
    assert await cart_snapshot(db, cart["token"]) == before


async def test_one_code_per_cart(client, db):
    cart, _, _ = await _cart_of(client, db, min_subtotal=6000)
    token = cart["token"]
    await apply_code(client, token, "WELCOME10")
    again = await apply_code(client, token, "welcome10")  # the same code again is fine
    assert again["promo_code"]["code"] == "WELCOME10"
    before = await cart_snapshot(db, token)
    problem = await apply_code(client, token, "TENOFF", expect=409)
    assert problem["applied_code"] == "WELCOME10"
    assert "WELCOME10" in problem["detail"] and "remove it first" in problem["detail"]
    assert await cart_snapshot(db, token) == before
    resp = await client.delete(f"/api/carts/{token}/promo-code")
    assert (await resp.json())["promo_code"] is None
    cart = await apply_code(client, token, "TENOFF")
    assert cart["promo_code"]["code"] == "TENOFF"


async def test_code_that_became_invalid_is_reported_and_not_applied(client, db):
    cheap = await pick_variant(db, min_stock=1, min_price=1000, max_price=4000)
    big = await pick_variant(db, min_stock=1, min_price=5000, max_price=20000)
    cart = await cart_with(client, db, [(big, 1), (cheap, 1)])
    token = cart["token"]
    await apply_code(client, token, "TENOFF")
    big_line = next(line for line in cart["lines"] if line["variant_id"] == big["id"])
    await client.delete(f"/api/carts/{token}/items/{big_line['id']}")
    cart = await get_cart(client, token)
    promo = cart["promo_code"]
    assert promo["code"] == "TENOFF" and promo["valid"] is False
    assert "add" in promo["reason"] and amount(promo["missing"]) == 5000 - cheap["price"]
    assert amount(cart["totals"]["discount"]) == 0
    assert amount(cart["totals"]["total"]) == cheap["price"]


async def test_code_expiring_after_it_was_applied(client, db):
    code = await make_promo(client, kind="percentage", value=10)
    cart, _, _ = await _cart_of(client, db, min_subtotal=2000)
    await apply_code(client, cart["token"], code)
    async with db.write() as session:
        await session.execute(update(PromoCode).where(PromoCode.code == code)
                              .values(expires_at=datetime(2020, 1, 1)))
    cart = await get_cart(client, cart["token"])
    assert cart["promo_code"]["valid"] is False and "expired" in cart["promo_code"]["reason"]
    assert amount(cart["totals"]["discount"]) == 0


# --- the merchant's promo code routes -----------------------------------------------------

async def test_promo_admin_needs_the_admin_token(client):
    body = {"code": unique_code(), "kind": "percentage", "value": 10}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        resp = await client.post("/api/admin/promo-codes", json=body, headers=headers)
        problem = await resp.json()
        assert_problem(resp.status, resp.content_type, problem, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        resp = await client.get("/api/admin/promo-codes", headers=headers)
        assert resp.status == 401


async def test_create_and_list_promo_codes(client):
    code = unique_code().lower()
    body = {"code": code, "kind": "fixed_amount", "value": 500, "min_subtotal": 2000,
            "expires_at": _in(30), "usage_limit": 100}
    resp = await client.post("/api/admin/promo-codes", json=body, headers=ADMIN)
    created = await resp.json()
    assert resp.status == 201 and created["code"] == code.upper()
    assert created["min_subtotal"]["amount"] == 2000 and created["times_used"] == 0
    resp = await client.post("/api/admin/promo-codes", json=body, headers=ADMIN)
    assert resp.status == 409
    resp = await client.get("/api/admin/promo-codes", headers=ADMIN)
    codes = {p["code"]: p for p in (await resp.json())["promo_codes"]}
    assert code.upper() in codes and "WELCOME10" in codes


@pytest.mark.parametrize("body", [
    {"kind": "percentage", "value": 0}, {"kind": "percentage", "value": 101},
    {"kind": "fixed_amount", "value": 0}, {"kind": "free_shipping", "value": 5},
    {"kind": "bogus", "value": 5}, {"kind": "percentage", "value": "10"},
    {"kind": "percentage", "value": 10, "starts_at": _in(5), "expires_at": _in(1)},
    {"kind": "percentage", "value": 10, "code": "has space"},
    {"kind": "percentage", "value": 10, "code": "X" * 41},
])
async def test_invalid_promo_definitions_are_422(client, body):
    resp = await client.post("/api/admin/promo-codes",
                             json={"code": unique_code(), **body}, headers=ADMIN)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 422)


async def test_promo_on_an_empty_cart_needs_the_minimum(client):
    cart = await new_cart(client)
    problem = await apply_code(client, cart["token"], "TENOFF", expect=422)
    assert problem["missing"]["amount"] == 5000
    cart = await apply_code(client, cart["token"], "WELCOME10")
    assert cart["promo_code"]["valid"] is True
