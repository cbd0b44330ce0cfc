"""Bad input to the after-sales routes: a clear 4xx problem document, and nothing changed."""

from __future__ import annotations

import pytest
from aftersales_factories import (
    ADMIN,
    count,
    events_of,
    make_order,
    order_row,
    outbox_for,
    refunds_of,
    stock_of,
)
from cart_helpers import assert_problem, pick_variants

from storefront_api.aftersales.models import ReturnRequest

INJECTION = "'; DROP TABLE orders;--"
TEN_KB = "x" * 10_240
OK = "{email}"  # replaced by the order's e-mail


def item(quantity=1, **extra):
    return {"sku": "{sku}", "quantity": quantity, **extra}


def return_body(**fields):
    return {"email": OK, "kind": "return", "items": [item()], "reason": "Too small"} | fields


# (method, path after /api/orders/{number}, body (dict = JSON, bytes = raw), expected status)
CASES = [
    ("POST", "/cancel", b"{not json", 400),
    ("POST", "/cancel", b"[1, 2]", 400),
    ("POST", "/cancel", b"\xff\xfe", 400),
    ("POST", "/cancel", {}, 422),
    ("POST", "/cancel", {"email": "someone-else@example.com"}, 404),
    ("POST", "/cancel", {"email": INJECTION}, 404),
    ("POST", "/cancel", {"email": TEN_KB}, 422),
    ("POST", "/cancel", {"email": 42}, 422),
    ("POST", "/cancel", {"token": "forged-token"}, 404),
    ("POST", "/cancel", {"token": INJECTION}, 404),
    ("POST", "/cancel", {"email": OK, "reason": "x" * 501}, 422),
    ("POST", "/cancel", {"email": OK, "reason": ["x"]}, 422),
    ("POST", "/cancel", {"email": OK, "refund": 10**6}, 422),
    ("POST", "/returns", return_body(kind="refund"), 422),
    ("POST", "/returns", return_body(kind=INJECTION), 422),
    ("POST", "/returns", return_body(items=[]), 422),
    ("POST", "/returns", return_body(items=[item(0)]), 422),
    ("POST", "/returns", return_body(items=[item(-1)]), 422),
    ("POST", "/returns", return_body(items=[item(3)]), 422),
    ("POST", "/returns", return_body(items=[item(10**12)]), 422),
    ("POST", "/returns", return_body(items=[item("1")]), 422),
    ("POST", "/returns", return_body(items=[item(1.5)]), 422),
    ("POST", "/returns", return_body(items=[item(True)]), 422),
    ("POST", "/returns", return_body(items=[item(), item()]), 422),
    ("POST", "/returns", return_body(items=[item() for _ in range(51)]), 422),
    ("POST", "/returns", return_body(items=[{"sku": INJECTION, "quantity": 1}]), 422),
    ("POST", "/returns", return_body(items=[{"sku": TEN_KB, "quantity": 1}]), 422),
    ("POST", "/returns", return_body(items=[{"quantity": 1}]), 422),
    ("POST", "/returns", return_body(items=[item(exchange_sku="{sku}")]), 422),
    ("POST", "/returns", return_body(items="everything"), 422),
    ("POST", "/returns", return_body(reason=""), 422),
    ("POST", "/returns", return_body(reason="   "), 422),
    ("POST", "/returns", return_body(reason="x" * 501), 422),
    ("POST", "/returns", return_body(reason=None), 422),
    ("POST", "/returns", return_body(email="someone-else@example.com"), 404),
    ("POST", "/returns", b"{\"email\": ", 400),
    ("GET", "/returns", None, 422),
    ("GET", "/returns?email=someone-else@example.com", None, 404),
    ("GET", "/returns?email=" + TEN_KB[:400], None, 422),
    ("GET", "/refunds", None, 422),
    ("GET", "/refunds?email=" + INJECTION, None, 404),
    ("GET", "/refunds?token=forged", None, 404),
]


def _fill(value, order: dict, sku: str):
    if isinstance(value, str):
        return value.replace("{email}", order["email"]).replace("{sku}", sku)
    if isinstance(value, dict):
        return {k: _fill(v, order, sku) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, order, sku) for v in value]
    return value


async def snapshot(db, order: dict, variant_id: int) -> tuple:
    row = await order_row(db, order["number"])
    return (row.status, row.refunded, await stock_of(db, variant_id),
            len(await refunds_of(db, order["id"])),
            await count(db, ReturnRequest, order_id=order["id"]),
            len(await outbox_for(db, email=order["email"])),
            len(await events_of(db, order["number"], "return_requested")))


@pytest.mark.parametrize("method,path,body,status", CASES)
async def test_bad_input_changes_nothing(client, db, method, path, body, status):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 2)],
                             status="delivered" if "returns" in path else "being_prepared")
    before = await snapshot(db, order, variant["id"])
    url = f"/api/orders/{order['number']}{_fill(path, order, variant['sku'])}"
    body = _fill(body, order, variant["sku"])
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} \
        if isinstance(body, bytes) else ({"json": body} if body is not None else {})
    resp = await client.request(method, url, **kwargs)
    assert_problem(resp.status, resp.content_type, await resp.json(), status)
    assert await snapshot(db, order, variant["id"]) == before


async def test_unknown_order_and_wrong_email_get_the_same_answer(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)])
    answers = []
    for number, email in ((order["number"], "wrong@example.com"), ("ZZ-00000", order["email"])):
        resp = await client.post(f"/api/orders/{number}/cancel", json={"email": email})
        body = await resp.json()
        assert_problem(resp.status, resp.content_type, body, 404)
        answers.append({k: v for k, v in body.items() if k != "detail"})
    assert answers[0] == answers[1] and answers[0]["type"].endswith("order-not-found")
    resp = await client.post("/api/orders/" + "A" * 300 + "/cancel", json={"email": "a@b.co"})
    assert resp.status == 404


@pytest.mark.parametrize("path,body,status", [
    ("/api/admin/returns/{rma}/reject", {}, 422),
    ("/api/admin/returns/{rma}/reject", {"note": ""}, 422),
    ("/api/admin/returns/{rma}/reject", {"note": "x" * 501}, 422),
    ("/api/admin/returns/{rma}/approve", {"note": 7}, 422),
    ("/api/admin/returns/{rma}/receive", {"restock": "yes"}, 422),
    ("/api/admin/returns/{rma}/receive", b"{oops", 400),
    ("/api/admin/returns/RMA-NOPE00/approve", {}, 404),
    ("/api/admin/returns/" + INJECTION + "/approve", {}, 404),
    ("/api/admin/refunds/abc/retry", None, 404),
    ("/api/admin/refunds/99999999999999/retry", None, 404),
])
async def test_bad_merchant_input(client, db, path, body, status):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="delivered")
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "email": order["email"], "kind": "return", "reason": "x",
        "items": [{"sku": variant["sku"], "quantity": 1}]})
    rma = (await resp.json())["rma_number"]
    kwargs = {"data": body, "headers": {**ADMIN, "Content-Type": "application/json"}} \
        if isinstance(body, bytes) else {"json": body, "headers": ADMIN}
    resp = await client.post(path.replace("{rma}", rma), **kwargs)
    assert_problem(resp.status, resp.content_type, await resp.json(), status)
    listed = await client.get(f"/api/orders/{order['number']}/returns",
                              params={"email": order["email"]})
    assert [r["status"] for r in (await listed.json())["returns"]] == ["requested"]


@pytest.mark.parametrize("query", ["status=bogus", "limit=0", "limit=abc", "offset=-1"])
async def test_bad_merchant_list_queries(client, query):
    for path in ("/api/admin/returns", "/api/admin/refunds"):
        resp = await client.get(f"{path}?{query}", headers=ADMIN)
        assert_problem(resp.status, resp.content_type, await resp.json(), 422)


async def test_guessing_is_rate_limited_like_the_lookup(aiohttp_client, settings):
    from dataclasses import replace

    from storefront_api.app import create_app
    client = await aiohttp_client(create_app(replace(settings, order_lookups_per_minute=2),
                                             migrate=False))
    statuses = []
    a_return = return_body(email="a@b.co", items=[{"sku": "X", "quantity": 1}])
    for method, path, body in (("POST", "/cancel", {"email": "a@b.co"}),
                               ("POST", "/returns", a_return),
                               ("GET", "/refunds?email=a@b.co", None)):
        resp = await client.request(method, f"/api/orders/ZZ-00000{path}", json=body)
        statuses.append(resp.status)
    assert statuses == [404, 404, 429]
    assert resp.headers["Retry-After"]
    resp = await client.post("/api/support/tickets", json={
        "email": "a@b.co", "kind": "question", "message": "Hi", "order_number": "ZZ-00000"})
    assert resp.status == 429
    resp = await client.post("/api/support/tickets", json={
        "email": "a@b.co", "kind": "question", "message": "Hi"})
    assert resp.status == 201  # no order named: nothing to guess
