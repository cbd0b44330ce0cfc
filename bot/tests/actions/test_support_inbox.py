"""The support actions that meet the inbox, against the real storefront: when nobody can
come the bot does not pause and the contact form's e-mail becomes a ticket; after a
resolution the bot asks for a rating and sends the answer; a new session keeps a held
conversation paused."""

from __future__ import annotations

import time
import uuid

import pytest
from rasa_sdk.events import ConversationPaused, SessionStarted
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.session import ActionSessionStart
from bot.actions.support import (ActionAskCsat, ActionContactDeclined, ActionHandoff,
                                 ActionLeaveContact, ActionRecordCsat, ValidateContactForm,
                                 rating_of, say_when_back)


def said(text, intent=None):
    event = {"event": "user", "text": text, "timestamp": time.time()}
    if intent:
        event["parse_data"] = {"intent": {"name": intent}}
    return event


@pytest.fixture
def nobody_online(shop):
    """The agents online in the test shop (only the break-glass admin's beat) leave."""
    shop.call("DELETE", "/api/admin/support/presence", admin=True)
    return shop


@pytest.mark.asyncio
async def test_nobody_online_the_bot_stays_and_asks_for_an_email(nobody_online, tracker_for,
                                                                dispatcher, domain,
                                                                slots_set, uttered):
    sender = f"offline-{uuid.uuid4().hex[:8]}"
    events = await ActionHandoff().run(dispatcher, tracker_for(
        sender_id=sender, latest_message="human_handoff"), domain)
    assert ConversationPaused() not in events
    assert slots_set(events)["support_offline"] is True
    assert uttered(dispatcher) == ["utter_support_offline"]
    waiting = nobody_online.get("/api/admin/support/handoffs?status=open&limit=200",
                                admin=True)["handoffs"]
    assert sender not in {h["conversation_id"] for h in waiting}  # nobody would come


@pytest.mark.asyncio
async def test_someone_online_the_handoff_is_queued(shop, tracker_for, dispatcher, domain,
                                                   slots_set):
    shop.post("/api/admin/support/presence", {}, admin=True)
    events = await ActionHandoff().run(dispatcher, tracker_for(
        sender_id=f"online-{uuid.uuid4().hex[:8]}", latest_message="human_handoff"), domain)
    assert events[-1] == ConversationPaused() and "support_offline" not in slots_set(events)


def test_outside_opening_hours_the_shopper_hears_when_the_team_is_back():
    dispatcher = CollectingDispatcher()
    say_when_back(dispatcher, {"available": False, "open_now": False,
                               "back_text": "Monday at 09:00 (Europe/Paris time)"})
    [message] = dispatcher.messages
    assert message["response"] == "utter_support_closed"
    assert message["back"] == "Monday at 09:00 (Europe/Paris time)"


@pytest.mark.asyncio
async def test_the_contact_form_takes_only_an_email(tracker_for, dispatcher, domain):
    form = ValidateContactForm()
    tracker = tracker_for(slots={"requested_slot": "contact_email"})
    taken = await form.validate_contact_email("it's Ada.Lovelace@Example.com thanks",
                                              dispatcher, tracker, domain)
    assert taken["contact_email"] == "ada.lovelace@example.com"
    refused = await form.validate_contact_email("tomorrow", dispatcher, tracker, domain)
    assert refused["contact_email"] is None
    assert dispatcher.messages[-1]["response"] == "utter_contact_email_invalid"


@pytest.mark.asyncio
async def test_the_email_left_opens_a_ticket_with_what_the_shopper_said(
        shop, tracker_for, dispatcher, domain, slots_set):
    sender = f"contact-{uuid.uuid4().hex[:8]}"
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    tracker = tracker_for(sender_id=sender, channel="socketio",
                          events=[said("my parcel never came", "complaint"),
                                  said("/human_handoff", "human_handoff")],
                          slots={"contact_email": email, "support_offline": True})
    events = await ActionLeaveContact().run(dispatcher, tracker, domain)
    assert slots_set(events) == {"support_offline": False, "contact_email": None}
    [message] = dispatcher.messages
    assert message["response"] == "utter_contact_left" and message["email"] == email
    tickets = shop.get("/api/admin/support/tickets?kind=question&limit=200", admin=True)
    [ticket] = [t for t in tickets["tickets"] if t["reference"] == message["reference"]]
    assert ticket["email"] == email and ticket["conversation_id"] == sender
    assert "my parcel never came" in ticket["message"]
    assert "/human_handoff" not in ticket["message"]  # a button, not words


@pytest.mark.asyncio
async def test_no_email_after_all(tracker_for, dispatcher, domain, slots_set, uttered):
    events = await ActionContactDeclined().run(dispatcher, tracker_for(), domain)
    assert slots_set(events)["support_offline"] is False
    assert uttered(dispatcher) == ["utter_contact_form_stopped"]


@pytest.mark.asyncio
async def test_resolving_asks_for_a_rating_with_buttons_on_the_web(tracker_for, dispatcher,
                                                                   domain, slots_set):
    events = await ActionAskCsat().run(dispatcher, tracker_for(channel="socketio"), domain)
    assert slots_set(events) == {"handoff_id": None}
    assert dispatcher.messages[0]["response"] == "utter_ask_csat"
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        f'/rate_support{{"csat": {n}}}' for n in range(1, 6)]
    assert dispatcher.messages[1]["custom"] == {"data": {"handoff": "ended"}}
    elsewhere = CollectingDispatcher()
    await ActionAskCsat().run(elsewhere, tracker_for(channel="twilio"), domain)
    assert elsewhere.messages[0]["buttons"] == []  # SMS: typed, "5 stars"


@pytest.mark.parametrize("entities, rating", [
    ([{"entity": "csat", "value": 5}], 5), ([{"entity": "csat", "value": "4"}], 4),
    ([{"entity": "csat", "value": "4.0"}], 4), ([{"entity": "csat", "value": 9}], None),
    ([{"entity": "csat", "value": "five"}], None), ([{"entity": "csat", "value": "inf"}], None),
    ([{"entity": "csat", "value": "nan"}], None), ([], None)])
def test_the_rating_is_read_from_the_button_or_the_typed_number(tracker_for, entities, rating):
    tracker = tracker_for(latest_message={"intent": "rate_support", "entities": entities})
    assert rating_of(tracker) == rating


@pytest.mark.parametrize("text, entities, rating", [
    ("⭐⭐⭐⭐ four, would have been five", [], 4), ("⭐️⭐️⭐️⭐️⭐️", [], 5),
    ("★★☆☆☆", [], 2), ("⭐\u200d⭐\u200d⭐", [], 3), ("you're a star ⭐", [], None),
    ("⭐" * 7, [], None),
    # a number the NLU found wins over the stars around it
    ("⭐⭐ no, 3", [{"entity": "csat", "value": "3"}], 3)])
def test_a_row_of_stars_is_a_rating(tracker_for, text, entities, rating):
    tracker = tracker_for(latest_message={"intent": "rate_support", "text": text,
                                          "entities": entities})
    assert rating_of(tracker) == rating


@pytest.mark.asyncio
async def test_a_rating_nobody_asked_for_is_thanked_and_not_recorded(shop, tracker_for,
                                                                    dispatcher, domain,
                                                                    uttered):
    tracker = tracker_for(sender_id=f"stray-{uuid.uuid4().hex[:8]}", latest_message={
        "intent": "rate_support", "entities": [{"entity": "csat", "value": 5}]})
    await ActionRecordCsat().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_csat_thanks"]


@pytest.mark.asyncio
async def test_a_new_session_keeps_a_held_conversation_paused(shop, tracker_for, dispatcher,
                                                              domain):
    held = tracker_for(slots={"handoff_id": "12", "cart_id": "c" * 30})
    events = await ActionSessionStart().run(dispatcher, held, domain)
    assert events[0] == SessionStarted() and ConversationPaused() in events
    assert {"event": "slot", "name": "handoff_id", "value": "12"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    free = await ActionSessionStart().run(dispatcher, tracker_for(), domain)
    assert ConversationPaused() not in free
