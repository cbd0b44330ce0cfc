"""What an agent does for the shopper from the inbox page, in real headless Chromium against
the real app (Rasa is the recording stand-in): apply a promo code to the conversation's
cart, send the payment link again, cancel an order, start a return; each through the shop's
own routes (the ones the bot calls), each leaving an internal note, and the shop's data
changed as if the shopper had asked the bot."""

from __future__ import annotations

import pytest
from aftersales_factories import events_of, make_order, order_row
from assistant_calls import from_the_assistant
from cart_helpers import cart_with, get_cart, make_promo, pick_variants
from inbox_helpers import ask_for_human, conversation
from shop_factories import checkout_body
from test_inbox_page import browser, row, shop, signed_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


async def notes(page) -> list[str]:
    return await page.locator(".ib-item--note .ib-bubble").all_inner_texts()


async def test_an_agent_acts_for_the_shopper_through_the_shops_routes(shop, browser, db,
                                                                      aiohttp_client, rasa):
    client = await aiohttp_client(shop)
    conversation_id = conversation()
    assistant = from_the_assistant(conversation_id, "socketio")
    variant, other, third = await pick_variants(db, 3, min_stock=3)
    cart = await cart_with(client, db, [(variant, 2)], headers=assistant)
    resp = await client.post(f"/api/carts/{cart['token']}/checkout", json=checkout_body(),
                             headers=assistant)
    assert resp.status == 201, await resp.text()
    payment_url = (await resp.json())["payment_url"]
    to_cancel = await make_order(db, [(other, 1)], conversation_id=conversation_id)
    to_return = await make_order(db, [(third, 1)], status="delivered",
                                 conversation_id=conversation_id)
    code = await make_promo(client, kind="percentage", value=10)
    handoff = await ask_for_human(client, conversation_id, cart_token=cart["token"])

    page, errors = await signed_in(browser, shop, db, "agent", "Ana")
    await row(page, handoff["reference"]).locator("button").click()
    await page.click("#ib-claim")
    await page.locator("#ib-subtitle", has_text="with Ana").wait_for(timeout=5000)

    # a promo code on the shopper's cart
    await page.fill("#ib-promo-code", code)
    await page.click("#ib-promo button[type=submit]")
    await page.locator(".ib-item--note", has_text=f"Applied promo code {code}").wait_for(
        timeout=5000)
    priced = await get_cart(client, cart["token"])
    assert priced["promo_code"]["code"] == code and priced["totals"]["discount"]["amount"] > 0

    # the payment link again, as the agent's reply through Rasa
    await page.click("#ib-resend-link")
    await page.locator(".ib-item--note", has_text="Sent the payment link again").wait_for(
        timeout=5000)
    relayed = [call["body"] for call in rasa.calls_to("/tracker/events")
               if call["conversation_id"] == conversation_id]
    assert any(payment_url in str(body) for body in relayed), relayed

    # cancel one order (the page asks to confirm), start a return of the other
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(f"[data-order='{to_cancel['number']}'] button", has_text="Cancel").click()
    await page.locator(".ib-item--note", has_text=f"Cancelled order {to_cancel['number']}"
                       ).wait_for(timeout=5000)
    await page.locator(f"[data-order='{to_cancel['number']}'] .ib-order-detail",
                       has_text="Cancelled.").wait_for(timeout=5000)  # still said after
    # a paid order, cancelled before shipping: refunded at once, as when the bot cancels it
    assert (await order_row(db, to_cancel["number"])).status == "refunded"
    page.once("dialog", lambda dialog: dialog.accept("Too small"))
    await page.locator(f"[data-order='{to_return['number']}'] button",
                       has_text="Start a return").click()
    await page.locator(".ib-item--note", has_text=f"for order {to_return['number']}"
                       ).wait_for(timeout=5000)
    assert len(await events_of(db, to_return["number"], "return_requested")) == 1
    await page.locator(f"[data-order='{to_return['number']}'] .ib-order-detail",
                       has_text="requested.").wait_for(timeout=5000)

    assert len(await notes(page)) == 4  # one per action, who did what
    assert errors == []
