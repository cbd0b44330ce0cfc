"""GET /api/orders/{number}: the shopper's view of an order, by e-mail or by signed token."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from aiohttp.test_utils import TestServer
from assistant_calls import from_the_assistant
from order_factories import ADDRESS, ADMIN, get_json, make_order

from storefront_api.access_log import RedactingAccessLogger
from storefront_api.app import create_app
from storefront_api.orders.service import order_token


async def test_lookup_by_email_shows_the_whole_order(client, db):
    order = await make_order(db, quantity=2, shipping=599)
    email = "  " + order["email"].upper() + " "  # as a shopper might type it
    data = await get_json(client, f"/api/orders/{order['number'].lower()}",
                          params={"email": email})
    assert data["number"] == order["number"]
    assert data["status"] == "awaiting_preparation"
    assert data["status_label"] == "Awaiting preparation" and data["status_detail"]
    [line] = data["lines"]
    variant = order["variant"]
    assert line["sku"] == variant["sku"] and line["variant_title"] == "Navy / M"
    assert line["quantity"] == 2
    assert line["unit_price"] == {"amount": 2500, "currency": "USD", "formatted": "$25.00"}
    assert line["line_total"]["amount"] == 5000
    assert data["totals"]["total"] == {"amount": 5599, "currency": "USD", "formatted": "$55.99"}
    assert data["shipping"] == {"method": "standard", "name": "Standard delivery",
                                "address": ADDRESS}
    [created] = data["history"]
    assert created["status"] == "awaiting_preparation" and created["at"].endswith("Z")
    assert data["shipments"] == [] and data["refunds"] == []
    assert "email" not in data and "payment_reference" not in data  # the merchant's view only


async def test_lookup_by_token(client, db, settings):
    order = await make_order(db)
    token = order_token(settings.secret_key, order["number"])
    data = await get_json(client, f"/api/orders/{order['number']}", params={"token": token})
    assert data["number"] == order["number"]
    assert data["lookup_url"].endswith(f"/api/orders/{order['number']}?token={token}")


def _without_number(body: dict, number: str) -> dict:
    return {k: v.replace(number, "N") if isinstance(v, str) else v for k, v in body.items()}


async def test_misses_all_look_the_same(client, db):
    """An unknown number, a wrong e-mail and a wrong token cannot be told apart."""
    order = await make_order(db)
    answers = []
    for number, params in [(order["number"], {"email": "someone.else@example.com"}),
                           ("ZZ-00000", {"email": order["email"]}),
                           (order["number"], {"token": "forged-token"})]:
        resp = await client.get(f"/api/orders/{number}", params=params)
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
        answers.append(_without_number(await resp.json(), number))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["type"].endswith("/order-not-found")


@pytest.mark.parametrize("params", [{}, {"email": " "}, {"email": "x" * 300},
                                    {"token": "t" * 101}])
async def test_lookup_needs_a_proof(client, db, params):
    order = await make_order(db)
    resp = await client.get(f"/api/orders/{order['number']}", params=params)
    body = await resp.json()
    assert resp.status == 422, body
    assert body["type"].endswith("/validation-error")


async def test_lookups_are_rate_limited_per_client(aiohttp_client, db, settings):
    limited = dataclasses.replace(settings, order_lookups_per_minute=3, trust_proxy=True)
    client = await aiohttp_client(create_app(limited, migrate=False))
    order = await make_order(db)
    url, shopper = f"/api/orders/{order['number']}", {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(3):
        await get_json(client, url, params={"email": "guess@example.com"}, expect=404,
                       headers=shopper)
    resp = await client.get(url, params={"email": order["email"]}, headers=shopper)
    body = await resp.json()
    assert resp.status == 429, body
    assert body["type"].endswith("/rate-limited")
    # a sliding one-minute window: the three lookups weigh fully until their minute ends
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # Another client is not affected; the proxy's last hop is what counts, not a forged first.
    other = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
    await get_json(client, url, params={"email": order["email"]}, headers=other)


async def test_the_action_server_is_limited_per_conversation(aiohttp_client, db, settings):
    """Every chat shopper reaches us through the action server's one address."""
    limited = dataclasses.replace(settings, order_lookups_per_minute=2)
    client = await aiohttp_client(create_app(limited, migrate=False))
    order = await make_order(db)
    url, params = f"/api/orders/{order['number']}", {"email": order["email"]}
    for conversation in ("conv-a", "conv-b"):
        for _ in range(2):
            await get_json(client, url, params=params,
                           headers=from_the_assistant(conversation))
    resp = await client.get(url, params=params, headers=from_the_assistant("conv-a"))
    assert resp.status == 429


async def test_no_personal_data_in_logs(aiohttp_client, db, settings, caplog):
    """Neither our loggers nor the access log (as `serve` configures it) write the e-mail."""
    server = TestServer(create_app(settings, migrate=False))
    await server.start_server(access_log_class=RedactingAccessLogger)
    client = await aiohttp_client(server)
    order = await make_order(db)
    with caplog.at_level(logging.INFO):
        await get_json(client, f"/api/orders/{order['number']}",
                       params={"email": "wrong@example.com"}, expect=404)
        await get_json(client, f"/api/orders/{order['number']}",
                       params={"email": order["email"]})
    assert f"/api/orders/{order['number']}?email=***" in caplog.text  # the line is there
    assert "@example.com" not in caplog.text


async def test_merchant_view_has_the_shoppers_details(client, db):
    order = await make_order(db, conversation_id="conv-merchant-view")
    data = await get_json(client, f"/api/admin/orders/{order['number']}", headers=ADMIN)
    assert data["email"] == order["email"]
    assert data["conversation_id"] == "conv-merchant-view"
    assert data["next_statuses"] == ["being_prepared", "cancelled"]
    resp = await client.get(f"/api/admin/orders/{order['number']}")
    assert resp.status == 401


@pytest.mark.parametrize("number", ["A" * 5000, "AB-1%00", "AB-%E2%82%AC", "..%2F..%2Fetc"])
async def test_impossible_numbers_are_just_unknown(client, number):
    resp = await client.get(f"/api/orders/{number}", params={"email": "a@example.com"})
    body = await resp.json()
    assert resp.status == 404 and body["type"].endswith("/order-not-found"), body
