"""Chat turn latency over Rasa's REST channel, with the action server and the API on SQLite.

    python bench/chat_turns.py [--quick] [--rounds N] [--repeats N]

Starts the whole assistant (tests/assistant_stack.py: storefront_api on a seeded SQLite shop,
the action server, a real Rasa server with bot/models/aisle.tar.gz), then, from this second
process:

- floors measured in the same run: `POST /model/parse` alone (of a message not seen before:
  recent messages' vectors are remembered), and a turn answered by a plain
  response with no custom action ("thanks" -> utter_you_are_welcome);
- (a) one conversation at a time: a search turn, an add-to-cart turn and an FAQ turn;
- (b) 20 conversations, each sending one message every 2 seconds on a fixed schedule (open
  loop: a slow reply does not delay the next message), 10 turns/s in all. Each
  conversation shops: search, add the first result to the cart (answering the size or
  colour question in its next message, when there is one), an FAQ, a thank-you, and again;
  the conversations start at different points of that cycle, so that every kind of turn
  is in flight at every moment, as with real shoppers;
- the most turns/s one Rasa process sustains (closed loop, rising concurrency).

The messages vary (product types, colours, prices, FAQ and thank-you wordings), as real
shoppers' do: 680 different searches.

Figures: p50/p95 per turn kind, each against the floors; (b) is run --repeats times
(default 3) and its medians are reported beside each run's figures. Results in
bench/results/chat_turns.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
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

PRODUCTS = ["hoodies", "t-shirts", "running shoes", "jeans", "jackets", "dresses", "sneakers",
            "backpacks", "scarves", "shirts"]
COLOURS = ["red", "black", "blue", "green", "white", "grey", "navy", "beige"]
SEARCH_FORMS = ["show me {c} {p} under {n}", "do you have {c} {p}", "i need {p} under {n} dollars",
                "{c} {p} please", "looking for {p} between {m} and {n} dollars",
                "any {c} {p}?", "I'm after some {p}, nothing over {n}"]
FAQS = ["what payment methods do you accept?", "how long does shipping take",
        "what is your return policy", "how can I contact you", "do you ship to canada?",
        "how much is delivery", "can I pay with paypal", "how long do I have to return something",
        "is there a size guide", "do you have a phone number", "when will it arrive if I order today",
        "are returns free?"]
PLAINS = ["thanks", "thank you", "thanks a lot", "cheers", "thank you so much", "ta", "thx",
          "many thanks"]
ADDS = ["add the first one to my cart", "add the first one", "put the first one in my basket",
        "I'll take the first one", "add number 1 to my cart"]
CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)


class Messages:
    """Deterministic, varied shopper messages."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.searches = itertools.cycle(self._all_searches())

    def _all_searches(self) -> list[str]:
        texts = list(dict.fromkeys(form.format(c=c, p=p, n=n, m=max(10, n - 60))
                                   for form in SEARCH_FORMS for c in COLOURS
                                   for p in PRODUCTS for n in (60, 80, 120, 150)))
        self.rng.shuffle(texts)
        return texts

    def search(self) -> str:
        return next(self.searches)

    def faq(self) -> str:
        return self.rng.choice(FAQS)

    def plain(self) -> str:
        return self.rng.choice(PLAINS)

    def add(self) -> str:
        return self.rng.choice(ADDS)


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
    def __init__(self, http: aiohttp.ClientSession, rasa_url: str,
                 api_headers=dict) -> None:
        self.http, self.rasa_url = http, rasa_url
        self.api_headers = api_headers  # Rasa's HTTP API needs storefront_api's JWT

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
        async with self.http.post(f"{self.rasa_url}/model/parse", json={"text": text},
                                  headers=self.api_headers()) as r:
            await r.read()
            if r.status != 200:  # a refused call is not a parse to time
                raise RuntimeError(f"/model/parse answered {r.status}")
        return (time.perf_counter() - started) * 1000

    async def new_conversation(self) -> str:
        """A conversation past its session start, so turns measure steady state."""
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        await self.turn(sender, "hi")
        return sender


async def shopping_turns(chat: Chat, messages: Messages, sender: str) -> dict[str, float]:
    """One search, one add to cart of the first result, one FAQ; a size or colour question
    after the add is answered (that answer is a turn of its own kind)."""
    timings = {}
    timings["search"], _ = await chat.turn(sender, messages.search())
    timings["add_to_cart"], replies = await chat.turn(sender, messages.add())
    for _ in range(2):  # a size, then a colour, may be asked: answer with the first offered
        choice = first_choice(replies)
        if choice is None:
            break
        elapsed, replies = await chat.turn(sender, choice)
        timings.setdefault("variant_answer", elapsed)
    timings["faq"], _ = await chat.turn(sender, messages.faq())
    return timings


async def sequential(chat: Chat, messages: Messages, rounds: int) -> dict:
    kinds: dict[str, list[float]] = {"parse": [], "plain": [], "search": [],
                                     "add_to_cart": [], "variant_answer": [], "faq": []}
    for _ in range(rounds):
        # a message never sent before: the encoder runs (recent messages are remembered)
        kinds["parse"].append(await chat.parse(messages.search()))
        sender = await chat.new_conversation()
        kinds["plain"].append((await chat.turn(sender, messages.plain()))[0])
        for kind, value in (await shopping_turns(chat, messages, sender)).items():
            kinds[kind].append(value)
    return {kind: summary(values) for kind, values in kinds.items() if values}


PLAN = ("search", "add_to_cart", "faq", "plain")


async def open_loop(chat: Chat, messages: Messages, conversations: int, interval: float,
                    seconds: float) -> dict:
    """Each conversation sends one message every ``interval`` seconds on its own fixed
    schedule, whatever the replies' latency; latencies per kind of turn."""
    kinds: dict[str, list[float]] = {kind: [] for kind in (*PLAN, "variant_answer")}
    errors = 0
    senders = [await chat.new_conversation() for _ in range(conversations)]
    pending: list[asyncio.Task] = []

    async def one(kind: str, sender: str, text: str, asked: dict) -> None:
        nonlocal errors
        try:
            elapsed, replies = await chat.turn(sender, text)
        except Exception:  # noqa: BLE001 - counted and reported
            errors += 1
            return
        kinds[kind].append(elapsed)
        asked["choice"] = first_choice(replies)  # the next message answers it

    async def conversation(index: int, sender: str, started: float) -> None:
        plan = itertools.islice(itertools.cycle(PLAN), index % len(PLAN), None)
        asked: dict = {"choice": None}
        offset = index * interval / conversations  # sends spread evenly over each interval
        for slot in itertools.count():
            at = started + offset + slot * interval
            if at - started >= seconds:
                return
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            if asked["choice"]:
                kind, text = "variant_answer", asked["choice"]
            else:
                kind = next(plan)
                text = {"search": messages.search, "add_to_cart": messages.add,
                        "faq": messages.faq, "plain": messages.plain}[kind]()
            asked = {"choice": None}
            pending.append(asyncio.create_task(one(kind, sender, text, asked)))

    started = time.perf_counter()
    await asyncio.gather(*(conversation(i, s, started) for i, s in enumerate(senders)))
    await asyncio.gather(*pending)
    wall = time.perf_counter() - started
    total = sum(len(v) for v in kinds.values())
    return {"conversations": conversations, "interval_s": interval, "seconds": round(wall, 1),
            "turns": total, "turns_per_s": round(total / wall, 1), "errors": errors,
            **{kind: summary(values) for kind, values in kinds.items() if values}}


async def closed_loop(chat: Chat, messages: Messages, concurrency: int,
                      seconds: float) -> dict:
    """As many turns as `concurrency` conversations can send back to back."""
    senders = [await chat.new_conversation() for _ in range(concurrency)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(sender: str) -> None:
        for turn in itertools.count():
            if time.perf_counter() >= deadline:
                return
            text = (messages.search, messages.faq, messages.plain)[turn % 3]()
            latencies.append((await chat.turn(sender, text))[0])

    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in senders))
    wall = time.perf_counter() - started
    return {"concurrency": concurrency, "turns": len(latencies),
            "turns_per_s": round(len(latencies) / wall, 1), **summary(latencies)}


def medians(runs: list[dict]) -> dict:
    out = {"turns_per_s": statistics.median(r["turns_per_s"] for r in runs),
           "errors": sum(r["errors"] for r in runs)}
    for kind in (*PLAN, "variant_answer"):
        rows = [r[kind] for r in runs if kind in r]
        if rows:
            out[kind] = {"p50_ms": statistics.median(r["p50_ms"] for r in rows),
                         "p95_ms": statistics.median(r["p95_ms"] for r in rows)}
    return out


async def measure(stack: AssistantStack, args) -> dict:
    connector = aiohttp.TCPConnector(limit=200)
    messages = Messages()
    async with aiohttp.ClientSession(connector=connector) as http:
        chat = Chat(http, stack.rasa_url, stack.rasa_headers)
        log("warming up")
        await sequential(chat, messages, 3)
        log(f"(a) one conversation at a time, {args.rounds} rounds")
        one_at_a_time = await sequential(chat, messages, args.rounds)
        loaded = []
        for repeat in range(args.repeats):
            log(f"(b) {args.conversations} conversations, one message each every "
                f"{args.interval} s, for {args.seconds} s (run {repeat + 1}/{args.repeats})")
            loaded.append(await open_loop(chat, messages, args.conversations, args.interval,
                                          args.seconds))
            log(f"    search p50 {loaded[-1]['search']['p50_ms']} ms, "
                f"p95 {loaded[-1]['search']['p95_ms']} ms")
        log("capacity, closed loop")
        capacity = [await closed_loop(chat, messages, c, args.capacity_seconds)
                    for c in (4, 8, 16)]
    floor_parse = one_at_a_time["parse"]["p50_ms"]
    floor_plain = one_at_a_time["plain"]["p50_ms"]
    ratios = {kind: {"p50_over_parse": round(one_at_a_time[kind]["p50_ms"] / floor_parse, 2),
                     "p50_over_plain_turn": round(one_at_a_time[kind]["p50_ms"] / floor_plain, 2)}
              for kind in ("search", "add_to_cart", "faq")}
    open_medians = medians(loaded)
    loaded_ratios = {kind: round(open_medians[kind]["p95_ms"] / open_medians["plain"]["p95_ms"],
                                 2) for kind in ("search", "add_to_cart", "faq")}
    return {"one_at_a_time": one_at_a_time, "ratios_one_at_a_time": ratios,
            "open_loop_runs": loaded, "open_loop": open_medians,
            "open_loop_p95_over_plain_p95": loaded_ratios, "capacity": capacity,
            "max_turns_per_s": max(c["turns_per_s"] for c in capacity),
            "goal_search_p95_under_150ms_in_open_loop":
                open_medians.get("search", {}).get("p95_ms", float("inf")) < 150}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--capacity-seconds", type=float, default=15.0)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.repeats, args.capacity_seconds = 8, 12.0, 1, 5.0
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aisle-chat-bench-", dir=ROOT / "var") as tmp:
        log(f"starting the assistant ({args.products} products; loading the model takes a while)")
        with AssistantStack(Path(tmp), products=args.products) as stack:
            result = asyncio.run(measure(stack, args))
    result["products"] = args.products
    write_result("chat_turns", result)
    log(f"(b) search p95 {result['open_loop']['search']['p95_ms']} ms (goal < 150 ms), "
        f"capacity {result['max_turns_per_s']} turns/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
