"""The hold cap's rules at the instants and counts where they change, on holds written for
the test's own holder: a hold stops counting exactly when it expires; only active holds of
the holder's open checkouts count; the cap is reached, not exceeded; the 409 says how many
units are held, when the first comes back and what to do.

test_stock_holds.py drives the same rules through the API; these are fast enough to judge
the mutants of checkout/holds.py (docs/testing.md)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from shop_factories import make_variant

from storefront_api.cart.models import Cart
from storefront_api.catalog.models import StockReservation
from storefront_api.checkout.holds import _lock_id, check_room, lock_holder, units_held
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.problems import Problem


@pytest.fixture
async def variant(db):
    return await make_variant(db, stock=100)


async def hold(db, variant, holder: str, units: int, expires_at: datetime, *,
               checkout_status: str = "open", hold_status: str = "active") -> None:
    """A checkout of ``holder`` holding ``units`` until ``expires_at``."""
    async with db.write() as session:
        cart = Cart(token=uuid.uuid4().hex, status="active", currency="USD")
        session.add(cart)
        await session.flush()
        checkout = Checkout(token=uuid.uuid4().hex, cart_id=cart.id, status=checkout_status,
                            email="h@example.com", shipping_address={}, country="GB",
                            shipping_method="standard", summary={}, currency="USD", total=0,
                            gateway="test", consent=False, holder=holder,
                            expires_at=expires_at)
        session.add(checkout)
        await session.flush()
        session.add(StockReservation(checkout_id=checkout.id, variant_id=variant["id"],
                                     quantity=units, status=hold_status,
                                     expires_at=expires_at))


async def held(db, holder: str, now: datetime | None = None):
    async with db.read() as session:
        return await units_held(session, holder, now)


async def test_a_hold_counts_until_the_instant_it_expires(db, variant):
    holder, ends = f"client:{uuid.uuid4().hex}", utcnow() + timedelta(minutes=10)
    await hold(db, variant, holder, 3, ends)
    assert await held(db, holder, ends - timedelta(microseconds=1)) == (3, ends)
    assert await held(db, holder, ends) == (0, None)


async def test_only_active_holds_of_open_checkouts_of_this_holder_count(db, variant):
    holder, later = f"client:{uuid.uuid4().hex}", utcnow() + timedelta(minutes=20)
    first_back = utcnow() + timedelta(minutes=5)
    await hold(db, variant, holder, 2, first_back)
    await hold(db, variant, holder, 4, later)
    await hold(db, variant, holder, 50, later, checkout_status="completed")
    await hold(db, variant, holder, 60, later, checkout_status="expired")
    await hold(db, variant, holder, 70, later, hold_status="released")
    await hold(db, variant, holder, 80, later, hold_status="consumed")
    await hold(db, variant, f"client:{uuid.uuid4().hex}", 90, later)  # someone else
    assert await held(db, holder) == (6, first_back)
    assert await held(db, f"client:{uuid.uuid4().hex}") == (0, None)


async def test_the_cap_can_be_reached_but_not_passed(db, variant, settings):
    settings = replace(settings, max_held_units=10, checkout_minutes=30)
    holder = f"client:{uuid.uuid4().hex}"
    back = (utcnow() + timedelta(minutes=12)).replace(second=0, microsecond=0)
    await hold(db, variant, holder, 7, back)
    async with db.read() as session:
        await check_room(session, holder, 3, settings)  # 7 + 3 = 10: allowed
        with pytest.raises(Problem) as refused:
            await check_room(session, holder, 4, settings)
    problem = refused.value.body_dict
    assert refused.value.status == 409
    assert problem["type"].endswith("/hold-limit")
    assert {k: problem[k] for k in ("max_held_units", "held", "requested", "hold_minutes",
                                    "first_release")} == {
        "max_held_units": 10, "held": 7, "requested": 4, "hold_minutes": 30,
        "first_release": back.isoformat() + "Z"}
    assert problem["detail"] == (
        "You already hold 7 units in open payment links, and one shopper may hold at most 10 "
        "at once. Pay for an open link, or wait until one expires (the first comes back at "
        f"{back:%H:%M} UTC): links last 30 minutes. Or check out fewer items.")


async def test_one_checkout_bigger_than_the_cap_says_so(db, settings):
    settings = replace(settings, max_held_units=10, checkout_minutes=45)
    holder = f"client:{uuid.uuid4().hex}"
    async with db.read() as session:
        await check_room(session, holder, 10, settings)
        with pytest.raises(Problem) as refused:
            await check_room(session, holder, 11, settings)
    problem = refused.value.body_dict
    assert (problem["held"], problem["requested"], problem["first_release"],
            problem["hold_minutes"]) == (0, 11, None, 45)
    assert problem["detail"] == (
        "This checkout asks for 11 units; one shopper may hold at most 10 at once in payment "
        "links. Check out fewer items, or contact the shop for a larger order.")


async def test_on_sqlite_the_write_transaction_is_the_holders_lock(db):
    async with db.write() as session:
        await lock_holder(session, "client:x")  # no advisory lock statement on SQLite


def test_the_lock_key_is_a_stable_signed_64_bit_number_per_holder():
    keys = {_lock_id(f"client:{n}") for n in range(1000)}
    assert len(keys) == 1000 and all(-2**63 <= k < 2**63 for k in keys)
    assert any(k < 0 for k in keys)  # signed: PostgreSQL's bigint
    # Pinned on purpose: two releases running side by side during a deploy must take the
    # same lock for the same holder, or together they let one shopper past the cap. A change
    # of this number is a change of the lock protocol (deploy with the old one stopped).
    assert _lock_id("client:203.0.113.7") == -1718192111616286426
    # a lone surrogate (a broken client key) still gets a key of its own, no error
    assert _lock_id("conversation:\udc80") == 1110107852877114313
