"""Stock as the shop sells it, on variants made for each test (tests/shop_factories.py):
what other shoppers' open checkouts hold is not for sale until the instant their hold
expires; a hold is all or nothing; a paid checkout takes its units even after its own hold
expired, unless someone else took them meanwhile; cancelled and returned units go back.
Worked out by hand at the counts and instants where the answer changes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from shop_factories import make_variant
from sqlalchemy import select

from storefront_api.cart.models import Cart
from storefront_api.catalog import inventory
from storefront_api.catalog.models import Product, StockReservation, Variant
from storefront_api.checkout.models import Checkout
from storefront_api.db import Database, utcnow


@pytest.fixture
async def db(module_url):
    """A catalog of this module's own: the stock these tests take and the holds they leave
    open would change what the shared demo shop's search offers (test_search_api.py)."""
    database = Database(module_url)
    yield database
    await database.dispose()


async def new_checkout(db) -> int:
    async with db.write() as session:
        cart = Cart(token=uuid.uuid4().hex, status="active", currency="USD")
        session.add(cart)
        await session.flush()
        checkout = Checkout(token=uuid.uuid4().hex, cart_id=cart.id, status="open",
                            email="i@example.com", shipping_address={}, country="GB",
                            shipping_method="standard", summary={}, currency="USD", total=0,
                            gateway="test", consent=False, expires_at=utcnow())
        session.add(checkout)
        await session.flush()
        return checkout.id


async def info(db, variant_id: int) -> inventory.VariantInfo:
    async with db.read() as session:
        return await inventory.variant_by_id(session, variant_id)


async def reserve(db, checkout_id: int, quantities: dict, minutes: float = 30) -> None:
    async with db.write() as session:
        await inventory.reserve(session, checkout_id, quantities,
                                utcnow() + timedelta(minutes=minutes))


async def holds_of(db, checkout_id: int) -> list[tuple[int, int, str]]:
    async with db.read() as session:
        return [(r.variant_id, r.quantity, r.status) for r in (await session.scalars(
            select(StockReservation).where(StockReservation.checkout_id == checkout_id)
            .order_by(StockReservation.id))).all()]


async def test_units_held_by_an_open_checkout_are_not_for_sale(db):
    variant = await make_variant(db, stock=5)
    await reserve(db, await new_checkout(db), {variant["id"]: 3})
    found = await info(db, variant["id"])
    assert (found.stock, found.reserved, found.available) == (5, 3, 2)
    assert (found.sku, found.price, found.currency, found.for_sale, found.size, found.color) \
        == (variant["sku"], variant["price"], "USD", True, "M", "White")


async def test_a_hold_stops_counting_at_the_instant_it_expires(db, monkeypatch):
    variant = await make_variant(db, stock=5)
    checkout = await new_checkout(db)
    ends = utcnow() + timedelta(minutes=10)
    async with db.write() as session:
        await inventory.reserve(session, checkout, {variant["id"]: 4}, ends)
    monkeypatch.setattr(inventory, "utcnow", lambda: ends - timedelta(microseconds=1))
    assert (await info(db, variant["id"])).available == 1
    monkeypatch.setattr(inventory, "utcnow", lambda: ends)
    assert (await info(db, variant["id"])).available == 5
    async with db.write() as session:  # the sweeper marks it released at the same instant
        assert await inventory.release_expired(session, ends - timedelta(microseconds=1)) == 0
        assert await inventory.release_expired(session, ends) >= 1
    assert await holds_of(db, checkout) == [(variant["id"], 4, "released")]


async def test_a_hold_is_all_or_nothing_and_names_the_first_short_variant(db):
    plenty, scarce = await make_variant(db, stock=10), await make_variant(db, stock=2)
    checkout = await new_checkout(db)
    with pytest.raises(inventory.InsufficientStock) as short:
        await reserve(db, checkout, {plenty["id"]: 3, scarce["id"]: 3})
    assert (short.value.variant.id, short.value.wanted, short.value.variant.available) == \
        (scarce["id"], 3, 2)
    assert str(short.value) == f"{scarce['sku']}: 2 available, 3 wanted"
    assert await holds_of(db, checkout) == []
    await reserve(db, checkout, {plenty["id"]: 3, scarce["id"]: 2})  # exactly what is left
    assert (await info(db, scarce["id"])).available == 0


async def test_an_unknown_variant_cannot_be_held(db):
    checkout = await new_checkout(db)
    with pytest.raises(inventory.InsufficientStock) as short:
        await reserve(db, checkout, {99_999_999: 1})
    assert (short.value.variant.id, short.value.variant.sku, short.value.variant.available) \
        == (99_999_999, "99999999", 0)


async def test_holding_again_replaces_the_checkouts_own_hold(db):
    variant = await make_variant(db, stock=5)
    checkout = await new_checkout(db)
    await reserve(db, checkout, {variant["id"]: 4})
    await reserve(db, checkout, {variant["id"]: 5})  # its own 4 do not count against it
    assert await holds_of(db, checkout) == [(variant["id"], 4, "released"),
                                            (variant["id"], 5, "active")]
    assert (await info(db, variant["id"])).available == 0


async def test_other_shoppers_holds_count_against_a_new_one(db):
    variant = await make_variant(db, stock=5)
    await reserve(db, await new_checkout(db), {variant["id"]: 4})
    late = await new_checkout(db)
    with pytest.raises(inventory.InsufficientStock):
        await reserve(db, late, {variant["id"]: 2})
    await reserve(db, late, {variant["id"]: 1})


async def test_a_paid_checkout_takes_its_units_and_its_hold_is_consumed(db):
    variant = await make_variant(db, stock=5)
    checkout = await new_checkout(db)
    await reserve(db, checkout, {variant["id"]: 3})
    async with db.write() as session:
        await inventory.consume(session, checkout, {variant["id"]: 3})
    found = await info(db, variant["id"])
    assert (found.stock, found.reserved, found.available) == (2, 0, 2)
    assert await holds_of(db, checkout) == [(variant["id"], 3, "consumed")]


async def test_a_payment_after_its_hold_expired_still_gets_the_units_nobody_took(db):
    variant = await make_variant(db, stock=3)
    checkout = await new_checkout(db)
    await reserve(db, checkout, {variant["id"]: 3}, minutes=-1)  # expired a minute ago
    async with db.write() as session:
        await inventory.consume(session, checkout, {variant["id"]: 3})
    assert (await info(db, variant["id"])).stock == 0


async def test_a_payment_after_someone_else_holds_the_units_is_refused(db):
    variant = await make_variant(db, stock=3)
    late = await new_checkout(db)
    await reserve(db, late, {variant["id"]: 3}, minutes=-1)
    await reserve(db, await new_checkout(db), {variant["id"]: 1})  # another shopper, now
    with pytest.raises(inventory.InsufficientStock) as short:
        async with db.write() as session:
            await inventory.consume(session, late, {variant["id"]: 3})
    assert short.value.wanted == 3
    assert (await info(db, variant["id"])).stock == 3  # nothing taken


async def test_consuming_exactly_the_stock_leaves_zero(db):
    variant = await make_variant(db, stock=2)
    checkout = await new_checkout(db)
    async with db.write() as session:
        await inventory.consume(session, checkout, {variant["id"]: 2})
    assert (await info(db, variant["id"])).stock == 0
    another = await new_checkout(db)
    with pytest.raises(inventory.InsufficientStock):
        async with db.write() as session:
            await inventory.consume(session, another, {variant["id"]: 1})


async def test_a_released_hold_gives_the_units_back(db):
    variant = await make_variant(db, stock=4)
    checkout, other = await new_checkout(db), await new_checkout(db)
    await reserve(db, checkout, {variant["id"]: 3})
    await reserve(db, other, {variant["id"]: 1})
    async with db.write() as session:
        await inventory.release(session, checkout)
    assert await holds_of(db, checkout) == [(variant["id"], 3, "released")]
    assert await holds_of(db, other) == [(variant["id"], 1, "active")]
    assert (await info(db, variant["id"])).available == 3


async def test_restock_puts_units_back_and_names_the_products(db):
    first, second = await make_variant(db, stock=1), await make_variant(db, stock=0)
    async with db.write() as session:
        products = await inventory.restock(session, {first["id"]: 2, second["id"]: 3})
        assert await inventory.restock(session, {first["id"]: 0, second["id"]: -4}) == set()
    assert products == {first["product_id"], second["product_id"]}
    assert ((await info(db, first["id"])).stock, (await info(db, second["id"])).stock) == (3, 3)


async def test_a_product_that_is_not_active_sells_nothing(db):
    variant = await make_variant(db, stock=5)
    async with db.write() as session:
        (await session.get(Product, variant["product_id"])).status = "draft"
    found = await info(db, variant["id"])
    assert (found.for_sale, found.stock, found.available) == (False, 5, 0)


async def test_variants_by_ids_and_sku(db):
    first, second = await make_variant(db, stock=1), await make_variant(db, stock=2)
    async with db.read() as session:
        found = await inventory.variants_by_ids(session, [first["id"], second["id"],
                                                          first["id"]])
        assert await inventory.variants_by_ids(session, []) == {}
        by_sku = await inventory.variant_by_sku(session, second["sku"])
        stock = await session.scalar(select(Variant.stock).where(Variant.id == second["id"]))
    assert {k: v.stock for k, v in found.items()} == {first["id"]: 1, second["id"]: 2}
    assert (by_sku.id, by_sku.stock) == (second["id"], stock)
