"""The inbox page in real headless Chromium against the real app (Rasa's HTTP API is the
recording stand-in; tests/e2e/test_inbox_in_browser.py drives a real Rasa): the queue
updates without a reload and its waiting times turn amber then red; two agents who claim
the same conversation at once in their browsers: one gets it, the other is told; what
shoppers write shows as text; an admin edits the canned replies."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from inbox_helpers import ask_for_human, conversation
from staff_accounts import make_staff, start_session

from storefront_api.app import create_app
from storefront_api.staff.sessions import COOKIE

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.slow


@pytest.fixture
async def shop(aiohttp_server, settings):
    if not Path(CHROMIUM).exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium is missing", pytrace=False)
        pytest.skip("Chromium is missing")
    from dataclasses import replace
    # amber for three of the page's one-second ticks: a busy machine may delay one
    fast = replace(settings, support_wait_amber_seconds=2, support_wait_red_seconds=5)
    server = await aiohttp_server(create_app(fast, migrate=False))
    return server


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def signed_in(browser, server, db, role: str, name: str):
    """A browser context signed in as a new staff member (the session cookie), on /inbox."""
    user = await make_staff(db, role, name=name)
    token, _ = await start_session(db, user, "cookie")
    base = str(server.make_url("")).rstrip("/")
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    await context.add_cookies([{"name": COOKIE, "value": token, "url": base,
                                "httpOnly": True, "sameSite": "Strict"}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{base}/inbox")
    await page.wait_for_selector("#ib-connection[data-state=online]", timeout=10000)
    return page, errors


def row(page, reference: str):
    return page.locator(".ib-row", has_text=reference)


async def test_the_queue_updates_live_and_waiting_turns_amber_then_red(shop, browser, db):
    page, errors = await signed_in(browser, shop, db, "agent", "Ana")
    client_ref = await _ask(shop)
    item = row(page, client_ref)
    await item.wait_for(timeout=5000)  # no reload: the stream brought it
    wait = item.locator(".ib-wait")
    levels = set()
    deadline = time.monotonic() + 12
    while "red" not in levels and time.monotonic() < deadline:
        levels.add(await wait.get_attribute("data-level"))
        await asyncio.sleep(0.2)
    assert {"amber", "red"} <= levels, levels
    assert await item.locator(".ib-reason").inner_text() == "Asked for a person"
    assert errors == []


async def _ask(server) -> str:
    """A handoff asked for as the bot asks; its reference."""
    from aiohttp import ClientSession
    from assistant_calls import SERVICE
    async with ClientSession() as http:
        async with http.post(f"{str(server.make_url('')).rstrip('/')}/api/support/handoffs",
                             json={"conversation_id": conversation(), "channel": "socketio",
                                   "reason": "asked_for_human",
                                   "transcript": [{"sender": "user",
                                                   "text": "<b>bold?</b> a person please"}]},
                             headers=SERVICE) as response:
            assert response.status == 201
            return (await response.json())["reference"]


async def test_two_agents_claim_at_once_in_their_browsers_one_wins(shop, browser, db):
    reference = await _ask(shop)
    (ana, ana_errors), (ben, ben_errors) = [
        await signed_in(browser, shop, db, "agent", name) for name in ("Ana", "Ben")]
    for page in (ana, ben):
        await row(page, reference).locator("button").click()
        await page.wait_for_selector("#ib-claim:not([hidden])")
    # both press at the same moment (a real click waits for the button, which the winner's
    # claim may already have hidden on the other page)
    await asyncio.gather(*[page.locator("#ib-claim").dispatch_event("click")
                           for page in (ana, ben)])
    outcomes = {}
    for name, page in (("Ana", ana), ("Ben", ben)):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            notice = page.locator("#ib-notice")
            if await notice.is_visible():
                outcomes[name] = "told: " + await notice.inner_text()
                break
            if await page.locator("#ib-subtitle", has_text=f"with {name}").count():
                outcomes[name] = "won"
                break
            await asyncio.sleep(0.1)
    assert sorted(v == "won" for v in outcomes.values()) == [False, True], outcomes
    winner = next(n for n, v in outcomes.items() if v == "won")
    loser = next(n for n, v in outcomes.items() if v != "won")
    assert f"{winner} is already talking with this shopper" in outcomes[loser]
    # the loser's page shows who has it, without a reload; the transcript is text
    loser_page = ana if loser == "Ana" else ben
    await loser_page.locator("#ib-subtitle", has_text=f"with {winner}").wait_for(timeout=5000)
    first = loser_page.locator(".ib-item--user .ib-bubble").first
    assert await first.inner_text() == "<b>bold?</b> a person please"
    assert await first.locator("b").count() == 0
    assert ana_errors == [] and ben_errors == []


async def test_an_admin_edits_the_canned_replies_in_the_page(shop, browser, db):
    page, errors = await signed_in(browser, shop, db, "admin", "Ada")
    await page.click("#ib-canned-manage")
    await page.fill("#ib-canned-shortcut", f"ship{int(time.time() * 1000) % 10**8}")
    await page.fill("#ib-canned-title", "Shipping times")
    await page.fill("#ib-canned-text", "Hi {first_name|there}, parcels leave within a day.")
    await page.click("#ib-canned-form button[type=submit]")
    await page.locator("#ib-canned-list li", has_text="Shipping times").wait_for(timeout=5000)
    reference = await _ask(shop)
    await page.click("#ib-canned-close")
    await row(page, reference).locator("button").click()
    await page.wait_for_selector("#ib-canned option:text('Shipping times')", state="attached")
    option = page.locator("#ib-canned option", has_text="Shipping times")
    await page.select_option("#ib-canned", await option.get_attribute("value"))
    assert await page.input_value("#ib-text") == "Hi there, parcels leave within a day."
    assert errors == []
    agent_page, _ = await signed_in(browser, shop, db, "agent", "Al")
    assert await agent_page.locator("#ib-canned-manage").is_hidden()  # agents only use them
