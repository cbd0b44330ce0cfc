"""GET /api/shop: the currency a client needs before it sends a price. The bot turns "under
40" into max_price with it (bot/actions/search.py), so a yen shop must say 0 decimals and a
dinar shop 3, or a price filter would be off by a factor of 100 or 1000."""

from __future__ import annotations

import dataclasses

import pytest

from storefront_api.app import create_app


@pytest.mark.parametrize("currency, minor_units", [("USD", 2), ("EUR", 2), ("JPY", 0),
                                                   ("KWD", 3)])
async def test_the_shop_says_its_currency_and_decimals(aiohttp_client, settings, currency,
                                                       minor_units):
    shop = dataclasses.replace(settings, currency=currency, shop_name="Kanji & Co")
    client = await aiohttp_client(create_app(shop, migrate=False))
    resp = await client.get("/api/shop")
    assert resp.status == 200
    assert await resp.json() == {"name": "Kanji & Co", "currency": currency,
                                 "minor_units": minor_units}



async def test_attack_the_shop_details_are_read_only_and_say_nothing_more(client):
    """Public, like the catalog: no credential; nothing can be changed through it, and it
    shows no setting beyond the name and the currency (no gateway, no secrets, no hosts)."""
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        resp = await client.request(method, "/api/shop", json={"currency": "JPY"})
        assert resp.status == 405, method
    body = await (await client.get("/api/shop")).json()
    assert set(body) == {"name", "currency", "minor_units"} and body["currency"] == "USD"
