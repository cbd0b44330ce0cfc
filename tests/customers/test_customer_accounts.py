"""Customer accounts: sign-up, sign-in, the customer's cart and the guest cart merge."""

from __future__ import annotations

import uuid

import pytest
from assistant_calls import from_the_assistant
from cart_helpers import (
    add_item,
    assert_problem,
    cart_snapshot,
    cart_with,
    get_cart,
    new_cart,
    pick_variant,
    pick_variants,
)
from sqlalchemy import select

from storefront_api.auth import sign_customer_token
from storefront_api.cart.models import Cart
from storefront_api.customers.models import Customer

PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"shopper-{uuid.uuid4().hex[:10]}@example.com"


async def sign_up(client, email: str | None = None, **fields) -> dict:
    body = {"email": email or new_email(), "password": PASSWORD, "name": "Ann", **fields}
    resp = await client.post("/api/customers", json=body)
    data = await resp.json()
    assert resp.status == 201, data
    return data


async def sign_in(client, email: str, cart_token: str | None = None, expect: int = 200) -> dict:
    body = {"email": email, "password": PASSWORD}
    if cart_token:
        body["cart_token"] = cart_token
    resp = await client.post("/api/customers/sign-in", json=body)
    data = await resp.json()
    assert resp.status == expect, data
    return data


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def quantities(lines: list[dict]) -> dict[int, int]:
    return {line["variant_id"]: line["quantity"] for line in lines}


# --- sign-up -------------------------------------------------------------------------------

async def test_sign_up_normalises_the_email_and_hides_the_password(client, db):
    email = new_email()
    customer = await sign_up(client, f"  {email.upper()} ", marketing_consent=True)
    assert customer["email"] == email
    # the tick counts once the address's owner confirms it (a link is e-mailed to them)
    assert customer["marketing_consent"] is False
    assert customer["awaiting_confirmation"] == ["marketing"]
    assert "password" not in str(customer) and "hash" not in str(customer)
    async with db.read() as session:
        row = (await session.execute(select(Customer).where(Customer.email == email))).scalar_one()
    assert row.password_hash.startswith("scrypt$") and PASSWORD not in row.password_hash


async def test_the_same_email_twice_is_a_conflict(client):
    email = new_email()
    await sign_up(client, email)
    resp = await client.post("/api/customers", json={"email": email.upper(), "password": PASSWORD})
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 409)


@pytest.mark.parametrize("body", [
    {"email": "not-an-email", "password": PASSWORD},
    {"email": "a@b", "password": PASSWORD},
    {"email": "two@@example.com", "password": PASSWORD},
    {"email": "with space@example.com", "password": PASSWORD},
    {"email": "x" * 300 + "@example.com", "password": PASSWORD},
    {"email": "'; DROP TABLE customers;--@x.com", "password": PASSWORD},
    {"email": new_email(), "password": "short7!"},
    {"email": new_email(), "password": "x" * 10_240},
    {"email": new_email(), "password": 12345678},
    {"email": new_email(), "password": PASSWORD, "name": "x" * 10_240},
    {"email": new_email(), "password": PASSWORD, "marketing_consent": "yes"},
    {"email": new_email(), "password": PASSWORD, "is_admin": True},
    {"password": PASSWORD},
])
async def test_invalid_sign_ups_are_422(client, body):
    resp = await client.post("/api/customers", json=body)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 422)


async def test_malformed_sign_up_is_400(client):
    resp = await client.post("/api/customers", data=b'{"email": ',
                             headers={"Content-Type": "application/json"})
    assert_problem(resp.status, resp.content_type, await resp.json(), 400)


# --- sign-in -------------------------------------------------------------------------------

async def test_wrong_email_and_wrong_password_get_the_same_answer(client):
    email = new_email()
    await sign_up(client, email)
    answers = []
    for body in ({"email": new_email(), "password": PASSWORD},
                 {"email": email, "password": PASSWORD + "!"}):
        resp = await client.post("/api/customers/sign-in", json=body)
        answers.append((resp.status, await resp.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and answers[0][1]["detail"] == "Email or password is incorrect."


async def test_sign_in_gives_a_token_for_the_customer_cart(client):
    email = new_email()
    await sign_up(client, email)
    signed_in = await sign_in(client, f" {email.title()} ")
    assert signed_in["customer"]["email"] == email
    assert signed_in["cart"]["signed_in"] is True and signed_in["cart_merged"] is False
    resp = await client.get("/api/customers/me/cart",
                            headers=bearer(signed_in["customer_token"]))
    cart = await resp.json()
    assert resp.status == 200 and cart["token"] == signed_in["cart"]["token"]
    me = await (await client.get("/api/customers/me",
                                 headers=bearer(signed_in["customer_token"]))).json()
    assert me["email"] == email
    again = await sign_in(client, email)
    assert again["cart"]["token"] == cart["token"]  # one cart per customer


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Bearer v1.1.9999999999.AAAA"},
    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000},
])
async def test_customer_routes_need_a_valid_token(client, headers):
    resp = await client.get("/api/customers/me/cart", headers=headers)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 401)
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="customer"'


async def test_expired_and_forged_tokens_are_refused(client, settings):
    customer = await sign_up(client)
    expired = sign_customer_token(settings.secret_key, customer["id"], ttl=10, now=1_000_000)
    forged = sign_customer_token("another secret", customer["id"])
    valid = sign_customer_token(settings.secret_key, customer["id"])
    for token, status in ((expired.token, 401), (forged.token, 401), (valid.token, 200)):
        resp = await client.get("/api/customers/me/cart", headers=bearer(token))
        assert resp.status == status


# --- merging the guest cart ----------------------------------------------------------------

async def test_guest_cart_merges_into_the_customer_cart(client, db):
    shared, guest_only, saved = await pick_variants(db, 3, min_stock=10)
    email = new_email()
    await sign_up(client, email)
    mine = (await sign_in(client, email))["cart"]
    await add_item(client, mine["token"], variant_id=shared["id"], quantity=1)

    guest = await cart_with(client, db, [(shared, 2), (guest_only, 1), (saved, 4)])
    saved_line = next(line for line in guest["lines"] if line["variant_id"] == saved["id"])
    await client.patch(f"/api/carts/{guest['token']}/items/{saved_line['id']}",
                       json={"saved_for_later": True})

    signed_in = await sign_in(client, email, cart_token=guest["token"])
    cart = signed_in["cart"]
    assert signed_in["cart_merged"] is True and cart["token"] == mine["token"]
    assert quantities(cart["lines"]) == {shared["id"]: 3, guest_only["id"]: 1}
    assert quantities(cart["saved_for_later"]) == {saved["id"]: 4}

    resp = await client.get(f"/api/carts/{guest['token']}")
    gone = await resp.json()
    assert_problem(resp.status, resp.content_type, gone, 410)
    assert gone["merged_into"] == "/api/customers/me/cart"
    resp = await client.post(f"/api/carts/{guest['token']}/items",
                             json={"variant_id": shared["id"]})
    assert resp.status == 410
    async with db.read() as session:
        row = (await session.execute(select(Cart).where(Cart.token == guest["token"]))).scalar_one()
    assert row.status == "merged" and row.merged_into_id is not None


async def test_merge_caps_quantities_at_stock(client, db):
    variant = await pick_variant(db, min_stock=2, max_stock=30)
    stock = variant["stock"]
    email = new_email()
    await sign_up(client, email)
    mine = (await sign_in(client, email))["cart"]
    await add_item(client, mine["token"], variant_id=variant["id"], quantity=stock - 1)
    guest = await cart_with(client, db, [(variant, 2)])
    signed_in = await sign_in(client, email, cart_token=guest["token"])
    assert quantities(signed_in["cart"]["lines"]) == {variant["id"]: stock}
    assert any("Only" in notice for notice in signed_in["cart"]["notices"])


async def test_merge_carries_the_promo_code_and_conversation(client, db):
    variant = await pick_variant(db, min_stock=2)
    headers = from_the_assistant(f"conv-{uuid.uuid4().hex}", "web")
    guest = await cart_with(client, db, [(variant, 1)], headers=headers)
    await client.put(f"/api/carts/{guest['token']}/promo-code", json={"code": "WELCOME10"})
    email = new_email()
    await sign_up(client, email)
    cart = (await sign_in(client, email, cart_token=guest["token"]))["cart"]
    assert cart["promo_code"]["code"] == "WELCOME10"
    async with db.read() as session:
        row = (await session.execute(select(Cart).where(Cart.token == cart["token"]))).scalar_one()
    assert row.conversation_id == headers["X-Conversation-Id"]


async def test_sign_in_ignores_carts_it_cannot_merge(client, db):
    variant = await pick_variant(db, min_stock=3)
    other_email, email = new_email(), new_email()
    await sign_up(client, other_email)
    await sign_up(client, email)
    theirs = (await sign_in(client, other_email))["cart"]
    await add_item(client, theirs["token"], variant_id=variant["id"])
    before = await cart_snapshot(db, theirs["token"])
    for token in (theirs["token"], "unknown-token-" + "x" * 20, "'; DROP TABLE carts;--"):
        signed_in = await sign_in(client, email, cart_token=token)
        assert signed_in["cart_merged"] is False and signed_in["cart"]["lines"] == []
    assert await cart_snapshot(db, theirs["token"]) == before
    guest = await new_cart(client)
    await sign_in(client, email, cart_token=guest["token"])
    second = await sign_in(client, email, cart_token=guest["token"])  # already merged
    assert second["cart_merged"] is False


async def test_customer_cart_token_works_with_cart_routes(client, db):
    variant = await pick_variant(db, min_stock=3)
    email = new_email()
    await sign_up(client, email)
    signed_in = await sign_in(client, email)
    token = signed_in["cart"]["token"]
    await add_item(client, token, variant_id=variant["id"], quantity=2)
    resp = await client.get("/api/customers/me/cart", headers=bearer(signed_in["customer_token"]))
    assert quantities((await resp.json())["lines"]) == {variant["id"]: 2}
    assert quantities((await get_cart(client, token))["lines"]) == {variant["id"]: 2}


async def test_customer_without_a_cart_gets_one(client, settings):
    customer = await sign_up(client)
    token = sign_customer_token(settings.secret_key, customer["id"]).token
    first = await (await client.get("/api/customers/me/cart", headers=bearer(token))).json()
    second = await (await client.get("/api/customers/me/cart", headers=bearer(token))).json()
    assert first["lines"] == [] and first["signed_in"] is True
    assert first["token"] == second["token"]
