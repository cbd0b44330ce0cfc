"""The web chat page in real headless Chromium against the real Rasa server, started as
`make run` starts it: the page gets its socket token from storefront_api, its own Socket.IO
client reaches the chat channel (bot/channels/socketio.py), replies and product cards
arrive, a card's button talks back. Then a whole purchase in the page: cart, checkout, the
payment in the test gateway's page, and the payment confirmation pushed by the shop through
Rasa's API (storefront_api's JWT) into the open chat; a reload keeps the conversation.
Proves the python-socketio pin (bot messages reach the browser)."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "var" / "screenshots"
MEMORY = ("JSON.parse(localStorage.getItem(Object.keys(localStorage)"
          ".find(k => k.startsWith('aisle-chat:'))))")
CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)
EMAIL = re.compile(r"e-?mail")
PAYMENT_LINK = re.compile(r"https?://\S+/pay/[A-Za-z0-9_-]+")
ADDRESS = "Jane Doe, 12 Main St, Springfield, IL 62704, US"


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


async def bot_texts(page) -> list[str]:
    return await page.locator(".aisle-chat__msg--bot .aisle-chat__bubble").all_inner_texts()


async def settled(page, before: int, timeout: float = 30) -> list[str]:
    """The bot's bubbles after the first ``before``, once nothing new came for a second."""
    # The page's CSP forbids eval, so poll from here rather than wait_for_function.
    deadline = time.monotonic() + timeout
    seen, quiet_since = before, None
    while time.monotonic() < deadline:
        count = await page.locator(".aisle-chat__msg--bot").count()
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        elif count > before and time.monotonic() - quiet_since >= 1.0:
            return await new_texts(page, before)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the bot did not answer within {timeout} s: {await bot_texts(page)}")


async def new_texts(page, before: int) -> list[str]:
    messages = page.locator(".aisle-chat__msg--bot")
    return [await messages.nth(i).inner_text() for i in range(before, await messages.count())]


async def say(page, text: str) -> str:
    """Type a message; everything the bot answered, lower-cased."""
    before = await page.locator(".aisle-chat__msg--bot").count()
    await page.fill(".aisle-chat__input", text)
    await page.press(".aisle-chat__input", "Enter")
    return "\n".join(await settled(page, before)).lower()


async def add_first_result(page, search: str) -> None:
    """As conversation_steps.add_first_result, typed in the page."""
    assert "found" in await say(page, search)
    for _attempt in range(4):
        answer = await say(page, "add the first one to my cart")
        for _ in range(3):  # size, then colour, at most
            asked = CHOICES.search(answer)
            if not asked:
                break
            answer = await say(page, asked.group(1).split(",")[0].strip())
        if "out of stock" not in answer:
            break
        assert "similar" in await say(page, "no thanks")
    assert "added" in answer, answer


async def test_a_search_in_the_web_chat_shows_product_cards(assistant, browser):
    page = await browser.new_page(viewport={"width": 420, "height": 820})
    await page.goto(f"{assistant.storefront_url}/chat")
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    await page.fill(".aisle-chat__input", "show me hoodies under 80")
    await page.press(".aisle-chat__input", "Enter")
    await page.wait_for_selector(".aisle-chat__card", timeout=20000)
    cards = page.locator(".aisle-chat__card")
    assert await cards.count() >= 1
    assert "hoodie" in (await cards.first.inner_text()).lower()

    bot_messages = page.locator(".aisle-chat__msg--bot")
    before = await bot_messages.count()
    title = (await cards.first.locator(".aisle-chat__card-title").inner_text()).strip()
    button = cards.first.locator("button").first
    assert (await button.inner_text()).strip() == "Details"
    await button.click()
    # the details of *that* product (utter_product_details: "{name} by {brand}: {price}..."),
    # not just any answer
    answer = await settled(page, before)
    assert any(text.startswith(f"{title} by ") and "add it to my cart" in text
               for text in answer), (title, answer)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "chat-e2e.png"), full_page=False)
    # the conversation is the one the shop signed the token for
    memory = await page.evaluate(MEMORY)
    assert re.fullmatch(r"[0-9a-f]{32}", memory["conversationId"])
    tracker = assistant.tracker(memory["conversationId"])
    assert any(e["event"] == "user" and e.get("input_channel") == "socketio"
               for e in tracker["events"])
    await page.close()


async def test_a_purchase_in_the_web_chat_is_confirmed_there_and_survives_a_reload(
        assistant, browser):
    page = await browser.new_page(viewport={"width": 420, "height": 820})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{assistant.storefront_url}/chat")
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    conversation = (await page.evaluate(MEMORY))["conversationId"]

    await add_first_result(page, "I'm looking for a t-shirt")
    assert EMAIL.search(await say(page, "checkout"))
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    assert "ship" in await say(page, email)
    assert "standard" in await say(page, ADDRESS)
    summary = await say(page, "standard please")
    assert "total" in summary and "payment link" in summary, summary
    before = await page.locator(".aisle-chat__msg--bot").count()
    await page.fill(".aisle-chat__input", "yes")
    await page.press(".aisle-chat__input", "Enter")
    await settled(page, before)
    link = page.locator(".aisle-chat__bubble a", has_text="/pay/").last
    assert PAYMENT_LINK.fullmatch(await link.get_attribute("href"))

    # pay in the test gateway's page, opened from the chat's link
    async with page.expect_popup() as popup:
        await link.click()
    payment = await popup.value
    await payment.wait_for_load_state()
    await payment.fill("#number", "4242 4242 4242 4242")
    await payment.fill("#expiry", "12/34")
    await payment.fill("#cvc", "123")
    await payment.fill("#name", "Jane Doe")
    await payment.locator("button[type=submit]").click()
    await payment.wait_for_load_state()
    number = re.search(r"[A-Z]{2}-\d{5}", await payment.content()).group(0)
    await payment.close()

    # the shop's notice reaches the open page: storefront_api -> Rasa (JWT) -> the socket
    deadline = time.monotonic() + 30
    while not any("payment received" in t.lower() and number in t
                  for t in await bot_texts(page)):
        assert time.monotonic() < deadline, await bot_texts(page)
        await asyncio.sleep(0.3)
    status, order = assistant.api("GET", f"/api/admin/orders/{number}", admin=True)
    assert status == 200 and order["conversation_id"] == conversation
    # the stock was held for the browser the chat token names (socket -> Rasa's metadata ->
    # the actions' X-Aisle-Client), not for a conversation anyone can start afresh
    with sqlite3.connect(assistant.directory / "shop.db") as shop:
        [(holder,)] = shop.execute("SELECT holder FROM checkouts WHERE conversation_id = ?",
                                   (conversation,)).fetchall()
    assert re.fullmatch(r"client:c_[0-9a-f]{32}", holder), holder

    # a reload keeps the conversation, what was shown, and the order it knows
    shown = await page.locator(".aisle-chat__msg").count()
    await page.reload()
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    assert (await page.evaluate(MEMORY))["conversationId"] == conversation
    assert await page.locator(".aisle-chat__msg").count() == shown
    assert number.lower() in await say(page, "where is my order?")
    assert errors == []
    await page.close()
