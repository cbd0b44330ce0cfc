"""The scrub's limits at the value where each changes, worked out by hand: a phone number of
8 digits (the fewest E.164 allows) and of 7, of 15 and of 16; nesting kept to MAX_DEPTH
levels; strings and names cut at MAX_TEXT and MAX_KEY; and what an event row keeps of who
did it, with analytics consent and without."""

from __future__ import annotations

import pytest

from storefront_api.events.service import (
    MAX_DEPTH,
    MAX_KEY,
    MAX_TEXT,
    EventContext,
    bounded_properties,
    event_row,
    personal_key,
    personal_text,
)


@pytest.mark.parametrize("text, personal", [
    ("1234567", False), ("12345678", True),            # 7 digits: no; 8: a phone number
    ("123456789012345", True), ("1234567890123456", False),  # 15: yes; 16: not E.164
    ("+33 6 12 34 56", True), ("06.12.34.56", False),  # separators do not count as digits
    ("ref 12345678x", False), ("x12345678", False),    # inside a word: an id, not a number
    ("2026-09-01", False), ("01/09/2026 12345678", True),  # a date is not; the number is
    ("ann@example.com", True), ("ANN@EXAMPLE.COM", True), ("ann@example", False),
    ("a@b.c", True), ("@example.com", False), ("ann@.com", False),
])
def test_phone_numbers_and_addresses_at_their_limits(text, personal):
    assert personal_text(text) is personal


@pytest.mark.parametrize("key, personal", [
    ("name", True), ("NAME", True), ("first-name", True), ("cardHolderName", True),
    ("product_name", False), ("brand_name", False), ("nickname", False), ("names", False),
    ("e.mail", True), ("Tel", True), ("telephone", True), ("ZIP", True), ("DoB", True),
    ("emailed", True), ("phonetic", True), ("addressee", True),  # a part in any name
    ("x" * MAX_KEY + "email", False),  # only the first MAX_KEY characters are read
])
def test_personal_keys_at_their_limits(key, personal):
    assert personal_key(key) is personal


def nested(levels: int, leaf) -> dict:
    """``levels`` dicts around ``leaf``: nested(1, x) == {"k": x}."""
    value = leaf
    for _ in range(levels):
        value = {"k": value}
    return value


@pytest.mark.parametrize("scrub", [True, False])
def test_nesting_is_kept_to_max_depth_levels(scrub):
    deepest_kept = nested(MAX_DEPTH, "leaf")  # the outer object is level 0
    assert bounded_properties(deepest_kept, scrub=scrub) == deepest_kept
    too_deep = nested(MAX_DEPTH + 1, "leaf")
    assert bounded_properties(too_deep, scrub=scrub) == nested(MAX_DEPTH - 1, {})
    in_lists = {"a": [[["x"]]]}
    assert bounded_properties(in_lists, scrub=scrub) == in_lists
    assert bounded_properties({"a": ("x", 1)}, scrub=scrub) == {"a": ["x", 1]}


def test_strings_and_names_are_cut_with_or_without_consent():
    for scrub in (True, False):
        kept = bounded_properties({"k" * (MAX_KEY + 10): "v" * (MAX_TEXT + 1),
                                   "exact": "w" * MAX_TEXT, 7: "seven"}, scrub=scrub)
        assert kept == {"k" * MAX_KEY: "v" * MAX_TEXT, "exact": "w" * MAX_TEXT, "7": "seven"}


def test_an_address_past_the_kept_length_is_not_seen_and_not_kept():
    text = "x" * (MAX_TEXT - 5) + " ann@example.com"
    assert bounded_properties({"note": text}, scrub=True) == {"note": text[:MAX_TEXT]}


def test_personal_data_goes_at_every_depth_in_any_case_and_other_values_stay():
    properties = {"Order": {"Lines": [{"Recipient_Name": "Ann", "qty": 1, "ok": True,
                                       "price": 12.5, "gift": None,
                                       "Note": "call +44 20 7946 0958"}]},
                  "MOBILE_PHONE": "x", "tags": ["ANN@EXAMPLE.COM", "sale"]}
    assert bounded_properties(properties, scrub=True) == {
        "Order": {"Lines": [{"qty": 1, "ok": True, "price": 12.5, "gift": None}]},
        "tags": ["sale"]}
    assert bounded_properties(properties, scrub=False) == properties
    assert bounded_properties(["not", "an", "object"], scrub=True) == {}  # type: ignore[arg-type]


def test_an_event_keeps_who_did_it_only_with_analytics_consent():
    ctx = EventContext(session_id=None, customer_id="42", conversation_id="conv-1",
                       channel="telegram", source="newsletter", device="mobile")
    row = event_row("add_to_cart", ctx, cart_id="c1", order_number="AB-1", item_id=7,
                    value=1999, currency="USD", properties={"email": "a@b.co", "size": "M"})
    assert {k: row[k] for k in ("name", "session_id", "customer_id", "cart_id",
                                "order_number", "conversation_id", "channel", "source",
                                "device", "item_id", "value", "currency", "consent",
                                "properties")} == {
        "name": "add_to_cart", "session_id": "conv-1", "customer_id": None, "cart_id": "c1",
        "order_number": "AB-1", "conversation_id": "conv-1", "channel": "telegram",
        "source": "newsletter", "device": "mobile", "item_id": "7", "value": 1999,
        "currency": "USD", "consent": False, "properties": {"size": "M"}}
    consented = event_row("view_item", EventContext(session_id="s-1", customer_id="42",
                                                    consent=True),
                          item_id=0, properties={"email": "a@b.co"})
    assert (consented["session_id"], consented["customer_id"], consented["item_id"],
            consented["properties"], consented["consent"]) == \
        ("s-1", "42", "0", {"email": "a@b.co"}, True)
    bare = event_row("page_view", EventContext())
    assert (bare["item_id"], bare["properties"], bare["session_id"]) == (None, {}, None)
    assert len(bare["event_id"]) == 36 and bare["ts"] is not None


def test_a_customer_id_is_a_string_and_no_customer_is_none():
    assert EventContext().for_customer(42).customer_id == "42"
    assert EventContext(customer_id="9").for_customer(None).customer_id is None


def nested_lists(levels: int, leaf) -> list:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("scrub", [True, False])
def test_nested_lists_are_kept_to_max_depth_levels_too(scrub):
    deepest_kept = {"a": nested_lists(MAX_DEPTH - 1, "x")}  # lists at levels 1..7
    assert bounded_properties(deepest_kept, scrub=scrub) == deepest_kept
    too_deep = {"a": nested_lists(MAX_DEPTH, "x")}
    assert bounded_properties(too_deep, scrub=scrub) == {"a": nested_lists(MAX_DEPTH - 2, [])}


# --- who did it: the request's headers -----------------------------------------------------------

def request_with(headers: dict, service_token: str = "svc-token"):
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from storefront_api.app_keys import SETTINGS
    from storefront_api.settings import Settings
    app = web.Application()
    app[SETTINGS] = Settings.from_env(service_token=service_token)
    return make_mocked_request("POST", "/api/events", headers=headers, app=app)


def test_the_request_says_who_and_the_conversation_only_with_the_service_credential():
    headers = {"x-session-id": " s" * 100, "X-Conversation-Id": "c" * 200,
               "X-Channel": "t" * 50, "X-Source": "u" * 90, "X-Device": "d" * 50,
               "X-Consent": "analytics"}
    from_assistant = EventContext.from_request(request_with(
        {**headers, "Authorization": "Bearer svc-token"}))
    assert from_assistant == EventContext(
        session_id=(" s" * 100).strip()[:128], customer_id=None,
        conversation_id="c" * 128, channel="t" * 40, source="u" * 80, device="d" * 40,
        consent=True, purposes=frozenset({"analytics"}))
    from_anyone = EventContext.from_request(request_with(headers))
    assert (from_anyone.conversation_id, from_anyone.channel, from_anyone.session_id) == \
        (None, None, from_assistant.session_id)


@pytest.mark.parametrize("consent, analytics, purposes", [
    (None, False, None), ("", False, None), ("denied", False, frozenset()),
    ("marketing", False, frozenset({"marketing"})), ("granted", True, frozenset({"analytics"})),
    ("Analytics, Advertising", True, frozenset({"analytics", "advertising"})),
])
def test_analytics_consent_comes_from_x_consent(consent, analytics, purposes):
    headers = {"X-Consent": consent} if consent is not None else {}
    ctx = EventContext.from_request(request_with(headers))
    assert (ctx.consent, ctx.purposes) == (analytics, purposes)
    assert (ctx.session_id, ctx.source, ctx.device) == (None, None, None)  # blank: none
