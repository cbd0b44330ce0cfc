"""The web chat's opening, cart counter and formatted messages, in Chromium against the chat's
socketio channel (the peer and fixtures of test_chat_page.py), and the counter's route."""

from __future__ import annotations

import secrets
import time

from shop_factories import make_variant
from test_chat_page import MEMORY, browser, received_texts, shop, until  # noqa: F401

from storefront_api.app_keys import DB, SETTINGS
from storefront_api.cart.models import Cart, CartLine
from storefront_api.chat import tokens

GREETING = ".aisle-chat__msg--bot .aisle-chat__bubble"


async def open_chat(server, browser):  # noqa: F811
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(str(server.make_url("/chat")))
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    return page, errors


async def fill_cart(server, conversation_id: str, quantities: list[int]) -> None:
    """What the bot's add-to-cart calls leave: a cart of the conversation with these lines."""
    db = server.app[DB]
    variants = [await make_variant(db, stock=20) for _ in quantities]
    async with db.write() as session:
        cart = Cart(token=secrets.token_urlsafe(24), currency="USD",
                    conversation_id=conversation_id, channel="socketio")
        session.add(cart)
        await session.flush()
        for variant, quantity in zip(variants, quantities):
            session.add(CartLine(cart_id=cart.id, variant_id=variant["id"], quantity=quantity))
        # saved for later: not in the count
        session.add(CartLine(cart_id=cart.id, variant_id=variants[0]["id"], quantity=5,
                             saved_for_later=True))


async def test_the_chat_opens_with_a_greeting_and_suggestions(shop, browser):  # noqa: F811
    server, peer = shop
    page, errors = await open_chat(server, browser)
    [greeting] = await page.locator(GREETING).all_inner_texts()
    assert greeting.startswith("Hi! I'm the assistant of ") and "What are you looking for?" \
        in greeting
    chips = page.locator(".aisle-chat__msg--bot .aisle-chat__button")
    assert await chips.all_inner_texts() == ["Show me t-shirts", "My cart", "Track an order",
                                             "Talk to a person"]
    assert await peer.received() == []  # the greeting is the page's, Rasa heard nothing yet

    await chips.nth(1).click()
    [sent] = await received_texts(peer, 1)
    assert sent["text"] == "/view_cart"
    user = await page.locator(".aisle-chat__msg--user .aisle-chat__bubble").all_inner_texts()
    assert user == ["My cart"]
    assert all([await chips.nth(i).is_disabled() for i in range(4)])  # chosen: one-off

    # a reload shows the same conversation, greeting included, and greets no second time
    await page.reload()
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    texts = await page.locator(GREETING).all_inner_texts()
    assert sum(t.startswith("Hi! I'm the assistant") for t in texts) == 1
    assert errors == []


async def test_the_header_counts_the_conversations_cart(shop, browser):  # noqa: F811
    server, peer = shop
    page, errors = await open_chat(server, browser)
    counter = page.locator(".aisle-chat__cart")
    await until(page, "document.querySelector('.aisle-chat__cart').dataset.items === '0'")
    conversation_id = (await page.evaluate(MEMORY))["conversationId"]

    # the bot adds to the cart and says so: the counter follows its message
    await fill_cart(server, conversation_id, [2, 1])
    await peer.push(conversation_id, {"text": "Added the Alpine tee to your cart."})
    await until(page, "document.querySelector('.aisle-chat__cart').dataset.items === '3'")
    assert await counter.get_attribute("aria-label") == "Your cart: 3 items"
    assert (await counter.inner_text()).strip().endswith("3")

    # pressing it asks the assistant for the cart
    await counter.click()
    [sent] = await received_texts(peer, 1)
    assert sent["text"] == "/view_cart"
    assert errors == []


async def test_bold_and_links_render_and_nothing_else_does(shop, browser):  # noqa: F811
    server, peer = shop
    page, errors = await open_chat(server, browser)
    conversation_id = (await page.evaluate(MEMORY))["conversationId"]
    await page.evaluate("window.pwned = false")
    text = ("Your total is **$59.00**. [Pay here](https://pay.example/c/1) or see "
            "https://shop.example/help. [Click](javascript:window.pwned=true) "
            "[Local](/admin) <img src=x onerror=\"window.pwned=true\"> "
            "**<b>not html</b>**")
    await peer.push(conversation_id, {"text": text})
    await until(page, "document.querySelectorAll('.aisle-chat__msg--bot').length >= 2")
    bubble = page.locator(".aisle-chat__msg--bot .aisle-chat__bubble").last
    assert await bubble.locator("strong").all_inner_texts() == ["$59.00", "<b>not html</b>"]
    links = bubble.locator("a")
    assert await links.all_inner_texts() == ["Pay here", "https://shop.example/help"]
    assert [await links.nth(i).get_attribute("href") for i in range(2)] == [
        "https://pay.example/c/1", "https://shop.example/help"]
    assert await links.nth(0).get_attribute("rel") == "noopener noreferrer"
    shown = await bubble.inner_text()
    assert "[Click](javascript:window.pwned=true)" in shown and "[Local](/admin)" in shown
    assert '<img src=x onerror="window.pwned=true">' in shown
    assert await bubble.locator("img, b, script").count() == 0
    await page.get_by_text("[Click](javascript:window.pwned=true)").click()
    assert await page.evaluate("window.pwned") is False

    # the shopper's own words are never formatted
    await page.fill(".aisle-chat__input", "**not bold** [x](https://evil.example)")
    await page.press(".aisle-chat__input", "Enter")
    mine = page.locator(".aisle-chat__msg--user .aisle-chat__bubble").last
    await until(page, "document.querySelectorAll('.aisle-chat__msg--user').length === 1")
    assert await mine.locator("strong").count() == 0
    assert await mine.inner_text() == "**not bold** [x](https://evil.example)"
    assert errors == []


async def test_the_counter_route_needs_the_conversations_token(shop):
    server, _ = shop
    settings = server.app[SETTINGS]
    mine = tokens.issue(settings.chat_token_secret, tokens.new_conversation_id(), 1,
                        time.time())
    other = tokens.issue(settings.chat_token_secret, tokens.new_conversation_id(), 1,
                         time.time())
    await fill_cart(server, mine.conversation_id, [4])
    from aiohttp import ClientSession
    async with ClientSession() as http:
        async def ask(body):
            async with http.post(str(server.make_url("/api/chat/cart")), json=body) as resp:
                return resp.status, await resp.json()
        assert await ask({"token": mine.token}) == (200, {"items": 4})
        assert await ask({"token": other.token}) == (200, {"items": 0})  # its own cart only
        forged = tokens.issue("another-secret-" + "x" * 40, mine.conversation_id, 1,
                              time.time())
        assert (await ask({"token": forged.token}))[0] == 401
        expired = tokens.issue(settings.chat_token_secret, mine.conversation_id, 1,
                               time.time() - 7200)
        assert (await ask({"token": expired.token}))[0] == 401
        assert (await ask({}))[0] == 422
        assert (await ask({"token": mine.token, "cart": "x"}))[0] == 422
