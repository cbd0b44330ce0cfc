"""Where Stripe sends the shopper back: the done page shows the order number once the webhook
has landed (polling, in a real Chromium), the cancelled page offers the same link again."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "payments"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from payment_helpers import deliver, open_checkout, session_event, webhook_secret  # noqa: E402

from storefront_api.app import create_app  # noqa: E402
from storefront_api.checkout.models import Checkout  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def test_done_page_before_and_after_the_webhook(client, db):
    checkout = await open_checkout(client, db)
    before = await client.get(f"/checkout/{checkout['token']}/done")
    assert before.status == 200
    html = await before.text()
    assert "Confirming your payment" in html and "data-order-number" not in html
    assert "no-store" in before.headers["Cache-Control"]
    assert "script-src 'self'" in before.headers["Content-Security-Policy"]
    assert (await deliver(client, session_event(checkout), webhook_secret(client))).status == 200
    after = await (await client.get(f"/checkout/{checkout['token']}/done")).text()
    number = (await (await client.get(f"/api/checkouts/{checkout['token']}")).json())[
        "order_number"]
    assert number and f"data-order-number>{number}</strong>" in after


async def test_cancelled_page_offers_the_same_link_while_it_is_open(client, db):
    checkout = await open_checkout(client, db)
    page = await (await client.get(f"/checkout/{checkout['token']}/cancelled")).text()
    assert "Payment not completed" in page
    assert f'href="{checkout["payment_url"]}"' in page
    async with db.write() as session:  # the link ran out
        await session.execute(update(Checkout).where(Checkout.token == checkout["token"])
                              .values(status="expired"))
    expired = await (await client.get(f"/checkout/{checkout['token']}/cancelled")).text()
    assert checkout["payment_url"] not in expired and "ask for a new one" in expired


@pytest.mark.parametrize("path", ["done", "cancelled"])
async def test_unknown_checkout_is_a_404_page(client, path):
    response = await client.get(f"/checkout/{'x' * 30}/{path}")
    assert response.status == 404
    assert "We cannot find this payment" in await response.text()


async def test_done_page_shows_the_order_number_without_a_reload(aiohttp_server, settings, db):
    """In Chromium: the page is open while the webhook lands; the number appears."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    from playwright.async_api import async_playwright
    server = await aiohttp_server(create_app(settings, migrate=False))
    from aiohttp import ClientSession
    async with ClientSession(base_url=str(server.make_url(""))) as http:
        class Client:  # the helpers' client interface on the real server
            app = server.app

            @staticmethod
            def post(path, **kw):
                return http.post(path, **kw)

        checkout = await open_checkout(Client, db)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(str(server.make_url(f"/checkout/{checkout['token']}/done")))
                await page.get_by_text("Confirming your payment").wait_for()
                answer = await deliver(Client, session_event(checkout), webhook_secret(Client))
                assert answer.status == 200
                shown = page.locator("[data-order-number]")
                await shown.wait_for(timeout=10_000)
                number = await shown.get_attribute("data-order-number")
                assert number and number in await page.inner_text("body")
            finally:
                await browser.close()
