"""Two storefront_api replicas (two real apps on the same shop database, the same Rasa
tracker store and the same Redis): an agent whose inbox is open on either one sees every
change made through the other (a new handoff, a claim, a reply, a note, the shopper typing,
the grace period's release), what the shopper writes exactly once, and two agents claiming
the same conversation at once, one on each replica, cannot both get it."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from inbox_helpers import BASE, ask_for_human, chat_token, conversation, open_stream
from staff_accounts import agent
from test_inbox_streams import REDIS_URL, _redis_or_skip

from storefront_api.app import create_app


@pytest.fixture
async def replicas(aiohttp_client, settings):
    await _redis_or_skip(REDIS_URL)
    shared = replace(settings, redis_url=REDIS_URL)
    one = await aiohttp_client(create_app(shared, migrate=False))
    two = await aiohttp_client(create_app(shared, migrate=False))
    await asyncio.sleep(0.3)  # both subscribed to Redis
    return one, two


async def _next_about(stream, kind: str, handoff_id: int, timeout: float = 5.0):
    """The next ``kind`` event about ``handoff_id`` (other tests' handoffs may pass by)."""
    while True:
        _, data, _ = await stream.next(kind, timeout=timeout)
        found = data.get("handoff", data)
        if found.get("handoff_id", found.get("id")) == handoff_id:
            return data


async def test_an_agent_on_either_replica_sees_every_change(replicas, db, tracker, settings):
    one, two = replicas
    ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
    ana_inbox = await open_stream(two, "/inbox/events", ana)  # Ana's page is on replica two
    ben_inbox = await open_stream(one, "/inbox/events", ben)  # Ben's on replica one
    for stream in (ana_inbox, ben_inbox):
        await stream.next("hello")

    conversation_id = conversation()
    handoff = await ask_for_human(one, conversation_id)  # the bot asked replica one
    row = (await _next_about(ana_inbox, "handoff", handoff["id"]))["handoff"]
    assert row["status"] == "waiting"

    resp = await one.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=ben)
    assert resp.status == 200
    row = (await _next_about(ana_inbox, "handoff", handoff["id"]))["handoff"]
    assert (row["status"], row["agent"]) == ("active", "Ben")

    chat = await open_stream(two, f"/chat/events?token={chat_token(settings, conversation_id)}")
    await one.post(f"{BASE}/{handoff['id']}/typing", json={"typing": True}, headers=ben)
    _, typing, _ = await chat.next("typing")  # the shopper's page is on the other replica
    assert typing["typing"] is True

    resp = await one.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Ben here"},
                          headers=ben)
    assert resp.status == 201
    reply = await _next_about(ana_inbox, "message", handoff["id"])
    assert (reply["item"]["sender"], reply["item"]["text"]) == ("agent", "Ben here")
    await two.post(f"{BASE}/{handoff['id']}/notes", json={"text": "VIP"}, headers=ana)
    note = await _next_about(ben_inbox, "message", handoff["id"])
    if note["item"]["sender"] == "agent":  # Ben's own reply came first on his page
        note = await _next_about(ben_inbox, "message", handoff["id"])
    assert (note["item"]["sender"], note["item"]["text"]) == ("note", "VIP")

    # the shopper writes (Rasa records it): each replica's own watch reads it, once
    note = await _next_about(ana_inbox, "message", handoff["id"])
    assert (note["item"]["sender"], note["item"]["text"]) == ("note", "VIP")
    await asyncio.sleep(1.2)  # replica two learned of the handoff from the database
    tracker.user(conversation_id, "is anyone there?")
    for stream in (ana_inbox, ben_inbox):
        said = await _next_about(stream, "message", handoff["id"])
        assert (said["item"]["sender"], said["item"]["text"]) == ("user", "is anyone there?")
    for stream in (ana_inbox, ben_inbox):
        try:
            again = await _next_about(stream, "message", handoff["id"], timeout=1.0)
        except (AssertionError, asyncio.TimeoutError):
            continue
        assert again["item"]["text"] != "is anyone there?", "delivered twice"
    for stream in (ana_inbox, ben_inbox, chat):
        stream.response.close()


async def test_two_agents_on_two_replicas_claim_at_once_one_wins(replicas, db):
    one, two = replicas
    for _ in range(3):
        handoff = await ask_for_human(one, conversation())
        ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
        answers = await asyncio.gather(
            one.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=ana),
            two.post(f"{BASE}/{handoff['id']}/claim", json={}, headers=ben))
        statuses = sorted(resp.status for resp in answers)
        assert statuses == [200, 409], statuses
        winner = "Ana" if answers[0].status == 200 else "Ben"
        lost = await answers[1 if winner == "Ana" else 0].json()
        assert f"{winner} is already talking with this shopper" in lost["detail"]
