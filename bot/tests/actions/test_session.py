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
    tracker = tracker_for(sender_id=sender,
                          slots={"session_started_metadata": {"aisle_channel": "telegram"}})
    await ActionSessionStart().run(dispatcher, tracker, domain)
    rows = shop_rows("SELECT name, conversation_id, channel, properties FROM events "
                     "WHERE conversation_id = ?", sender)
    assert [(r["name"], r["conversation_id"], r["channel"]) for r in rows] == [
        ("chat_started", sender, "telegram")]
    assert '"returning": false' in rows[0]["properties"]


@pytest.mark.asyncio
async def test_the_session_starts_even_when_the_shop_is_down(unreachable_storefront, tracker_for,
                                                             dispatcher, domain):
    events = await ActionSessionStart().run(dispatcher, tracker_for(slots={"cart_id": "t" * 30}),
                                            domain)
    assert [e["event"] for e in events] == ["session_started", "slot", "action"]


@pytest.mark.asyncio
async def test_a_new_session_during_a_handoff_keeps_the_bot_quiet(unreachable_storefront,
                                                                  tracker_for, dispatcher,
                                                                  domain):
    """Rasa's SessionStarted resets the pause: applied by Rasa itself, the session start of a
    conversation with an open handoff leaves it paused (the agent still holds it), with the
    handoff carried over; without one the new session is not paused."""
    from rasa.shared.core.events import Event
    from rasa.shared.core.slots import AnySlot
    from rasa.shared.core.trackers import DialogueStateTracker

    def applied(events):
        slots = [AnySlot(name, mappings=[]) for name in ("handoff_id", "cart_id")]
        rasa_tracker = DialogueStateTracker("conv-1", slots)
        rasa_tracker.update(Event.from_parameters({"event": "pause"}))
        for event in events:
            rasa_tracker.update(Event.from_parameters(event))
        return rasa_tracker

    held = applied(await ActionSessionStart().run(
        dispatcher, tracker_for(slots={"handoff_id": "42", "cart_id": "t" * 30}), domain))
    assert held.is_paused()
    assert held.get_slot("handoff_id") == "42"
    free = applied(await ActionSessionStart().run(
        dispatcher, tracker_for(slots={"cart_id": "t" * 30}), domain))
    assert not free.is_paused()


@pytest.mark.asyncio
async def test_a_new_conversations_chat_started_names_its_channel(monkeypatch, dispatcher,
                                                                  domain):
    from rasa_sdk import Tracker

    from bot.actions import storefront as storefront_module

    recorded = []

    class Recording:
        async def record_event(self, name, ctx=None, *, properties=None):
            recorded.append((name, ctx))
            return {}

        async def close(self):
            pass

    monkeypatch.setattr(storefront_module, "_shared", Recording())
    # what Rasa sends for the first message of a web chat: no events yet, the message's
    # metadata only in session_started_metadata
    metadata = {"aisle_client": "c_" + "0" * 32, "aisle_message_id": "msg-00000001",
                "aisle_channel": "socketio"}  # bot/channels/socketio.py sets it
    tracker = Tracker(sender_id="conv-new", slots={"session_started_metadata": metadata},
                      latest_message={}, events=[], paused=False, followup_action=None,
                      active_loop={}, latest_action_name=None)
    await ActionSessionStart().run(dispatcher, tracker, domain)
    [(name, ctx)] = recorded
    assert name == "chat_started"
    assert ctx.channel == "socketio"
    assert ctx.client == "c_" + "0" * 32


async def test_a_session_a_shop_notice_starts_is_no_chat(monkeypatch, dispatcher, domain):
    """Rasa's trigger_intent ("your order has shipped") on a conversation silent for an hour
    starts a session with no message metadata: the shopper began no chat, nothing is
    recorded, and what must carry over still does."""
    from rasa_sdk import Tracker

    from bot.actions import storefront as storefront_module

    recorded = []

    class Recording:
        async def record_event(self, name, ctx=None, *, properties=None):
            recorded.append(name)
            return {}

        async def close(self):
            pass

    monkeypatch.setattr(storefront_module, "_shared", Recording())
    tracker = Tracker(sender_id="conv-old", slots={"cart_id": "cart-1"}, latest_message={},
                      events=[], paused=False, followup_action=None, active_loop={},
                      latest_action_name=None)
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert recorded == []
    assert {"event": "slot", "name": "cart_id", "value": "cart-1"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
