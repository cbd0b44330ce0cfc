"""Action calls made from each event's kept JSON (bot/action_call_json.py): the action server
receives what Rasa would have sent, each event is encoded once, anything unexpected is
encoded as Rasa encodes it, and Rasa's way stays one setting away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web
from rasa.core import run
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, BotUttered, EntitiesAdded,
                                     SessionStarted, SlotSet, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.utils.endpoints import EndpointConfig

from bot import action_call_json, http_sessions, resilience
from bot.tests.rasa_server_process import module_after_rasa_server
from bot.tests.test_resilience import free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "bot" / "models" / "aisle.tar.gz"
DOMAIN = Domain.from_dict({
    "version": "3.1", "slots": {"basket": {"type": "any", "mappings": [{"type": "custom"}]}},
    "responses": {"utter_shop_unavailable": [{"text": "Sorry, try again in a moment."}]}})
ODD = ["quote \" backslash \\ newline \n", "NUL \x00 and astral \U0001F600", "é ß 中文",
       "</script><script>alert(1)</script>", "'; DROP TABLE events; --"]


@pytest.fixture
def installed(monkeypatch):
    """Both installers for one test; Rasa's classes are put back after it."""
    monkeypatch.setattr(EndpointConfig, "session", EndpointConfig.session)
    monkeypatch.setattr(run, "configure_app", run.configure_app)
    monkeypatch.setattr(RemoteAction, "_action_call_format", RemoteAction._action_call_format)
    monkeypatch.delenv("AISLE_HTTP_SESSIONS", raising=False)
    monkeypatch.delenv("AISLE_ACTION_CALL_JSON", raising=False)
    resilience.install()
    assert http_sessions.install() is True
    assert action_call_json.install() is True
    yield
    http_sessions._SESSIONS.clear()


def conversation(sender: str) -> DialogueStateTracker:
    """A tracker with a message's parse data, odd text in every kind of event and values."""
    events = [ActionExecuted("action_session_start"), SessionStarted(),
              ActionExecuted("action_listen")]
    for n, text in enumerate(ODD):
        events += [
            UserUttered(text, {"name": "faq", "confidence": 0.1 + n / 10},
                        [{"entity": "colour", "value": text, "start": 0, "end": 3}],
                        parse_data={"intent_ranking": [{"name": "faq", "confidence": 1 / 3}],
                                    "response_selector": {"faq": {"ranking": [text]}}}),
            SlotSet("basket", {"items": [text, n, 2.5 ** n, None, True], text: [[]]}),
            BotUttered(text, {"custom": {"products": [{"name": text}]}}),
            ActionExecuted("action_listen")]
    return DialogueStateTracker.from_events(sender, events, slots=DOMAIN.slots)


class RecordingActionServer:
    """Records each call's raw body; answers with one slot."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def start(self) -> str:
        async def webhook(request: web.Request) -> web.Response:
            self.bodies.append(await request.read())
            return web.json_response({"events": [{"event": "slot", "name": "basket",
                                                  "value": len(self.bodies)}],
                                      "responses": []})
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/webhook"


def rasas_body(action: RemoteAction, tracker: DialogueStateTracker) -> dict:
    """What Rasa's own code builds and sends (the dict, through JSON)."""
    return json.loads(json.dumps(RemoteAction._action_call_format._rasa(action, tracker,
                                                                        DOMAIN)))


async def test_the_action_server_receives_what_rasa_would_send(installed):
    server = RecordingActionServer()
    url = await server.start()
    tracker = conversation("odd-one")
    action = RemoteAction("action_show_cart", EndpointConfig(url=url))
    try:
        for _ in range(3):
            events = await action.run(CollectingOutputChannel(),
                                      TemplatedNaturalLanguageGenerator({}), tracker, DOMAIN)
            expected = rasas_body(action, tracker)
            assert json.loads(server.bodies[-1]) == expected
            assert len(expected["tracker"]["events"]) == len(tracker.events)
            tracker.update_with_events(events, DOMAIN)  # the next call sends one more
    finally:
        await http_sessions.close_all()
        await server.runner.cleanup()
    assert [json.loads(b)["tracker"]["events"][-1]["value"] for b in server.bodies[1:]] == \
        [1, 2]
    # each event sent was encoded once and its JSON kept on it (the last call's answer was
    # never sent)
    for event in list(tracker.events)[:-1]:
        assert json.loads(event.__dict__[action_call_json._KEPT][3]) == \
            json.loads(json.dumps(event.as_dict()))


def test_each_event_is_encoded_once():
    tracker = conversation("once")
    body = {"next_action": "a", "sender_id": "once",
            "tracker": tracker.current_state(EventVerbosity.ALL), "version": "3.6"}
    first = action_call_json.dumps(action_call_json.ActionCall(body, list(tracker.events)))
    marked = tracker.events[4]
    *checked, _ = marked.__dict__[action_call_json._KEPT]
    marked.__dict__[action_call_json._KEPT] = (*checked, '{"event": "kept"}')
    second = json.loads(action_call_json.dumps(
        action_call_json.ActionCall(body, list(tracker.events))))
    assert second["tracker"]["events"][4] == {"event": "kept"}  # taken, not encoded again
    assert json.loads(first) == json.loads(json.dumps(body))


def test_an_event_logged_again_is_encoded_again():
    """Rasa logs a policy's events on the action's copy of the tracker, then on the tracker
    itself: a new timestamp, and metadata naming the model."""
    tracker = conversation("again")
    event = tracker.events[-2]
    first = json.loads(action_call_json.event_json(event))
    again = DialogueStateTracker("again", DOMAIN.slots)
    again.model_id = "model-2"
    again.update_with_events([event], DOMAIN)  # a new timestamp and a new metadata dict
    second = json.loads(action_call_json.event_json(event))
    assert second == json.loads(json.dumps(event.as_dict())) != first
    assert second["metadata"]["model_id"] == "model-2"
    event.timestamp = first["timestamp"]  # the timestamp alone
    assert json.loads(action_call_json.event_json(event))["timestamp"] == first["timestamp"]


def test_entities_added_to_a_kept_message_are_sent():
    """TED's end-to-end predictions add entities to the latest user message in place."""
    tracker = conversation("entities")
    parse_data = {"intent": {"name": "add_to_cart", "confidence": 0.9}, "text": "a hoodie",
                  "entities": [{"entity": "product_type", "value": "hoodie"}]}
    message = UserUttered("a hoodie", parse_data["intent"], parse_data["entities"],
                          parse_data)  # as Rasa's processor makes it
    tracker.update(message)
    before = json.loads(action_call_json.event_json(message))
    tracker.update(EntitiesAdded([{"entity": "size", "value": "M", "start": 0, "end": 1}]))
    after = json.loads(action_call_json.event_json(message))
    assert after == json.loads(json.dumps(message.as_dict())) != before
    assert len(after["parse_data"]["entities"]) == len(before["parse_data"]["entities"]) + 1


def test_anything_unexpected_is_encoded_as_rasa_does():
    tracker = conversation("fallback")
    body = {"next_action": "a", "tracker": tracker.current_state(EventVerbosity.ALL)}
    # a hook removed an event from the dict: the dict is what is sent
    cut = {**body, "tracker": {**body["tracker"], "events": body["tracker"]["events"][1:]}}
    assert action_call_json.dumps(action_call_json.ActionCall(cut, list(tracker.events))) \
        == json.dumps(cut)
    assert action_call_json.dumps(action_call_json.ActionCall(body, None)) == json.dumps(body)
    assert action_call_json.dumps({"a": [1, "b"]}) == json.dumps({"a": [1, "b"]})
    assert action_call_json.dumps(action_call_json.ActionCall({}, [])) == "{}"
    # what json.dumps cannot encode fails as it does, whichever path
    bad = {"tracker": {"events": [{"x": object()}]}}
    with pytest.raises(TypeError):
        action_call_json.dumps(action_call_json.ActionCall(bad, [SlotSet("a", object())]))
    with pytest.raises(TypeError):
        action_call_json.dumps(bad)


@pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model (make train)")
def test_a_real_conversations_events_keep_the_json_they_were_sent_with(installed, tmp_path):
    """Rasa never changes an event once it is on a tracker, which the kept JSON relies on:
    after conversations with the trained model and Aisle's action server, every event's kept
    JSON is still what it encodes to, and every call's body was what Rasa would have sent."""
    from rasa.core.agent import Agent

    from bot.tests.action_server_process import running_action_server
    from bot.tracker_store import CachedSQLTrackerStore

    sent: list[tuple] = []

    def checked(obj):
        body = action_call_json.dumps(obj)
        sent.append((json.loads(body), json.loads(json.dumps(obj))))
        return body

    texts = ["hi", "what is your return policy", "thanks", "how long does shipping take",
             "I want to make a complaint", "the zip broke on my hoodie", "no", "thank you",
             "do you ship to canada?", "are you a bot?", "bye"]
    with running_action_server(tmp_path, "bot.actions",
                               {"STOREFRONT_URL": f"http://127.0.0.1:{free_port()}"}) as url:
        store = CachedSQLTrackerStore(None, dialect="sqlite", db=str(tmp_path / "rasa.db"))
        agent = Agent.load(str(MODEL), action_endpoint=EndpointConfig(url + "/webhook"),
                           tracker_store=store)
        store.domain = agent.domain

        async def talk():
            session = http_sessions.kept_session(agent.action_endpoint)
            session._json_serialize = checked  # every body compared with Rasa's
            for text in texts:
                await agent.handle_text(text, sender_id="kept-json")
            await http_sessions.close_all()
            return await store.retrieve("kept-json")

        tracker = asyncio.run(talk())
    assert len(sent) >= 5, "the conversation called the action server"
    for ours, rasas in sent:
        assert ours == rasas
    kept = [e for e in tracker.events if action_call_json._KEPT in e.__dict__]
    assert len(kept) >= 20

    def settled(data: dict) -> dict:
        return {key: value for key, value in data.items() if key not in ("timestamp",
                                                                         "metadata")}

    refreshed = 0
    for event in kept:
        metadata, timestamp, entities, text = event.__dict__[action_call_json._KEPT]
        # nothing but the timestamp and the metadata changed on an event once kept...
        assert settled(json.loads(text)) == settled(json.loads(json.dumps(event.as_dict())))
        refreshed += metadata is not event.metadata or timestamp != event.timestamp \
            or entities != action_call_json._entity_count(event)
        # ...and what a next call sends of it is what it encodes to now
        assert action_call_json.event_json(event) == json.dumps(event.as_dict()), event
    assert refreshed < len(kept) / 2


@pytest.mark.parametrize("choice,expected", [(None, "bot.action_call_json"),
                                             ("rasa", "rasa.core.actions.action")])
def test_rasa_server_installs_it_unless_told(choice, expected):
    found = module_after_rasa_server("from rasa.core.actions.action import RemoteAction",
                                     "RemoteAction._action_call_format",
                                     "AISLE_ACTION_CALL_JSON", choice)
    assert found == expected


def test_an_unknown_choice_stops_the_start(monkeypatch):
    monkeypatch.setenv("AISLE_ACTION_CALL_JSON", "fast")
    with pytest.raises(SystemExit, match="AISLE_ACTION_CALL_JSON='fast'"):
        action_call_json.install()
