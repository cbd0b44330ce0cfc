"""Support inbox latency: how long a shopper's message takes to reach the agent, and an
agent's reply to reach the shopper, with 20 conversations held by 5 agents at once.

    python bench/inbox_latency.py [--messages 200] [--conversations 20] [--agents 5]
                                  [--replicas 1 2] [--database postgresql|sqlite]
                                  [--redis redis://127.0.0.1:6379/13]

Starts the whole assistant as `make run` does (tests/assistant_stack.py: a real Rasa with the
trained model, the action server, storefront_api, Rasa's tracker store on SQLite), once per
replica count, with the shop on a throwaway PostgreSQL database (the production topology:
several processes share PostgreSQL) or, with ``--database sqlite``, on the embedded
SQLite file. With two storefront_api replicas both get REDIS_URL (inbox changes fan out
through Redis pub/sub) and agents and their API calls are spread over both; with one, the
default in-process fan-out.

From this process: 5 agents, each with the inbox's live stream open (/inbox/events, a staff
bearer token), and 20 shoppers, each on the web chat's real socket (a token from
/api/chat/sessions, Socket.IO to Rasa), who ask for a person; each agent claims 4. Then
every conversation, concurrently and open loop, sends a message every 1-3 s, alternately:

- shopper -> agent: the shopper emits ``user_uttered`` (time t0) and the holding agent's
  stream delivers it as a ``message`` event (t1): Rasa records it in its tracker store,
  storefront_api's watch reads it (a few times a second) and pushes it. Measured where the
  agent's page gets it (the stream), before the browser draws it. Rasa's share is the
  tracker event's own timestamp minus t0, reported apart;
- agent -> shopper: the agent POSTs the reply (t0), storefront_api appends it to the
  conversation as a bot event with ``execute_side_effects`` (one call to Rasa), and Rasa
  emits ``bot_uttered`` on the shopper's socket (t1).

``--messages`` in each direction (p50, p95, max). Both clocks are this process's
(time.time for wall-clock comparisons with Rasa's timestamps). Goal: p95 under 500 ms.
Results in bench/results/inbox_latency_<database>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PY, log, server, write_result  # noqa: E402

from assistant_stack import SERVICE_TOKEN, AssistantStack  # noqa: E402  (tests/ on the path)
from local_processes import free_port  # noqa: E402
from socketio_client import RawSocket  # noqa: E402
from staff_accounts import make_staff, start_session  # noqa: E402

from databases import create_postgres_database, drop_postgres_database  # noqa: E402

from storefront_api.db import Database  # noqa: E402

GOAL_MS = 500


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95),
            "max_ms": round(max(values), 1) if values else None,
            "mean_ms": round(statistics.mean(values), 1) if values else None}


class Waiters:
    """Markers awaited: a reader that sees one resolves it with the time it arrived."""

    def __init__(self):
        self.pending: dict[str, asyncio.Future] = {}

    def expect(self, marker: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.pending[marker] = future
        return future

    def seen(self, text: str, payload=None) -> None:
        for marker in [m for m in self.pending if m in text]:
            future = self.pending.pop(marker)
            if not future.done():
                future.set_result((time.time(), payload))


async def agent_stream(http: aiohttp.ClientSession, url: str, headers: dict,
                       waiters: Waiters, handoffs: dict, ready: asyncio.Event) -> None:
    """Read one agent's /inbox/events; shoppers' messages resolve their markers."""
    async with http.get(f"{url}/inbox/events", headers=headers,
                        timeout=aiohttp.ClientTimeout(total=None)) as response:
        assert response.status == 200, await response.text()
        kind, data = None, []
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line and data:
                body = json.loads("".join(data))
                data = []
                if kind == "hello":
                    ready.set()
                elif kind == "handoff":
                    row = body["handoff"]
                    handoffs[row["conversation_id"]] = row["id"]
                elif kind == "message" and body["item"]["sender"] == "user":
                    waiters.seen(body["item"]["text"], body["item"]["ts"])


async def shopper_socket(rasa_url: str, token: str, waiters: Waiters) -> RawSocket:
    socket = await RawSocket.open(rasa_url)
    reply = await socket.connect({"token": token})
    assert reply.startswith("40"), reply
    return socket


async def read_socket(socket: RawSocket, waiters: Waiters, said: list[str]) -> None:
    while not socket.closed:
        packet = await socket.next_packet(timeout=3600)
        if packet and packet.startswith("42"):
            name, *rest = json.loads(packet[2:])
            if name == "bot_uttered" and rest and isinstance(rest[0], dict):
                text = str(rest[0].get("text") or "")
                said.append(text)
                waiters.seen(text)


async def staff_headers(stack: AssistantStack, count: int) -> list[dict]:
    db = Database(stack.environment()["DATABASE_URL"])
    try:
        headers = []
        for n in range(count):
            user = await make_staff(db, "agent", name=f"Agent {n + 1}")
            token, _ = await start_session(db, user, "bearer")
            headers.append({"Authorization": f"Bearer {token}"})
        return headers
    finally:
        await db.dispose()


async def measure(stack: AssistantStack, urls: list[str], args) -> dict:
    to_agent, to_shopper, rasa_share = Waiters(), Waiters(), []
    s2a, a2s = [], []
    handoffs: dict[str, int] = {}
    agents = await staff_headers(stack, args.agents)
    async with aiohttp.ClientSession() as http:
        readies, tasks = [], []
        for n, headers in enumerate(agents):  # agents spread over the replicas
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(agent_stream(
                http, urls[n % len(urls)], headers, to_agent, handoffs, ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)

        shoppers = []
        for n in range(args.conversations):
            async with http.post(f"{urls[n % len(urls)]}/api/chat/sessions", json={}) as r:
                session = await r.json()
            socket = await shopper_socket(stack.rasa_url, session["token"], to_shopper)
            said: list[str] = []
            tasks.append(asyncio.create_task(read_socket(socket, to_shopper, said)))
            await socket.emit("session_request", {"session_id": session["conversation_id"]})
            queued = to_shopper.expect("reference H-")
            await socket.emit("user_uttered", {"message": "I want to talk to a real person",
                                               "session_id": session["conversation_id"]})
            await asyncio.wait_for(queued, 30)
            shoppers.append((session["conversation_id"], socket))
        log(f"  {len(shoppers)} shoppers waiting; claiming")
        for n, (conversation, _) in enumerate(shoppers):
            while conversation not in handoffs:
                await asyncio.sleep(0.05)
            agent = n % args.agents
            async with http.post(f"{urls[agent % len(urls)]}/api/admin/support/handoffs/"
                                 f"{handoffs[conversation]}/claim", json={},
                                 headers=agents[agent]) as r:
                assert r.status == 200, await r.text()

        rounds = max(1, args.messages // args.conversations)
        rng = random.Random(7)

        async def talk(n: int, conversation: str, socket: RawSocket) -> None:
            agent = n % args.agents
            url = urls[agent % len(urls)]
            await asyncio.sleep(rng.uniform(0, 2))  # not all at the same instant
            for k in range(rounds):
                marker = f"s{n}x{k}x{uuid.uuid4().hex[:6]}"
                arrived = to_agent.expect(marker)
                sent = time.time()
                await socket.emit("user_uttered", {"message": f"question {marker}",
                                                   "session_id": conversation})
                at, recorded = await asyncio.wait_for(arrived, 30)
                s2a.append((at - sent) * 1000)
                recorded_at = _unix(recorded)
                if recorded_at:
                    rasa_share.append((recorded_at - sent) * 1000)
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                marker = f"a{n}x{k}x{uuid.uuid4().hex[:6]}"
                delivered = to_shopper.expect(marker)
                sent = time.time()
                async with http.post(f"{url}/api/admin/support/handoffs/"
                                     f"{handoffs[conversation]}/messages",
                                     json={"text": f"answer {marker}"},
                                     headers=agents[agent]) as r:
                    assert r.status == 201, await r.text()
                at, _ = await asyncio.wait_for(delivered, 30)
                a2s.append((at - sent) * 1000)
                await asyncio.sleep(rng.uniform(0.5, 1.5))

        started = time.monotonic()
        await asyncio.gather(*(talk(n, c, s) for n, (c, s) in enumerate(shoppers)))
        seconds = time.monotonic() - started
        for task in tasks:
            task.cancel()
        for _, socket in shoppers:
            await socket.close()
    return {"shopper_to_agent": summary(s2a), "agent_to_shopper": summary(a2s),
            "rasa_records_the_message": summary(rasa_share),
            "messages_per_second": round((len(s2a) + len(a2s)) / seconds, 1),
            "seconds": round(seconds, 1)}


def _unix(iso: str | None) -> float | None:
    if not iso:
        return None
    from datetime import datetime, timezone
    return datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=timezone.utc).timestamp()


def run(replicas: int, args) -> dict:
    log(f"==> {replicas} storefront_api replica(s), {args.database}")
    extra = {"RATE_LIMITS": "off"}  # one address sends everything (limits: bench/rate_limiter.py)
    if replicas > 1:
        extra["REDIS_URL"] = args.redis
    database = create_postgres_database("aisle_bench") if args.database == "postgresql" \
        else None
    if database:
        extra["DATABASE_URL"] = database
    try:
        return _run(replicas, args, extra)
    finally:
        if database:
            drop_postgres_database(database)


def _run(replicas: int, args, extra: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as folder, \
            AssistantStack(Path(folder), extra_environment=extra) as stack:
        urls = [stack.storefront_url]
        more = []
        for _ in range(replicas - 1):
            port = free_port()
            more.append(server([PY, "-m", "storefront_api", "serve", "--quiet", "--port",
                                str(port)], f"http://127.0.0.1:{port}/healthz",
                               env=stack.environment()))
            more[-1].__enter__()
            urls.append(f"http://127.0.0.1:{port}")
        try:
            result = asyncio.run(measure(stack, urls, args))
        finally:
            for replica in more:
                replica.__exit__(None, None, None)
    for direction in ("shopper_to_agent", "agent_to_shopper"):
        figures = result[direction]
        log(f"  {direction}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
            f"max {figures['max_ms']} ms ({figures['n']} messages)")
    log(f"  of which Rasa recording the shopper's message: p50 "
        f"{result['rasa_records_the_message']['p50_ms']} ms")
    return {"replicas": replicas, "database": args.database,
            "fan_out": "redis" if replicas > 1 else "in-process", **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="in each direction")
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--redis", default=os.environ.get("INBOX_BENCH_REDIS_URL",
                                                           "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    runs = [run(replicas, args) for replicas in args.replicas]
    met = all(r[d]["p95_ms"] is not None and r[d]["p95_ms"] < GOAL_MS
              for r in runs for d in ("shopper_to_agent", "agent_to_shopper"))
    write_result(f"inbox_latency_{args.database}", {
        "messages_each_way": args.messages, "conversations": args.conversations,
        "agents": args.agents, "goal_p95_ms": GOAL_MS, "goal_met": met,
        "measured_at": "shopper->agent: the agent's live stream (/inbox/events) as received; "
                       "agent->shopper: the shopper's web chat socket (bot_uttered)",
        "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
