"""The session start: what carries over, and the chat_started event in the shop."""

from __future__ import annotations

import uuid

import pytest
from service_fixtures import shop_database, shop_rows  # noqa: F401

from bot.actions.session import ActionSessionStart


@pytest.mark.asyncio
async def test_cart_email_and_order_carry_over_and_nothing_else(shop, tracker_for, dispatcher,
                                                                 domain):
    tracker = tracker_for(slots={"cart_id": "tok_" + "x" * 30, "customer_email": "a@example.com",
                                 "order_number": "KX-48213", "search_results": [{"id": 1}],
                                 "session_started_metadata": {"page": "/"}})
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert events[0]["event"] == "session_started"
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")
    carried = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert carried == {"cart_id": "tok_" + "x" * 30, "customer_email": "a@example.com",
                       "order_number": "KX-48213", "session_started_metadata": {"page": "/"}}
    assert dispatcher.messages == []


@pytest.mark.asyncio
async def test_a_new_chat_is_recorded_as_chat_started(shop, tracker_for, dispatcher, domain,
                                                      shop_rows):
    sender = f"session-{uuid.uuid4().hex[:8]}"
    await ActionSessionStart().run(dispatcher, tracker_for(sender_id=sender), domain)
    rows = shop_rows("SELECT name, conversation_id, properties FROM events "
                     "WHERE conversation_id = ?", sender)
    assert [(r["name"], r["conversation_id"]) for r in rows] == [("chat_started", sender)]
    assert '"returning": false' in rows[0]["properties"]


@pytest.mark.asyncio
async def test_the_session_starts_even_when_the_shop_is_down(unreachable_storefront, tracker_for,
                                                             dispatcher, domain):
    events = await ActionSessionStart().run(dispatcher, tracker_for(slots={"cart_id": "t" * 30}),
                                            domain)
    assert [e["event"] for e in events] == ["session_started", "slot", "action"]
