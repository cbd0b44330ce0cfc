"""An action run again at the same point of the conversation changes the shop once (the
action server restarted and Rasa called it again; a Rasa replica died mid-turn and the other
ran the turn again): its cart changes carry the same Idempotency-Key, which storefront_api
applies once. A real storefront_api (conftest.py)."""

from __future__ import annotations

import time

from rasa_sdk.executor import CollectingDispatcher

from bot.actions.add_to_cart import ActionAddToCart
from bot.actions.common import call_context, conversation_point
from bot.actions.storefront import CallContext

SESSION = [{"event": "action", "name": "action_session_start", "timestamp": 100.0},
           {"event": "session_started", "timestamp": 100.5},
           {"event": "action", "name": "action_listen", "timestamp": 100.6}]


def test_the_point_of_a_conversation_depends_only_on_its_latest_session(tracker_for):
    tracker = tracker_for(events=SESSION, latest_message="add_to_cart")
    point = conversation_point(tracker)
    assert point == conversation_point(tracker_for(events=SESSION,
                                                   latest_message="add_to_cart"))
    assert point.startswith("100.5:")
    # read back by another replica, the previous session is left out: the same point
    earlier = [{"event": "session_started", "timestamp": 10.0},
               {"event": "user", "text": "hi", "timestamp": 11.0}]
    assert conversation_point(tracker_for(events=earlier + SESSION,
                                          latest_message="add_to_cart")) == point
    # one more event, and it is another point
    later = SESSION + [{"event": "slot", "name": "size", "value": "M", "timestamp": 101.0}]
    assert conversation_point(tracker_for(events=later, latest_message="add_to_cart")) != point


def test_only_changes_made_in_a_conversation_carry_a_key():
    ctx = CallContext(conversation_id="conv-1", point="100.5:4")
    post = ctx.idempotency_key("POST", "/api/carts/t/items", {}, {"variant_id": 3})
    assert post and post == ctx.idempotency_key("POST", "/api/carts/t/items", {},
                                                {"variant_id": 3})
    assert post != ctx.idempotency_key("POST", "/api/carts/t/items", {}, {"variant_id": 4})
    assert post != CallContext(conversation_id="conv-2", point="100.5:4").idempotency_key(
        "POST", "/api/carts/t/items", {}, {"variant_id": 3})
    assert ctx.idempotency_key("GET", "/api/carts/t", {}, None) is None
    assert CallContext(conversation_id="conv-1").idempotency_key(
        "POST", "/api/carts/t/items", {}, {"variant_id": 3}) is None


async def test_the_add_action_run_twice_at_the_same_point_adds_once(shop, tracker_for, domain):
    product = shop.product_with(lambda product, variants: any(
        v["available"] and v["stock"] >= 5 for v in variants))
    variant = next(v for v in product["variants"] if v["available"] and v["stock"] >= 5)
    cart = shop.new_cart()
    conversation = f"idem-{time.time_ns()}"

    def tracker():
        return tracker_for(slots={"product_id": product["id"], "size": variant["size"],
                                  "color": variant["color"], "cart_id": cart},
                           latest_message={"intent": "add_to_cart", "text": "add it"},
                           events=SESSION, sender_id=conversation, channel="socketio")

    for _ in range(2):  # the same request again: the action server restarted mid-way
        await ActionAddToCart().run(CollectingDispatcher(), tracker(), domain)
    lines = shop.get(f"/api/carts/{cart}")["lines"]
    assert [(line["variant_id"], line["quantity"]) for line in lines] == [(variant["id"], 1)]
    assert call_context(tracker()).point == conversation_point(tracker())
    # the shopper asks again in a later turn: that is another add
    later = tracker_for(slots={"product_id": product["id"], "size": variant["size"],
                               "color": variant["color"], "cart_id": cart},
                        latest_message={"intent": "add_to_cart", "text": "one more"},
                        events=SESSION + [{"event": "user", "text": "add it",
                                           "timestamp": 102.0}],
                        sender_id=conversation, channel="socketio")
    await ActionAddToCart().run(CollectingDispatcher(), later, domain)
    assert shop.get(f"/api/carts/{cart}")["lines"][0]["quantity"] == 2
