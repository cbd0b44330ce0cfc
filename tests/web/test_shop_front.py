"""The demo shop front at / in Chromium: catalog with search and filters, product pages with
their pictures, the cart, and the chat embedded by one script tag sharing that cart (the
chat's socketio channel is tests/web/socketio_peer.py; "the assistant" adding to the cart is
played by the API calls the action server makes)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from local_processes import free_port
from test_chat_page import (BOT_PYTHON, CHAT_SECRET, CHROMIUM, MEMORY, SCREENSHOTS,  # noqa: F401
                            Peer, _missing, browser, until)

from storefront_api.app import create_app
from storefront_api.app_keys import SETTINGS
from storefront_api.chat import tokens
from storefront_api.settings import Settings

SERVICE = "service-token-of-the-action-server-0123456789"


@pytest.fixture
async def shop(aiohttp_server, shop_url, tmp_path):
    """The app on the shared demo shop (SQLite), its chat pointing at the peer."""
    if not shop_url.startswith("sqlite"):
        pytest.skip("the page is the same on PostgreSQL; the API's tests cover both")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is not installed")
    if not BOT_PYTHON.exists():
        _missing(".venv-bot (Rasa 3.6, python-socketio 5.8) is not installed")
    peer_port, port = free_port(), free_port()
    settings = Settings.from_env(database_url=shop_url, var_dir=tmp_path,
                                 storefront_url=f"http://127.0.0.1:{port}",
                                 rasa_url="http://127.0.0.1:9", service_token=SERVICE,
                                 chat_socket_url=f"http://127.0.0.1:{peer_port}",
                                 chat_token_secret=CHAT_SECRET, max_held_units=1000)
    server = await aiohttp_server(create_app(settings, migrate=False), port=port)
    peer = Peer(peer_port, str(server.make_url("/healthz")),
                str(server.make_url("/")).rstrip("/"))
    await peer.start()
    yield server, peer
    peer.stop()


async def assistant_adds(server, conversation_id: str, variant_id: int) -> dict:
    """What the action server does for "add it to my cart": a cart for the conversation
    (POST /api/carts with its credential), then the item."""
    headers = {"Authorization": f"Bearer {SERVICE}", "X-Conversation-Id": conversation_id,
               "X-Channel": "socketio"}
    async with aiohttp.ClientSession() as http:
        async with http.post(str(server.make_url("/api/carts")), json={},
                             headers=headers) as made:
            cart = await made.json()
        async with http.post(str(server.make_url(f"/api/carts/{cart['token']}/items")),
                             json={"variant_id": variant_id, "quantity": 2},
                             headers=headers) as added:
            assert added.status == 201, await added.text()
            return await added.json()


async def in_stock_variant(server, query: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(str(server.make_url(f"/api/products?q={query}&in_stock=true"))) as r:
            items = (await r.json())["items"]
        for item in items:
            async with http.get(str(server.make_url(item["url"]))) as r:
                page = await r.json()
            for variant in page["variants"]:
                if variant["stock"] >= 3:
                    return variant
    raise AssertionError(f"no {query} in stock")


async def test_shop_front_catalog_product_cart_and_chat_share_one_cart(shop, browser):
    server, peer = shop
    async with aiohttp.ClientSession() as http:
        async with http.get(str(server.make_url("/"))) as answer:
            html = await answer.text()
    assert answer.status == 200 and 'id="aisle-chat"' not in html  # one script tag mounts it
    assert html.count('src="/static/chat.js"') == 1

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(str(server.make_url("/")))
    await page.wait_for_selector(".shop-card", timeout=15000)
    assert (await page.locator(".shop-heading").inner_text()).endswith("products")
    # the demo catalog's pictures, drawn by the shop, loaded (other tests' products have
    # none: a quiet block, never a broken image)
    await page.goto(str(server.make_url("/")) + "#/?q=jacket")
    await until(page, "document.querySelector('.shop-heading')?.textContent.includes('jacket')")
    await until(page, "document.querySelectorAll('.shop-card img').length > 0 && "
                      "[...document.querySelectorAll('.shop-card img')].every("
                      "i => i.complete && i.naturalWidth > 0)")
    assert await page.locator(".shop-card img").count() == await page.locator(".shop-card").count()
    # the chat, mounted by its script tag, as a launcher
    await page.wait_for_selector(".aisle-chat-launcher", timeout=10000)
    await page.wait_for_selector("#aisle-chat[data-connection=online]", state="attached",
                                 timeout=10000)

    # search, then a colour filter from the facets
    await page.fill("#shop-q", "hoodie")
    await page.press("#shop-q", "Enter")
    await until(page, "location.hash.includes('q=hoodie')")
    await until(page, "document.querySelector('.shop-heading')?.textContent.includes('hoodie')")
    colour = page.locator("select[name=color]")
    options = await colour.locator("option").all_inner_texts()
    assert len(options) > 2
    wanted = (await colour.locator("option").nth(1).get_attribute("value"))
    await colour.select_option(wanted)
    await until(page, f"location.hash.includes('color={wanted}')")
    await until(page, "document.querySelectorAll('.shop-card').length > 0")
    titles = [t.lower() for t in await page.locator(".shop-card-title").all_inner_texts()]
    assert titles and all("hoodie" in t for t in titles), titles

    # a product page: pictures, a variant, add to cart
    await page.locator(".shop-card").first.click()
    await page.wait_for_selector(".shop-product .shop-add", timeout=10000)
    await until(page, "[...document.querySelectorAll('.shop-gallery img')].every("
                      "i => i.complete && i.naturalWidth > 0)")
    assert await page.locator("select[name=color]").input_value() != ""
    if await page.locator(".shop-add").is_disabled():  # sold out in every variant: another
        await page.goto(str(server.make_url("/")) + "#/?q=t-shirt&in_stock=1")
        await page.locator(".shop-card").first.click()
        await page.wait_for_selector(".shop-product .shop-add:not([disabled])", timeout=10000)
    # the page starts on a variant that can be bought
    assert "Out of stock" not in await page.locator(".shop-note").inner_text()
    await page.locator(".shop-add").click()
    await page.wait_for_selector("text=Added to your cart.", timeout=10000)
    await until(page, "document.querySelector('.shop-cart-count')?.textContent === '1'")
    # ...and the chat's counter shows the same cart
    await until(page, "document.querySelector('.aisle-chat__cart')?.dataset.items === '1'")

    # the assistant adds two more in the chat: the page follows after its message
    conversation_id = (await page.evaluate(MEMORY))["conversationId"]
    variant = await in_stock_variant(server, "socks")
    cart = await assistant_adds(server, conversation_id, variant["id"])
    assert cart["item_count"] == 3  # the same cart the page filled
    await peer.push(conversation_id, {"text": "Added 2 pairs of socks to your cart."})
    await until(page, "document.querySelector('.shop-cart-count')?.textContent === '3'")
    await until(page, "document.querySelector('.aisle-chat__cart')?.dataset.items === '3'")

    # the cart page: both lines; removing one updates page and chat
    await page.locator(".shop-cart-link").click()
    await page.wait_for_selector(".shop-line", timeout=10000)
    assert await page.locator(".shop-line").count() == 2
    assert await page.locator(".shop-totals dd").last.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "shop-front-cart.png"))
    await page.locator(".shop-line", has_text="ocks").locator(".shop-remove").click()
    await until(page, "document.querySelectorAll('.shop-line').length === 1")
    await until(page, "document.querySelector('.shop-cart-count')?.textContent === '1'")
    await until(page, "document.querySelector('.aisle-chat__cart')?.dataset.items === '1'")
    assert errors == []


async def test_opening_the_chats_cart_needs_that_conversations_token(shop):
    server, _ = shop
    secret = server.app[SETTINGS].chat_token_secret
    first = tokens.issue(secret, tokens.new_conversation_id(), 1, time.time())
    second = tokens.issue(secret, tokens.new_conversation_id(), 1, time.time())
    forged = tokens.issue("not-this-shops-secret-" + "y" * 30, first.conversation_id, 1,
                          time.time())
    url = str(server.make_url("/api/chat/cart/open"))
    async with aiohttp.ClientSession() as http:
        async def open_cart(body):
            async with http.post(url, json=body) as answer:
                return answer.status, await answer.json()
        status, mine = await open_cart({"token": first.token})
        assert status == 200
        assert await open_cart({"token": first.token}) == (200, mine)  # the same cart again
        status, theirs = await open_cart({"token": second.token})
        assert status == 200 and theirs["token"] != mine["token"]
        assert (await open_cart({"token": forged.token}))[0] == 401
        assert (await open_cart({}))[0] == 422
