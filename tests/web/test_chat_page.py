"""The web chat page in a real headless Chromium, talking Socket.IO to the chat's socketio
channel (tests/web/socketio_peer.py runs bot/channels/socketio.py in .venv-bot with a scripted
bot behind it): the page gets its token from the shop, the channel holds each socket to the
conversation that token names. Raw Socket.IO clients try what a page would not."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path

import aiohttp
import jwt
import pytest
from local_processes import free_port
from socketio_client import RawSocket

import storefront_api
from storefront_api.app import create_app
from storefront_api.chat import tokens
from storefront_api.chat.page import render_chat_page
from storefront_api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BOT_PYTHON = ROOT / ".venv-bot" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "socketio_peer.py"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CHAT_SECRET = "chat-secret-shared-by-the-shop-and-the-socket-0123"
MEMORY = ("JSON.parse(localStorage.getItem(Object.keys(localStorage)"
          ".find(k => k.startsWith('aisle-chat:'))))")


def _missing(what: str) -> None:
    if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} and AISLE_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(what)


class Peer:
    """The socketio peer process; ``restart`` brings it back on the same port."""

    def __init__(self, port: int, pay_url: str, allowed_origin: str):
        self.port, self.pay_url, self.process = port, pay_url, None
        self.allowed_origin = allowed_origin
        self.url = f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [str(BOT_PYTHON), str(PEER), str(self.port), self.pay_url, self.allowed_origin],
            cwd=ROOT, env={**os.environ, "CHAT_JWT_SECRET": CHAT_SECRET},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(self.url + "/received") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.process.poll() is not None:
                    raise AssertionError(self.process.stderr.read().decode()[-2000:])
                await asyncio.sleep(0.1)
        raise AssertionError("the socketio peer did not start within 20 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    async def received(self) -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.get(self.url + "/received") as resp:
                return await resp.json()

    async def push(self, session_id: str, message: dict) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(self.url + "/push", json={"session_id": session_id,
                                                           "message": message}) as resp:
                assert resp.status == 200, await resp.text()


@pytest.fixture
async def shop(aiohttp_server, tmp_path):
    """storefront_api on an empty SQLite shop; its chat page points at the peer's port."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is not installed")
    if not BOT_PYTHON.exists():
        _missing(".venv-bot (Rasa 3.6, python-socketio 5.8) is not installed")
    peer_port = free_port()
    settings = Settings.from_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
                                 var_dir=tmp_path, rasa_url="http://127.0.0.1:9",
                                 chat_socket_url=f"http://127.0.0.1:{peer_port}",
                                 chat_token_secret=CHAT_SECRET)
    server = await aiohttp_server(create_app(settings))
    shop_origin = str(server.make_url("/")).rstrip("/")
    peer = Peer(peer_port, str(server.make_url("/healthz")), shop_origin)
    await peer.start()
    yield server, peer
    peer.stop()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def until(page, expression: str, timeout: float = 10) -> None:
    """Poll a JavaScript expression (page.wait_for_function would eval it, which the page's
    Content-Security-Policy forbids)."""
    for _ in range(int(timeout / 0.1)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still false after {timeout} s: {expression}")


async def bot_texts(page) -> list[str]:
    """What the bot said (after the page's own greeting, tests/web/test_chat_widget.py)."""
    texts = await page.locator(".aisle-chat__msg--bot .aisle-chat__bubble").all_inner_texts()
    assert texts and texts[0].startswith("Hi! I'm the assistant of ")
    return texts[1:]


async def received_texts(peer: Peer, count: int) -> list[dict]:
    for _ in range(50):
        received = await peer.received()
        if len(received) >= count:
            return received
        await asyncio.sleep(0.1)
    raise AssertionError(f"the peer received {await peer.received()}, expected {count} messages")


async def test_chat_page_talks_to_rasas_socketio_channel(shop, browser):
    server, peer = shop
    context = await browser.new_context(viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(str(server.make_url("/chat")))
    await page.wait_for_selector("[data-connection=online]", timeout=10000)

    await page.fill(".aisle-chat__input", "red tees")
    await page.press(".aisle-chat__input", "Enter")
    await page.wait_for_selector(".aisle-chat__card", timeout=10000)
    memory = await page.evaluate(MEMORY)
    session_id = memory["conversationId"]  # chosen by the shop, signed in the token
    assert re.fullmatch(r"[0-9a-f]{32}", session_id)
    assert jwt.decode(memory["token"], CHAT_SECRET, algorithms=["HS256"],
                      audience=tokens.AUDIENCE)["sub"] == session_id
    [first] = await received_texts(peer, 1)
    assert first == {"session_id": session_id, "text": "red tees", "channel": "socketio"}

    # text in two bubbles (Rasa splits at blank lines), the payment link clickable
    texts = await bot_texts(page)
    assert texts[0] == "Here is what I found for “red tees”."
    assert texts[1].startswith("Pay here when ready:")
    link = page.locator(".aisle-chat__bubble a")
    assert await link.get_attribute("href") == peer.pay_url
    async with page.expect_popup() as popup:
        await link.click()
    opened = await popup.value
    await opened.wait_for_load_state()
    assert opened.url == peer.pay_url and '"status"' in await opened.content()
    await opened.close()

    # the cards as a carousel with price and image
    cards = page.locator(".aisle-chat__card")
    assert await cards.count() == 2
    assert await cards.nth(0).locator(".aisle-chat__card-title").inner_text() == "Alpine tee"
    assert await cards.nth(1).locator(".aisle-chat__card-price").inner_text() == "$59.00"
    await until(page, "document.querySelector('.aisle-chat__card img').naturalWidth > 0")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # a card button sends its payload and shows its title
    await cards.nth(0).get_by_role("button", name="Add to cart").click()
    await until(page, "[...document.querySelectorAll('.aisle-chat__msg--bot .aisle-chat__bubble')]"
                      ".some(b => b.textContent.includes('Added the Alpine tee'))")
    received = await received_texts(peer, 2)
    assert received[1]["text"] == '/add_to_cart{"product_id": 12}'
    user = await page.locator(".aisle-chat__msg--user .aisle-chat__bubble").all_inner_texts()
    assert user == ["red tees", "Add to cart"]

    # a quick reply: the agent answers, and the page says who is talking
    await page.get_by_role("button", name="Talk to a person").last.click()
    await page.wait_for_selector(".aisle-chat__msg--agent", timeout=10000)
    assert (await received_texts(peer, 3))[2]["text"] == "/human_handoff"
    assert await page.locator(".aisle-chat__msg--agent .aisle-chat__who").inner_text() == "Ana"
    assert "You are talking with Ana" in await page.locator(".aisle-chat__banner").inner_text()
    assert await page.get_by_role("button", name="Show more").is_disabled()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "chat.png"))  # for docs/web-chat.md

    # a reload keeps the conversation: same session, same messages, pushes still arrive
    shown = await page.locator(".aisle-chat__msg").count()
    await page.reload()
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    assert await page.locator(".aisle-chat__msg").count() == shown
    assert (await page.evaluate(MEMORY))["conversationId"] == session_id
    await peer.push(session_id, {"text": "Your parcel left the warehouse."})
    await until(page, "[...document.querySelectorAll('.aisle-chat__bubble')]"
                      ".some(b => b.textContent === 'Your parcel left the warehouse.')")
    await page.fill(".aisle-chat__input", "thanks")
    await page.press(".aisle-chat__input", "Enter")
    assert (await received_texts(peer, 4))[3]["session_id"] == session_id
    assert errors == []
    await context.close()


async def test_chat_reconnects_after_rasa_restarts(shop, browser):
    server, peer = shop
    page = await browser.new_page()
    await page.goto(str(server.make_url("/chat")))
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    peer.stop()
    await page.wait_for_selector("[data-connection=offline]", timeout=10000)
    await page.fill(".aisle-chat__input", "are you back?")  # waits in the page meanwhile
    await page.press(".aisle-chat__input", "Enter")
    await peer.start()
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    [message] = await received_texts(peer, 1)
    assert message["text"] == "are you back?"
    await page.wait_for_selector(".aisle-chat__card", timeout=10000)
    await page.close()


async def test_chat_page_is_served_with_its_settings(aiohttp_client, tmp_path):
    settings = Settings.from_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
                                 var_dir=tmp_path, shop_name='Ada & "Co" <shop>',
                                 chat_socket_url="https://chat.example.com")
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/chat")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert 'data-socket-url="https://chat.example.com"' in html
    assert "Ada &amp; &quot;Co&quot; &lt;shop&gt;" in html and "<shop>" not in html
    assert "connect-src 'self' wss://chat.example.com" in resp.headers["Content-Security-Policy"]
    web = Path(storefront_api.__file__).parent / "web"
    for name, content_type in (("chat.js", "application/javascript"), ("chat.css", "text/css")):
        static = await client.get(f"/static/{name}")
        # the page's own script and style, whole (a truncated or stale copy breaks the chat)
        assert (static.status, static.content_type) == (200, content_type)
        assert await static.read() == (web / name).read_bytes()
    assert render_chat_page(settings) == html


# --- the token: renewed by the page, required by the socket ----------------------------------

def chat_token(conversation_id: str, *, secret: str = CHAT_SECRET, expires_in: float = 3600,
               **claims) -> str:
    now = int(time.time())
    return jwt.encode({"sub": conversation_id, "aud": tokens.AUDIENCE, "iss": tokens.ISSUER,
                       "iat": now - 60, "exp": int(now + expires_in), **claims}, secret,
                      algorithm="HS256")


async def test_the_page_renews_an_expired_token_for_the_same_conversation(shop, browser):
    server, peer = shop
    page = await browser.new_page()
    await page.goto(str(server.make_url("/chat")))
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    memory = await page.evaluate(MEMORY)
    conversation = memory["conversationId"]
    expired = chat_token(conversation, expires_in=-3600)  # a shopper back the next day
    await page.evaluate(f"(() => {{ const k = Object.keys(localStorage).find(k => "
                        f"k.startsWith('aisle-chat:')); const m = {MEMORY}; "
                        f"m.token = {json.dumps(expired)}; m.expiresAt = {int(time.time())} - "
                        f"3600; localStorage.setItem(k, JSON.stringify(m)); }})()")
    await page.reload()
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    renewed = await page.evaluate(MEMORY)
    assert renewed["conversationId"] == conversation and renewed["token"] != expired
    assert renewed["expiresAt"] > time.time() + 3600
    await page.fill(".aisle-chat__input", "still me")
    await page.press(".aisle-chat__input", "Enter")
    [message] = await received_texts(peer, 1)
    assert message["session_id"] == conversation
    await page.close()


async def test_a_token_the_socket_refuses_gives_a_new_conversation(shop, browser):
    """A token this shop never signed (here: another key) is refused by the socket and not
    renewed by the shop: the page starts a new conversation instead of retrying forever."""
    server, peer = shop
    page = await browser.new_page()
    await page.goto(str(server.make_url("/chat")))
    await page.wait_for_selector("[data-connection=online]", timeout=10000)
    stranger = "f" * 32
    forged = chat_token(stranger, secret="some-other-shops-secret-0123456789abcdef")
    await page.evaluate(f"(() => {{ const k = Object.keys(localStorage).find(k => "
                        f"k.startsWith('aisle-chat:')); localStorage.setItem(k, JSON.stringify("
                        f"{{conversationId: '{stranger}', token: {json.dumps(forged)}, "
                        f"expiresAt: {int(time.time()) + 3600}, log: [{{who: 'bot', data: "
                        f"{{text: 'Your order KX-11111 has shipped.'}}}}], agent: null}})); }})()")
    await page.reload()
    await page.wait_for_selector("[data-connection=online]", timeout=20000)
    memory = await page.evaluate(MEMORY)
    assert memory["conversationId"] != stranger and memory["token"] != forged
    # what the page showed belonged to the other conversation: gone, the new one greeted
    assert [entry["data"].get("greeting") for entry in memory["log"]] == [True]
    assert await page.locator(".aisle-chat__msg").count() == 1
    assert "KX-11111" not in await page.locator(".aisle-chat__log").inner_text()
    await page.fill(".aisle-chat__input", "hello")
    await page.press(".aisle-chat__input", "Enter")
    [message] = await received_texts(peer, 1)
    assert message["session_id"] == memory["conversationId"]
    await page.close()


async def new_session(server) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(str(server.make_url("/api/chat/sessions"))) as resp:
            assert resp.status == 201, await resp.text()
            return await resp.json()


async def connected(peer: Peer, origin: str, token: str) -> RawSocket:
    socket = await RawSocket.open(peer.url, origin=origin)
    reply = await socket.connect({"token": token})
    assert reply.startswith("40{"), reply
    return socket


def invalid_auths() -> dict[str, object]:
    """What a connect packet may carry instead of a token the shop signed."""
    return {
        "no auth": None, "empty": {}, "empty token": {"token": ""}, "number": {"token": 42},
        "garbage": {"token": "not.a.token"},
        "forged": {"token": chat_token("a" * 32,
                                       secret="another-key-entirely-0123456789abcdef")},
        "expired": {"token": chat_token("a" * 32, expires_in=-5)},
        "other audience": {"token": chat_token("a" * 32, aud="rasa")},
        "alg none": {"token": jwt.encode({"sub": "a" * 32, "aud": tokens.AUDIENCE,
                                          "iss": tokens.ISSUER,
                                          "exp": int(time.time()) + 600},
                                         None, algorithm="none")},
    }


async def test_attack_the_socket_without_a_valid_token_gets_nothing(shop):
    server, peer = shop
    victim = (await new_session(server))["conversation_id"]
    origin = str(server.make_url("/")).rstrip("/")
    for what, auth in invalid_auths().items():
        socket = await RawSocket.open(peer.url, origin=origin)
        try:
            reply = await socket.connect(auth)
            assert reply.startswith("44") and "chat token" in reply, (what, reply)
            await socket.emit("session_request", {"session_id": victim})
            await socket.emit("user_uttered", {"message": "show me the cart",
                                               "session_id": victim})
            await peer.push(victim, {"text": "Your order KX-12345 has shipped."})
            assert await socket.events(0.5) == [], what
        finally:
            await socket.close()
    assert await peer.received() == []


async def test_attack_a_valid_token_cannot_name_another_conversation(shop):
    server, peer = shop
    origin = str(server.make_url("/")).rstrip("/")
    victim, attacker = await new_session(server), await new_session(server)
    victim_socket = await connected(peer, origin, victim["token"])
    await victim_socket.emit("session_request", {"session_id": victim["conversation_id"]})
    assert await victim_socket.events(1.0) == [("session_confirm", victim["conversation_id"])]

    for event, data in [("session_request", {"session_id": victim["conversation_id"]}),
                        ("user_uttered", {"message": "what's in my cart?",
                                          "session_id": victim["conversation_id"]})]:
        socket = await connected(peer, origin, attacker["token"])
        try:
            await socket.emit(event, data)
            await peer.push(victim["conversation_id"], {"text": "Payment received."})
            assert await socket.events(1.0) == []  # no confirm, no reply, no push
            assert socket.disconnected_by_server, socket.packets
        finally:
            await socket.close()
    assert await peer.received() == []
    assert [name for name, _ in await victim_socket.events(1.0)] == ["bot_uttered"] * 2

    # the attacker's own conversation works as usual, and stays theirs
    socket = await connected(peer, origin, attacker["token"])
    try:
        await socket.emit("session_request", {})
        await socket.emit("user_uttered", {"message": "red tees"})
        events = await socket.events(2.0)
        assert events[0] == ("session_confirm", attacker["conversation_id"])
        assert any(name == "bot_uttered" for name, _ in events[1:])
    finally:
        await socket.close()
    assert [(m["session_id"], m["text"]) for m in await received_texts(peer, 1)] == [
        (attacker["conversation_id"], "red tees")]
    assert await victim_socket.events(0.5) == []  # none of the attacker's replies
    await victim_socket.close()


async def test_attack_a_page_of_another_origin_cannot_open_the_socket(shop):
    server, peer = shop
    token = (await new_session(server))["token"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await RawSocket.open(peer.url, origin="https://evil.example")
    assert refused.value.status == 400
    socket = await connected(peer, str(server.make_url("/")).rstrip("/"), token)
    await socket.close()
