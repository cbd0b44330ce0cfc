"""Stock management and back-in-stock alerts (on variants of the tests' own products)."""

from __future__ import annotations

import pytest
from assistant_calls import from_the_assistant
from order_factories import ADMIN, get_json, make_variant, outbox_messages
from sqlalchemy import select

from storefront_api.catalog.models import ProductSearch, Variant
from storefront_api.catalog.search import snapshot
from storefront_api.fulfilment.models import BackInStockSubscription


async def _put_stock(client, variant_id, stock, expect=200):
    resp = await client.put(f"/api/admin/variants/{variant_id}/stock", json={"stock": stock},
                            headers=ADMIN)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def _stock(db, variant_id: int) -> tuple[int, bool]:
    async with db.read() as session:
        variant = await session.get(Variant, variant_id)
        indexed = await session.get(ProductSearch, variant.product_id)
        return variant.stock, indexed.in_stock


async def test_set_stock_updates_search_in_the_same_transaction(client, db, monkeypatch):
    monkeypatch.setattr(snapshot, "CHECK_EVERY", 0.0)  # the search notices changes at once
    variant = await make_variant(db, stock=0)
    assert await _stock(db, variant["id"]) == (0, False)
    data = await _put_stock(client, variant["id"], 12)
    assert data["stock"] == 12 and data["available"] == 12 and data["reserved"] == 0
    assert data["sku"] == variant["sku"] and data["product_title"] == variant["product_title"]
    assert await _stock(db, variant["id"]) == (12, True)
    product = await get_json(client, f"/api/products/{variant['product_id']}")
    assert product["in_stock"] is True

    async def found_in_stock() -> bool:
        result = await get_json(client, "/api/products", params={
            "q": variant["word"], "in_stock": "true", "facets": "false"})
        return variant["product_id"] in [item["id"] for item in result["items"]]

    assert await found_in_stock()
    await _put_stock(client, variant["id"], 0)
    assert await _stock(db, variant["id"]) == (0, False)
    assert not await found_in_stock()


async def test_low_stock_list(client, db):
    low = await make_variant(db, stock=1)
    plenty = await make_variant(db, stock=500)
    data = await get_json(client, "/api/admin/stock/low", params={"threshold": 1,
                                                                  "page_size": 500},
                          headers=ADMIN)
    skus = [item["sku"] for item in data["items"]]
    assert low["sku"] in skus and plenty["sku"] not in skus
    assert all(item["stock"] <= 1 for item in data["items"])
    assert [item["stock"] for item in data["items"]] == sorted(item["stock"]
                                                                for item in data["items"])
    mine = next(item for item in data["items"] if item["sku"] == low["sku"])
    assert mine == {"variant_id": low["id"], "sku": low["sku"], "product_id": low["product_id"],
                    "product_title": low["product_title"], "variant_title": "Navy / M",
                    "stock": 1, "reserved": 0, "available": 1}
    default = await get_json(client, "/api/admin/stock/low", headers=ADMIN)
    assert default["threshold"] == 5
    await get_json(client, "/api/admin/stock/low", params={"threshold": -1}, headers=ADMIN,
                   expect=422)


async def test_back_in_stock_alerts_go_through_the_outbox(client, db):
    variant = await make_variant(db, stock=0)
    email = f"waiting-{variant['id']}@example.com"
    by_mail = await client.post("/api/back-in-stock",
                                json={"variant_id": variant["id"], "email": email.upper()})
    assert by_mail.status == 201, await by_mail.text()
    assert (await by_mail.json())["email"] == email
    again = await client.post("/api/back-in-stock", json={"variant_id": variant["id"],
                                                         "email": email})
    assert again.status == 200 and (await again.json())["already_subscribed"] is True
    chat = await client.post("/api/back-in-stock", json={"variant_id": variant["id"]},
                             headers=from_the_assistant("conv-bis-1", "web"))
    assert chat.status == 201, await chat.text()

    data = await _put_stock(client, variant["id"], 7)
    assert data["subscribers_notified"] == 2
    [mail] = await outbox_messages(db, to=email)
    assert mail.payload["tag"] == "back-in-stock" and variant["sku"] in mail.payload["text"]
    [notice] = await outbox_messages(db, conversation_id="conv-bis-1")
    assert notice.payload["intent"] == "EXTERNAL_back_in_stock"
    assert notice.payload["entities"]["sku"] == variant["sku"]
    assert notice.payload["entities"]["product_title"] == variant["product_title"]
    assert notice.payload["entities"]["variant"] == "Navy / M"
    async with db.read() as session:
        subscriptions = (await session.scalars(select(BackInStockSubscription).where(
            BackInStockSubscription.variant_id == variant["id"]))).all()
    assert len(subscriptions) == 2 and all(s.notified_at for s in subscriptions)

    # More stock later notifies nobody twice.
    assert (await _put_stock(client, variant["id"], 9))["subscribers_notified"] == 0
    assert len(await outbox_messages(db, to=email)) == 1


async def test_back_in_stock_only_for_what_cannot_be_bought(client, db):
    variant = await make_variant(db, stock=3)
    resp = await client.post("/api/back-in-stock", json={"variant_id": variant["id"],
                                                        "email": "a@example.com"})
    body = await resp.json()
    assert resp.status == 409 and body["type"].endswith("/variant-available"), body
    assert "available" in body["detail"] and body["available"] == 3


@pytest.mark.parametrize("body, status", [
    ({"variant_id": 2**31 - 2, "email": "a@example.com"}, 404),
    ({"email": "a@example.com"}, 422),
    ({"variant_id": "1", "email": "a@example.com"}, 422),
    ({"variant_id": 1}, 422),
    ({"variant_id": 1, "email": "not-an-email"}, 422),
    ({"variant_id": 1, "email": "a@example.com", "phone": "123"}, 422),
])
async def test_back_in_stock_bad_input(client, body, status):
    resp = await client.post("/api/back-in-stock", json=body)
    data = await resp.json()
    assert resp.status == status and resp.content_type == "application/problem+json", data


@pytest.mark.parametrize("raw", [b'{"stock": -1}', b'{"stock": 1000001}', b'{"stock": "5"}',
                                 b'{"stock": 5.5}', b'{"stock": true}', b'{"stock": ',
                                 b'{}', b'{"stock": 5, "price": 1}', b'[5]'])
async def test_bad_stock_changes_nothing(client, db, raw):
    variant = await make_variant(db, stock=4)
    resp = await client.put(f"/api/admin/variants/{variant['id']}/stock", data=raw,
                            headers={**ADMIN, "Content-Type": "application/json"})
    data = await resp.json()
    assert resp.status in (400, 422) and data["status"] == resp.status, data
    assert await _stock(db, variant["id"]) == (4, True)


@pytest.mark.parametrize("path", ["/api/admin/variants/0/stock",
                                  "/api/admin/variants/99999999999999/stock",
                                  "/api/admin/variants/2147483000/stock",
                                  "/api/admin/variants/abc/stock"])
async def test_stock_of_unknown_variants(client, path):
    resp = await client.put(path, json={"stock": 1}, headers=ADMIN)
    assert resp.status == 404 and resp.content_type == "application/problem+json"


async def test_stock_needs_the_admin_token(client, db):
    variant = await make_variant(db, stock=4)
    resp = await client.put(f"/api/admin/variants/{variant['id']}/stock", json={"stock": 0})
    assert resp.status == 401
    assert await _stock(db, variant["id"]) == (4, True)


@pytest.mark.parametrize("body", [{"email": "a\x00b@example.com"},
                                  {"conversation_id": "conv\x00"}, {"conversation_id": ""}])
async def test_back_in_stock_refuses_control_characters(client, db, body):
    variant = await make_variant(db, stock=0)
    resp = await client.post("/api/back-in-stock", json={"variant_id": variant["id"], **body})
    assert resp.status == 422, await resp.text()
    async with db.read() as session:
        assert not (await session.scalars(select(BackInStockSubscription).where(
            BackInStockSubscription.variant_id == variant["id"]))).all()
