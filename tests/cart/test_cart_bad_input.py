"""Bad input gets a clear 4xx problem document, never a 500, and leaves the cart as it was."""

from __future__ import annotations

import pytest
from cart_helpers import assert_problem, cart_snapshot, cart_with, pick_variant

INJECTION = "'; DROP TABLE carts;--"
TEN_KB = "x" * 10_240

# (method, path under the cart, body (dict = JSON, bytes = raw), expected status)
CASES = [
    ("POST", "/items", b"{not json", 400),
    ("POST", "/items", b"[1, 2]", 400),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": -1}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": 0}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": 10**9}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": "two"}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": 1.5}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": True}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "quantity": None}, 422),
    ("POST", "/items", {"variant_id": 99999999999}, 422),
    ("POST", "/items", {"variant_id": 2147483000}, 404),
    ("POST", "/items", {"variant_id": "12"}, 422),
    ("POST", "/items", {"sku": INJECTION}, 404),
    ("POST", "/items", {"sku": TEN_KB}, 422),
    ("POST", "/items", {"sku": ""}, 422),
    ("POST", "/items", {}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "sku": "X"}, 422),
    ("POST", "/items", {"variant_id": "{variant}", "colour": "red"}, 422),
    ("PATCH", "/items/{line}", {"quantity": 0}, 422),
    ("PATCH", "/items/{line}", {"quantity": -1}, 422),
    ("PATCH", "/items/{line}", {"quantity": 10**9}, 422),
    ("PATCH", "/items/{line}", {"quantity": "two"}, 422),
    ("PATCH", "/items/{line}", {"saved_for_later": "yes"}, 422),
    ("PATCH", "/items/{line}", {}, 422),
    ("PATCH", "/items/{line}", b"\xff\xfe", 400),
    ("PATCH", "/items/99999999999", {"quantity": 1}, 404),
    ("PATCH", "/items/2147483000", {"quantity": 1}, 404),
    ("DELETE", "/items/99999999999", None, 404),
    ("DELETE", "/items/abc", None, 404),
    ("PUT", "/promo-code", {"code": INJECTION}, 404),
    ("PUT", "/promo-code", {"code": TEN_KB}, 422),
    ("PUT", "/promo-code", {"code": 10}, 422),
    ("PUT", "/promo-code", b"", 422),
    ("PUT", "/shipping", {"country": "Germany", "method": "standard"}, 422),
    ("PUT", "/shipping", {"country": INJECTION}, 422),
    ("PUT", "/shipping", {"country": "DE", "method": "teleport"}, 422),
    ("PUT", "/shipping", {"country": "DE", "method": TEN_KB}, 422),
    ("GET", "/shipping-options?country=" + TEN_KB[:300], None, 422),
]


def _fill(value, variant_id: int, line_id: int):
    if isinstance(value, str):
        return value.replace("{variant}", str(variant_id)).replace("{line}", str(line_id))
    if isinstance(value, dict):
        return {k: (variant_id if v == "{variant}" else v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("method, path, body, status", CASES,
                         ids=[f"{c[0]} {c[1][:30]} {str(c[2])[:40]}" for c in CASES])
async def test_bad_input_is_a_problem_and_changes_nothing(client, db, method, path, body, status):
    variant = await pick_variant(db, min_stock=3)
    cart = await cart_with(client, db, [(variant, 1)])
    token, line_id = cart["token"], cart["lines"][0]["id"]
    before = await cart_snapshot(db, token)
    url = f"/api/carts/{token}" + _fill(path, variant["id"], line_id)
    body = _fill(body, variant["id"], line_id)
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
    resp = await client.request(method, url, **kwargs)
    problem = await resp.json(content_type=None)
    assert_problem(resp.status, resp.content_type, problem, status)
    assert await cart_snapshot(db, token) == before


UNKNOWN_TOKENS = ["doesnotexist", "A" * 43, INJECTION, "x" * 500, "%27%3B--"]


@pytest.mark.parametrize("token", UNKNOWN_TOKENS, ids=range(len(UNKNOWN_TOKENS)))
@pytest.mark.parametrize("method, path, body", [
    ("GET", "", None), ("POST", "/items", {"variant_id": 1}), ("DELETE", "/items", None),
    ("PATCH", "/items/1", {"quantity": 1}), ("PUT", "/promo-code", {"code": "WELCOME10"}),
])
async def test_unknown_cart_token_is_404(client, token, method, path, body):
    resp = await client.request(method, f"/api/carts/{token}{path}", json=body)
    problem = await resp.json(content_type=None)
    assert_problem(resp.status, resp.content_type, problem, 404)


async def test_a_line_of_another_cart_is_unknown(client, db):
    variant = await pick_variant(db, min_stock=3)
    mine = await cart_with(client, db, [(variant, 1)])
    theirs = await cart_with(client, db, [(variant, 2)])
    before = await cart_snapshot(db, theirs["token"])
    their_line = theirs["lines"][0]["id"]
    resp = await client.patch(f"/api/carts/{mine['token']}/items/{their_line}",
                              json={"quantity": 3})
    assert resp.status == 404
    resp = await client.delete(f"/api/carts/{mine['token']}/items/{their_line}")
    assert resp.status == 404
    assert await cart_snapshot(db, theirs["token"]) == before


async def test_huge_body_is_refused(client, db):
    variant = await pick_variant(db, min_stock=3)
    cart = await cart_with(client, db, [(variant, 1)])
    before = await cart_snapshot(db, cart["token"])
    resp = await client.post(f"/api/carts/{cart['token']}/items",
                             json={"sku": "x" * 70_000})
    problem = await resp.json(content_type=None)
    assert_problem(resp.status, resp.content_type, problem, 413)
    assert await cart_snapshot(db, cart["token"]) == before


async def test_validation_problems_name_the_field(client, db):
    variant = await pick_variant(db, min_stock=3)
    cart = await cart_with(client, db, [(variant, 1)])
    resp = await client.post(f"/api/carts/{cart['token']}/items",
                             json={"variant_id": variant["id"], "quantity": 500})
    problem = await resp.json()
    assert resp.status == 422
    assert problem["errors"][0]["field"] == "quantity"
    assert "1 to 99" in problem["detail"]
