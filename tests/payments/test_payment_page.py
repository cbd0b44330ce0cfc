"""The test gateway's hosted payment page, from the payment link to the order."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

from payment_helpers import checkout_row, open_checkout, orders_of, stock_of
from sqlalchemy import update

from storefront_api.app import create_app
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.money import format_money

CARD = {"expiry": "12/34", "cvc": "123", "name": "Ada Lovelace"}


async def pay(client, checkout: dict, number: str, **fields):
    return await client.post(f"/pay/{checkout['session_id']}",
                             data={"number": number, **CARD, **fields})


async def test_page_shows_the_summary_and_says_no_card_data_is_kept(client, db):
    checkout = await open_checkout(client, db, price=3250, quantity=2)
    response = await client.get(f"/pay/{checkout['session_id']}")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert "test payment page" in page and "no card data is stored or sent anywhere" in page
    assert checkout["lines"][0]["title"] in page
    for name in ("subtotal", "shipping", "tax", "total"):
        assert checkout["totals"][name]["formatted"] in page
    assert format_money(3250, "USD") in page and "2 × " in page
    assert "expires at" in page and 'name="number"' in page and 'name="cvc"' in page
    assert '<label for="number">' in page and 'lang="en"' in page  # labelled, accessible
    assert "<script" not in page and "<link" not in page and "src=" not in page  # self-contained
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_4242_pays_and_the_page_shows_the_order_number(client, db):
    checkout = await open_checkout(client, db, stock=4, quantity=2)
    response = await pay(client, checkout, "4242 4242 4242 4242")
    page = await response.text()
    assert response.status == 200, page
    orders = await orders_of(db, checkout["token"])
    assert len(orders) == 1
    assert "Payment received — thank you" in page and orders[0].number in page
    assert orders[0].payment_gateway == "test"
    assert orders[0].payment_reference.startswith("pi_test_")
    assert orders[0].total == checkout["totals"]["total"]["amount"]
    assert (await checkout_row(db, checkout["token"])).status == "completed"
    assert await stock_of(db, checkout["variant"]["id"]) == (2, 2)
    again = await client.get(f"/pay/{checkout['session_id']}")  # the link, opened later
    text = await again.text()
    assert again.status == 200 and "already paid" in text and orders[0].number in text
    repaid = await pay(client, checkout, "4242424242424242")  # a second click: no second order
    assert "already paid" in await repaid.text()
    assert len(await orders_of(db, checkout["token"])) == 1


async def test_a_declined_card_keeps_the_session_open_for_a_retry(client, db):
    checkout = await open_checkout(client, db)
    response = await pay(client, checkout, "4000 0000 0000 0002")
    page = await response.text()
    assert response.status == 402 and "Your card was declined" in page and 'role="alert"' in page
    assert 'name="number" value=""' in page  # the number is never echoed back
    assert (await checkout_row(db, checkout["token"])).status == "open"
    assert await orders_of(db, checkout["token"]) == []
    retry = await pay(client, checkout, "4242 4242 4242 4242")
    assert retry.status == 200 and len(await orders_of(db, checkout["token"])) == 1


async def test_3d_secure_completed(client, db):
    checkout = await open_checkout(client, db)
    response = await pay(client, checkout, "4000 0025 0000 3155")
    page = await response.text()
    assert response.status == 200 and "Complete authentication" in page \
        and "Fail authentication" in page
    assert await orders_of(db, checkout["token"]) == []  # not paid until confirmed
    challenge = re.search(r'name="challenge" value="([^"]+)"', page).group(1)
    done = await client.post(f"/pay/{checkout['session_id']}/authenticate",
                             data={"challenge": challenge, "result": "complete"})
    assert done.status == 200 and "Payment received" in await done.text()
    assert len(await orders_of(db, checkout["token"])) == 1


async def test_3d_secure_failed_or_forged_charges_nothing(client, db):
    checkout = await open_checkout(client, db)
    page = await (await pay(client, checkout, "4000002500003155")).text()
    challenge = re.search(r'name="challenge" value="([^"]+)"', page).group(1)
    url = f"/pay/{checkout['session_id']}/authenticate"
    failed = await client.post(url, data={"challenge": challenge, "result": "fail"})
    assert failed.status == 402 and "Authentication failed" in await failed.text()
    skipped = await client.post(url, data={"challenge": "1.forged", "result": "complete"})
    assert skipped.status == 422  # no way around the card step
    other = await open_checkout(client, db)  # a challenge is only good for its own session
    borrowed = await client.post(f"/pay/{other['session_id']}/authenticate",
                                 data={"challenge": challenge, "result": "complete"})
    assert borrowed.status == 422
    assert await orders_of(db, checkout["token"]) == [] == await orders_of(db, other["token"])
    assert (await checkout_row(db, checkout["token"])).status == "open"


async def test_form_mistakes_and_real_cards_are_explained(client, db):
    checkout = await open_checkout(client, db)
    response = await pay(client, checkout, "12", expiry="13/99", cvc="1", name=" ")
    page = await response.text()
    assert response.status == 422
    for words in ("12 to 19 digits", "MM/YY", "3 or 4 digit", "name on the card"):
        assert words in page
    assert page.count('aria-invalid="true"') == 4
    expired = await pay(client, checkout, "4242424242424242", expiry="01/20")
    assert expired.status == 422 and "expired" in await expired.text()
    real = await pay(client, checkout, "5555 5555 5555 4444", name="Ada <b>Lovelace</b>")
    text = await real.text()
    assert real.status == 422 and "use a test card" in text
    assert 'name="number" value=""' in text and "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in text
    assert await orders_of(db, checkout["token"]) == []


async def test_unknown_expired_and_foreign_sessions(client, db, aiohttp_client, settings):
    unknown = await client.get("/pay/cs_test_doesnotexist123")
    assert unknown.status == 404 and "not valid" in await unknown.text()
    assert (await client.get("/pay/anything")).status == 404
    checkout = await open_checkout(client, db)
    async with db.write() as session:
        await session.execute(update(Checkout).where(Checkout.token == checkout["token"])
                              .values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = await client.get(f"/pay/{checkout['session_id']}")
    assert expired.status == 410 and "expired" in await expired.text()
    paying = await pay(client, checkout, "4242424242424242")
    assert paying.status == 410 and await orders_of(db, checkout["token"]) == []
    # With Stripe configured the page does not exist, even for a test gateway's session.
    stripe_app = create_app(dataclasses.replace(
        settings, payment_gateway="stripe", stripe_api_key="sk_test_x",
        stripe_webhook_secret="whsec_x"), migrate=False)
    other = await open_checkout(client, db)
    stripe_client = await aiohttp_client(stripe_app)
    assert (await stripe_client.get(f"/pay/{other['session_id']}")).status == 404
    assert (await pay(stripe_client, other, "4242424242424242")).status == 404
    assert await orders_of(db, other["token"]) == []
