"""Who holds stock, how much, how long: a summary holds nothing and opens no payment session;
the payment link holds the stock for CHECKOUT_MINUTES; one client holds at most
MAX_HELD_UNITS units at once across its open links."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from assistant_calls import SERVICE_TOKEN, from_the_assistant
from shop_factories import ADDRESS, cart_with, checkout_body, make_variant
from sqlalchemy import func, select

from storefront_api.app import create_app
from storefront_api.app_keys import PAYMENT_GATEWAY
from storefront_api.catalog import inventory
from storefront_api.catalog.models import StockReservation, Variant
from storefront_api.checkout.models import Checkout
from storefront_api.db import Database, utcnow
from storefront_api.orders.models import Order
from storefront_api.pricing.demo_pricing import seed_pricing
from storefront_api.settings import Settings

CARD = {"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123", "name": "Shopper"}


async def available(db, variant_id: int) -> int:
    async with db.read() as session:
        return (await inventory.variant_by_id(session, variant_id)).available


async def checkouts_of(db, cart_token: str) -> list[Checkout]:
    from storefront_api.cart.models import Cart
    async with db.read() as session:
        return list((await session.scalars(select(Checkout).join(Cart, Cart.id == Checkout.cart_id)
                                           .where(Cart.token == cart_token))).all())


async def held_by(db, holder: str) -> int:
    async with db.read() as session:
        return int(await session.scalar(
            select(func.coalesce(func.sum(StockReservation.quantity), 0))
            .join(Checkout, Checkout.id == StockReservation.checkout_id)
            .where(Checkout.holder == holder, Checkout.status == "open",
                   StockReservation.status == "active",
                   StockReservation.expires_at > utcnow())))


def count_gateway_sessions(client, monkeypatch) -> list:
    """Every payment session the app asks its gateway for, from now on."""
    gateway, opened = client.app[PAYMENT_GATEWAY], []
    create = gateway.create_session

    async def counted(request):
        opened.append(request.checkout_token)
        return await create(request)
    monkeypatch.setattr(gateway, "create_session", counted)
    return opened


def an_address() -> str:
    """A client address no other test uses (the database is shared by the session)."""
    n = uuid.uuid4().int
    return f"10.{n % 256}.{(n >> 8) % 256}.{(n >> 16) % 256}"


async def capped_client(aiohttp_client, settings, **changes):
    """The app with the shipped cap (10 units), behind a proxy it trusts, and the headers
    of a client of its own: every test calls from 127.0.0.1 into one database, and their
    open links would add up against one cap."""
    client = await aiohttp_client(create_app(
        replace(settings, max_held_units=10, trust_proxy=True, **changes), migrate=False))
    return client, {"X-Forwarded-For": an_address()}


# --- the summary -----------------------------------------------------------------------------

async def test_a_summary_holds_nothing_and_opens_no_payment_session(aiohttp_client, settings,
                                                                   db, monkeypatch):
    client, me = await capped_client(aiohttp_client, settings)
    variant = await make_variant(db, stock=3, price=4000)
    token = await cart_with(client, variant["id"], 3, headers=me)
    opened = count_gateway_sessions(client, monkeypatch)
    for _ in range(3):  # read as often as the shopper likes
        response = await client.post(f"/api/carts/{token}/checkout/preview",
                                     json=checkout_body(method="express"), headers=me)
        preview = await response.json()
        assert response.status == 200, preview
    assert preview["status"] == "preview" and preview["payment_url"] is None
    assert "token" not in preview and preview["hold"] == {"units": 3, "minutes": 30,
                                                          "max_units": 10}
    assert preview["shipping"]["method"] == "express" and preview["lines"][0]["quantity"] == 3
    assert await available(db, variant["id"]) == 3 and opened == []
    assert await checkouts_of(db, token) == []
    cart = await (await client.get(f"/api/carts/{token}")).json()
    assert cart["shipping"]["method"] == "express"  # the cart keeps the method chosen
    # the payment link: the same summary, now holding the stock, one payment session
    response = await client.post(f"/api/carts/{token}/checkout",
                                 json=checkout_body(method="express"), headers=me)
    checkout = await response.json()
    assert response.status == 201 and len(opened) == 1, checkout
    assert checkout["totals"] == preview["totals"] and checkout["lines"] == preview["lines"]
    assert await available(db, variant["id"]) == 0
    # the cart's own link holds the last units: its summary is still shown, not refused
    response = await client.post(f"/api/carts/{token}/checkout/preview",
                                 json=checkout_body(method="express"), headers=me)
    assert response.status == 200 and len(opened) == 1


@pytest.mark.parametrize("case", ["empty", "unknown", "bad-address", "sold-out"])
async def test_a_summary_is_refused_where_the_link_would_be(client, db, case):
    variant = await make_variant(db, stock=1)
    body, token = checkout_body(), await cart_with(client, variant["id"])
    if case == "empty":
        token = (await (await client.post("/api/carts", json={})).json())["token"]
    elif case == "unknown":
        token = "x" * 43
    elif case == "bad-address":
        body = checkout_body(address={**ADDRESS, "postal_code": "ABC"})
    else:  # another shopper's open link holds the only unit
        other = await cart_with(client, variant["id"])
        assert (await client.post(f"/api/carts/{other}/checkout", json=body)).status == 201
    response = await client.post(f"/api/carts/{token}/checkout/preview", json=body)
    problem = await response.json()
    expected = {"empty": 422, "unknown": 404, "bad-address": 422, "sold-out": 409}[case]
    assert response.status == expected, problem
    assert response.content_type == "application/problem+json"
    if case != "unknown":
        assert await checkouts_of(db, token) == []


# --- how long ----------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes, accepted", [("4", False), ("5", True), ("120", True),
                                               ("121", False), ("1440", False), ("soon", False)])
def test_checkout_minutes_is_bounded(monkeypatch, tmp_path, minutes, accepted):
    monkeypatch.setenv("CHECKOUT_MINUTES", minutes)
    if accepted:
        assert Settings.from_env(var_dir=tmp_path).checkout_minutes == int(minutes)
        return
    with pytest.raises(SystemExit) as refused:
        Settings.from_env(var_dir=tmp_path)
    message = str(refused.value)
    assert "CHECKOUT_MINUTES" in message and "5 to 120" in message and "\n" not in message


async def test_a_link_holds_for_checkout_minutes(aiohttp_client, settings, db):
    client, me = await capped_client(aiohttp_client, settings, checkout_minutes=7)
    variant = await make_variant(db, stock=2)
    token = await cart_with(client, variant["id"], headers=me)
    started = utcnow()
    checkout = await (await client.post(f"/api/carts/{token}/checkout", json=checkout_body(),
                                        headers=me)).json()
    [row] = await checkouts_of(db, token)
    assert started + timedelta(minutes=7) <= row.expires_at <= utcnow() + timedelta(minutes=7)
    assert checkout["expires_at"] == row.expires_at.isoformat() + "Z"


# --- how much, per client ------------------------------------------------------------------------

async def test_one_client_holds_at_most_the_cap_and_a_new_link_replaces_the_old(
        aiohttp_client, settings, db):
    client, _ = await capped_client(aiohttp_client, settings)
    address = an_address()
    me = {"X-Forwarded-For": f"198.51.100.1, {address}"}  # the proxy's hop is what counts
    holder = f"address:{address}"
    variant = await make_variant(db, stock=30)
    full = await cart_with(client, variant["id"], 10, headers=me)
    first = await client.post(f"/api/carts/{full}/checkout", json=checkout_body(), headers=me)
    assert first.status == 201 and await held_by(db, holder) == 10
    # asking again, even with other details, replaces that link: still 10, not 20
    again = await client.post(f"/api/carts/{full}/checkout", json=checkout_body(),
                              headers=me)
    assert again.status == 201 and (await again.json())["token"] == (await first.json())["token"]
    other = await client.post(f"/api/carts/{full}/checkout",
                              json=checkout_body(method="express"), headers=me)
    assert other.status == 201 and await held_by(db, holder) == 10
    one_more = await cart_with(client, variant["id"], 1, headers=me)
    response = await client.post(f"/api/carts/{one_more}/checkout", json=checkout_body(),
                                 headers=me)
    problem = await response.json()
    assert response.status == 409 and problem["type"].endswith("/hold-limit"), problem
    assert (problem["max_held_units"], problem["held"], problem["requested"]) == (10, 10, 1)
    assert "at most 10" in problem["detail"] and "30 minutes" in problem["detail"]
    assert problem["first_release"] and await held_by(db, holder) == 10
    # the summary is still shown: it holds nothing
    preview = await client.post(f"/api/carts/{one_more}/checkout/preview",
                                json=checkout_body(), headers=me)
    assert preview.status == 200
    # a cart bigger than the cap on its own is told to check out fewer items
    someone = {"X-Forwarded-For": an_address()}
    big = await cart_with(client, variant["id"], 11, headers=someone)
    response = await client.post(f"/api/carts/{big}/checkout", json=checkout_body(),
                                 headers=someone)
    assert response.status == 409 and "asks for 11 units" in (await response.json())["detail"]


async def test_the_assistant_holds_per_conversation(aiohttp_client, settings, db):
    """Every chat shopper comes through the action server's one address: its calls, with
    the service credential, are held per conversation."""
    client, _ = await capped_client(aiohttp_client, settings)
    variant = await make_variant(db, stock=25)
    first, second = f"conv-{uuid.uuid4().hex}", f"conv-{uuid.uuid4().hex}"
    for conversation, wanted, status in ((first, 10, 201), (second, 10, 201), (first, 1, 409)):
        headers = from_the_assistant(conversation, "web")
        token = await cart_with(client, variant["id"], wanted, headers=headers)
        response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body(),
                                     headers=headers)
        assert response.status == status, await response.json()
    assert await held_by(db, f"conversation:{first}") == 10
    assert await held_by(db, f"conversation:{second}") == 10


async def test_attack_one_browser_cannot_start_conversations_to_hold_more(
        aiohttp_client, settings, db):
    """The web chat's token names the browser (X-Aisle-Client, passed on by the action
    server): every conversation it starts holds from one allowance."""
    client, _ = await capped_client(aiohttp_client, settings)
    variant = await make_variant(db, stock=40)
    browser = "c_" + uuid.uuid4().hex
    statuses = []
    for _ in range(4):  # four fresh conversations of one browser, 4 units each
        headers = {**from_the_assistant(f"conv-{uuid.uuid4().hex}", "socketio"),
                   "X-Aisle-Client": browser}
        token = await cart_with(client, variant["id"], 4, headers=headers)
        response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body(),
                                     headers=headers)
        statuses.append(response.status)
    assert statuses == [201, 201, 409, 409]
    assert await held_by(db, f"client:{browser}") == 8
    # another browser still gets its own allowance; a client header without the service
    # credential is nobody's word
    other = {**from_the_assistant(f"conv-{uuid.uuid4().hex}", "socketio"),
             "X-Aisle-Client": "c_" + uuid.uuid4().hex}
    token = await cart_with(client, variant["id"], 4, headers=other)
    response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body(),
                                 headers=other)
    assert response.status == 201, await response.json()


# --- the attack --------------------------------------------------------------------------------

@pytest.fixture
async def own_shop(empty_url, tmp_path):
    """A shop of its own (the holder here is 127.0.0.1, as for every other test's client):
    its pricing, and settings with the shipped cap and hold time."""
    db = Database(empty_url)
    await seed_pricing(db)
    settings = Settings.from_env(
        database_url=empty_url, var_dir=tmp_path, admin_token="test-admin",
        rasa_url="http://127.0.0.1:9", service_token=SERVICE_TOKEN, trust_proxy=False,
        # every request reaches the hold: the cap must hold on its own (the request limits
        # slow an attacker down; the cap bounds what even a patient one holds)
        rate_limit_overrides={"cart": "500/minute", "checkout": "500/minute"})
    assert (settings.max_held_units, settings.checkout_minutes) == (10, 30)
    yield db, settings
    await db.dispose()


async def test_attack_50_anonymous_checkouts_cannot_hold_a_scarce_variant(
        aiohttp_client, own_shop):
    db, settings = own_shop
    client = await aiohttp_client(create_app(settings, migrate=False))
    variant = await make_variant(db, stock=12)
    # fifty carts of two units each, half of them claiming to come from elsewhere
    forged = [{"X-Forwarded-For": f"203.0.113.{n}"} if n % 2 else {} for n in range(50)]
    carts = [await cart_with(client, variant["id"], 2, headers=h) for h in forged]
    started = utcnow()
    responses = await asyncio.gather(*(
        client.post(f"/api/carts/{token}/checkout", headers=headers,
                    json=checkout_body(email=f"bot{n}@example.net"))
        for n, (token, headers) in enumerate(zip(carts, forged))))
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 5 and statuses.count(409) == 45, statuses
    refused = [await r.json() for r in responses if r.status == 409]
    assert all(p["type"].endswith("/hold-limit") and "at most 10" in p["detail"]
               for p in refused)
    async with db.read() as session:
        links = list((await session.scalars(select(Checkout).where(
            Checkout.status == "open"))).all())
    assert {c.holder for c in links} == {"address:127.0.0.1"}  # forged hops ignored
    assert await held_by(db, "address:127.0.0.1") == 10
    assert all(c.expires_at <= started + timedelta(minutes=30, seconds=5) for c in links)
    assert await available(db, variant["id"]) == 2

    # a real shopper, from another address, still buys
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as shopper:
        async def call(method, path, **kw):
            async with shopper.request(method, client.make_url(path), **kw) as response:
                return response.status, await response.json(content_type=None)
        _, cart = await call("POST", "/api/carts", json={})
        status, _ = await call("POST", f"/api/carts/{cart['token']}/items",
                               json={"variant_id": variant["id"], "quantity": 2})
        assert status == 201
        status, checkout = await call("POST", f"/api/carts/{cart['token']}/checkout",
                                      json=checkout_body(email="real@example.com"))
        assert status == 201, checkout
        async with shopper.post(client.make_url("/pay/" + checkout["payment_url"]
                                                .rsplit("/", 1)[1]), data=CARD) as paid:
            assert paid.status == 200
        status, done = await call("GET", f"/api/checkouts/{checkout['token']}")
    assert done["status"] == "completed" and done["order_number"]
    async with db.read() as session:
        stock = await session.scalar(select(Variant.stock).where(Variant.id == variant["id"]))
        buyer = await session.scalar(select(Checkout.holder).where(
            Checkout.token == checkout["token"]))
        orders = await session.scalar(select(func.count()).select_from(Order))
    assert buyer == "address:127.0.0.2" and orders == 1
    # never oversold: what is sold plus what is held never exceeds what there was
    assert stock == 10 and stock - await held_by(db, "address:127.0.0.1") == 0
    assert await available(db, variant["id"]) == 0
