"""Chat turn latency over Rasa's REST channel, with the action server and the API on SQLite.

    python bench/chat_turns.py [--quick]

Starts the whole assistant (tests/assistant_stack.py: storefront_api on a seeded SQLite shop,
the action server, a real Rasa server with bot/models/aisle.tar.gz), then, from this second
process:

- floors measured in the same run: `POST /model/parse` alone, and a turn answered by a plain
  response with no custom action ("thanks" -> utter_thanks);
- (a) one conversation at a time: a search turn, an add-to-cart turn and an FAQ turn;
- (b) 20 conversations, each sending a message every 2 seconds on a fixed schedule (open
  loop: a slow reply does not delay the next message), 10 turns/s in all, cycling
  search -> add to cart -> FAQ;
- the most turns/s one Rasa process sustains (closed loop, rising concurrency).

Figures: p50/p95 per turn kind, and each against the floors. Results in
bench/results/chat_turns.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, log, write_result  # noqa: E402

from assistant_stack import AssistantStack  # noqa: E402  (tests/ is on the path via harness)

SEARCHES = ["show me hoodies under 80", "do you have red t-shirts", "i need running shoes",
            "black jeans in size M", "looking for a jacket between 50 and 150 dollars"]
ADD = "add the first one to my cart"
FAQS = ["what payment methods do you accept?", "how long does shipping take",
        "what is your return policy", "how can I contact you"]
PLAIN = "thanks"
PARSE_TEXT = "show me red hoodies under 80"


CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)


def first_choice(replies: list[dict]) -> str | None:
    """The first size or colour the bot offered, when its reply asks for one."""
    asked = CHOICES.search("\n".join(str(r.get("text", "")) for r in replies))
    return asked.group(1).split(",")[0].strip() if asked else None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(pct(values, 0.95), 1), "max_ms": round(max(values), 1)}


class Chat:
    def __init__(self, http: aiohttp.ClientSession, rasa_url: str) -> None:
        self.http, self.rasa_url = http, rasa_url

    async def turn(self, sender: str, text: str) -> tuple[float, list]:
        started = time.perf_counter()
        async with self.http.post(f"{self.rasa_url}/webhooks/rest/webhook",
                                  json={"sender": sender, "message": text}) as response:
            replies = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {replies}")
        return (time.perf_counter() - started) * 1000, replies

    async def parse(self, text: str) -> float:
        started = time.perf_counter()
        async with self.http.post(f"{self.rasa_url}/model/parse", json={"text": text}) as r:
            await r.read()
        return (time.perf_counter() - started) * 1000

    async def new_conversation(self) -> str:
        """A conversation past its session start, so turns measure steady state."""
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        await self.turn(sender, "hi")
        return sender


async def shopping_turns(chat: Chat, sender: str, search: str, faq: str) -> dict[str, float]:
    """One search, one add to cart of the first result, one FAQ; the add-to-cart turn is
    answered in full (a size question counts as a turn: the shopper's answer is another)."""
    timings = {}
    timings["search"], _ = await chat.turn(sender, search)
    timings["add_to_cart"], replies = await chat.turn(sender, ADD)
    for _ in range(2):  # a size, then a colour, may be asked: answer with the first offered
        choice = first_choice(replies)
        if choice is None:
            break
        timings.setdefault("variant_answer", (await chat.turn(sender, choice))[0])
    timings["faq"], _ = await chat.turn(sender, faq)
    return timings


async def sequential(chat: Chat, rounds: int) -> dict:
    kinds: dict[str, list[float]] = {"parse": [], "plain": [], "search": [],
                                     "add_to_cart": [], "variant_answer": [], "faq": []}
    for i in range(rounds):
        kinds["parse"].append(await chat.parse(PARSE_TEXT))
        sender = await chat.new_conversation()
        kinds["plain"].append((await chat.turn(sender, PLAIN))[0])
        timings = await shopping_turns(chat, sender, SEARCHES[i % len(SEARCHES)],
                                       FAQS[i % len(FAQS)])
        for kind, value in timings.items():
            kinds[kind].append(value)
    return {kind: summary(values) for kind, values in kinds.items() if values}


async def open_loop(chat: Chat, conversations: int, interval: float, seconds: float) -> dict:
    """Each conversation sends on its own fixed schedule; latencies per kind."""
    kinds: dict[str, list[float]] = {"search": [], "add_to_cart": [], "faq": [], "plain": []}
    errors = 0
    senders = [await chat.new_conversation() for _ in range(conversations)]
    started = time.perf_counter()
    pending: list[asyncio.Task] = []

    async def one(sender: str, kind: str, text: str) -> None:
        nonlocal errors
        try:
            elapsed, replies = await chat.turn(sender, text)
            kinds[kind].append(elapsed)
            choice = first_choice(replies) if kind == "add_to_cart" else None
            if choice is not None:
                kinds.setdefault("variant_answer", []).append(
                    (await chat.turn(sender, choice))[0])
        except Exception:  # noqa: BLE001 - counted and reported
            errors += 1

    async def conversation(index: int, sender: str) -> None:
        await asyncio.sleep(index * interval / conversations)  # spread the starts evenly
        plan = itertools.cycle([("search", None), ("add_to_cart", ADD), ("faq", None),
                                ("plain", PLAIN)])
        turn = 0
        begin = time.perf_counter()
        while time.perf_counter() - started < seconds:
            kind, text = next(plan)
            text = text or (SEARCHES if kind == "search" else FAQS)[(index + turn) % 4]
            pending.append(asyncio.create_task(one(sender, kind, text)))
            turn += 1
            await asyncio.sleep(max(0.0, begin + turn * interval - time.perf_counter()))

    await asyncio.gather(*(conversation(i, s) for i, s in enumerate(senders)))
    await asyncio.gather(*pending)
    total = sum(len(v) for v in kinds.values())
    wall = time.perf_counter() - started
    return {"conversations": conversations, "interval_s": interval, "seconds": round(wall, 1),
            "turns": total, "turns_per_s": round(total / wall, 1), "errors": errors,
            **{kind: summary(values) for kind, values in kinds.items() if values}}


async def closed_loop(chat: Chat, concurrency: int, seconds: float) -> dict:
    """As many turns as `concurrency` conversations can send back to back."""
    senders = [await chat.new_conversation() for _ in range(concurrency)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(index: int, sender: str) -> None:
        turn = 0
        while time.perf_counter() < deadline:
            text = [SEARCHES[(index + turn) % 5], FAQS[(index + turn) % 4], PLAIN][turn % 3]
            latencies.append((await chat.turn(sender, text))[0])
            turn += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, s) for i, s in enumerate(senders)))
    wall = time.perf_counter() - started
    return {"concurrency": concurrency, "turns": len(latencies),
            "turns_per_s": round(len(latencies) / wall, 1), **summary(latencies)}


async def measure(stack: AssistantStack, args) -> dict:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as http:
        chat = Chat(http, stack.rasa_url)
        log("warming up")
        await sequential(chat, 3)
        log(f"(a) one conversation at a time, {args.rounds} rounds")
        one_at_a_time = await sequential(chat, args.rounds)
        log(f"(b) {args.conversations} conversations, one message each every "
            f"{args.interval} s, for {args.seconds} s")
        loaded = await open_loop(chat, args.conversations, args.interval, args.seconds)
        log("parse floor under the same load is in (a); capacity, closed loop")
        capacity = [await closed_loop(chat, c, args.capacity_seconds) for c in (4, 8, 16)]
    floor_parse = one_at_a_time["parse"]["p50_ms"]
    floor_plain = one_at_a_time["plain"]["p50_ms"]
    ratios = {kind: {"p50_over_parse": round(one_at_a_time[kind]["p50_ms"] / floor_parse, 2),
                     "p50_over_plain_turn": round(one_at_a_time[kind]["p50_ms"] / floor_plain, 2)}
              for kind in ("search", "add_to_cart", "faq")}
    return {"one_at_a_time": one_at_a_time, "ratios_one_at_a_time": ratios,
            "open_loop": loaded, "capacity": capacity,
            "max_turns_per_s": max(c["turns_per_s"] for c in capacity),
            "goal_search_p95_under_150ms_in_open_loop":
                loaded.get("search", {}).get("p95_ms", float("inf")) < 150}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--capacity-seconds", type=float, default=15.0)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.capacity_seconds = 8, 12.0, 5.0
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aisle-chat-bench-", dir=ROOT / "var") as tmp:
        log(f"starting the assistant ({args.products} products; loading the model takes a while)")
        with AssistantStack(Path(tmp), products=args.products) as stack:
            result = asyncio.run(measure(stack, args))
    result["products"] = args.products
    write_result("chat_turns", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
