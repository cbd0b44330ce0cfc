"""The inbox's API on SQLite and PostgreSQL: the queue and one conversation as an agent sees
them, claims (exactly one of two simultaneous claims wins), transfer and release, notes the
shopper never sees, resolving with a rating, canned replies with placeholders, and the
events that feed the dashboard. Rasa is the recording stand-in of tests/support; its tracker
store is a real SQLite file written as Rasa writes it."""

from __future__ import annotations

import asyncio

import pytest
from aftersales_factories import ADMIN, make_order
from assistant_calls import SERVICE, from_the_assistant
from cart_helpers import assert_problem, cart_with, pick_variants
from inbox_helpers import (BASE, INBOX, ask_for_human, claim, conversation, events_named,
                           unique)
from staff_accounts import agent, bearer, make_staff


async def row_of(client, handoff_id: int, headers=ADMIN) -> dict:
    body = await (await client.get(INBOX, headers=headers)).json()
    return next(h for h in body["handoffs"] + body["resolved"] if h["id"] == handoff_id)


async def conversation_of(client, handoff_id: int, headers=ADMIN) -> dict:
    resp = await client.get(f"{INBOX}/{handoff_id}", headers=headers)
    body = await resp.json()
    assert resp.status == 200, body
    return body


# --- the queue -------------------------------------------------------------------------------

async def test_the_queue_shows_reason_wait_cart_value_and_verified_orders(client, db, tracker):
    conversation_id = conversation()
    variant, other = await pick_variants(db, 2, min_stock=3)
    cart = await cart_with(client, db, [(variant, 2)],
                           headers=from_the_assistant(conversation_id, "socketio"))
    verified = await make_order(db, [(other, 1)])
    handoff = await ask_for_human(client, conversation_id, reason="repeated_fallback",
                                  cart_token=cart["token"], email=verified["email"],
                                  order_numbers=[verified["number"]])
    complaint = await ask_for_human(client, conversation(),
                                    reason="asked_for_human_during_complaint_form")
    row = await row_of(client, handoff["id"])
    assert (row["reason_kind"], row["reason_label"]) == ("misunderstanding",
                                                          "Repeated misunderstanding")
    assert row["cart_value"]["amount"] == cart["totals"]["total"]["amount"] > 0
    assert row["cart_items"] == 2 and row["email_verified"] is True
    assert row["orders"] == [{"number": verified["number"], "status_label": "Awaiting preparation"}]
    assert row["status"] == "waiting" and row["position"] >= 1
    assert (await row_of(client, complaint["id"]))["reason_kind"] == "complaint"
    # the shopper writes while waiting; once an agent answers they no longer wait
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    tracker.user(conversation_id, "anyone?")
    assert (await row_of(client, handoff["id"]))["awaiting_reply_since"]
    resp = await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Hi!"},
                             headers=ana)
    assert resp.status == 201
    row = await row_of(client, handoff["id"])
    assert row["awaiting_reply_since"] is None and row["first_reply_at"]


async def test_two_agents_claiming_at_once_one_wins_the_other_is_told(client, db):
    for _ in range(3):
        handoff = await ask_for_human(client, conversation())
        ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
        answers = await asyncio.gather(*[
            client.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=h) for h in (ana, ben)])
        bodies = [await a.json() for a in answers]
        statuses = sorted(a.status for a in answers)
        assert statuses == [200, 409], bodies
        won = next(b for a, b in zip(answers, bodies) if a.status == 200)
        lost = next(b for a, b in zip(answers, bodies) if a.status == 409)
        assert lost["agent"] == won["agent"] and won["agent"] in lost["detail"]
        joined = await events_named(db, handoff["conversation_id"], "agent_joined")
        assert [e.properties["agent"] for e in joined] == [won["agent"]]


async def test_transfer_then_back_to_the_queue(client, db, rasa):
    handoff = await ask_for_human(client, conversation())
    ana_user, ben_user = await make_staff(db, "agent", name="Ana"), await make_staff(
        db, "agent", name="Ben")
    ana, ben = await bearer(db, ana_user), await bearer(db, ben_user)
    carl = await agent(db, "Carl")
    position = (await row_of(client, handoff["id"]))["position"]
    await claim(client, handoff["id"], ana)
    path = f"{BASE}/{handoff['id']}"
    resp = await client.post(f"{path}/transfer", json={"agent_id": ana_user.id}, headers=carl)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)  # not Carl's
    resp = await client.post(f"{path}/transfer", json={"agent_id": ben_user.id}, headers=ana)
    moved = await resp.json()
    assert resp.status == 200 and moved["agent"] == "Ben"
    resp = await client.post(f"{path}/messages", json={"text": "Ana again"}, headers=ana)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    assert (await client.post(f"{path}/messages", json={"text": "Ben here"},
                              headers=ben)).status == 201
    joined = await events_named(db, handoff["conversation_id"], "agent_joined")
    assert [(e.properties["agent"], e.properties["via"]) for e in joined] == [
        ("Ana", "claim"), ("Ben", "transfer")]
    resp = await client.post(f"{path}/unclaim", json={}, headers=carl)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    resp = await client.post(f"{path}/unclaim", json={}, headers=ben)
    assert resp.status == 200 and (await resp.json())["status"] == "waiting"
    row = await row_of(client, handoff["id"])
    assert (row["agent"], row["position"]) == (None, position)  # its place, not the back
    [left] = await events_named(db, handoff["conversation_id"], "agent_left")
    assert (left.properties["agent"], left.properties["via"]) == ("Ben", "unclaim")
    # an admin may hand anybody's conversation to someone else
    await claim(client, handoff["id"], carl)
    resp = await client.post(f"{path}/transfer", json={"agent_id": ana_user.id}, headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["agent"] == "Ana"


@pytest.mark.parametrize("who", ["merchant", "disabled", "nobody"])
async def test_transfer_only_to_an_active_agent(client, db, who):
    handoff = await ask_for_human(client, conversation())
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    target = 999_999_999
    if who != "nobody":
        user = await make_staff(db, "merchant" if who == "merchant" else "agent", name="X")
        target = user.id
        if who == "disabled":
            resp = await client.patch(f"/api/admin/staff/{user.id}", json={"disabled": True},
                                      headers=ADMIN)
            assert resp.status == 200, await resp.text()
    resp = await client.post(f"{BASE}/{handoff['id']}/transfer", json={"agent_id": target},
                             headers=ana)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 422)
    assert problem["errors"][0]["field"] == "agent_id"
    assert (await row_of(client, handoff["id"]))["agent"] == "Ana"


async def test_a_note_stays_in_the_shop(client, db, rasa):
    handoff = await ask_for_human(client, conversation())
    ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
    await claim(client, handoff["id"], ana)
    text = "<script>alert('x')</script> VIP, be nice"
    resp = await client.post(f"{BASE}/{handoff['id']}/notes", json={"text": text}, headers=ben)
    note = await resp.json()
    assert resp.status == 201 and (note["sender"], note["agent"], note["text"]) == (
        "note", "Ben", text)
    assert not any(text in str(call["body"]) for call in rasa.calls)  # never sent to Rasa
    shown = (await conversation_of(client, handoff["id"]))["transcript"]
    assert [(i["sender"], i["text"]) for i in shown if i["sender"] == "note"] == [("note", text)]
    for body in ({"text": ""}, {"text": "x" * 2001}, {"text": "hi", "agent": "Ana"}):
        resp = await client.post(f"{BASE}/{handoff['id']}/notes", json=body, headers=ben)
        assert_problem(resp.status, resp.content_type, await resp.json(), 422)


# --- ending it --------------------------------------------------------------------------------

async def test_resolving_asks_for_a_rating_and_the_answer_is_recorded(client, db, rasa):
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    assert (await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Hi"},
                              headers=ana)).status == 201
    rasa.calls.clear()
    resp = await client.post(f"{BASE}/{handoff['id']}/resolve", json={}, headers=ana)
    closed = await resp.json()
    assert resp.status == 200 and closed["status"] == "closed"
    events_call, execute = rasa.calls_to("/tracker/events")[0], rasa.calls_to("/execute")[0]
    assert [e["event"] for e in events_call["body"]] == ["resume"]
    assert execute["body"] == {"name": "action_ask_csat"}
    [resolved] = await events_named(db, conversation_id, "handoff_resolved")
    props = resolved.properties
    assert (props["outcome"], props["agent"], props["csat"]) == ("resolved", "Ana", None)
    assert 0 <= props["first_reply_seconds"] <= props["resolution_seconds"]
    [message] = await events_named(db, conversation_id, "agent_message")
    assert message.properties["first"] is True and message.properties["agent"] == "Ana"

    rating = {"conversation_id": conversation_id, "csat": 5}
    resp = await client.post("/api/support/handoffs/rating", json=rating, headers=SERVICE)
    assert resp.status == 200 and (await resp.json())["csat"] == 5
    [rated] = await events_named(db, conversation_id, "handoff_rated")
    assert (rated.properties["csat"], rated.properties["agent"]) == (5, "Ana")
    assert (await row_of(client, handoff["id"]))["csat"] == 5
    resp = await client.post("/api/support/handoffs/rating", json={**rating, "csat": 1},
                             headers=SERVICE)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)  # rated once
    resp = await client.post("/api/support/handoffs/rating",
                             json={"conversation_id": conversation(), "csat": 4},
                             headers=SERVICE)
    assert_problem(resp.status, resp.content_type, await resp.json(), 404)  # never asked
    for csat in (0, 6, "5", 4.5):
        resp = await client.post("/api/support/handoffs/rating",
                                 json={**rating, "csat": csat}, headers=SERVICE)
        assert_problem(resp.status, resp.content_type, await resp.json(), 422)
    assert len(await events_named(db, conversation_id, "handoff_rated")) == 1


async def test_a_rating_given_while_the_bot_is_still_asking_is_recorded(client, db, rasa):
    """The shopper sees the question (and may press 5) before storefront_api has heard
    back from Rasa and closed the handoff: the answer still counts, once."""
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    answers = []

    async def shopper_presses_5(conversation_id_: str, action: str) -> None:
        if action == "action_ask_csat":
            resp = await client.post("/api/support/handoffs/rating", headers=SERVICE,
                                     json={"conversation_id": conversation_id_, "csat": 5})
            answers.append((resp.status, await resp.json()))

    rasa.during_execute = shopper_presses_5
    resp = await client.post(f"{BASE}/{handoff['id']}/resolve", json={}, headers=ana)
    assert resp.status == 200, await resp.text()
    assert [status for status, _ in answers] == [200], answers
    row = await row_of(client, handoff["id"])
    assert (row["status"], row["csat"]) == ("closed", 5)
    [resolved] = await events_named(db, conversation_id, "handoff_resolved")
    assert resolved.properties["csat"] == 5
    assert len(await events_named(db, conversation_id, "handoff_rated")) == 1


async def test_a_rating_is_not_taken_when_rasa_could_not_ask(client, db, rasa):
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    rasa.fail_with = 500
    resp = await client.post(f"{BASE}/{handoff['id']}/resolve", json={}, headers=ana)
    assert_problem(resp.status, resp.content_type, await resp.json(), 502)
    rasa.fail_with = None
    assert (await row_of(client, handoff["id"]))["status"] == "active"
    resp = await client.post("/api/support/handoffs/rating", headers=SERVICE,
                             json={"conversation_id": conversation_id, "csat": 5})
    assert_problem(resp.status, resp.content_type, await resp.json(), 404)  # never asked


async def test_handing_back_says_nothing_about_a_rating(client, db, rasa):
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
    await claim(client, handoff["id"], ana)
    resp = await client.post(f"{BASE}/{handoff['id']}/release", json={}, headers=ben)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)  # Ana's
    assert rasa.calls_to("/execute") == []
    resp = await client.post(f"{BASE}/{handoff['id']}/release", json={}, headers=ana)
    assert resp.status == 200
    assert rasa.calls_to("/execute")[0]["body"] == {"name": "action_handoff_ended"}
    [resolved] = await events_named(db, conversation_id, "handoff_resolved")
    assert resolved.properties["outcome"] == "handed_back"
    assert resolved.properties["first_reply_seconds"] is None  # Ana never wrote
    resp = await client.post("/api/support/handoffs/rating",
                             json={"conversation_id": conversation_id, "csat": 5},
                             headers=SERVICE)
    assert_problem(resp.status, resp.content_type, await resp.json(), 404)


# --- the conversation ------------------------------------------------------------------------

async def test_the_conversation_has_the_bots_turns_what_the_shopper_did_and_filled_replies(
        client, db, tracker, rasa):
    conversation_id = conversation()
    chat = from_the_assistant(conversation_id, "socketio")
    variant, other = await pick_variants(db, 2, min_stock=3)
    tracker.user(conversation_id, "show me hoodies", ts=1_700_000_000)
    tracker.bot(conversation_id, "Here are 2 hoodies:", ts=1_700_000_001,
                custom={"data": {"cards": [{"title": "Grey hoodie"}, {"title": "Red hoodie"}]}})
    cart = await cart_with(client, db, [(variant, 1)], headers=chat)
    order = await make_order(db, [(other, 1)], conversation_id=conversation_id)
    handoff = await ask_for_human(client, conversation_id, cart_token=cart["token"])
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    tracker.user(conversation_id, "<b>still there?</b>")
    assert (await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Yes!"},
                              headers=ana)).status == 201
    # what the relay action said in the chat: the agent's message, kept by the shop already
    tracker.bot(conversation_id, None, custom={"data": {"text": "Yes!", "agent": "Ana"}})
    body = await conversation_of(client, handoff["id"], ana)
    said = [(i["sender"], i["text"]) for i in body["transcript"] if i["sender"] != "activity"]
    assert said == [("user", "show me hoodies"),
                    ("bot", "Here are 2 hoodies:\n[2 products: Grey hoodie, Red hoodie]"),
                    ("user", "<b>still there?</b>"), ("agent", "Yes!")]
    assert body["live"]["source"] == "tracker-store"
    did = [i["text"] for i in body["transcript"] if i["sender"] == "activity"]
    assert any(text.startswith(f"Added {variant['sku']}") for text in did), did
    assert "Asked for a person" in did and "Ana joined" in did
    assert len({i["key"] for i in body["transcript"]}) == len(body["transcript"])
    assert body["cart"]["token"] == cart["token"]
    assert [o["number"] for o in body["order_details"]] == [order["number"]]
    assert body["placeholders"] == {"first_name": "Test", "order_number": order["number"],
                                    "agent_name": "Ana", "shop_name": "Aisle Demo Shop",
                                    "reference": handoff["reference"]}
    hello = next(r for r in body["canned_replies"] if r["shortcut"] == "hello")
    assert hello["filled"].startswith("Hi Test, I'm Ana from Aisle Demo Shop.")


async def test_placeholders_fall_back_when_nothing_is_known(client, db):
    handoff = await ask_for_human(client, conversation())
    body = await conversation_of(client, handoff["id"])
    assert body["placeholders"]["first_name"] == "" and body["placeholders"]["order_number"] == ""
    replies = {r["shortcut"]: r["filled"] for r in body["canned_replies"]}
    assert replies["hello"].startswith("Hi there, I'm Admin from")
    assert "I'm looking at your order now" in replies["order"]


async def test_canned_replies_are_shared_and_only_admins_change_them(client, db):
    ana = await agent(db, "Ana")
    path = "/api/admin/support/canned-replies"
    shortcut = unique("t")
    body = {"shortcut": shortcut, "title": "Delivery", "text": "Hi {first_name|there}!"}
    for method, url in (("POST", path), ("PUT", f"{path}/1"), ("DELETE", f"{path}/1")):
        resp = await client.request(method, url, json=body if method != "DELETE" else None,
                                    headers=ana)
        assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    resp = await client.post(path, json=body, headers=ADMIN)
    made = await resp.json()
    assert resp.status == 201 and made["updated_by"] == "Admin"
    listed = (await (await client.get(path, headers=ana)).json())["canned_replies"]
    assert made in listed
    resp = await client.post(path, json=body, headers=ADMIN)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)  # taken
    resp = await client.put(f"{path}/{made['id']}", json={**body, "text": "Bye"}, headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["text"] == "Bye"
    for bad in ({**body, "shortcut": "Has Space"}, {**body, "text": ""},
                {**body, "title": "x" * 81}):
        resp = await client.post(path, json=bad, headers=ADMIN)
        assert_problem(resp.status, resp.content_type, await resp.json(), 422)
    assert (await client.delete(f"{path}/{made['id']}", headers=ADMIN)).status == 204
    resp = await client.delete(f"{path}/{made['id']}", headers=ADMIN)
    assert_problem(resp.status, resp.content_type, await resp.json(), 404)
