"""The production topology's figures (issue "Scale-out that holds"), all in one run.

    python bench/scale_out.py [--quick] [--skip-faults] [--profile SECONDS]

The topology is docker-compose.yml's, run natively on this machine's services
(tests/assistant_stack.py, tests/production_topology.py): two Rasa replicas with
bot/endpoints.production.yml (PostgreSQL tracker store, Redis lock store, RabbitMQ event
broker, the sockets' shared Redis queue), the action server, two storefront_api replicas on
one PostgreSQL shop, and the consumer of Rasa's events into the analytics store. The load
comes from this second process. In order:

1. The bare bot: a `rasa init` project (DIET and TED, the same Rasa; trained once into
   var/bench/bare-bot/), its own `rasa run`, closed loop at 16 conversations (greetings,
   moods, affirm/deny, bot challenge, goodbyes). Then Aisle's capacity per Rasa process:
   the same closed loop at 16 conversations against one replica (searches, FAQs,
   thank-yous, as bench/chat_turns.py's capacity), on the embedded stack `make run` starts
   (SQLite, in-memory lock store) and on one replica of the production topology. The
   ratios are the figures that count (machines differ; only the same run compares). Beside
   turns/s, the CPU time the Rasa process took a turn in each closed loop, and its ratio:
   the steadier figure on a shared machine, where wall time also counts the others' use.
2. The same open-loop load (N conversations, one message each every interval) to one
   Rasa replica, then spread over two (each conversation on one replica): turns/s and the
   search turn's p50/p95. Meanwhile, the consumer of Rasa's events: events written per
   second and lag (Rasa's event time to the consumer's batch), p50/p95/max.
3. Push delivery across replicas: web chat sockets on replica 0, the shop's push
   (``trigger_intent`` EXTERNAL_order_shipped, ``output_channel=latest``) sent to replica 1;
   the time until the socket gets the message, p50/p95, beside the same push sent to the
   replica that holds the socket.
4. The consumer's own throughput: synthetic Rasa events published to a queue of its own,
   consumed into the analytics store (PostgreSQL) by ``python -m analytics
   consume-rasa-events``: events/s.
5. Faults (tests/production/'s drill): 50 shoppers buying at once; one Rasa replica, one
   storefront_api replica and the action server killed with SIGKILL in the middle: how long
   the conversations a kill hit took to get an answer again (median, max).

With ``--profile SECONDS`` (20 by default, none with --quick), py-spy (PY_SPY, default `py-spy` on the PATH) samples the Rasa
replica, the action server and a storefront_api replica for that long under the closed loop
of step 1, and the top functions of each go into the result: where a turn's CPU goes.

Results in bench/results/scale_out.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, log, write_result  # noqa: E402

from chat_turns import Chat, Messages, closed_loop, pct, summary  # noqa: E402
from assistant_stack import RASA, AssistantStack  # noqa: E402
from databases import create_postgres_database, drop_postgres_database  # noqa: E402
from local_processes import free_port  # noqa: E402
from production_topology import (AMQP, delete_queue, fetch, own_queue,  # noqa: E402
                                 production_environment, require_rabbitmq)
from socketio_client import RawSocket  # noqa: E402

BARE_DIR = ROOT / "var" / "bench" / "bare-bot"
BARE_MESSAGES = {
    "greet": ["hi", "hello", "hey there", "good morning", "good evening", "hey", "hello there"],
    "mood": ["I am sad", "very sad", "I'm feeling unhappy", "so sad", "I am great",
             "feeling amazing", "I'm good", "perfect, thanks"],
    "answer": ["yes", "no", "indeed", "not really", "of course", "never", "that sounds good"],
    "challenge": ["are you a bot?", "am I talking to a human?", "are you a human?"],
    "goodbye": ["bye", "goodbye", "see you later", "have a nice day", "cu"],
}
SHIPPED = re.compile(r"[A-Z]{2}-\d{5}")


# --- the bare bot ---------------------------------------------------------------------------

def bare_model() -> Path:
    """`rasa init`'s project, trained once (kept under var/bench/bare-bot/)."""
    models = sorted((BARE_DIR / "models").glob("*.tar.gz"))
    if models:
        return models[-1]
    if BARE_DIR.exists():
        shutil.rmtree(BARE_DIR)
    BARE_DIR.mkdir(parents=True)
    log(f"training the bare bot (rasa init, DIET and TED) into {BARE_DIR}: a few minutes")
    subprocess.run([RASA, "init", "--no-prompt", "--init-dir", str(BARE_DIR)], cwd=BARE_DIR,
                   env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"}, check=True,
                   stdout=subprocess.DEVNULL)
    return sorted((BARE_DIR / "models").glob("*.tar.gz"))[-1]


class BareBot:
    """`rasa run` of the bare bot on its defaults (in-memory tracker and lock stores)."""

    def __init__(self, model: Path) -> None:
        self.model, self.port = model, free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "BareBot":
        self.log = open(BARE_DIR / "rasa.log", "wb")
        self.proc = subprocess.Popen(
            [RASA, "run", "--model", str(self.model), "--port", str(self.port),
             "--interface", "127.0.0.1"], cwd=BARE_DIR, stdout=self.log,
            stderr=subprocess.STDOUT, env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
        deadline = time.monotonic() + 300
        import urllib.request
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).read()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bare bot did not start: see "
                                       f"{BARE_DIR / 'rasa.log'}")
                time.sleep(1)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def bare_closed_loop(url: str, concurrency: int, seconds: float) -> dict:
    rng = random.Random(11)
    plan = ["greet", "mood", "answer", "challenge", "goodbye"]
    latencies: list[float] = []
    silent = [0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        chat = Chat(http, url)
        senders = [f"bare-{uuid.uuid4().hex[:12]}" for _ in range(concurrency)]
        for sender in senders:  # past the session start, as Aisle's conversations
            await chat.turn(sender, "hi")
        deadline = time.perf_counter() + seconds

        async def worker(index: int, sender: str) -> None:
            turn = index
            while time.perf_counter() < deadline:
                text = rng.choice(BARE_MESSAGES[plan[turn % len(plan)]])
                elapsed, replies = await chat.turn(sender, text)
                silent[0] += not replies  # the moodbot may just listen (e.g. "no" out of turn)
                latencies.append(elapsed)
                turn += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i, s) for i, s in enumerate(senders)))
        wall = time.perf_counter() - started
    return {"concurrency": concurrency, "turns": len(latencies), "silent_turns": silent[0],
            "turns_per_s": round(len(latencies) / wall, 1), **summary(latencies)}


# --- Aisle: capacity, one replica against two -----------------------------------------------

class SpreadChat(Chat):
    """A Chat whose conversations each live on one of ``urls`` (in turn)."""

    def __init__(self, http, urls: list[str], api_headers) -> None:
        super().__init__(http, urls[0], api_headers)
        self.urls, self.home, self.next = urls, {}, 0

    async def turn(self, sender: str, text: str):
        url = self.home.get(sender)
        if url is None:
            url = self.home[sender] = self.urls[self.next % len(self.urls)]
            self.next += 1
        started = time.perf_counter()
        async with self.http.post(f"{url}/webhooks/rest/webhook",
                                  json={"sender": sender, "message": text}) as response:
            replies = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {replies}")
        return (time.perf_counter() - started) * 1000, replies


async def aisle_capacity(stack: AssistantStack, seconds: float, concurrency: int = 16) -> dict:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        chat = Chat(http, stack.rasa_urls[0], stack.rasa_headers)
        messages = Messages(seed=3)
        await closed_loop(chat, messages, 4, 5)  # warm: first searches, caches, pools
        return await with_cpu_per_turn(stack.pid("rasa-0"),
                                       closed_loop(chat, messages, concurrency, seconds))


async def with_cpu_per_turn(pid: int, loop) -> dict:
    """The closed loop's result, with the CPU time the Rasa process spent a turn in it
    (all its threads): steadier than turns/s on a shared machine, where the loop's wall
    time also counts what others take of the two cores. The Rasa process only: Aisle's turn
    also costs its action server, storefront_api and database, the bare bot's has no others;
    and the loop's first message of each conversation counts in the CPU, not in the turns."""
    before = _cpu_seconds(pid)
    result = await loop
    result["rasa_cpu_ms_per_turn"] = round(
        1000 * (_cpu_seconds(pid) - before) / max(1, result["turns"]), 1)
    return result


async def open_loop_on(stack: AssistantStack, replicas: int, conversations: int,
                       interval: float, seconds: float) -> dict:
    """bench/chat_turns.py's open loop, the conversations spread over ``replicas``."""
    from chat_turns import open_loop
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=300)) as http:
        chat = SpreadChat(http, stack.rasa_urls[:replicas], stack.rasa_headers)
        started = time.time()
        result = await open_loop(chat, Messages(seed=5 + replicas), conversations, interval,
                                 seconds)
    result["replicas"] = replicas
    result["consumer"] = await consumer_during(stack, started, time.time())
    return result


async def consumer_during(stack: AssistantStack, since: float, until: float) -> dict:
    """What the consumer of Rasa's events wrote of the events Rasa made in [since, until]:
    how many a second, and how long after Rasa's event time (a few seconds for the last
    ones to arrive)."""
    await asyncio.sleep(5)
    rows = await fetch(stack.database_url,
                       "SELECT extract(epoch FROM ts) AS ts, "
                       "extract(epoch FROM received_at) AS received FROM rasa_events "
                       "WHERE ts >= to_timestamp($1) AT TIME ZONE 'UTC' "
                       "AND ts <= to_timestamp($2) AT TIME ZONE 'UTC'", since, until)
    lags = [float(r["received"]) - float(r["ts"]) for r in rows]
    if not lags:
        return {"events": 0}
    return {"events": len(lags), "events_per_s": round(len(lags) / (until - since), 1),
            "lag_p50_s": round(pct(lags, 0.5), 3), "lag_p95_s": round(pct(lags, 0.95), 3),
            "lag_max_s": round(max(lags), 3)}


# --- pushes across replicas -----------------------------------------------------------------

async def push_delivery(stack: AssistantStack, sockets: int, rounds: int) -> dict:
    """Sockets on replica 0; each push sent to replica 1 (across) or replica 0 (same)."""
    across: list[float] = []
    same: list[float] = []

    async def read(socket: RawSocket, packets: asyncio.Queue) -> None:
        while not socket.closed:  # reading answers the server's pings meanwhile
            packet = await socket.next_packet(timeout=3600)
            if packet is not None:
                packets.put_nowait(packet)

    async def bot_said(packets: asyncio.Queue, needle: str) -> None:
        while True:
            packet = await asyncio.wait_for(packets.get(), 30)
            if packet.startswith("42") and "bot_uttered" in packet and needle in packet:
                return

    async with aiohttp.ClientSession() as http:
        opened, readers, held = [], [], []
        for _ in range(sockets):
            async with http.post(f"{stack.storefront_url}/api/chat/sessions", json={}) as r:
                assert r.status in (200, 201), await r.text()
                session = await r.json()
            socket = await RawSocket.open(stack.rasa_urls[0])
            reply = await socket.connect({"token": session["token"]})
            assert reply.startswith("40"), reply
            packets: asyncio.Queue = asyncio.Queue()
            readers.append(asyncio.create_task(read(socket, packets)))
            conversation = session["conversation_id"]
            await socket.emit("session_request", {"session_id": conversation})
            await socket.emit("user_uttered", {"message": "hi", "session_id": conversation})
            await bot_said(packets, "")  # the greeting: the conversation's channel is the socket
            opened.append((conversation, packets))
            held.append(socket)

        async def push(conversation: str, packets: asyncio.Queue, replica: int) -> float:
            number = f"BE-{random.randint(10000, 99999)}"
            started = time.perf_counter()
            async with http.post(
                    f"{stack.rasa_urls[replica]}/conversations/{conversation}/trigger_intent"
                    "?output_channel=latest", headers=stack.rasa_headers(),
                    json={"name": "EXTERNAL_order_shipped",
                          "entities": {"order_number": number}}) as r:
                assert r.status == 200, await r.text()
            await bot_said(packets, number)
            return (time.perf_counter() - started) * 1000

        for _ in range(rounds):
            for replica, bucket in ((1, across), (0, same)):
                times = await asyncio.gather(*(push(c, q, replica) for c, q in opened))
                bucket.extend(times)
        for reader in readers:
            reader.cancel()
        for socket in held:
            await socket.close()
    return {"sockets_on_replica_0": sockets, "pushes_per_kind": len(across),
            "across_replicas": summary(across), "same_replica": summary(same)}


# --- the consumer alone ---------------------------------------------------------------------

def consumer_throughput(database_url: str, events: int) -> dict:
    import pika
    queue = own_queue()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    now = time.time()
    conversation = f"bench-consumer-{uuid.uuid4().hex[:8]}"
    for i in range(events):
        body = {"sender_id": f"{conversation}-{i % 200}", "event": ("user", "action", "bot")[i % 3],
                "timestamp": now + i / 1000, "aisle_event_id": -(10**9 + i),
                "text": "show me hoodies", "name": "action_search_products",
                "parse_data": {"intent": {"name": "search_products", "confidence": 0.9}}}
        channel.basic_publish("", queue, json.dumps(body).encode(),
                              pika.BasicProperties(delivery_mode=2))
    connection.close()
    done = subprocess.run([sys.executable, "-m", "analytics", "consume-rasa-events",
                           "--events", database_url, "--queue", queue, "--batch", "500",
                           "--until-idle", "1"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "RABBITMQ_URL": AMQP}, timeout=900)
    delete_queue(queue)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    report = json.loads(done.stdout)
    written = report["written"]
    wall = max(0.1, report["seconds"] - 1)  # its own time, less the idle second that ends it
    asyncio.run(fetch(database_url, "DELETE FROM rasa_events WHERE conversation_id LIKE $1",
                      conversation + "-%"))
    return {"events": events, "written": written, "seconds": round(wall, 1),
            "events_per_s": round(written / wall, 0), "batch": 500}


# --- faults ---------------------------------------------------------------------------------

def fault_drill(stack: AssistantStack, shoppers: int) -> dict:
    from chat_drill import ChatDrill
    drill = ChatDrill(stack, shoppers, deadline=900)
    killed: dict[str, float] = {}
    total = shoppers * 11  # about eleven turns a shopper

    async def until(turns: int) -> None:
        while drill.turns_answered() < turns and not all(s.finished for s in drill.shoppers):
            await asyncio.sleep(0.2)

    async def faults(drill) -> None:
        await until(int(total * 0.25))
        killed["rasa-0"] = time.time()
        stack.kill("rasa-0")
        back = asyncio.create_task(asyncio.to_thread(stack.restart, "rasa-0"))
        await until(int(total * 0.45))
        killed["storefront_api-0"] = time.time()
        stack.kill("storefront_api-0")
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.restart, "storefront_api-0")
        await until(int(total * 0.65))
        killed["actions"] = time.time()
        stack.kill("actions")
        await asyncio.to_thread(stack.restart, "actions")
        await back

    started = time.time()
    asyncio.run(drill.run(faults))
    report = drill.report(started, killed)
    report.pop("finished_at", None)
    return report


# --- profile --------------------------------------------------------------------------------

def profile(stack: AssistantStack, seconds: float) -> dict:
    """py-spy on the Rasa replica, the action server and storefront_api under the closed
    loop: the share of samples per top function (own time) and per package (cumulative).
    Only the thread holding the GIL is sampled (``--gil``): where the Python CPU goes, not
    the threads waiting on a queue or a socket, nor native code that lets the GIL go
    (TensorFlow's kernels, numpy's), whose share it understates."""
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not spy:
        return {"skipped": "py-spy is not installed (PY_SPY=/path/to/py-spy)"}
    out = Path(tempfile.mkdtemp(prefix="aisle-profile-"))
    targets = {"rasa": stack.pid("rasa-0"), "actions": stack.pid("actions"),
               "storefront_api": stack.pid("storefront_api-0")}
    spies = {name: subprocess.Popen([spy, "record", "--pid", str(pid), "--duration",
                                     str(int(seconds)), "--format", "raw", "--rate", "100",
                                     "--gil", "--nonblocking",
                                     "--output", str(out / f"{name}.txt")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name, pid in targets.items()}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in targets.items()}
    load = asyncio.run(aisle_capacity(stack, seconds))
    cpu = {name: round(_cpu_seconds(pid) - cpu_before[name], 1)
           for name, pid in targets.items()}
    for proc in spies.values():
        proc.wait(timeout=seconds + 60)
    result = {"load": load, "cpu_seconds": cpu,
              "cpu_ms_per_turn": {name: round(1000 * used / max(1, load["turns"]), 1)
                                  for name, used in cpu.items()}}
    for name in targets:
        path = out / f"{name}.txt"
        result[name] = _collapse(path.read_text()) if path.exists() else {"no samples": 0}
    shutil.rmtree(out, ignore_errors=True)
    return result


def cpu_ratio(bare: dict, aisle: dict) -> float:
    """How many times less CPU a turn Aisle's Rasa process took than the bare bot's."""
    return round(bare["rasa_cpu_ms_per_turn"] / max(0.1, aisle["rasa_cpu_ms_per_turn"]), 2)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PACKAGES = (("rasa/core/policies", "rasa: policies (TED, rules, memoization)"),
            ("rasa/nlu", "rasa: NLU pipeline"), ("rasa/engine", "rasa: graph engine"),
            ("rasa/core/tracker_store", "rasa: tracker store"),
            ("rasa/core/lock_store", "rasa: lock store"),
            ("rasa/core/brokers", "rasa: event broker"),
            ("rasa/shared/core/trackers", "rasa: tracker (featurizing, replay)"),
            ("rasa/shared/core/events", "rasa: events"),
            ("rasa/core/featurizers", "rasa: featurizers"), ("rasa/", "rasa: other"),
            ("tensorflow", "tensorflow"), ("sqlalchemy", "sqlalchemy"),
            ("bot/", "aisle bot code"), ("storefront_api/", "storefront_api code"),
            ("sanic", "sanic"), ("aiohttp", "aiohttp"), ("asyncpg", "asyncpg"),
            ("psycopg2", "psycopg2"), ("json", "json"), ("asyncio", "asyncio"))


def _collapse(raw: str) -> dict:
    """py-spy's raw (collapsed) stacks: own time of the top functions, and the share of
    samples under each package (a sample counts once per package on its stack)."""
    own: Counter = Counter()
    under: Counter = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")  # the thread holding the GIL (--gil)
        total += samples
        own[frames[-1].split(" (")[0] + " " + _where(frames[-1])] += samples
        seen = set()
        for frame in frames:
            for needle, label in PACKAGES:
                if needle in frame:
                    if label not in seen:
                        under[label] += samples
                        seen.add(label)
                    break
    return {"busy_samples": total,
            "by_package_pct": {k: round(100 * v / total, 1) for k, v in under.most_common()}
            if total else {},
            "top_own_pct": {k: round(100 * v / total, 1) for k, v in own.most_common(12)}
            if total else {}}


def _where(frame: str) -> str:
    found = re.search(r"\(([^)]*)\)", frame)
    if not found:
        return ""
    path = found.group(1).rsplit(":", 1)[0]  # the file, not the line
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"({path})"


def step(result: dict, name: str, measure) -> None:
    """One measurement into ``result``; a failure is recorded (and the run goes on)."""
    try:
        result[name] = measure()
        log(f"   {json.dumps(result[name])[:600]}")
    except Exception as error:  # noqa: BLE001 - reported in the result and the exit code
        result[name] = {"failed": f"{type(error).__name__}: {error}"[:2000]}
        result.setdefault("failed_steps", []).append(name)
        log(f"   FAILED: {result[name]['failed']}")


# --- the run --------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, default=60.0, help="each closed/open loop")
    parser.add_argument("--conversations", type=int, default=24)
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between a conversation's messages (default: the open "
                             "loop offers 70 %% of one replica's closed-loop turns/s)")
    parser.add_argument("--sockets", type=int, default=20)
    parser.add_argument("--push-rounds", type=int, default=5)
    parser.add_argument("--consumer-events", type=int, default=30000)
    parser.add_argument("--shoppers", type=int, default=50)
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true",
                        help="no capacity of the embedded stack (SQLite, one Rasa)")
    parser.add_argument("--profile", type=float, default=20.0, metavar="SECONDS",
                        help="py-spy the processes this long (0: no profile)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.sockets, args.push_rounds = 15.0, 6, 2
        args.consumer_events, args.shoppers, args.profile = 5000, 12, 0.0
    require_rabbitmq()
    result: dict = {"settings": {k: v for k, v in vars(args).items()},
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "cpus": os.cpu_count()}

    model = bare_model()
    log("1. the bare bot (rasa init), closed loop at 16 conversations")
    with BareBot(model) as bare:
        asyncio.run(bare_closed_loop(bare.url, 4, 5))  # warm
        result["bare_bot"] = asyncio.run(with_cpu_per_turn(
            bare.proc.pid, bare_closed_loop(bare.url, 16, args.seconds)))
    log(f"   {result['bare_bot']['turns_per_s']} turns/s")

    (ROOT / "var").mkdir(exist_ok=True)
    if not args.skip_embedded:
        log("1. Aisle embedded (make run's stack: SQLite, one Rasa), closed loop at 16")
        with tempfile.TemporaryDirectory(prefix="aisle-embedded-", dir=ROOT / "var") as tmp:
            with AssistantStack(Path(tmp), products=2000) as embedded:
                result["aisle_embedded"] = asyncio.run(aisle_capacity(embedded, args.seconds))
        result["aisle_embedded_over_bare_bot"] = round(
            result["aisle_embedded"]["turns_per_s"] / result["bare_bot"]["turns_per_s"], 2)
        result["aisle_embedded_over_bare_bot_by_cpu"] = cpu_ratio(
            result["bare_bot"], result["aisle_embedded"])
        log(f"   {result['aisle_embedded']['turns_per_s']} turns/s, "
            f"{result['aisle_embedded_over_bare_bot']}x the bare bot; Rasa's CPU a turn "
            f"{result['aisle_embedded']['rasa_cpu_ms_per_turn']} ms, "
            f"{result['aisle_embedded_over_bare_bot_by_cpu']}x less than the bare bot's")
    shop, tracker = create_postgres_database("aisle_bench_shop"), \
        create_postgres_database("aisle_bench_rasa")
    queue = own_queue()
    try:
        with tempfile.TemporaryDirectory(prefix="aisle-topology-", dir=ROOT / "var") as tmp:
            log("starting the production topology (two Rasa replicas load the model)")
            with AssistantStack(Path(tmp), endpoints="bot/endpoints.production.yml",
                                rasa_replicas=2, storefront_replicas=2,
                                shop_database_url=shop, rabbitmq_queue=queue,
                                rasa_api_replica=1,
                                extra_environment={**production_environment(tracker),
                                                   "ORDER_LOOKUPS_PER_MINUTE": "1000"}
                                ) as stack:
                log("1. Aisle, one Rasa process, closed loop at 16 conversations")
                result["aisle"] = asyncio.run(aisle_capacity(stack, args.seconds))
                result["aisle_over_bare_bot"] = round(
                    result["aisle"]["turns_per_s"] / result["bare_bot"]["turns_per_s"], 2)
                result["aisle_over_bare_bot_by_cpu"] = cpu_ratio(result["bare_bot"],
                                                                 result["aisle"])
                log(f"   {result['aisle']['turns_per_s']} turns/s, "
                    f"{result['aisle_over_bare_bot']}x the bare bot; Rasa's CPU a turn "
                    f"{result['aisle']['rasa_cpu_ms_per_turn']} ms, "
                    f"{result['aisle_over_bare_bot_by_cpu']}x less than the bare bot's")
                if args.profile:
                    log(f"   profiling for {args.profile:.0f} s (py-spy)")
                    step(result, "profile", lambda: profile(stack, args.profile))
                if args.interval is None:
                    args.interval = round(args.conversations
                                          / (0.7 * result["aisle"]["turns_per_s"]), 2)
                    result["settings"]["interval"] = args.interval
                for replicas in (1, 2):
                    log(f"2. open loop: {args.conversations} conversations, one message each "
                        f"every {args.interval} s, on {replicas} replica(s)")
                    run = asyncio.run(open_loop_on(stack, replicas, args.conversations,
                                                   args.interval, args.seconds))
                    result[f"open_loop_{replicas}_replica{'s' if replicas > 1 else ''}"] = run
                    log(f"   {run['turns_per_s']} turns/s, search p95 "
                        f"{run.get('search', {}).get('p95_ms')} ms, consumer "
                        f"{run['consumer']}")
                log("3. push delivery across replicas")
                step(result, "push_delivery", lambda: asyncio.run(
                    push_delivery(stack, args.sockets, args.push_rounds)))
                log("4. the consumer's throughput")
                step(result, "consumer_throughput",
                     lambda: consumer_throughput(shop, args.consumer_events))
                if not args.skip_faults:
                    log(f"5. faults: {args.shoppers} shoppers, kills in the middle")
                    step(result, "faults", lambda: fault_drill(stack, args.shoppers))
    finally:
        delete_queue(queue)
        drop_postgres_database(shop)
        drop_postgres_database(tracker)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_result("scale_out", result)
    return 1 if result.get("failed_steps") else 0


if __name__ == "__main__":
    sys.exit(main())
