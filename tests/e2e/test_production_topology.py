"""The production topology of docker-compose.yml, run natively on this machine's services:
two Rasa replicas with bot/endpoints.production.yml (PostgreSQL tracker store, Redis lock
store, RabbitMQ event broker), one action server, storefront_api. One conversation's
messages go to either replica, also at the same moment: the conversation carries on as if
there were one server, nothing is lost or doubled, and every event reaches RabbitMQ once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import _missing
from sqlalchemy.engine import make_url

from databases import create_postgres_database, drop_postgres_database

from assistant_stack import MODEL, RASA, AssistantStack, http_json, texts

pytestmark = pytest.mark.slow

QUEUE = "rasa_events"  # bot/endpoints.production.yml
# Reads what RabbitMQ holds for one conversation (aio-pika, as Rasa's broker uses it).
DRAIN = """
import asyncio, json, sys
import aio_pika

async def main(queue_name):
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        found = []
        while True:
            message = await queue.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                break
            found.append(json.loads(message.body))
        print(json.dumps(found))

asyncio.run(main(sys.argv[1]))
"""


def drain_rabbitmq() -> list[dict]:
    done = subprocess.run([RASA.replace("/rasa", "/python"), "-c", DRAIN, QUEUE],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        _missing(f"RabbitMQ is not reachable on 127.0.0.1:5672: {done.stderr[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tracker_database():
    """A PostgreSQL database of its own for Rasa's tracker store, as in production."""
    url = create_postgres_database("aisle_rasa")
    yield url
    drop_postgres_database(url)


async def _user_events_stored(url: str, sender: str) -> int:
    import asyncpg
    connection = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM events WHERE sender_id = $1 AND type_name = 'user'", sender)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def production(tmp_path_factory, tracker_database):
    if not Path(RASA).exists() or not MODEL.exists():
        _missing("the assistant is not installed and trained: run `make train`")
    drain_rabbitmq()  # what earlier runs left in the queue
    rasa_url = make_url(tracker_database).set(drivername="postgresql")  # psycopg2, in Rasa
    environment = {"TRACKER_STORE_URL": rasa_url.render_as_string(hide_password=False),
                   "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_PASSWORD": "",
                   "REDIS_LOCK_DB": "1", "RABBITMQ_HOST": "127.0.0.1",
                   "RABBITMQ_USER": "guest", "RABBITMQ_PASSWORD": "guest"}
    with AssistantStack(tmp_path_factory.mktemp("production"),
                        endpoints="bot/endpoints.production.yml", rasa_replicas=2,
                        extra_environment=environment) as stack:
        yield stack


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

    # Stored once each, and every one streamed to RabbitMQ once, in order.
    assert asyncio.run(_user_events_stored(tracker_database, sender)) == len(typed)
    streamed = [e for e in drain_rabbitmq() if e.get("sender_id") == sender]
    assert [e["text"] for e in streamed if e["event"] == "user"] == typed
