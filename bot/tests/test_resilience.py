"""bot/resilience.py: what a chat turn survives, with Rasa's real RemoteAction against a real
HTTP server standing in for the action server (it is down, then it comes back), and Rasa's
real tracker for a message sent twice. The whole behaviour, with two Rasa replicas killed and
restarted, is tests/e2e/test_production_topology.py."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import resilience

DOMAIN = Domain.from_dict({"version": "3.1", "responses": {
    "utter_shop_unavailable": [{"text": "Sorry, try again in a moment."}]}})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def action_server(port: int) -> web.AppRunner:
    async def webhook(request: web.Request) -> web.Response:
        call = await request.json()
        return web.json_response({"events": [{"event": "slot", "name": "cart_id",
                                              "value": f"cart-of-{call['sender_id']}"}],
                                  "responses": []})
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def run_action(port: int):
    resilience.install()
    action = RemoteAction("action_add_to_cart",
                          EndpointConfig(url=f"http://127.0.0.1:{port}/webhook"))
    return action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}),
                      DialogueStateTracker("conv-1", []), DOMAIN)


async def test_an_action_server_back_within_the_time_answers_the_turn(monkeypatch):
    monkeypatch.setenv("ACTION_RETRY_SECONDS", "15")
    port = free_port()
    turn = asyncio.ensure_future(run_action(port))
    await asyncio.sleep(1.0)  # the action server is restarting meanwhile
    assert not turn.done()
    runner = await action_server(port)
    try:
        events = await asyncio.wait_for(turn, 10)
    finally:
        await runner.cleanup()
    assert events == [SlotSet("cart_id", "cart-of-conv-1")]


async def test_an_action_server_that_stays_away_gets_the_shopper_an_apology(monkeypatch):
    monkeypatch.setenv("ACTION_RETRY_SECONDS", "0.7")
    events = await asyncio.wait_for(run_action(free_port()), 10)
    assert [type(e) for e in events] == [BotUttered]
    assert events[0].text == "Sorry, try again in a moment."  # the domain's own wording


@pytest.mark.parametrize("seconds", ["-1", "1000"])
def test_the_retry_time_is_bounded(monkeypatch, seconds):
    monkeypatch.setenv("ACTION_RETRY_SECONDS", seconds)
    assert 0 <= resilience.action_retry_seconds() <= 120


def conversation() -> DialogueStateTracker:
    tracker = DialogueStateTracker("conv-2", [])
    for event in (UserUttered("show me hoodies", message_id="msg-00000001"),
                  ActionExecuted("action_search_products"),
                  BotUttered("Found 3 hoodies", data={"buttons": [{"title": "More"}]}),
                  BotUttered("Anything else?"), ActionExecuted("action_listen"),
                  UserUttered("thanks", message_id="msg-00000002"),
                  BotUttered("You're welcome!")):
        tracker.update(event)
    return tracker


def test_a_message_answered_already_gets_its_recorded_answers():
    answers = resilience.recorded_answers(conversation(), "msg-00000001")
    assert [a["text"] for a in answers] == ["Found 3 hoodies", "Anything else?"]
    assert answers[0]["buttons"] == [{"title": "More"}]
    assert [a["text"] for a in resilience.recorded_answers(conversation(), "msg-00000002")] \
        == ["You're welcome!"]
    assert resilience.recorded_answers(conversation(), "msg-never-sent") is None


def test_only_a_well_formed_client_id_counts():
    class Message:
        def __init__(self, metadata):
            self.metadata = metadata
    assert resilience.client_message_id(Message({"aisle_message_id": "msg-00000001"})) \
        == "msg-00000001"
    for metadata in (None, {}, {"aisle_message_id": "short"}, {"aisle_message_id": 12345678},
                     {"aisle_message_id": "has spaces in it"}, "not a mapping"):
        assert resilience.client_message_id(Message(metadata)) is None


async def test_a_message_answered_with_the_apology_runs_again_the_others_do_not():
    """A turn that ended in "try again in a moment" (the action server stayed away longer
    than ACTION_RETRY_SECONDS) asked the shopper to send the message again: sent again
    with the same id, it runs (it used to get the apology back for ever); a message
    answered for real gets its recorded answers and runs nothing."""
    from rasa.core.channels.channel import UserMessage

    tracker = conversation()
    for event in (ActionExecuted("action_listen"),
                  UserUttered("checkout", message_id="msg-00000003"),
                  ActionExecuted("action_prepare_checkout"),
                  BotUttered("Let's check out."),
                  ActionExecuted("action_checkout_summary"),
                  BotUttered("Sorry, try again in a moment.")):
        tracker.update(event)
    ran: list[str] = []

    async def original(processor, message):
        ran.append(message.text)
        return ["ran"]

    class Store:
        async def retrieve(self, sender_id):
            return tracker

    class Processor:
        tracker_store, domain = Store(), DOMAIN

    handle = resilience._answer_once(original)
    again = CollectingOutputChannel()
    assert await handle(Processor(), UserMessage(
        "checkout", again, "conv-2", metadata={"aisle_message_id": "msg-00000003"})) == ["ran"]
    assert ran == ["checkout"] and again.messages == []

    replayed = CollectingOutputChannel()
    await handle(Processor(), UserMessage("thanks", replayed, "conv-2",
                                          metadata={"aisle_message_id": "msg-00000002"}))
    assert ran == ["checkout"]  # nothing ran for the message answered for real
    assert [m["text"] for m in replayed.messages] == ["You're welcome!"]


class _DatabaseDown:
    """A tracker store whose database has stopped."""

    domain, event_broker = DOMAIN, None

    async def retrieve(self, sender_id):
        import sqlalchemy.exc
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("Connection refused"))

    retrieve_full_tracker = retrieve

    async def save(self, tracker):
        await self.retrieve(tracker.sender_id)


async def test_a_tracker_store_that_fails_fails_the_turn_rather_than_starting_afresh():
    """Rasa wraps every tracker store in FailSafeTrackerStore, which answers a failed read
    with no tracker (a new, empty conversation) and keeps a failed save in memory. Installed,
    the failure reaches the turn, which then apologises (test_resilience's other cases)."""
    import sqlalchemy.exc
    from rasa.core.agent import Agent

    resilience.install()
    store = Agent._create_tracker_store(_DatabaseDown(), DOMAIN)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        await store.retrieve("conv-1")
    with pytest.raises(sqlalchemy.exc.OperationalError):
        await store.save(DialogueStateTracker("conv-1", []))
    assert store._fallback_tracker_store is None  # nothing was kept in memory
    assert resilience.store_unavailable(sqlalchemy.exc.OperationalError("x", {}, None))
