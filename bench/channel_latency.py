"""Turn latency per messaging channel, against the REST channel in the same run.

    flock /work/notes/heavy.lock .venv/bin/python bench/channel_latency.py [--turns N]

Starts the whole assistant (tests/assistant_stack.py) with every messaging channel pointed at
its local fake (tests/fakes/), then per channel: the time from the platform's webhook POST
(signed as the platform signs it) to the fake receiving the bot's first answer to that
shopper, for a search turn ("show me hoodies": NLU, the action server, storefront_api's
search) and a plain turn ("thanks": a response, no custom action); REST's figure is the
POST's own answer (every message of the turn). One conversation at a time, then 20 at once
(each sending its turns one after the other); and 20 REST conversations with one on Telegram
and one on WhatsApp at the same time. Results in bench/results/channel_latency.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import log, write_result  # noqa: E402

from assistant_stack import AssistantStack  # noqa: E402  (tests/ is on the path via harness)
from fakes.messenger import FakeMessenger  # noqa: E402
from fakes.slack import FakeSlack  # noqa: E402
from fakes.telegram import FakeTelegram  # noqa: E402
from fakes.twilio import FakeTwilio  # noqa: E402
from fakes.whatsapp import FakeWhatsApp  # noqa: E402

SEARCHES = ["show me hoodies", "I need running shoes", "do you have jeans", "show me jackets",
            "looking for a dress", "any sneakers?", "show me t-shirts", "I want a scarf"]
THANKS = ["thanks", "thank you", "thanks a lot", "cheers, thanks"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else -1


class Channel:
    """How one platform's shopper sends a message and how its answer is recognised."""

    def __init__(self, name: str, fake, send: Callable[[str, str], tuple[int, bytes]],
                 answered: Callable[[object, str], bool], sender: Callable[[int], str]):
        self.name, self.fake, self.send, self.answered, self.sender = \
            name, fake, send, answered, sender

    def turn(self, chat: str, text: str) -> float:
        started = time.monotonic()
        status, body = self.send(chat, text)
        if status != 200:
            raise RuntimeError(f"{self.name}: webhook answered {status}: {body[:200]!r}")
        call = self.fake.first_after(started, lambda c: self.answered(c, chat))
        return (call.at - started) * 1000


def channels(stack: AssistantStack, fakes: dict) -> list[Channel]:
    hook = lambda name: f"{stack.rasa_url}/webhooks/{name}/webhook"  # noqa: E731
    tg, wa, fb, sl, tw = (fakes[k] for k in ("telegram", "whatsapp", "facebook", "slack",
                                              "twilio"))
    return [
        Channel("telegram", tg, lambda chat, text: tg.deliver(
            hook("telegram"), tg.text_update(int(chat), text)),
            lambda c, chat: c.method in ("sendMessage", "sendPhoto")
            and str(c.body.get("chat_id")) == chat, lambda n: str(600000000 + n)),
        Channel("whatsapp", wa, lambda chat, text: wa.deliver(
            hook("whatsapp"), wa.text_message(chat, text)),
            lambda c, chat: c.body.get("to") == chat, lambda n: f"49151{n:08d}"),
        Channel("facebook", fb, lambda chat, text: fb.deliver(
            hook("facebook"), fb.text_message(chat, text)),
            lambda c, chat: c.body["recipient"]["id"] == chat, lambda n: f"70{n:014d}"),
        Channel("slack", sl, lambda chat, text: sl.deliver(
            hook("slack"), sl.message_event(chat, text)),
            lambda c, chat: c.method == "chat.postMessage" and c.body.get("channel") == "D"
            + chat, lambda n: f"UB{n:08d}"),
        Channel("twilio", tw, lambda chat, text: tw.deliver(
            hook("twilio"), tw.sms(chat, text)),
            lambda c, chat: c.body.get("To") == chat, lambda n: f"+1555{n:07d}"),
    ]


def rest_turn(stack: AssistantStack, chat: str, text: str) -> float:
    started = time.monotonic()
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook",
                                     data=json.dumps({"sender": chat, "message": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()
    return (time.monotonic() - started) * 1000


def measure(turn: Callable[[str, str], float], sender: Callable[[int], str], conversations: int,
            turns: int, offset: int) -> dict:
    results: dict[str, list[float]] = {"search": [], "thanks": []}
    errors: list[str] = []
    lock = threading.Lock()

    def shopper(index: int) -> None:
        chat = sender(offset + index)
        for n in range(turns):
            kind = "search" if n % 2 == 0 else "thanks"
            texts = SEARCHES if kind == "search" else THANKS
            text = texts[(index + n) % len(texts)]
            try:
                took = turn(chat, text)
            except Exception as error:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(str(error)[:200])
                continue
            with lock:
                results[kind].append(took)

    threads = [threading.Thread(target=shopper, args=(i,)) for i in range(conversations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {kind: {"turns": len(values), "p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95)}
            for kind, values in results.items()} | {"errors": len(errors),
                                                    "first_error": errors[:1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation alone")
    parser.add_argument("--turns-at-20", type=int, default=4)
    args = parser.parse_args()
    fakes = {"telegram": FakeTelegram(), "whatsapp": FakeWhatsApp(), "facebook": FakeMessenger(),
             "slack": FakeSlack(), "twilio": FakeTwilio()}
    for fake in fakes.values():
        fake.start()
    tg, wa, fb, sl, tw = fakes.values()
    environment = {
        "TELEGRAM_TOKEN": tg.token, "TELEGRAM_SECRET_TOKEN": tg.secret,
        "TELEGRAM_API_URL": tg.api_url, "WHATSAPP_ACCESS_TOKEN": wa.token,
        "WHATSAPP_PHONE_NUMBER_ID": wa.phone_number_id, "WHATSAPP_APP_SECRET": wa.app_secret,
        "WHATSAPP_VERIFY_TOKEN": wa.verify_token, "WHATSAPP_API_URL": wa.api_url,
        "FACEBOOK_PAGE_ACCESS_TOKEN": fb.page_token, "FACEBOOK_SECRET": fb.app_secret,
        "FACEBOOK_VERIFY_TOKEN": fb.verify_token, "FACEBOOK_API_URL": fb.api_url,
        "SLACK_TOKEN": sl.token, "SLACK_SIGNING_SECRET": sl.signing_secret,
        "SLACK_API_URL": sl.api_url, "TWILIO_ACCOUNT_SID": tw.account_sid,
        "TWILIO_AUTH_TOKEN": tw.auth_token, "TWILIO_NUMBER": tw.number,
        "TWILIO_API_URL": tw.api_url}
    result: dict = {}
    with AssistantStack(Path(tempfile.mkdtemp(prefix="channel-bench-")),
                        extra_environment=environment) as stack:
        run = uuid.uuid4().int % 1000
        rest = ("rest", lambda chat, text: rest_turn(stack, chat, text),
                lambda n: f"bench-rest-{run}-{n:06d}")
        candidates = [rest] + [(c.name, c.turn, c.sender) for c in channels(stack, fakes)]
        for name, turn, sender in candidates:  # warm each path once
            measure(turn, sender, 1, 2, 900000 + run)
        for conversations, turns in ((1, args.turns), (20, args.turns_at_20)):
            for name, turn, sender in candidates:
                log(f"{name}: {conversations} conversation(s) x {turns} turns")
                result.setdefault(name, {})[f"conversations_{conversations}"] = measure(
                    turn, sender, conversations, turns, conversations * 1000 + run * 10)
        # web chats (REST here) with a Telegram and a WhatsApp conversation at the same time:
        # the channels' sends are asynchronous, so they should not slow the others
        by_name = {name: (turn, sender) for name, turn, sender in candidates}
        mixed: dict = {}
        jobs = [("rest", 20), ("telegram", 1), ("whatsapp", 1)]

        def run_one(name: str, conversations: int) -> None:
            turn, sender = by_name[name]
            mixed[name] = measure(turn, sender, conversations, args.turns_at_20,
                                  50000 + run * 10 + len(name))
        threads = [threading.Thread(target=run_one, args=job) for job in jobs]
        log("mixed: 20 REST conversations with one on Telegram and one on WhatsApp")
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result["mixed_20_rest_1_telegram_1_whatsapp"] = mixed
    for fake in fakes.values():
        fake.stop()
    result["note"] = ("messaging channels: webhook POST until the fake receives the first "
                      "answer; rest: until the POST's answer (the whole turn)")
    write_result("channel_latency", result)


if __name__ == "__main__":
    main()
