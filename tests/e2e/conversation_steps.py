"""Steps the end-to-end tests share: whole turns of a shopper's conversation."""

from __future__ import annotations

import re
import time

from assistant_stack import AssistantStack, texts

CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)


def add_first_result(stack: AssistantStack, sender: str, search: str) -> list[str]:
    """Search, add the first result, answer the size/colour questions with the first choice
    offered. Returns everything the bot said."""
    said = [texts(stack.say(sender, search))]
    assert "found" in said[-1], said
    for _attempt in range(4):
        said.append(texts(stack.say(sender, "add the first one to my cart")))
        for _ in range(3):  # size, then colour, at most
            asked = CHOICES.search(said[-1])
            if not asked:
                break
            first_choice = asked.group(1).split(",")[0].strip()
            said.append(texts(stack.say(sender, first_choice)))
        if "out of stock" not in said[-1]:
            break
        # No alert: the bot shows similar items in stock, and the first of those is tried.
        said.append(texts(stack.say(sender, "no thanks")))
        assert "similar" in said[-1], said
    assert "added" in said[-1], said
    return said


def bot_texts_after(stack: AssistantStack, sender: str, since: float) -> list[str]:
    return [event.get("text") or "" for event in stack.tracker(sender)["events"]
            if event["event"] == "bot" and event["timestamp"] >= since]


def wait_for_bot_text(stack: AssistantStack, sender: str, needle: str, since: float,
                      timeout: float = 20) -> str:
    """A message the bot sent on its own (a pushed EXTERNAL_ intent), found in the tracker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in bot_texts_after(stack, sender, since):
            if needle.lower() in text.lower():
                return text
        time.sleep(0.3)
    raise AssertionError(f"the bot never said {needle!r}; it said "
                         f"{bot_texts_after(stack, sender, since)}")
