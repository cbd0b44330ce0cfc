"""The live streams: an agent's inbox hears claims, replies, notes and what held shoppers
write (read from Rasa's tracker store as Rasa writes it), reconnects without losing a
notice; a shopper's chat page hears the agent typing; with Redis two processes share every
change. Real server-sent events over HTTP, a real SQLite tracker store, a real Redis."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
from aftersales_factories import ADMIN
from inbox_helpers import (BASE, ask_for_human, chat_token, claim, conversation,
                           open_stream)
from staff_accounts import agent

from storefront_api.inbox.hub import INBOX, InboxHub, chat_topic

REDIS_URL = os.environ.get("AISLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


async def test_an_inbox_hears_claims_replies_notes_and_what_the_shopper_writes(
        client, db, tracker, settings, rasa):
    ana, ben = await agent(db, "Ana"), await agent(db, "Ben")
    stream = await open_stream(client, "/inbox/events", ana)
    _, hello, _ = await stream.next("hello")
    assert (hello["agent"], hello["live_messages"]) == ("Ana", True)
    assert hello["targets"] == {"amber": 60, "red": 180}

    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    _, new, _ = await stream.next("handoff")
    assert (new["handoff"]["id"], new["handoff"]["status"]) == (handoff["id"], "waiting")
    await claim(client, handoff["id"], ben)
    _, claimed, first_id = await stream.next("handoff")
    assert (claimed["handoff"]["agent"], claimed["handoff"]["status"]) == ("Ben", "active")

    written = time.monotonic()
    tracker.user(conversation_id, "<img src=x onerror=alert(1)> hello?")
    _, message, _ = await stream.next("message", timeout=3)
    assert time.monotonic() - written < 1.5  # polled a few times a second
    assert message["handoff_id"] == handoff["id"]
    assert (message["item"]["sender"], message["item"]["text"]) == (
        "user", "<img src=x onerror=alert(1)> hello?")

    resp = await client.post("/api/chat/typing", json={
        "token": chat_token(settings, conversation_id), "typing": True})
    assert resp.status == 204
    _, typing, _ = await stream.next("typing")
    assert (typing["handoff_id"], typing["who"], typing["typing"]) == (handoff["id"], "shopper",
                                                                       True)
    resp = await client.post(f"{BASE}/{handoff['id']}/messages", json={"text": "Ben here"},
                             headers=ben)
    assert resp.status == 201
    _, reply, _ = await stream.next("message")
    assert (reply["item"]["sender"], reply["item"]["text"]) == ("agent", "Ben here")
    await client.post(f"{BASE}/{handoff['id']}/notes", json={"text": "VIP"}, headers=ana)
    _, note, _ = await stream.next("message")
    assert (note["item"]["sender"], note["item"]["agent"]) == ("note", "Ana")
    stream.response.close()

    # a page that reconnects gets what it missed, in order, and nothing twice
    await client.post(f"{BASE}/{handoff['id']}/notes", json={"text": "while away"},
                      headers=ana)
    again = await open_stream(client, "/inbox/events", {**ana, "Last-Event-ID": first_id})
    _, hello, _ = await again.next("hello")
    assert hello["resumed"] is True
    kinds = [(await again.next())[0] for _ in range(5)]
    assert kinds.count("message") >= 2 and "resync" not in kinds
    again.response.close()
    lost = await open_stream(client, "/inbox/events", {**ana, "Last-Event-ID": "gone.12"})
    assert (await lost.next())[0] == "hello"
    assert (await lost.next())[0] == "resync"
    lost.response.close()


async def test_a_message_sent_while_the_agent_was_away_is_there_when_they_come_back(
        client, db, tracker):
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    ana = await agent(db, "Ana")
    await claim(client, handoff["id"], ana)
    tracker.user(conversation_id, "are you still there?")  # nobody's inbox is open
    resp = await client.get(f"/api/admin/support/inbox/{handoff['id']}", headers=ana)
    said = [(i["sender"], i["text"]) for i in (await resp.json())["transcript"]
            if i["sender"] == "user"]
    assert ("user", "are you still there?") in said


async def test_a_chat_page_hears_its_agent_typing_and_nothing_of_other_conversations(
        client, db, settings):
    mine, other = conversation(), conversation()
    handoffs = [await ask_for_human(client, c) for c in (mine, other)]
    ana = await agent(db, "Ana")
    for handoff in handoffs:
        await claim(client, handoff["id"], ana)
    page = await open_stream(client, f"/chat/events?token={chat_token(settings, mine)}")
    resp = await client.post(f"{BASE}/{handoffs[1]['id']}/typing", json={"typing": True},
                             headers=ana)
    assert resp.status == 204
    await page.nothing("typing", 0.5)  # the other conversation's agent typing
    resp = await client.post(f"{BASE}/{handoffs[0]['id']}/typing", json={"typing": True},
                             headers=ana)
    assert resp.status == 204
    _, typing, _ = await page.next("typing")
    assert typing == {"typing": True, "agent": "Ana"}
    page.response.close()


async def test_the_watch_reads_again_what_was_committed_late(client, db, tracker):
    """A row whose id was taken before a row already pushed (two Rasa replicas writing to
    PostgreSQL at once) still reaches the inbox, and nothing comes twice."""
    ana = await agent(db, "Ana")
    conversation_id = conversation()
    await ask_for_human(client, conversation_id)
    stream = await open_stream(client, "/inbox/events", ana)
    await stream.next("hello")
    first = tracker.user(conversation_id, "first")
    assert (await stream.next("message"))[1]["item"]["text"] == "first"
    tracker.user(conversation_id, "second", row_id=first + 100)
    assert (await stream.next("message"))[1]["item"]["text"] == "second"
    tracker.user(conversation_id, "committed late", row_id=first + 50)
    assert (await stream.next("message"))[1]["item"]["text"] == "committed late"
    await stream.nothing("message", 0.8)
    stream.response.close()


async def _redis_or_skip(url: str) -> None:
    import redis.asyncio as redis
    client = redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception:
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is not reachable at {url}")
        pytest.skip(f"Redis is not reachable at {url}")
    finally:
        await client.aclose()


async def test_two_processes_share_inbox_changes_through_redis():
    await _redis_or_skip(REDIS_URL)
    one, two = InboxHub(REDIS_URL), InboxHub(REDIS_URL)
    await one.start()
    await two.start()
    try:
        listener = two.listen(INBOX)
        chat = two.listen(chat_topic("c1"))
        await asyncio.sleep(0.3)  # both subscribed
        marker = uuid.uuid4().hex
        await one.publish(INBOX, "handoff", {"marker": marker})
        await one.publish(chat_topic("c1"), "typing", {"typing": True})
        await one.publish(INBOX, "message", {"marker": "local"}, everywhere=False)
        notice = await asyncio.wait_for(listener.queue.get(), 3)
        assert (notice.kind, notice.data) == ("handoff", {"marker": marker})
        assert notice.id.startswith(two.process + ".")
        assert (await asyncio.wait_for(chat.queue.get(), 3)).kind == "typing"
        await asyncio.sleep(0.3)
        assert listener.queue.empty()  # this process's own notices stay here
    finally:
        await one.close()
        await two.close()


async def test_an_admin_script_can_follow_the_inbox_with_a_bearer_token(client):
    stream = await open_stream(client, "/inbox/events", ADMIN)
    _, hello, _ = await stream.next("hello")
    assert (hello["agent"], hello["role"]) == ("Admin", "admin")
    stream.response.close()
