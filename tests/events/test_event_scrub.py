"""Personal data in event properties: without analytics consent it is dropped at any depth
(keys in any spelling, e-mail addresses and phone numbers in any string), in time linear in
the bounded input; with consent it stays, bounded the same way."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from storefront_api.events.models import Event
from storefront_api.events.service import (MAX_DEPTH, MAX_TEXT, bounded_properties,
                                           personal_key, personal_text)


def scrub(properties: dict) -> dict:
    return bounded_properties(properties, scrub=True)


@pytest.mark.parametrize("key", [
    "email", "EMAIL", "Email", "e_mail", "E-Mail", "customerEmail", "customer_email",
    "Phone", "PHONE_NUMBER", "mobile", "address", "Shipping-Address", "IP", "ip_address",
    "name", "Name", "firstName", "last_name", "Customer_Name", "customer_id", "CustomerID",
    "userId",
    "postal_code", "password"])
def test_personal_keys_in_any_spelling(key):
    assert personal_key(key)


@pytest.mark.parametrize("key", ["path", "item_name", "product_name", "shipping_tier",
                                 "items", "coupon", "currency", "category", "zone"])
def test_ordinary_keys_stay(key):
    assert not personal_key(key)


@pytest.mark.parametrize("text", [
    "ann@example.com", "  ANN.LEE+shop@Example.CO.UK ", "please write to ann@example.com thanks",
    "+44 20 7946 0958", "call me on (415) 555-0100 tonight", "0612345678",
    "tél. 06 12 34 56 78"])
def test_personal_text(text):
    assert personal_text(text)


@pytest.mark.parametrize("text", [
    "blue hoodie size M", "order AB-12345", "2026-09-01 12:30", "30/09/2026", "@handle",
    "550e8400-e29b-41d4-a716-446655440000", "/products/12345678", "price 1299", "a@b"])
def test_ordinary_text_stays(text):
    assert not personal_text(text)


def test_upper_case_keys_and_nested_lists_of_dicts():
    properties = {
        "EMAIL": "ann@example.com", "Path": "/checkout",
        "items": [{"SKU": "TEE-1", "Customer_Name": "Ann Lee"},
                  {"sku": "TEE-2", "note": "gift for bob@example.org"},
                  ["keep", "+1 415 555 0100", {"E-Mail": "x@y.io", "qty": 2}]],
        "context": {"user": {"Phone": "555", "prefs": {"size": "M", "contact": "ann@ex.com"}}},
    }
    assert scrub(properties) == {
        "Path": "/checkout",
        "items": [{"SKU": "TEE-1"}, {"sku": "TEE-2"}, ["keep", {"qty": 2}]],
        "context": {"user": {"prefs": {"size": "M"}}},
    }


def test_depth_and_length_are_bounded_with_or_without_consent():
    deep: dict = {"leaf": "x"}
    for _ in range(MAX_DEPTH + 5):
        deep = {"next": deep}
    for scrubbing in (True, False):
        kept = bounded_properties({"deep": deep, "long": "y" * 10_000}, scrub=scrubbing)
        assert len(kept["long"]) == MAX_TEXT
        depth, node = 0, kept["deep"]
        while isinstance(node, dict) and "next" in node:
            depth, node = depth + 1, node["next"]
        assert depth < MAX_DEPTH
    assert bounded_properties({"email": "a@b.co"}, scrub=False) == {"email": "a@b.co"}


def test_adversarial_strings_are_scanned_in_linear_time():
    """Shapes that make a backtracking e-mail or phone pattern quadratic or worse."""
    shapes = ["a" * 65_000, "@" * 65_000, "a@" * 32_000, "a." * 32_000 + "@",
              "1" * 65_000, "1 " * 32_000, "(1" * 32_000, "+1-" * 21_000, "x@" + "a." * 32_000]
    started = time.perf_counter()
    for shape in shapes:
        scrub({"q": shape, "nested": [{"q": shape}]})
    assert time.perf_counter() - started < 1.0  # a generous bound: it takes milliseconds


async def _stored(db, session_id: str) -> Event:
    async with db.read() as session:
        return (await session.scalars(select(Event).where(Event.session_id == session_id))).one()


async def test_a_64_kib_event_without_consent_is_answered_fast(client, db):
    """Before: seconds in the e-mail regex, inside the write transaction. A body as large as
    the API takes, made of the strings that slow a backtracking scrubber down most, nested
    as deep as the schema lets them."""
    shapes = ["a@" * 240, "a." * 239 + "@", "1 " * 240, "(1" * 240, "x" * 470 + "@y.example"]
    properties = {f"k{n}": [[shapes[(n + i) % len(shapes)] for i in range(4)]]
                  for n in range(30)}
    body = json.dumps({"name": "page_view", "properties": properties})
    assert 56 * 1024 < len(body) <= 64 * 1024
    started = time.perf_counter()
    resp = await client.post("/api/events", data=body,
                             headers={"Content-Type": "application/json",
                                      "X-Session-Id": "s-64k"})
    assert resp.status == 202, await resp.text()
    assert time.perf_counter() - started < 1.0  # generous: the bench measures it closer
    stored = (await _stored(db, "s-64k")).properties
    assert sorted(stored) == sorted(properties)
    # the runs of digits (phone-like) and the address went, the rest stayed where it was
    assert {text for key in stored for text in stored[key][0]} == {"a@" * 240,
                                                                   "a." * 239 + "@"}


async def test_one_huge_string_is_answered_fast_and_never_stored_whole(client, db):
    big = "a@" * (32 * 1024 - 100)
    started = time.perf_counter()
    resp = await client.post("/api/events", headers={"X-Session-Id": "s-huge"},
                             json={"name": "page_view", "properties": {"q": big}})
    assert time.perf_counter() - started < 1.0
    assert resp.status in (202, 422), await resp.text()  # refused, or stored bounded
    async with db.read() as session:
        rows = (await session.scalars(select(Event).where(Event.session_id == "s-huge"))).all()
    assert all(len(row.properties.get("q", "")) <= MAX_TEXT for row in rows)
    assert len(rows) == (1 if resp.status == 202 else 0)


async def test_client_event_scrubbed_at_every_depth_unless_analytics_consent(client, db):
    properties = {"Email": "ann@example.com", "search": "send it to ann@example.com",
                  "cart": {"lines": [{"sku": "TEE-1", "customer_id": 42},
                                     {"sku": "TEE-2", "Phone": "+44 20 7946 0958"}]},
                  "path": "/cart"}
    for session_id, consent in (("s-scrub-none", None), ("s-scrub-marketing", "marketing"),
                                ("s-scrub-analytics", "analytics")):
        headers = {"X-Session-Id": session_id, **({"X-Consent": consent} if consent else {})}
        resp = await client.post("/api/events", headers=headers,
                                 json={"name": "page_view", "properties": properties})
        assert resp.status == 202
    for session_id in ("s-scrub-none", "s-scrub-marketing"):  # marketing is not analytics
        assert (await _stored(db, session_id)).properties == {
            "cart": {"lines": [{"sku": "TEE-1"}, {"sku": "TEE-2"}]}, "path": "/cart"}
    assert (await _stored(db, "s-scrub-analytics")).properties == properties
