"""The production topology of docker-compose.yml, run natively on this machine's services:
two Rasa replicas with bot/endpoints.production.yml (PostgreSQL tracker store, Redis lock
store, RabbitMQ event broker, the sockets' shared Redis queue), one action server,
storefront_api, and the consumer of Rasa's events into the analytics store. One
conversation's messages go to either replica, also at the same moment: the conversation
carries on as if there were one server, nothing is lost or doubled, and every event reaches
analytics once. The web chat in Chromium holds its socket on one replica while the shop's
payment confirmation reaches the other: the shopper sees it.

The same topology with replicas killed in the middle of 50 conversations, and PostgreSQL
restarted under load: tests/production/ (make test-production)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import _missing

from databases import create_postgres_database, drop_postgres_database

from assistant_stack import MODEL, RASA, AssistantStack, http_json, texts
from production_topology import (delete_queue, fetch, own_queue, production_environment,
                                 require_rabbitmq, wait_until_analytics_has_every_event)
from test_chat_in_browser import (ADDRESS, EMAIL, MEMORY, add_first_result, bot_texts,  # noqa: F401
                                  browser, say, settled)
from test_conversations import pay_by_card

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracker_database():
    """A PostgreSQL database of its own for Rasa's tracker store, as in production."""
    url = create_postgres_database("aisle_rasa")
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="module")
def production(tmp_path_factory, tracker_database):
    if not Path(RASA).exists() or not MODEL.exists():
        _missing("the assistant is not installed and trained: run `make train`")
    require_rabbitmq()
    queue = own_queue()
    try:
        # the web chat's socket on replica 0, storefront_api's calls (pushes) to replica 1
        with AssistantStack(tmp_path_factory.mktemp("production"),
                            endpoints="bot/endpoints.production.yml", rasa_replicas=2,
                            extra_environment=production_environment(tracker_database),
                            rabbitmq_queue=queue, socket_replica=0,
                            rasa_api_replica=1) as stack:
            yield stack
    finally:
        delete_queue(queue)


def user_texts(tracker: dict) -> list[str]:
    return [event["text"] for event in tracker["events"] if event["event"] == "user"]


def test_a_conversation_moves_between_replicas_and_nothing_is_lost(production,
                                                                  tracker_database):
    sender = f"prod-{uuid.uuid4().hex[:10]}"
    sent = []

    def say(text: str, replica: int) -> str:
        sent.append(text)
        return texts(production.say(sender, text, replica=replica))

    assert "found" in say("show me hoodies", 0)
    # The other replica knows what was shown: it reads the conversation the first wrote.
    details = say("the second one", 1)
    shown = production.tracker(sender)["slots"]["search_results"]
    assert shown[1]["name"].lower() in details, (shown, details)
    answer = say("add it", 0)
    for replica in (1, 0, 1):  # the size, then the colour, answered on alternate replicas
        asked = [line for line in answer.splitlines() if "available" in line]
        if not asked:
            break
        answer = say(asked[0].split(":")[-1].split(",")[0].strip(" ."), replica)
    assert "added" in answer, answer
    status, cart = production.api("GET", f"/api/carts/{production.slot(sender, 'cart_id')}")
    assert status == 200 and cart["item_count"] == 1, cart

    # The same conversation on both replicas at the same moment, three times: the lock in
    # Redis makes them take turns, and every turn is kept.
    together = [("what's in my cart?", 0), ("how long does shipping take", 1),
                ("do you ship to canada", 0), ("what's your returns policy", 1),
                ("thanks", 0), ("show me jeans", 1)]
    for pair in (together[0:2], together[2:4], together[4:6]):
        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda job: production.say(sender, *job), pair))
        assert all(replies), replies
    typed = user_texts(production.tracker(sender))
    assert typed[:len(sent)] == sent, typed
    assert sorted(typed[len(sent):]) == sorted(text for text, _ in together), typed
    for url in production.rasa_urls:  # every replica reads the same conversation
        status, seen = http_json("GET", f"{url}/conversations/{sender}/tracker",
                                 headers=production.rasa_headers())
        assert status == 200 and user_texts(seen) == typed

    # Stored once each, and every one written to the analytics store once.
    stored = asyncio.run(fetch(tracker_database, "SELECT type_name FROM events WHERE "
                                "sender_id = $1", sender))
    assert sum(row["type_name"] == "user" for row in stored) == len(typed)
    wait_until_analytics_has_every_event(tracker_database, production.database_url, [sender])


async def test_a_payment_confirmed_through_one_replica_reaches_the_web_chat_on_the_other(
        production, browser):
    """The page's socket lives on replica 0; storefront_api tells replica 1 (its RASA_URL)
    that the payment landed; replica 1 emits to the conversation's room on the shared
    queue, and replica 0 sends it down the socket."""
    assert production.rasa_urls[0] in production.environment()["CHAT_SOCKET_URL"]
    assert production.environment()["RASA_URL"] == production.rasa_urls[1]
    page = await browser.new_page(viewport={"width": 420, "height": 820})
    await page.goto(f"{production.storefront_url}/chat")
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    conversation = (await page.evaluate(MEMORY))["conversationId"]
    await add_first_result(page, "I'm looking for a t-shirt")
    assert EMAIL.search(await say(page, "checkout"))
    assert "ship" in await say(page, f"replicas-{uuid.uuid4().hex[:8]}@example.com")
    assert "standard" in await say(page, ADDRESS)
    assert "payment link" in await say(page, "standard please")
    before = await page.locator(".aisle-chat__msg--bot").count()
    await page.fill(".aisle-chat__input", "yes")
    await page.press(".aisle-chat__input", "Enter")
    await settled(page, before)
    link = await page.locator(".aisle-chat__bubble a", has_text="/pay/").last.get_attribute(
        "href")
    paid = await asyncio.to_thread(pay_by_card, link)
    number = re.search(r"[A-Z]{2}-\d{5}", paid).group(0)
    deadline = time.monotonic() + 30
    while not any("payment received" in text.lower() and number in text
                  for text in await bot_texts(page)):
        assert time.monotonic() < deadline, await bot_texts(page)
        await asyncio.sleep(0.3)
    assert production.tracker(conversation, replica=1)["slots"]["order_number"] == number
    await page.close()
