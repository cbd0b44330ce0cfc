"""The atomic Redis lock store against the real Redis on 127.0.0.1:6379: replicas (one
store and one connection each) racing for the same conversation's lock each get their own
ticket, are served one at a time, and a finishing replica never deletes a waiting one's
ticket."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid

import pytest
import redis
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import AtomicRedisLockStore

DB = 3  # a Redis database of the tests' own


@pytest.fixture
def replicas():
    """Eight lock stores on the same Redis, as eight Rasa replicas would have."""
    try:
        redis.StrictRedis(host="127.0.0.1", port=6379, db=DB).ping()
    except redis.ConnectionError as error:
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is not reachable on 127.0.0.1:6379: {error}", pytrace=False)
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    stores = [AtomicRedisLockStore(host="127.0.0.1", port=6379, db=DB, key_prefix=prefix)
              for _ in range(8)]
    yield stores
    for key in stores[0].red.scan_iter(f"{prefix}:*"):
        stores[0].red.delete(key)


def at_once(count: int, job) -> list:
    """``job(i)`` in ``count`` threads released at the same instant."""
    start, results = threading.Barrier(count), [None] * count

    def run(index: int) -> None:
        start.wait()
        results[index] = job(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_replicas_asking_at_the_same_moment_get_different_tickets(replicas):
    for round_ in range(20):
        conversation = f"c{round_}"
        tickets = at_once(len(replicas),
                          lambda i: replicas[i].issue_ticket(conversation, 30))
        assert sorted(tickets) == list(range(len(replicas))), tickets
        assert len(replicas[0].get_lock(conversation).tickets) == len(replicas)


def test_the_conversation_is_served_one_turn_at_a_time(replicas):
    inside, most, turns = [0], [0], []
    guard = threading.Lock()

    async def turn(store: AtomicRedisLockStore, index: int) -> None:
        async with store.lock("busy", lock_lifetime=30, wait_time_in_seconds=0.01):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            await asyncio.sleep(0.02)  # the turn's work
            with guard:
                inside[0] -= 1
                turns.append(index)

    at_once(len(replicas), lambda i: asyncio.run(turn(replicas[i], i)))
    assert most[0] == 1  # never two turns at once
    assert sorted(turns) == list(range(len(replicas)))
    assert replicas[0].get_lock("busy") is None  # the last one out deleted it


def test_finishing_never_deletes_a_ticket_issued_meanwhile(replicas):
    for round_ in range(30):
        conversation = f"d{round_}"
        first = replicas[0].issue_ticket(conversation, 30)

        def finish_or_ask(index: int):
            if index == 0:
                return replicas[0].cleanup(conversation, first)
            return replicas[1].issue_ticket(conversation, 30)

        _, second = at_once(2, finish_or_ask)
        lock = replicas[1].get_lock(conversation)
        assert lock is not None and second in [t.number for t in lock.tickets], round_
        replicas[1].cleanup(conversation, second)
        assert replicas[1].get_lock(conversation) is None


def test_rasa_builds_it_from_the_endpoints_file_settings(replicas):
    config = EndpointConfig(url="127.0.0.1", type="bot.lock_store.AtomicRedisLockStore",
                            port=6379, db=DB, key_prefix="aisle", password=None)
    store = RedisLockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix.startswith("aisle:")
    ticket = store.issue_ticket("from-config", 30)
    store.cleanup("from-config", ticket)
    assert store.get_lock("from-config") is None


def test_rasas_own_store_and_this_one_read_each_others_locks(replicas):
    ours = replicas[0]
    rasas = RedisLockStore(host="127.0.0.1", port=6379, db=DB,
                           key_prefix=ours.key_prefix.split(":")[0])
    first = ours.issue_ticket("mixed", 30)
    assert [t.number for t in rasas.get_lock("mixed").tickets] == [first]
    second = rasas.issue_ticket("mixed", 30)
    assert ours.issue_ticket("mixed", 30) == second + 1
    ours.cleanup("mixed", first)
    assert rasas.get_lock("mixed").now_serving == second  # the next in line is served
    rasas.finish_serving("mixed", second)
    ours.cleanup("mixed", second + 1)
    assert ours.get_lock("mixed") is None


async def test_a_dead_replicas_expired_ticket_no_longer_holds_the_conversation(replicas):
    replicas[1].issue_ticket("orphan", 0.05)  # a replica that died holding the lock
    await asyncio.sleep(0.1)
    started = time.monotonic()
    async with replicas[0].lock("orphan", lock_lifetime=30, wait_time_in_seconds=5) as lock:
        assert time.monotonic() - started < 1  # served at once, not after a 5 s wait
        assert len(lock.tickets) == 1  # its own ticket only
    assert replicas[0].get_lock("orphan") is None


async def test_a_turn_takes_and_gives_back_the_lock_in_two_round_trips(replicas, monkeypatch):
    store, sent = replicas[0], []
    store.issue_ticket("warm", 30)  # the script is loaded into Redis once
    real = store.red.execute_command

    def counted(*args, **kwargs):
        sent.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(store.red, "execute_command", counted)
    async with store.lock("quick", lock_lifetime=30):
        pass
    assert len(sent) == 2, sent
    assert store.get_lock("quick") is None
