"""Support actions: the handoff really lands in the shop's queue with what the agent needs,
the bot pauses; the agent's messages and the hand-back; the counting fallback."""

from __future__ import annotations

import time
import uuid

import pytest
from rasa_sdk.events import ConversationPaused
from service_fixtures import make_order, shop_database  # noqa: F401
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.support import (ActionFallback, ActionHandoff, ActionHandoffDeclined,
                                 ActionHandoffEnded, consecutive_fallbacks)


def said(sender, text, intent=None):
    event = {"event": sender, "text": text, "timestamp": time.time()}
    if intent:
        event["parse_data"] = {"intent": {"name": intent}}
    return event


def slot(name, value):
    return {"event": "slot", "name": name, "value": value, "timestamp": time.time()}


def conversation(number="KX-48213"):
    return [said("user", "hi", "greet"), said("bot", "Hi! I'm Aisle."),
            said("user", f"where is {number}", "track_order"), slot("order_number", number),
            said("bot", "What is the e-mail?"), said("user", "/human_handoff", "human_handoff")]


def queued(shop, handoff_id):
    return shop.get(f"/api/admin/support/handoffs/{handoff_id}", admin=True)


@pytest.fixture(autouse=True)
def an_agent_is_online(request):
    """A handoff is queued only while someone can take it (an agent online)."""
    if "shop" in request.fixturenames:
        request.getfixturevalue("shop").post("/api/admin/support/presence", {}, admin=True)


@pytest.mark.asyncio
async def test_handoff_is_queued_with_transcript_cart_and_orders_then_pauses(
        shop, tracker_for, dispatcher, domain, slots_set, make_order):
    cart = shop.new_cart()
    order = make_order(status="shipped")
    sender = f"handoff-{uuid.uuid4().hex[:8]}"
    tracker = tracker_for(sender_id=sender, channel="socketio",
                          events=[*conversation(order["number"]),
                                  slot("customer_email", order["email"].upper())],
                          latest_message={"intent": "human_handoff", "text": "a human please"},
                          slots={"cart_id": cart, "customer_email": order["email"].upper(),
                                 "order_number": order["number"]})
    events = await ActionHandoff().run(dispatcher, tracker, domain)
    assert events[-1] == ConversationPaused()
    handoff = queued(shop, slots_set(events)["handoff_id"])
    assert handoff["status"] == "waiting" and handoff["conversation_id"] == sender
    assert handoff["reason"] == "asked_for_human" and handoff["channel"] == "socketio"
    assert handoff["cart_token"] == cart and handoff["email"] == order["email"]
    assert handoff["order_numbers"] == [order["number"]] and handoff["email_verified"] is True
    assert [o["number"] for o in handoff["orders"]] == [order["number"]]
    texts = [(turn["sender"], turn["text"]) for turn in handoff["transcript"]]
    assert texts[:4] == [("user", "hi"), ("bot", "Hi! I'm Aisle."),
                         ("user", f"where is {order['number']}"), ("bot", "What is the e-mail?")]
    assert handoff["reference"] in str(dispatcher.messages[0])
    assert dispatcher.messages[0]["response"] in ("utter_handoff_queued",
                                                 "utter_handoff_queued_next")
    assert dispatcher.messages[0]["position"] == handoff["position"]


@pytest.mark.asyncio
async def test_attack_a_handoff_sends_only_orders_the_shop_matched_with_their_email(
        shop, tracker_for, dispatcher, domain, slots_set, make_order):
    """A shopper who types someone else's order number, or e-mail, gets neither in front of
    the agent: only pairs the shop matches go, and a typed e-mail is marked unverified."""
    theirs, someone_elses = make_order(), make_order()
    sender = f"handoff-{uuid.uuid4().hex[:8]}"
    events = [
        *conversation(theirs["number"]), slot("customer_email", theirs["email"]),  # verified
        slot("order_number", someone_elses["number"]),  # a number with the wrong e-mail
        slot("order_number", "ZZ-99999"),  # no such order
        slot("customer_email", someone_elses["email"]),  # typed for a complaint, say
        slot("order_number", None)]
    tracker = tracker_for(sender_id=sender, events=events, latest_message="human_handoff",
                          slots={"customer_email": someone_elses["email"],
                                 "order_number": None})
    handoff = queued(shop, slots_set(await ActionHandoff().run(dispatcher, tracker,
                                                               domain))["handoff_id"])
    assert handoff["order_numbers"] == [theirs["number"]]
    assert handoff["email"] == someone_elses["email"] and handoff["email_verified"] is False
    assert [order["number"] for order in handoff["orders"]] == [theirs["number"]]


@pytest.mark.asyncio
async def test_asking_twice_keeps_the_place_in_the_queue(shop, tracker_for, domain, slots_set):
    sender = f"twice-{uuid.uuid4().hex[:8]}"
    ids = []
    for _ in range(2):
        tracker = tracker_for(sender_id=sender, latest_message="human_handoff")
        ids.append(slots_set(await ActionHandoff().run(CollectingDispatcher(), tracker,
                                                        domain))["handoff_id"])
    assert ids[0] == ids[1]
    waiting = shop.get("/api/admin/support/handoffs?status=waiting", admin=True)["handoffs"]
    assert [h["conversation_id"] for h in waiting].count(sender) == 1


@pytest.mark.asyncio
async def test_handoff_in_the_middle_of_a_form_ends_the_form(shop, tracker_for, dispatcher,
                                                            domain, slots_set):
    tracker = tracker_for(sender_id=f"form-{uuid.uuid4().hex[:8]}", active_loop="checkout_form",
                          latest_message="human_handoff", slots={"requested_slot": "shipping_address"})
    events = await ActionHandoff().run(dispatcher, tracker, domain)
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    assert slots_set(events)["requested_slot"] is None
    handoff = queued(shop, slots_set(events)["handoff_id"])
    assert handoff["reason"] == "asked_for_human_during_checkout_form"


@pytest.mark.asyncio
async def test_accepting_the_offered_person_is_recorded_as_repeated_fallback(
        shop, tracker_for, dispatcher, domain, slots_set):
    events = [said("user", "blorp", "nlu_fallback"), said("user", "zzz", "nlu_fallback")]
    tracker = tracker_for(sender_id=f"fb-{uuid.uuid4().hex[:8]}", events=events,
                          latest_message="affirm", slots={"human_offered": True})
    returned = await ActionHandoff().run(dispatcher, tracker, domain)
    assert slots_set(returned)["human_offered"] is False
    assert queued(shop, slots_set(returned)["handoff_id"])["reason"] == "repeated_fallback"


@pytest.mark.asyncio
async def test_handoff_when_the_shop_is_down_does_not_pause(unreachable_storefront, tracker_for,
                                                           dispatcher, domain, uttered):
    events = await ActionHandoff().run(dispatcher, tracker_for(latest_message="human_handoff"),
                                       domain)
    assert ConversationPaused() not in events
    assert uttered(dispatcher) == ["utter_handoff_unavailable"]


@pytest.mark.asyncio
async def test_the_bot_is_back_after_the_handoff(tracker_for, dispatcher, domain, uttered,
                                                 slots_set):
    events = await ActionHandoffEnded().run(dispatcher, tracker_for(slots={"handoff_id": "3"}),
                                            domain)
    assert uttered(dispatcher) == ["utter_handoff_ended"]
    assert slots_set(events)["handoff_id"] is None


def fallback_tracker(tracker_for, *intents, human_offered=False):
    events = [said("user", f"message {i}", intent) for i, intent in enumerate(intents[:-1])]
    return tracker_for(events=events, slots={"human_offered": human_offered},
                       latest_message={"intent": intents[-1], "text": "???"})


@pytest.mark.asyncio
async def test_first_misunderstanding_asks_to_rephrase(tracker_for, dispatcher, domain, uttered,
                                                       slots_set):
    tracker = fallback_tracker(tracker_for, "greet", "nlu_fallback")
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert consecutive_fallbacks(tracker) == 1
    assert uttered(dispatcher) == ["utter_ask_rephrase"]
    assert slots_set(events) == {"human_offered": False}


@pytest.mark.asyncio
async def test_second_misunderstanding_in_a_row_offers_a_person(tracker_for, dispatcher, domain,
                                                                uttered, slots_set):
    tracker = fallback_tracker(tracker_for, "nlu_fallback", "nlu_fallback")
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_offer_human"]
    assert slots_set(events) == {"human_offered": True}


@pytest.mark.asyncio
async def test_an_understood_message_resets_the_count(tracker_for, dispatcher, domain, uttered):
    tracker = fallback_tracker(tracker_for, "nlu_fallback", "track_order", "nlu_fallback",
                               human_offered=True)
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_ask_rephrase"]
    assert events[0]["value"] is False


@pytest.mark.asyncio
async def test_declining_the_person_carries_on(tracker_for, dispatcher, domain, uttered,
                                               slots_set):
    events = await ActionHandoffDeclined().run(
        dispatcher, tracker_for(latest_message="deny", slots={"human_offered": True}), domain)
    assert uttered(dispatcher) == ["utter_handoff_declined"]
    assert slots_set(events) == {"human_offered": False}
