"""The handoff queue: the bot asks for a person, agents claim, answer through Rasa and hand
the conversation back. Rasa is the recording stand-in of rasa_recorder.py (its request bodies
are checked against Rasa 3.6's own event schema at the end of this file). Agents are staff
accounts signed in with their own bearer token (tests/staff_accounts.py): the name on a claim
and a reply is the signed-in agent's, never one the request names."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
from aftersales_factories import ADMIN, count, make_order
from assistant_calls import SERVICE, SERVICE_TOKEN, from_the_assistant
from cart_helpers import assert_problem, cart_with, pick_variants
from rasa_recorder import RasaRecorder
from sqlalchemy import select
from staff_accounts import agent

from storefront_api.events.models import Event
from storefront_api.settings import Settings
from storefront_api.support.models import Handoff, HandoffMessage

ROOT = Path(__file__).resolve().parents[2]
BOT_PYTHON = ROOT / ".venv-bot" / "bin" / "python"
REFERENCE = re.compile(r"H-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}")
INJECTION = "'; DROP TABLE handoffs;--"
BASE = "/api/admin/support/handoffs"


@pytest.fixture
async def rasa(aiohttp_server):
    recorder = RasaRecorder()
    server = await aiohttp_server(recorder.app())
    recorder.server, recorder.url = server, str(server.make_url("")).rstrip("/")
    return recorder


@pytest.fixture
def settings(shop_url, tmp_path, rasa) -> Settings:
    return Settings.from_env(database_url=shop_url, var_dir=tmp_path, admin_token="test-admin",
                             rasa_url=rasa.url, service_token=SERVICE_TOKEN)


def conversation() -> str:
    return f"conv-{uuid.uuid4().hex[:12]}"


def handoff_body(conversation_id: str, **extra) -> dict:
    return {"conversation_id": conversation_id, "channel": "socketio",
            "reason": "asked_for_human",
            "transcript": [{"sender": "user", "text": "where is my parcel?", "ts": 1764670000.5},
                           {"sender": "bot", "text": "Which order number?",
                            "ts": "2025-12-02T10:06:41Z"},
                           {"sender": "user", "text": "I want to talk to a person"}],
            **extra}


async def ask_for_human(client, conversation_id: str, expect: int = 201, **extra) -> dict:
    resp = await client.post("/api/support/handoffs", json=handoff_body(conversation_id, **extra),
                             headers=SERVICE)
    body = await resp.json()
    assert resp.status == expect, body
    return body


async def claimed(client, db, conversation_id: str, name: str = "Ana") -> tuple[dict, dict]:
    """A handoff claimed by a new signed-in agent called ``name``; (handoff, their headers)."""
    handoff = await ask_for_human(client, conversation_id)
    headers = await agent(db, name)
    resp = await client.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["agent"] == name
    return handoff, headers


async def events_named(db, conversation_id: str, name: str) -> list[Event]:
    async with db.read() as session:
        return list((await session.scalars(select(Event).where(
            Event.conversation_id == conversation_id, Event.name == name))).all())


async def detail(client, handoff_id: int) -> dict:
    resp = await client.get(f"{BASE}/{handoff_id}", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200, body
    return body


# --- the bot asks --------------------------------------------------------------------------

async def test_handoff_joins_the_queue_and_is_recorded(client, db):
    first, second = conversation(), conversation()
    one = await ask_for_human(client, first)
    two = await ask_for_human(client, second, reason="repeated_fallback",
                              email=" Shopper@Example.com ")
    assert REFERENCE.fullmatch(one["reference"]) and one["status"] == "waiting"
    assert two["position"] == one["position"] + 1
    assert (two["email"], two["reason"], two["channel"]) == (
        "shopper@example.com", "repeated_fallback", "socketio")
    [event] = await events_named(db, first, "handoff_requested")
    assert (event.channel, event.properties["reason"], event.properties["handoff"]) == (
        "socketio", "asked_for_human", one["reference"])
    assert event.properties["transcript_turns"] == 3


async def test_asking_again_returns_the_open_handoff(client, db):
    conversation_id = conversation()
    first = await ask_for_human(client, conversation_id)
    again = await ask_for_human(client, conversation_id, expect=200, reason="still waiting")
    assert (again["id"], again["reason"], again["position"]) == (
        first["id"], "asked_for_human", first["position"])
    assert len(await events_named(db, conversation_id, "handoff_requested")) == 1


async def test_simultaneous_requests_make_one_handoff(client, db):
    conversation_id = conversation()
    responses = await asyncio.gather(*[
        client.post("/api/support/handoffs", json=handoff_body(conversation_id),
                    headers=SERVICE)
        for _ in range(5)])
    statuses = sorted(resp.status for resp in responses)
    ids = {(await resp.json())["id"] for resp in responses}
    assert statuses == [200, 200, 200, 200, 201] and len(ids) == 1
    assert await count(db, Handoff, conversation_id=conversation_id) == 1


async def test_a_new_handoff_after_the_last_was_handed_back(client, db, rasa):
    conversation_id = conversation()
    first, _ = await claimed(client, db, conversation_id)
    rasa.shopper_wrote(conversation_id, "hello")
    resp = await client.post(f"{BASE}/{first['id']}/release", json={}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    second = await ask_for_human(client, conversation_id)
    assert second["id"] != first["id"] and second["status"] == "waiting"


@pytest.mark.parametrize("body, status, field", [
    ({"channel": "socketio", "reason": "x"}, 422, "conversation_id"),
    ({"conversation_id": "c", "channel": "Socket IO", "reason": "x"}, 422, "channel"),
    ({"conversation_id": "c\x00", "channel": "rest", "reason": "x"}, 422, "conversation_id"),
    ({"conversation_id": "c" * 129, "channel": "rest", "reason": "x"}, 422, "conversation_id"),
    ({"conversation_id": "c", "channel": "rest", "reason": "  "}, 422, "reason"),
    ({"conversation_id": "c", "channel": "rest", "reason": "x", "email": "not-an-email"}, 422,
     "email"),
    ({"conversation_id": "c", "channel": "rest", "reason": "x", "cart_token": "../../x"}, 422,
     "cart_token"),
    ({"conversation_id": "c", "channel": "rest", "reason": "x", "order_numbers": ["1; --"]},
     422, "order_numbers.0"),
    ({"conversation_id": "c", "channel": "rest", "reason": "x",
      "transcript": [{"sender": "system", "text": "hi"}]}, 422, "transcript.0.sender"),
    ({"conversation_id": "c", "channel": "rest", "reason": "x",
      "transcript": [{"sender": "user", "text": "hi"}] * 201}, 422, "transcript"),
    ({"conversation_id": "c", "channel": "rest", "reason": "x", "priority": "vip"}, 422,
     "priority"),
])
async def test_bad_requests_are_refused_and_change_nothing(client, db, body, status, field):
    before = await count(db, Handoff)
    resp = await client.post("/api/support/handoffs", json=body, headers=SERVICE)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, status)
    assert field in [error["field"] for error in problem["errors"]], problem
    assert await count(db, Handoff) == before


async def test_malformed_and_oversized_bodies(client, db):
    before = await count(db, Handoff)
    resp = await client.post("/api/support/handoffs", data=b'{"conversation_id": "c",',
                             headers={**SERVICE, "Content-Type": "application/json"})
    assert_problem(resp.status, resp.content_type, await resp.json(), 400)
    huge = handoff_body(conversation(), transcript=[
        {"sender": "user", "text": "x" * 4000} for _ in range(20)])
    resp = await client.post("/api/support/handoffs", json=huge, headers=SERVICE)
    assert_problem(resp.status, resp.content_type, await resp.json(), 413)
    assert await count(db, Handoff) == before


async def test_injection_strings_are_kept_verbatim(client, db, rasa):
    conversation_id = f"whatsapp:+1555/{INJECTION}?x=1#"
    handoff, headers = await claimed(client, db, conversation_id, name=INJECTION)
    rasa.shopper_wrote(conversation_id, INJECTION)
    resp = await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": INJECTION},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    assert {call["conversation_id"] for call in rasa.calls} == {conversation_id}
    # the id is one escaped path segment: it can never reach another route
    assert {unquote(call["raw_path"].split("/")[2]) for call in rasa.calls} == {conversation_id}
    body = await detail(client, handoff["id"])
    assert body["conversation_id"] == conversation_id and body["agent"] == INJECTION
    assert [turn["text"] for turn in body["transcript"][-2:]] == [INJECTION, INJECTION]
    assert await count(db, Handoff, conversation_id=conversation_id) == 1


# --- the agent's side ----------------------------------------------------------------------

async def test_attack_agent_routes_without_a_staff_credential(client):
    handoff = await ask_for_human(client, conversation())
    calls = [("GET", BASE, None), ("GET", f"{BASE}/{handoff['id']}", None),
             ("POST", f"{BASE}/{handoff['id']}/claim", {}),
             ("POST", f"{BASE}/{handoff['id']}/messages", {"text": "hi"}),
             ("POST", f"{BASE}/{handoff['id']}/release", {})]
    for method, path, body in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            resp = await client.request(method, path, json=body, headers=headers)
            assert_problem(resp.status, resp.content_type, await resp.json(), 401)
    assert (await detail(client, handoff["id"]))["status"] == "waiting"


@pytest.mark.parametrize("handoff_id", ["999999999", "0", "abc", "1e3", "-1"])
async def test_unknown_handoffs_are_404(client, handoff_id):
    for method, suffix, body in [("GET", "", None), ("POST", "/claim", {}),
                                 ("POST", "/messages", {"text": "hi"}),
                                 ("POST", "/release", {})]:
        resp = await client.request(method, f"{BASE}/{handoff_id}{suffix}", json=body,
                                    headers=ADMIN)
        assert_problem(resp.status, resp.content_type, await resp.json(), 404)


async def test_queue_shows_positions_and_waiting_time(client, db):
    ids = [(await ask_for_human(client, conversation()))["id"] for _ in range(3)]
    resp = await client.get(BASE, params={"status": "waiting", "limit": "200"}, headers=ADMIN)
    queue = (await resp.json())["handoffs"]
    positions = [row["position"] for row in queue]
    assert positions == list(range(1, len(queue) + 1))
    mine = [row for row in queue if row["id"] in ids]
    assert [row["id"] for row in mine] == ids and all(row["waited_seconds"] >= 0 for row in mine)
    claim = await client.post(f"{BASE}/{ids[0]}/claim", json={}, headers=await agent(db, "Ana"))
    assert claim.status == 200
    resp = await client.get(BASE, params={"status": "waiting", "limit": "200"}, headers=ADMIN)
    after = {row["id"]: row["position"] for row in (await resp.json())["handoffs"]}
    assert ids[0] not in after
    before = {row["id"]: row["position"] for row in mine}
    assert (after[ids[1]], after[ids[2]]) == (before[ids[1]] - 1, before[ids[2]] - 1)
    resp = await client.get(BASE, params={"status": "active", "limit": "200"}, headers=ADMIN)
    active = next(r for r in (await resp.json())["handoffs"] if r["id"] == ids[0])
    assert (active["agent"], active["position"]) == ("Ana", None)


async def test_queue_query_is_validated(client):
    for params in ({"status": "lost"}, {"limit": "0"}, {"limit": "201"}, {"offset": "-1"}):
        resp = await client.get(BASE, params=params, headers=ADMIN)
        assert_problem(resp.status, resp.content_type, await resp.json(), 422)


async def test_detail_shows_transcript_cart_and_orders(client, db, rasa):
    conversation_id = conversation()
    chat = from_the_assistant(conversation_id, "socketio")
    variant, other = await pick_variants(db, 2, min_stock=3)
    cart = await cart_with(client, db, [(variant, 2)], headers=chat)
    by_conversation = await make_order(db, [(other, 1)], conversation_id=conversation_id)
    handoff = await ask_for_human(client, conversation_id, email=by_conversation["email"],
                                  cart_token=cart["token"])
    rasa.shopper_wrote(conversation_id, "before the handoff", ts=time.time() - 3600)
    rasa.shopper_wrote(conversation_id, "hello? anyone there?")
    body = await detail(client, handoff["id"])
    assert body["live"] == {"available": True}
    assert [(t["sender"], t["text"]) for t in body["transcript"]] == [
        ("user", "where is my parcel?"), ("bot", "Which order number?"),
        ("user", "I want to talk to a person"), ("user", "hello? anyone there?")]
    assert body["transcript"][0]["ts"] == "2025-12-02T10:06:40.500000Z"
    assert body["cart"]["token"] == cart["token"]
    assert [(line["variant_id"], line["quantity"]) for line in body["cart"]["lines"]] == [
        (variant["id"], 2)]
    assert [order["number"] for order in body["orders"]] == [by_conversation["number"]]


async def test_detail_lists_the_orders_the_bot_verified_and_the_conversations_own(client, db):
    conversation_id = conversation()
    variant, other = await pick_variants(db, 2, min_stock=3)
    cart = await cart_with(client, db, [(variant, 1)],
                           headers=from_the_assistant(conversation_id))
    earlier = await make_order(db, [(other, 1)])  # another day, another conversation
    also_theirs = await make_order(db, [(other, 1)])
    placed_here = await make_order(db, [(other, 1)], conversation_id=conversation_id)
    handoff = await ask_for_human(client, conversation_id, email=earlier["email"].upper(),
                                  email_verified=True, order_numbers=[earlier["number"]])
    body = await detail(client, handoff["id"])
    assert body["cart"]["token"] == cart["token"]
    assert body["email"] == earlier["email"] and body["email_verified"] is True
    assert {order["number"] for order in body["orders"]} == {earlier["number"],
                                                              placed_here["number"]}
    assert also_theirs["number"] not in {order["number"] for order in body["orders"]}
    # the newest of the queue: every test of the session shares its database, so it may
    # lie past the first page
    queue, offset = {"handoffs": []}, 0
    while not any(h["id"] == handoff["id"] for h in queue["handoffs"]):
        queue = await (await client.get(BASE, params={"limit": "200", "offset": str(offset)},
                                        headers=ADMIN)).json()
        assert queue["handoffs"], "the handoff is not in the queue"
        offset += 200
    [queued] = [h for h in queue["handoffs"] if h["id"] == handoff["id"]]
    assert queued["email_verified"] is True


async def test_attack_a_typed_email_does_not_open_its_orders(client, db):
    """Anyone can type anyone's address: an e-mail the bot did not verify is shown marked
    unverified and none of its orders is listed, whatever the request claims."""
    conversation_id = conversation()
    variant, = await pick_variants(db, 1, min_stock=3)
    victims = [await make_order(db, [(variant, 1)]) for _ in range(2)]
    victim_email = victims[0]["email"]
    typed = await ask_for_human(client, conversation_id, email=victim_email.upper())
    claimed_verified = await ask_for_human(  # the flag alone proves nothing
        client, conversation(), email=victim_email, email_verified=True)
    other = await make_order(db, [(variant, 1)])  # an order verified with its own e-mail
    mismatched = await ask_for_human(client, conversation(), email=victim_email,
                                     email_verified=True, order_numbers=[other["number"]])
    for handoff in (typed, claimed_verified, mismatched):
        body = await detail(client, handoff["id"])
        assert body["email"] == victim_email and body["email_verified"] is False
        shown = {order["number"] for order in body["orders"]}
        assert not shown & {victim["number"] for victim in victims}, shown
    assert {o["number"] for o in (await detail(client, mismatched["id"]))["orders"]} == {
        other["number"]}


async def test_attack_a_handoff_without_the_service_credential_queues_nothing(client, db):
    conversation_id = conversation()
    for headers in ({}, {"Authorization": "Bearer not-the-service-token"},
                    {"Authorization": f"Bearer {SERVICE_TOKEN}x"}, ADMIN,
                    {"X-Conversation-Id": conversation_id}):
        resp = await client.post("/api/support/handoffs", json=handoff_body(conversation_id),
                                  headers=headers)
        assert_problem(resp.status, resp.content_type, await resp.json(), 401)
    assert await count(db, Handoff, conversation_id=conversation_id) == 0
    assert await events_named(db, conversation_id, "handoff_requested") == []


async def test_claiming(client, db):
    handoff = await ask_for_human(client, conversation())
    path = f"{BASE}/{handoff['id']}/claim"
    ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
    resp = await client.post(path, json={}, headers=ana)
    taken = await resp.json()
    assert resp.status == 200 and (taken["status"], taken["agent"]) == ("active", "Ana")
    assert taken["claimed_at"] and taken["position"] is None
    again = await client.post(path, headers=ana)  # an empty body is {} too
    assert again.status == 200 and (await again.json())["claimed_at"] == taken["claimed_at"]
    resp = await client.post(path, json={}, headers=ben)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 409)
    assert problem["agent"] == "Ana" and "Ana" in problem["detail"]


async def test_two_signed_in_agents_claim_under_their_own_names(client, db, rasa):
    first, second = [await ask_for_human(client, conversation()) for _ in range(2)]
    ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
    for handoff, headers, name in [(first, ana, "Ana"), (second, ben, "Ben")]:
        resp = await client.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=headers)
        assert resp.status == 200 and (await resp.json())["agent"] == name
    rasa.shopper_wrote(second["conversation_id"], "hi")
    resp = await client.post(f"{BASE}/{second['id']}/messages", json={"text": "Ben here"},
                             headers=ben)
    assert resp.status == 201 and (await resp.json())["agent"] == "Ben"
    [relay] = rasa.calls_to("/tracker/events")
    assert (relay["body"][0]["name"], relay["body"][0]["value"]) == ("agent_name", "Ben")
    assert ((await detail(client, first["id"]))["agent"],
            (await detail(client, second["id"]))["agent"]) == ("Ana", "Ben")


async def test_attack_agent_cannot_act_under_another_agents_name(client, db, rasa):
    handoff = await ask_for_human(client, conversation())
    path = f"{BASE}/{handoff['id']}"
    ana, mallory = await agent(db, "Ana"), await agent(db, "Mallory")
    for body in ({"agent": "Ana"}, {"agent": ""}):  # a name in the request is refused
        resp = await client.post(f"{path}/claim", json=body, headers=mallory)
        assert_problem(resp.status, resp.content_type, await resp.json(), 422)
    assert (await detail(client, handoff["id"]))["status"] == "waiting"
    assert (await client.post(f"{path}/claim", json={}, headers=ana)).status == 200
    # Mallory can neither take Ana's conversation nor write in it as Ana
    resp = await client.post(f"{path}/claim", json={}, headers=mallory)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    resp = await client.post(f"{path}/messages", json={"text": "Ana here, send your card"},
                             headers=mallory)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    resp = await client.post(f"{path}/messages", json={"text": "hi", "agent": "Ana"},
                             headers=mallory)
    assert_problem(resp.status, resp.content_type, await resp.json(), 422)
    assert [call for call in rasa.calls if call["method"] == "POST"] == []  # nothing sent
    assert await count(db, HandoffMessage, handoff_id=handoff["id"]) == 0
    assert (await detail(client, handoff["id"]))["agent"] == "Ana"


async def test_agent_message_is_delivered_through_rasa(client, db, rasa):
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    path = f"{BASE}/{handoff['id']}/messages"
    resp = await client.post(path, json={"text": "Hi, Ana here"}, headers=ADMIN)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    assert rasa.calls == [] and await count(db, HandoffMessage, handoff_id=handoff["id"]) == 0
    ana = await agent(db, "Ana")
    await client.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=ana)
    rasa.shopper_wrote(conversation_id, "hello?")
    resp = await client.post(path, json={"text": "  Hi, Ana here. Let me look.  "},
                             headers=ana)
    message = await resp.json()
    assert resp.status == 201, message
    assert (message["delivered"], message["agent"], message["text"]) == (
        True, "Ana", "Hi, Ana here. Let me look.")
    # one call: the agent's name and the message as a bot event Rasa sends on the
    # shopper's channel (the web chat here: drawn as the agent's message)
    [call] = rasa.calls_to("/tracker/events")
    assert rasa.calls_to("/execute") == []
    assert call["query"] == {"include_events": "NONE", "execute_side_effects": "true",
                             "output_channel": "latest"}
    slot, said = call["body"]
    assert (slot["event"], slot["name"], slot["value"]) == ("slot", "agent_name", "Ana")
    assert (said["event"], said["text"]) == ("bot", None)
    assert said["data"] == {"custom": {"data": {"text": "Hi, Ana here. Let me look.",
                                                "agent": "Ana"}}}
    senders = [(t["sender"], t["text"]) for t in (await detail(client, handoff["id"]))[
        "transcript"]][-2:]
    assert senders == [("user", "hello?"), ("agent", "Hi, Ana here. Let me look.")]


@pytest.mark.parametrize("outage, status", [("error", 502), ("down", 503)])
async def test_undelivered_message_is_kept(client, db, rasa, outage, status):
    conversation_id = conversation()
    handoff, headers = await claimed(client, db, conversation_id)
    rasa.shopper_wrote(conversation_id, "hi")
    if outage == "error":
        rasa.fail_with = 500
    else:  # nothing listens there any more
        await rasa.server.close()
    resp = await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Are you there?"},
                             headers=headers)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, status)
    assert "kept as undelivered" in problem["detail"] and problem["message"]["delivered"] is False
    async with db.read() as session:
        [row] = (await session.scalars(select(HandoffMessage).where(
            HandoffMessage.handoff_id == handoff["id"]))).all()
    assert (row.delivered, row.text) == (False, "Are you there?") and row.error
    body = await detail(client, handoff["id"])
    assert body["transcript"][-1]["delivered"] is False
    assert body["live"]["available"] is False and body["live"]["detail"]


async def test_handing_back_resumes_the_bot(client, db, rasa):
    conversation_id = conversation()
    handoff, _ = await claimed(client, db, conversation_id)
    rasa.shopper_wrote(conversation_id, "thanks")
    path = f"{BASE}/{handoff['id']}/release"
    resp = await client.post(path, json={"resolution": "answered"}, headers=ADMIN)
    closed = await resp.json()
    assert resp.status == 200, closed
    assert (closed["status"], closed["agent"]) == ("closed", "Ana") and closed["closed_at"]
    events, execute = rasa.calls_to("/tracker/events"), rasa.calls_to("/execute")
    assert [e["event"] for e in events[-1]["body"]] == ["resume"]
    assert execute[-1]["body"] == {"name": "action_handoff_ended"}
    assert execute[-1]["query"] == {"output_channel": "latest", "include_events": "NONE"}
    [event] = await events_named(db, conversation_id, "handoff_resolved")
    assert (event.properties["reason"], event.properties["resolution"]) == (
        "asked_for_human", "answered")
    calls = len(rasa.calls)
    again = await client.post(path, json={}, headers=ADMIN)
    assert again.status == 200 and len(rasa.calls) == calls
    assert len(await events_named(db, conversation_id, "handoff_resolved")) == 1
    for suffix, body in [("/claim", {}), ("/messages", {"text": "hi"})]:
        resp = await client.post(f"{BASE}/{handoff['id']}{suffix}", json=body, headers=ADMIN)
        assert_problem(resp.status, resp.content_type, await resp.json(), 409)


async def test_handing_back_while_rasa_is_down_keeps_it_open(client, db, rasa):
    conversation_id = conversation()
    handoff, _ = await claimed(client, db, conversation_id)
    rasa.fail_with = 503
    resp = await client.post(f"{BASE}/{handoff['id']}/release", json={}, headers=ADMIN)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 502)
    assert "stays open" in problem["detail"]
    assert (await detail(client, handoff["id"]))["status"] == "active"
    assert await events_named(db, conversation_id, "handoff_resolved") == []


# --- the wire format, checked by Rasa itself -------------------------------------------------

CHECK_WITH_RASA = """
import json, sys
import jsonschema
from rasa.shared.core.events import Event
from rasa.shared.utils.schemas.events import EVENTS_SCHEMA
calls = json.load(sys.stdin)
parsed = []
for call in calls:
    if call["path"].endswith("/tracker/events"):
        body = call["body"] if isinstance(call["body"], list) else [call["body"]]
        jsonschema.validate(body, EVENTS_SCHEMA)
        parsed.append([type(Event.from_parameters(e)).__name__ for e in body])
        parsed[-1] += [getattr(Event.from_parameters(e), "key", None) for e in body]
        bot = [Event.from_parameters(e) for e in body if e["event"] == "bot"]
        parsed[-1] += [{k: b.message().get(k) for k in ("text", "custom")}
                       for b in bot]  # what Rasa sends the output channel
    elif call["path"].endswith("/execute"):
        assert isinstance(call["body"].get("name"), str) and call["body"]["name"]
        parsed.append(["execute", call["body"]["name"], call["query"]["output_channel"]])
print(json.dumps(parsed))
"""


async def test_recorded_bodies_are_valid_for_rasa_3_6(client, db, rasa):
    if not BOT_PYTHON.exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(".venv-bot is missing and AISLE_REQUIRE_SERVICES=1")
        pytest.skip(".venv-bot (Rasa 3.6) is not installed")
    conversation_id = conversation()
    handoff, headers = await claimed(client, db, conversation_id)
    rasa.shopper_wrote(conversation_id, "hi")
    await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Hello from Ana"},
                      headers=headers)
    await client.post(f"{BASE}/{handoff['id']}/release", json={}, headers=ADMIN)
    sent = [call for call in rasa.calls if call["method"] == "POST"]
    result = await asyncio.to_thread(
        subprocess.run, [str(BOT_PYTHON), "-c", CHECK_WITH_RASA], input=json.dumps(sent),
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        ["SlotSet", "BotUttered", "agent_name", None,
         {"text": None, "custom": {"data": {"text": "Hello from Ana", "agent": "Ana"}}}],
        ["ConversationResumed", None],
        ["execute", "action_handoff_ended", "latest"]]
