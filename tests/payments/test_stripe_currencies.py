"""Every currency Stripe supports: what is sent to Stripe, what the webhook expects back,
what the shopper reads (API, chat) and what the dashboard shows.

The currencies and their Stripe units are the fake Stripe's tables, copied from Stripe's
documentation (tests/fakes/fake_stripe.py), not from storefront_api.money: the fake refuses
what real Stripe refuses (ISK and UGX amounts not ending in 00, three-decimal amounts not
ending in 0, currencies it does not know).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import stripe as stripe_library
from fake_stripe import CURRENCIES, FakeStripe, api_decimals

from dashboard import display
from storefront_api.checkout.models import Checkout
from storefront_api.checkout.payment_events import _amount_problem
from storefront_api.money import format_money, in_units, minor_unit_exponent, money
from storefront_api.payments.builtin.gateway import TestGateway
from storefront_api.payments.gateway import LineItem, PaymentRequest
from storefront_api.payments.stripe_gateway import StripeGateway
from storefront_api.settings import Settings

ALL = sorted(CURRENCIES)


def request(currency: str, lines: list[tuple[int, int]], total: int | None = None,
            key: str = "k") -> PaymentRequest:
    items = [LineItem(name=f"Item {n}", unit_amount=a, quantity=q)
             for n, (a, q) in enumerate(lines)]
    return PaymentRequest(
        checkout_token="tok", cart_reference="cart-1", email="ada@example.com",
        currency=currency, line_items=items,
        total=sum(a * q for a, q in lines) if total is None else total,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        success_url="https://shop.example/ok", cancel_url="https://shop.example/cancel",
        idempotency_key=f"checkout-{currency}-{key}", metadata={"checkout_token": "tok"})


def whole_units(units: int, currency: str) -> int:
    """``units`` of the currency in the shop's minor units."""
    return units * 10 ** minor_unit_exponent(currency)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """No database: these tests talk to gateways and format numbers."""
    return Settings.from_env(var_dir=tmp_path, database_url="sqlite+aiosqlite:///:memory:")


@pytest.fixture
async def stripe(settings):
    fake = await FakeStripe().start()
    gateway = StripeGateway(dataclasses.replace(
        settings, payment_gateway="stripe", stripe_api_key=fake.api_key,
        stripe_api_base=fake.url, stripe_webhook_secret=fake.webhook_secret))
    yield fake, gateway
    await gateway.close()
    await fake.stop()


def sent_lines(fake: FakeStripe) -> list[tuple[int, int, str]]:
    params = fake.calls("POST", "/v1/checkout/sessions")[-1].params
    return [(int(i["price_data"]["unit_amount"]), int(i["quantity"]),
             i["price_data"]["currency"]) for i in params["line_items"]]


async def test_every_stripe_currency_is_charged_and_refunded_in_stripes_units(stripe):
    """1,234 units of each currency twice and 7 units once: Stripe is asked for exactly
    that, in its own units, and a refund of the 7 units is the same figure again."""
    fake, gateway = stripe
    for currency in ALL:
        big, small = whole_units(1234, currency), whole_units(7, currency)
        session = await gateway.create_session(request(currency, [(big, 2), (small, 1)]))
        scale = 10 ** api_decimals(currency)
        assert sent_lines(fake) == [(1234 * scale, 2, currency.lower()),
                                    (7 * scale, 1, currency.lower())], currency
        assert fake.sessions[session.id]["amount_total"] == 2475 * scale, currency
        intent = fake.pay(session.id)["payment_intent"]
        refund = await gateway.refund(intent, small, currency, idempotency_key=f"r-{currency}",
                                      reason="requested_by_customer")
        assert fake.refunds[refund.id]["amount"] == 7 * scale, currency
        assert fake.payment_intents[intent]["refunded"] == 7 * scale


@pytest.mark.parametrize("currency, amount, sent", [
    ("USD", 4999, 4999), ("EUR", 1, 1), ("TWD", 80045, 80045),  # two-decimal, as is
    ("JPY", 500, 500), ("KRW", 12000, 12000), ("XOF", 750, 750),  # zero-decimal, as is
    ("ISK", 5, 500), ("UGX", 5, 500), ("HUF", 10, 1000),  # whole units sent with 00
    ("KWD", 5120, 5120), ("BHD", 1000, 1000),  # three-decimal ending in 0, as is
])
async def test_amounts_sent_as_stripe_documents_them(stripe, currency, amount, sent):
    fake, gateway = stripe
    session = await gateway.create_session(request(currency, [(amount, 1)]))
    assert sent_lines(fake) == [(sent, 1, currency.lower())]
    assert fake.sessions[session.id]["amount_total"] == sent


async def test_a_three_decimal_total_stripe_cannot_take_is_rounded_down(stripe):
    """5.125 KWD cannot go to Stripe (the last digit must be 0): 5.120 is charged, never more
    than the shopper was shown; lines that would not add up to it become one line."""
    fake, gateway = stripe
    session = await gateway.create_session(request("KWD", [(2500, 2), (125, 1)], key="a"))
    assert sent_lines(fake) == [(2500, 2, "kwd"), (120, 1, "kwd")]
    assert fake.sessions[session.id]["amount_total"] == 5120
    session = await gateway.create_session(request("KWD", [(1705, 3)], key="b"))  # 5.115
    assert sent_lines(fake) == [(5110, 1, "kwd")]
    assert fake.sessions[session.id]["amount_total"] == 5110


async def test_the_fake_refuses_what_stripe_refuses(stripe):
    """The rules above are enforced by the fake, so a wrong conversion fails these tests."""
    fake, gateway = stripe
    for currency, amount in (("isk", 501), ("ugx", 5), ("kwd", 5125), ("xxx", 100)):
        with pytest.raises(stripe_library.InvalidRequestError):
            # Sent as is, as a gateway that did not know Stripe's rules would.
            await gateway._client.v1.checkout.sessions.create_async({
                "mode": "payment", "line_items": [{"quantity": 1, "price_data": {
                    "currency": currency, "unit_amount": amount,
                    "product_data": {"name": "x"}}}]})
    assert fake.sessions == {}


def checkout_in(currency: str, total: int) -> Checkout:
    return Checkout(total=total, currency=currency, gateway_session_id="cs_test_x",
                    email="ada@example.com")


@pytest.mark.parametrize("currency", ALL)
def test_the_webhook_and_the_test_gateway_count_in_stripes_units(settings, currency):
    total = whole_units(1234, currency)
    checkout = checkout_in(currency, total)
    event = TestGateway(settings).completed_event(checkout, metadata={},
                                                  client_reference_id=None)
    paid = event["data"]["object"]
    assert paid["amount_total"] == 1234 * 10 ** api_decimals(currency)
    assert _amount_problem(checkout, paid) is None
    # A charge of the shop's own minor units where Stripe counts differently is caught.
    if api_decimals(currency) != minor_unit_exponent(currency):
        assert _amount_problem(checkout, {**paid, "amount_total": total})
    assert _amount_problem(checkout, {**paid, "amount_total": paid["amount_total"] + 1})


@pytest.mark.parametrize("currency", ALL)
def test_the_shopper_and_the_dashboard_read_the_same_figure(currency):
    """12,345.67 units (as far as the currency has minor units): the digits are right, the
    API's document, the dashboard's figure and the chat's text are one string."""
    exponent = minor_unit_exponent(currency)
    amount = 1234567 // 10 ** (2 - exponent) if exponent <= 2 else 12345678
    shown = format_money(amount, currency)
    digits = f"{in_units(amount, currency):,.{exponent}f}"
    assert digits in shown and shown.count(digits) == 1, (currency, shown)
    assert shown.replace(digits, "").strip("\u00a0 -")  # a symbol or the code
    assert money(amount, currency.lower()) == {"amount": amount, "currency": currency,
                                              "formatted": shown}
    assert display.money(amount, currency) == shown
    assert display.units(amount, currency) == float(in_units(amount, currency))
    assert in_units(amount, currency) == Decimal(amount).scaleb(-exponent)


def test_the_minor_units_the_shop_stores_do_not_move():
    """Stored amounts mean what this table says: a Babel upgrade that changed one of these
    would change every price in that currency (constraints.txt pins Babel)."""
    expected = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "HUF": 0, "ISK": 0,
                "UGX": 0, "XAF": 0, "XOF": 0, "CLP": 0, "TWD": 2, "KWD": 3, "BHD": 3,
                "JOD": 3, "OMR": 3, "TND": 3, "IDR": 0, "CHF": 2}
    assert {c: minor_unit_exponent(c) for c in expected} == expected
    # Stripe never takes fewer decimals than the shop stores: nothing is lost on the way.
    assert all(api_decimals(c) >= minor_unit_exponent(c) for c in ALL)
