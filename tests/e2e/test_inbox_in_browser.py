"""The support inbox end to end, in two real browser contexts (a shopper in the web chat, an
agent in /inbox) against the real Rasa, action server and storefront_api started as
`make run` starts them (tests/assistant_stack.py, shared with the other end-to-end tests).

A shopper asks for a person; the agent sees it arrive without reloading, claims it, they
write to each other (typing shown both ways, HTML shown as text on both sides), the agent
uses a canned reply with a placeholder and adds a note the shopper never sees, resolves;
the shopper rates 5 in the chat and the dashboard counts it. Then a shopper with a cart
writes while their agent's page is closed, the message is there when it reopens, the agent
hands back, the bot answers the next message and the cart is intact. Screenshots of the
queue and of a conversation go to var/screenshots/ (and to docs/images/ with
AISLE_UPDATE_DOCS_IMAGES=1)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from assistant_stack import SERVICE_TOKEN, http_json
from staff_accounts import make_staff, start_session

from storefront_api.db import Database
from storefront_api.staff.sessions import COOKIE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "var" / "screenshots"
DOCS_IMAGES = ROOT / "docs" / "images"
REFERENCE = re.compile(r"H-[A-Z0-9]{6}")
CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium is missing: apt-get install -y chromium", pytrace=False)
        pytest.skip("Chromium is missing: apt-get install -y chromium")
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def eventually(check, timeout: float = 10.0, what: str = "it"):
    """Poll ``check()`` (the pages' CSP forbids wait_for_function) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.1)


# --- the two sides -----------------------------------------------------------------------------

async def agent_page(browser, assistant, name: str, role: str = "agent", user=None):
    """(page, user) of a staff member signed in (session cookie) with /inbox open."""
    db = Database(assistant.database_url)
    try:
        user = user or await make_staff(db, role, name=name)
        token, _ = await start_session(db, user, "cookie")
    finally:
        await db.dispose()
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    await context.add_cookies([{"name": COOKIE, "value": token, "url": assistant.storefront_url,
                                "httpOnly": True, "sameSite": "Strict"}])
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    await page.goto(f"{assistant.storefront_url}/inbox")
    await page.wait_for_selector("#ib-connection[data-state=online]", timeout=15000)
    return page, user


async def shopper_page(browser, assistant):
    context = await browser.new_context(viewport={"width": 420, "height": 820})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    await page.goto(f"{assistant.storefront_url}/chat")
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    return page


async def bubbles(page, kind: str) -> list[str]:
    return await page.locator(f".aisle-chat__msg--{kind} .aisle-chat__bubble").all_inner_texts()


async def say(page, text: str) -> None:
    await page.fill(".aisle-chat__input", text)
    await page.press(".aisle-chat__input", "Enter")


async def bot_says(page, needle: str, after: int = 0, timeout: float = 20) -> str:
    async def found():
        for text in (await bubbles(page, "bot"))[after:]:
            if needle.lower() in text.lower():
                return text
        return None
    return await eventually(found, timeout, f"the bot saying {needle!r}")


async def ask_for_a_person(page) -> str:
    before = len(await bubbles(page, "bot"))
    await say(page, "I want to talk to a real person")
    asked = await bot_says(page, "reference", before)
    return REFERENCE.search(asked).group(0)


async def open_row(page, reference: str) -> None:
    """Open the conversation whose row says ``reference``, in whichever tab it is (the
    lists may still be loading)."""
    row = page.locator(".ib-row", has_text=reference)

    async def shown():
        for view in ("waiting", "mine", "others"):
            await page.click(f"[data-view={view}]")
            if await row.count():
                return True
        return False
    await eventually(shown, 10, f"the row of {reference}")
    await row.first.locator("button").click()
    await page.locator("#ib-title", has_text=reference).wait_for(timeout=10000)


async def transcript(page, kind: str) -> list[str]:
    return await page.locator(f".ib-item--{kind} .ib-bubble").all_inner_texts()


def shot(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


# --- the whole story ---------------------------------------------------------------------------

async def test_a_shopper_and_an_agent_talk_in_real_time_then_the_shopper_rates_it(
        assistant, browser):
    agent, _ = await agent_page(browser, assistant, "Ana")
    shopper = await shopper_page(browser, assistant)
    await _add_something_to_the_cart(shopper)
    reference = await ask_for_a_person(shopper)

    # the queue shows it without a reload; the agent claims it
    row = agent.locator(".ib-row", has_text=reference)
    await row.wait_for(timeout=5000)
    assert await row.get_attribute("data-status") == "waiting"
    await _more_conversations_waiting(assistant)
    await agent.reload()  # their backdated waiting times (the picture's amber and red)
    await agent.wait_for_selector("#ib-connection[data-state=online]", timeout=15000)
    await open_row(agent, "Complaint")
    await agent.locator(".ib-wait[data-level=red]").first.wait_for(timeout=5000)
    await agent.screenshot(path=str(shot("inbox-queue.png")))
    await open_row(agent, reference)
    await agent.click("#ib-claim")
    await agent.locator("#ib-subtitle", has_text="with Ana").wait_for(timeout=5000)
    await shopper.locator(".aisle-chat__banner", has_text="talking with Ana").wait_for(
        timeout=5000)  # the chat page heard the claim
    await agent.locator("#ib-send", has_text="Send").wait_for(timeout=5000)  # Ana's to write

    # typing, both ways
    await agent.locator("#ib-text").press_sequentially("Hi")
    await shopper.locator(".aisle-chat__typing-who", has_text="Ana is typing").wait_for(
        timeout=5000)
    await agent.fill("#ib-text", "Hi, Ana here. <i>How</i> can I help?")
    await agent.press("#ib-text", "Enter")
    await eventually(lambda: _has(shopper, "agent", "Hi, Ana here. <i>How</i> can I help?"),
                     5, "the agent's reply in the chat")
    assert await shopper.locator(".aisle-chat__msg--agent i").count() == 0  # text, not HTML
    await shopper.locator(".aisle-chat__input").press_sequentially("my par")
    await agent.locator("#ib-typing").wait_for(state="visible", timeout=5000)

    # the shopper answers with something that would be a script if it were HTML
    await say(shopper, "<script>document.title='pwned'</script> my parcel is late")
    await eventually(lambda: _in_inbox(agent, "user", "my parcel is late"), 5,
                     "the shopper's answer in the inbox")
    said = [t for t in await transcript(agent, "user") if "my parcel is late" in t]
    assert said == ["<script>document.title='pwned'</script> my parcel is late"]
    assert await agent.locator("#ib-transcript script").count() == 0
    assert "pwned" not in await agent.title() and "pwned" not in await shopper.title()

    # a canned reply with placeholders, and a note the shopper never sees
    hello = agent.locator("#ib-canned option", has_text="Greeting")
    await agent.select_option("#ib-canned", await hello.get_attribute("value"))
    filled = await agent.input_value("#ib-text")
    assert filled.startswith("Hi there, I'm Ana from ") and "{" not in filled
    await agent.press("#ib-text", "Enter")
    await eventually(lambda: _has(shopper, "agent", filled), 5, "the canned reply in the chat")
    await agent.check("#ib-note")
    await agent.fill("#ib-text", "VIP: offer free shipping next time")
    await agent.press("#ib-text", "Enter")
    await eventually(lambda: _in_inbox(agent, "note", "VIP: offer free shipping"), 5,
                     "the note")
    await agent.screenshot(path=str(shot("inbox-conversation.png")))

    # resolve: the shopper is asked for a rating in the chat and answers 5
    before = len(await bubbles(shopper, "bot"))
    await agent.click("#ib-resolve")
    await bot_says(shopper, "how would you rate", before)
    await shopper.locator(".aisle-chat__button", has_text="5").last.click()
    await bot_says(shopper, "thank you for your rating", before)
    await agent.click("[data-view=resolved]")
    await agent.locator(".ib-row", has_text=reference).locator(
        ".ib-row-outcome", has_text="rated 5/5").wait_for(timeout=10000)
    assert "VIP" not in " ".join(await bubbles(shopper, "bot") + await bubbles(shopper, "agent"))
    assert agent.errors == [] and shopper.errors == []
    _check_the_dashboard_counts_it(assistant, reference)
    if os.environ.get("AISLE_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for name in ("inbox-queue.png", "inbox-conversation.png"):
            shutil.copyfile(SCREENSHOTS / name, DOCS_IMAGES / name)


async def _has(page, kind: str, text: str) -> bool:
    return text in await bubbles(page, kind)


async def _in_inbox(page, kind: str, needle: str) -> bool:
    return any(needle in text for text in await transcript(page, kind))


async def _more_conversations_waiting(assistant) -> None:
    """Other shoppers waiting, for the picture of the queue (asked as the bot asks, then
    backdated so that the picture shows a waiting time past each target)."""
    import sqlite3
    for reason, words, waited in [
            ("asked_for_human_during_complaint_form",
             "The zip of my jacket broke on the first day. I want a refund.", 200),
            ("asked_for_human_during_checkout_form", "my card is refused twice", 75),
            ("repeated_fallback", "blorp zzz", 20)]:
        status, handoff = http_json(
            "POST", f"{assistant.storefront_url}/api/support/handoffs", {
                "conversation_id": f"picture-{reason}-{time.time_ns()}", "channel": "socketio",
                "reason": reason, "transcript": [
                    {"sender": "user", "text": words},
                    {"sender": "bot", "text": "I'm sorry to hear that. Let me get a person."}]},
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
        assert status == 201
        with sqlite3.connect(assistant.directory / "shop.db") as shop:
            [(created,)] = shop.execute("SELECT created_at FROM handoffs WHERE id = ?",
                                        (handoff["id"],))
            earlier = datetime.fromisoformat(created) - timedelta(seconds=waited)
            shop.execute("UPDATE handoffs SET created_at = ? WHERE id = ?",  # as SQLAlchemy
                         (earlier.strftime("%Y-%m-%d %H:%M:%S.%f"), handoff["id"]))


def _check_the_dashboard_counts_it(assistant, reference: str) -> None:
    """The analytics package counts the conversation, and the dashboard's Conversations
    page shows the same figures for its agent."""
    from streamlit.testing.v1 import AppTest

    from analytics.loaders import load_events
    from analytics.support import handoff_table, support_metrics
    from dashboard import display
    table = handoff_table(load_events(assistant.database_url))
    [ours] = table.filter(table["handoff"] == reference).to_dicts()
    assert (ours["agent"], ours["csat"], ours["open"]) == ("Ana", 5.0, False)
    assert 0 < ours["first_reply_seconds"] < ours["resolution_seconds"]
    old = {name: os.environ.get(name) for name in ("ANALYTICS_EVENTS_URL", "TRACKER_STORE_URL")}
    os.environ["ANALYTICS_EVENTS_URL"] = assistant.database_url
    os.environ["TRACKER_STORE_URL"] = assistant.tracker_url
    try:
        app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
        app.switch_page("views/conversations.py").run()
        assert not app.exception
        expected = next(row for row in support_metrics(load_events(assistant.database_url))[
            "by_agent"] if row["agent"] == "Ana")
        per_agent = app.dataframe[0].value
        [shown] = per_agent[per_agent["Agent"] == "Ana"].to_dict("records")
        assert shown["CSAT"] == display.rating(expected["csat_average"]) == "5.0 / 5"
        assert shown["Resolved"] == expected["resolved"] >= 1
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- away and back, then hand back ---------------------------------------------------------------

async def test_a_message_written_while_the_agent_was_away_then_hand_back_keeps_the_cart(
        assistant, browser):
    agent, user = await agent_page(browser, assistant, "Ben")
    shopper = await shopper_page(browser, assistant)
    await _add_something_to_the_cart(shopper)
    conversation = await shopper.evaluate(
        "JSON.parse(localStorage.getItem(Object.keys(localStorage)"
        ".find(k => k.startsWith('aisle-chat:')))).conversationId")
    cart = assistant.slot(conversation, "cart_id")
    status, before = assistant.api("GET", f"/api/carts/{cart}")
    assert status == 200 and before["item_count"] >= 1

    reference = await ask_for_a_person(shopper)
    await open_row(agent, reference)
    await agent.click("#ib-claim")
    await agent.locator("#ib-subtitle", has_text="with Ben").wait_for(timeout=5000)
    await agent.context.close()  # Ben's browser is gone (his claim waits the grace period)

    quiet = len(await bubbles(shopper, "bot"))
    await say(shopper, "hello? are you still there?")
    await asyncio.sleep(1.0)
    assert len(await bubbles(shopper, "bot")) == quiet  # held: the bot does not answer
    agent, _ = await agent_page(browser, assistant, "Ben", user=user)
    await open_row(agent, reference)
    assert await agent.get_attribute("[data-view=mine]", "aria-selected") == "true"  # his
    assert "hello? are you still there?" in await transcript(agent, "user")

    before_bot = len(await bubbles(shopper, "bot"))
    await agent.click("#ib-handback")
    await bot_says(shopper, "you're back with aisle", before_bot)
    await say(shopper, "show me my cart")
    await bot_says(shopper, before["lines"][0]["title"], before_bot + 1)  # the same cart
    status, after = assistant.api("GET", f"/api/carts/{cart}")
    assert [(l["variant_id"], l["quantity"]) for l in after["lines"]] == [
        (l["variant_id"], l["quantity"]) for l in before["lines"]]
    assert agent.errors == [] and shopper.errors == []


async def _add_something_to_the_cart(page) -> None:
    """Search, add the first result (answering the size or colour questions with the first
    choice offered), as a shopper types it."""
    before = len(await bubbles(page, "bot"))
    await say(page, "show me t-shirts")
    await bot_says(page, "found", before)
    for _attempt in range(4):
        before = len(await bubbles(page, "bot"))
        await say(page, "add the first one to my cart")
        answer = await _answer(page, before)
        for _ in range(3):
            asked = CHOICES.search(answer)
            if not asked:
                break
            before = len(await bubbles(page, "bot"))
            await say(page, asked.group(1).split(",")[0].strip())
            answer = await _answer(page, before)
        if "added" in answer.lower():
            return
        before = len(await bubbles(page, "bot"))
        await say(page, "no thanks")
        await _answer(page, before)
    raise AssertionError("nothing could be added to the cart")


async def _answer(page, before: int) -> str:
    """Everything the bot said after the first ``before`` bubbles, once it is quiet."""
    seen, quiet = before, None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        count = len(await bubbles(page, "bot"))
        if count != seen:
            seen, quiet = count, time.monotonic()
        elif count > before and time.monotonic() - quiet >= 0.8:
            return "\n".join((await bubbles(page, "bot"))[before:])
        await asyncio.sleep(0.1)
    raise AssertionError("the bot did not answer")


# --- nobody online ---------------------------------------------------------------------------

def _everyone_left(assistant) -> None:
    """Every agent's inbox closed a minute ago (as their streams would have let it age)."""
    import sqlite3
    with sqlite3.connect(assistant.directory / "shop.db") as shop:
        shop.execute("UPDATE agent_presence SET last_seen_at = datetime('now', '-60 seconds')")


def test_nobody_online_the_shopper_leaves_an_email_which_opens_a_ticket(assistant, sender):
    from assistant_stack import texts
    _everyone_left(assistant)
    assistant.say(sender, "hi")
    answer = texts(assistant.say(sender, "I want to talk to a real person"))
    assert "nobody from our team is online" in answer and "e-mail" in answer, answer
    assert assistant.tracker(sender)["paused"] is False  # the bot stays with the shopper
    status, queue = assistant.api("GET", "/api/admin/support/handoffs?status=open&limit=200",
                                  admin=True)
    assert sender not in {h["conversation_id"] for h in queue["handoffs"]}
    email = f"offline-{time.time_ns()}@example.com"
    answer = texts(assistant.say(sender, email))
    reference = re.search(r"T-[A-Z0-9]{6}", answer.upper())
    assert reference and email in answer, answer
    status, tickets = assistant.api("GET", "/api/admin/support/tickets?limit=200", admin=True)
    [ticket] = [t for t in tickets["tickets"] if t["reference"] == reference.group(0)]
    assert (ticket["email"], ticket["conversation_id"]) == (email, sender)
    assert "found" in texts(assistant.say(sender, "show me hoodies"))  # the bot carries on
