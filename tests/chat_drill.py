"""Many shoppers buying at once through the production topology, each message sent again (with
the same id) to another Rasa replica until it is answered: the driver of the fault drills
(tests/production/) and of bench/scale_out.py.

Each shopper searches, adds the first result to the cart (answering the size and colour
questions), checks out, pays on the test gateway's page, waits for the payment confirmation
the shop pushes into the conversation, and asks where the order is. A message that got no
answer (the replica died, the connection dropped) or the assistant's "try again in a moment"
(a store or the action server away) is sent again after a pause, with the same
``aisle_message_id``, to the other replica: Rasa answers a message it already answered from
what it recorded (bot/resilience.py), so nothing is answered twice.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from assistant_stack import AssistantStack

APOLOGY = "try again in a moment"
CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)
EMAIL = re.compile(r"e-?mail")
PAYMENT_LINK = re.compile(r"https?://\S+/pay/[A-Za-z0-9_-]+")
ORDER_NUMBER = re.compile(r"[A-Z]{2}-\d{5}")
ADDRESS = "Jane Doe, 12 Main St, Springfield, IL 62704, US"
SEARCHES = ["show me hoodies", "I'm looking for a t-shirt", "show me jeans",
            "do you have sneakers", "show me jackets", "I need a backpack"]


class DrillFailed(AssertionError):
    """A shopper could not finish: the message that was never answered, and why."""


@dataclass
class Turn:
    text: str
    message_id: str
    started: float
    answered: float = 0.0
    attempts: int = 0
    replica: int = 0
    said: str = ""


@dataclass
class Shopper:
    index: int
    conversation: str
    email: str
    turns: list[Turn] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (when, what)
    order_number: str | None = None
    confirmed_at: float = 0.0
    finished: bool = False

    @property
    def message_ids(self) -> list[str]:
        return [turn.message_id for turn in self.turns]


def texts(replies: list[dict]) -> str:
    """Everything the bot said in one turn, as it said it (links keep their case)."""
    return "\n".join(str(reply.get("text", "")) for reply in replies)


class ChatDrill:
    """Drives ``count`` shoppers at once against ``stack`` (its Rasa replicas in turn)."""

    def __init__(self, stack: AssistantStack, count: int, *, deadline: float = 600,
                 retry_pause: float = 0.5, turn_timeout: float = 90) -> None:
        run = uuid.uuid4().hex[:6]
        self.stack = stack
        self.shoppers = [Shopper(i, f"drill{run}{i:03d}x{uuid.uuid4().hex[:10]}",
                                 f"drill-{run}-{i}@example.com") for i in range(count)]
        self.deadline = time.monotonic() + deadline
        self.retry_pause = retry_pause
        self.timeout = aiohttp.ClientTimeout(total=turn_timeout)
        self.http: aiohttp.ClientSession | None = None

    # --- one message -------------------------------------------------------------------

    async def say(self, shopper: Shopper, text: str) -> str:
        """What the bot answered, lower-cased (``ask`` keeps the case)."""
        return (await self.ask(shopper, text)).lower()

    async def ask(self, shopper: Shopper, text: str) -> str:
        turn = Turn(text, f"{shopper.conversation}-m{len(shopper.turns) + 1:03d}",
                    time.time(), replica=shopper.index % len(self.stack.rasa_urls))
        shopper.turns.append(turn)
        while True:
            turn.attempts += 1
            url = self.stack.rasa_urls[turn.replica] + "/webhooks/rest/webhook"
            body = {"sender": shopper.conversation, "message": text,
                    "metadata": {"aisle_message_id": turn.message_id}}
            problem = ""
            try:
                async with self.http.post(url, json=body, timeout=self.timeout) as response:
                    replies = await response.json(content_type=None) \
                        if response.status == 200 else None
                    problem = "" if response.status == 200 else f"HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                replies, problem = None, type(error).__name__
            said = texts(replies or [])
            if replies and APOLOGY not in said.lower():
                turn.answered, turn.said = time.time(), said
                return said
            shopper.failures.append((time.time(), problem or (APOLOGY if said else "empty")))
            if time.monotonic() > self.deadline:
                raise DrillFailed(f"{shopper.conversation}: {text!r} never answered "
                                  f"({shopper.failures[-3:]})")
            turn.replica = (turn.replica + 1) % len(self.stack.rasa_urls)
            await asyncio.sleep(self.retry_pause)

    # --- one shopper ------------------------------------------------------------------

    async def shop(self, shopper: Shopper) -> None:
        await self._fill_cart(shopper)
        said = await self.say(shopper, "checkout")
        assert EMAIL.search(said), said
        assert "ship" in await self.say(shopper, shopper.email)
        assert "standard" in await self.say(shopper, ADDRESS)
        summary = await self.say(shopper, "standard please")
        assert "payment link" in summary, summary
        link = PAYMENT_LINK.search(await self.ask(shopper, "yes"))
        assert link, shopper.turns[-1].said
        paid_at = time.time()
        await self._pay(shopper, link.group(0))
        await self._confirmation(shopper, paid_at)
        tracked = await self.say(shopper, "where is my order?")
        assert shopper.order_number.lower() in tracked, tracked
        shopper.finished = True

    async def _fill_cart(self, shopper: Shopper) -> None:
        search = SEARCHES[shopper.index % len(SEARCHES)]
        assert "found" in await self.say(shopper, search)
        for ordinal in ("first", "second", "third", "fourth"):
            said = await self.say(shopper, f"add the {ordinal} one to my cart")
            for _ in range(3):  # a size, then a colour, at most
                asked = CHOICES.search(said)
                if not asked:
                    break
                said = await self.say(shopper, asked.group(1).split(",")[0].strip())
            if "added" in said:
                return
            if "out of stock" in said or "sold out" in said:
                await self.say(shopper, "no thanks")
                assert "found" in await self.say(shopper, search)
        raise DrillFailed(f"{shopper.conversation}: nothing could be added ({said!r})")

    async def _pay(self, shopper: Shopper, link: str) -> None:
        """The test gateway's page, as the shopper's browser posts it (again if the
        storefront replica died on the way: the checkout is paid once)."""
        form = {"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123",
                "name": "Jane Doe"}
        while time.monotonic() < self.deadline:
            try:
                async with self.http.post(link, data=form, timeout=self.timeout) as page:
                    found = ORDER_NUMBER.search(await page.text())
                    if page.status == 200 and found:
                        shopper.order_number = found.group(0)
                        return
                    if page.status < 500:  # e.g. already paid: the push will say the number
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            shopper.failures.append((time.time(), "payment page"))
            await asyncio.sleep(self.retry_pause)
        raise DrillFailed(f"{shopper.conversation}: the payment page never answered")

    async def _confirmation(self, shopper: Shopper, since: float) -> None:
        """The shop's push into the conversation: "payment received, order AB-12345"."""
        while time.monotonic() < self.deadline:
            for url in self.stack.rasa_urls:
                try:
                    async with self.http.get(f"{url}/conversations/{shopper.conversation}"
                                             "/tracker", headers=self.stack.rasa_headers(),
                                             timeout=self.timeout) as response:
                        tracker = await response.json() if response.status == 200 else None
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    continue
                for event in (tracker or {}).get("events", []):
                    text = event.get("text") or ""
                    found = ORDER_NUMBER.search(text)
                    if event.get("event") == "bot" and event.get("timestamp", 0) >= since \
                            and "payment received" in text.lower() and found:
                        shopper.order_number = shopper.order_number or found.group(0)
                        shopper.confirmed_at = time.time()
                        return
                break
            await asyncio.sleep(0.5)
        raise DrillFailed(f"{shopper.conversation}: no payment confirmation in the chat")

    # --- everyone ------------------------------------------------------------------------

    async def run(self, during: Any = None) -> None:
        """Every shopper at once, started a little apart; ``during(drill)``, a coroutine
        function, runs alongside (the faults)."""
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as self.http:
            async def staggered(shopper: Shopper) -> None:
                await asyncio.sleep(shopper.index * 0.1)
                await self.shop(shopper)
            jobs = [asyncio.create_task(staggered(s)) for s in self.shoppers]
            extra = asyncio.create_task(during(self)) if during else None
            try:
                await asyncio.gather(*jobs)
            finally:
                for job in jobs:
                    job.cancel()
                if extra is not None:
                    await extra

    def report(self, started: float, faults: dict[str, float]) -> dict:
        """What the drill measured: turns, how many were sent again, and how long the
        conversations a fault hit took to carry on."""
        turns = [t for s in self.shoppers for t in s.turns]
        answered = [t.answered for t in turns if t.answered]
        return {"shoppers": len(self.shoppers),
                "finished": sum(s.finished for s in self.shoppers),
                "turns": len(turns), "turns_sent_again": sum(t.attempts > 1 for t in turns),
                "seconds": round(max(answered, default=started) - started, 1),
                "finished_at": max(answered, default=started),
                "faults_at_s": {name: round(moment - started, 1)
                                for name, moment in faults.items()},
                "continued_after": {name: self.continuation_after(moment)
                                    for name, moment in faults.items()}}

    def turns_answered(self) -> int:
        return sum(1 for s in self.shoppers for t in s.turns if t.answered)

    def continuation_after(self, moment: float) -> dict:
        """How long the shoppers whose message was in flight at ``moment``, or who failed
        after it, took to get an answer again."""
        waits = []
        for shopper in self.shoppers:
            hit = any(t.started <= moment and (not t.answered or t.answered > moment)
                      for t in shopper.turns) or any(when >= moment
                                                     for when, _ in shopper.failures)
            answered = [t.answered for t in shopper.turns if t.answered > moment]
            if hit and answered:
                waits.append(min(answered) - moment)
        waits.sort()
        return {"conversations_hit": len(waits),
                "median_s": round(waits[len(waits) // 2], 2) if waits else 0.0,
                "max_s": round(waits[-1], 2) if waits else 0.0}
