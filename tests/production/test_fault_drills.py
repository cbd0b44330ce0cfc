"""Faults survived, on the production topology run natively (``make test-production``):
two Rasa replicas on PostgreSQL with the Redis lock store and RabbitMQ, two storefront_api
replicas sharing a port, the action server and the consumer of Rasa's events, all on a
PostgreSQL server of the test's own (tests/private_postgres.py), which a test restarts.

- 50 shoppers buy at once; in the middle, one Rasa replica, one storefront_api replica and
  the action server are killed with SIGKILL and started again. Every conversation carries
  on, through the other replica or after the restart, with its slots and its cart: one
  order each, never two, holding the one item added; no message answered twice; every event
  Rasa stored reaches the analytics store once.
- PostgreSQL restarted under chat load: the chat says "try again in a moment", the API
  answers 503 with Retry-After, and once the database is back every conversation goes on
  with the same processes (none restarted).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from chat_drill import APOLOGY, ChatDrill
from private_postgres import PrivatePostgres
from production_topology import (delete_queue, fetch, own_queue, production_environment,
                                 require_rabbitmq, tracker_event_ids,
                                 wait_until_analytics_has_every_event)

from assistant_stack import MODEL, RASA, AssistantStack

pytestmark = [pytest.mark.slow, pytest.mark.production]

SHOPPERS = 50


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    if not Path(RASA).exists() or not MODEL.exists():
        pytest.fail(f"the assistant is not installed and trained ({MODEL})", pytrace=False)
    require_rabbitmq()
    queue = own_queue()
    with PrivatePostgres() as server:
        shop, tracker = server.database("shop"), server.database("rasa")
        environment = {**production_environment(tracker), "ORDER_LOOKUPS_PER_MINUTE": "1000"}
        try:
            with AssistantStack(tmp_path_factory.mktemp("faults"),
                                endpoints="bot/endpoints.production.yml", rasa_replicas=2,
                                storefront_replicas=2, shop_database_url=shop,
                                rabbitmq_queue=queue, rasa_api_replica=1,
                                extra_environment=environment) as stack:
                yield server, stack, tracker
        finally:
            delete_queue(queue)


def answered_once(events: list[dict]) -> list[str]:
    """The ids of the user messages that got a real answer: each must appear once. A
    message whose answer included "try again in a moment" (the action server stayed away
    longer than ACTION_RETRY_SECONDS) was sent again, as the shopper was asked to, and ran
    again (bot/resilience.py): that first try is not an answer."""
    answered, current, said = [], None, []

    def close() -> None:
        if current is not None and not any(APOLOGY in t.lower() for t in said):
            answered.append(current)

    for event in events:
        if event["event"] == "user":
            close()
            current, said = event.get("message_id"), []
        elif event["event"] == "bot":
            said.append(event.get("text") or "")
    close()
    return sorted(answered)


async def _until(drill: ChatDrill, turns: int) -> None:
    while drill.turns_answered() < turns and not all(s.finished for s in drill.shoppers):
        await asyncio.sleep(0.2)


def test_fifty_conversations_survive_a_rasa_replica_a_storefront_replica_and_the_action_server_killed(  # noqa: E501
        topology):
    _, stack, tracker = topology
    drill = ChatDrill(stack, SHOPPERS, deadline=900)
    killed: dict[str, float] = {}

    async def faults(drill: ChatDrill) -> None:
        await _until(drill, 140)
        killed["rasa-0"] = time.time()
        stack.kill("rasa-0")  # its conversations go on through rasa-1 meanwhile
        rasa_back = asyncio.create_task(asyncio.to_thread(stack.restart, "rasa-0"))
        await _until(drill, 250)
        killed["storefront_api-0"] = time.time()
        stack.kill("storefront_api-0")  # storefront_api-1 shares the port
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.restart, "storefront_api-0")
        await _until(drill, 360)
        killed["actions"] = time.time()
        stack.kill("actions")  # Rasa calls the actions again until it is back
        await asyncio.to_thread(stack.restart, "actions")
        await rasa_back

    started = time.time()
    asyncio.run(drill.run(faults))
    report = drill.report(started, killed)
    print("fault drill:", report)  # pytest -s shows it; bench/scale_out.py keeps it
    assert set(killed) == {"rasa-0", "storefront_api-0", "actions"}, "the faults came too late"
    assert max(killed.values()) < report["finished_at"], "a fault came after the shopping"
    conversations = [s.conversation for s in drill.shoppers]
    assert all(s.finished for s in drill.shoppers)

    # one order each, never two, holding the one item that was added
    orders = asyncio.run(fetch(
        stack.database_url, "SELECT o.conversation_id, o.number, sum(l.quantity) AS units "
        "FROM orders o JOIN order_lines l ON l.order_id = o.id "
        "WHERE o.conversation_id = ANY($1::text[]) GROUP BY o.id", conversations))
    by_conversation = {}
    for row in orders:
        by_conversation.setdefault(row["conversation_id"], []).append(row)
    assert {c: len(rows) for c, rows in by_conversation.items()} == {c: 1 for c in conversations}
    assert {row["units"] for row in orders} == {1}
    for shopper in drill.shoppers:
        assert by_conversation[shopper.conversation][0]["number"] == shopper.order_number

    # the slots held across the faults: the order is of the cart the conversation filled;
    # each message was answered once
    carts = {row["conversation_id"]: row["token"] for row in asyncio.run(fetch(
        stack.database_url, "SELECT o.conversation_id, c.token FROM orders o JOIN carts c "
        "ON c.id = o.cart_id WHERE o.conversation_id = ANY($1::text[])", conversations))}
    for shopper in drill.shoppers:
        answer = stack.tracker(shopper.conversation, replica=1)
        slots = answer["slots"]
        assert slots["order_number"] == shopper.order_number
        assert slots["customer_email"] == shopper.email
        filled = [e["value"] for e in answer["events"]
                  if e["event"] == "slot" and e["name"] == "cart_id" and e["value"]]
        assert set(filled) == {carts[shopper.conversation]}, shopper.conversation
        assert answered_once(answer["events"]) == sorted(shopper.message_ids), \
            shopper.conversation
    retried = sum(1 for s in drill.shoppers for t in s.turns if t.attempts > 1)
    assert retried > 0  # the faults did hit conversations in flight

    # every event Rasa stored reached analytics, once
    assert len(tracker_event_ids(tracker, conversations)) > SHOPPERS * 20
    wait_until_analytics_has_every_event(tracker, stack.database_url, conversations,
                                         timeout=120)
    for name, waited in report["continued_after"].items():  # the dead replica's locks: 30 s
        assert waited["max_s"] < 90, (name, waited)


def test_a_postgresql_restart_under_load_fails_cleanly_and_aisle_recovers_by_itself(topology):
    server, stack, _ = topology
    pids = {name: stack.pid(name) for name in stack.processes}
    conversations = [f"pgrestart{index:02d}x{time.time_ns()}" for index in range(8)]
    answers: list[tuple[float, float, str, int]] = []  # (sent, answered, what it said, replica)
    api: list[tuple[float, int, str | None]] = []
    stopped: dict[str, float] = {}

    async def chat(http: aiohttp.ClientSession, conversation: str, index: int) -> None:
        url = stack.rasa_urls[index % 2] + "/webhooks/rest/webhook"
        while "back" not in stopped or time.time() < stopped["back"] + 8:
            text = ("show me hoodies", "what's your returns policy", "thanks")[len(answers) % 3]
            sent = time.time()
            async with http.post(url, json={"sender": conversation, "message": text}) as r:
                replies = await r.json()
            answers.append((sent, time.time(),
                            " ".join(str(x.get("text", "")) for x in replies), index % 2))
            await asyncio.sleep(0.3)

    async def shop(http: aiohttp.ClientSession) -> None:
        async with http.post(stack.storefront_url + "/api/carts") as created:
            cart = (await created.json())["token"]
        while "back" not in stopped or time.time() < stopped["back"] + 8:
            async with http.get(f"{stack.storefront_url}/api/carts/{cart}") as response:
                api.append((time.time(), response.status, response.headers.get("Retry-After")))
            await asyncio.sleep(0.2)

    async def restart() -> None:
        await asyncio.sleep(4)
        # from when the server is really gone (a fast shutdown still takes a moment on a
        # busy machine, and turns sent meanwhile may be answered and saved)
        await asyncio.to_thread(server.stop, "fast")
        stopped["down"] = time.time()
        await asyncio.sleep(6)
        await asyncio.to_thread(server.start)
        stopped["back"] = time.time()

    async def run() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http:
            await asyncio.gather(restart(), shop(http),
                                 *(chat(http, c, i) for i, c in enumerate(conversations)))

    asyncio.run(run())
    down, back = stopped["down"], stopped["back"]
    # a turn sent while the database was away (one already running when it stopped may
    # have finished before its save: on a busy machine a turn takes seconds; one that waited
    # for the database may be answered properly the moment it accepts connections, a
    # little before `pg_ctl start -w` returns)
    during = [(round(sent - down, 1), round(at - down, 1), text, replica)
              for sent, at, text, replica in answers if down + 1 < sent and at < back - 1]
    assert during and all(APOLOGY in text.lower() for _, _, text, _ in during), \
        (round(back - down, 1), [turn for turn in during if APOLOGY not in turn[2].lower()][:5])
    refused = [(status, retry) for at, status, retry in api if down + 1 < at < back - 1]
    assert refused and set(refused) == {(503, "5")}, set(refused)
    assert {status for _, status, _ in api} <= {200, 503}  # never a 500
    # and then every conversation is answered again, by the same processes
    after = [text for sent, _, text, _ in answers if sent > back + 5]
    assert after and not any(APOLOGY in text.lower() for text in after), after[:5]
    assert [status for at, status, _ in api if at > back + 5][-3:] == [200, 200, 200]
    assert {name: stack.pid(name) for name in stack.processes} == pids
