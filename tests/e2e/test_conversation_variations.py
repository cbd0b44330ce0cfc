"""Common variations of the shopper journeys, over Rasa's REST channel against the real
assistant (issue 14): a refund asked in the shopper's words leads to the cancellation or the
return of the conversation's own order; contact questions get the team's availability and the
offer of a person; a refinement right after a search narrows it; "add X" with nothing shown
searches; a complaint is acknowledged before the form asks anything; shipping times for a
named country are that country's only. Each checked in the shop's own state."""

from __future__ import annotations

import re
import time

from conversation_steps import CHOICES, add_first_result, wait_for_bot_text
from test_conversations import checkout_to_payment_link, pay_by_card

from assistant_stack import texts

import pytest

pytestmark = pytest.mark.slow

ORDER_NUMBER = re.compile(r"[A-Z]{2}-\d{5}")


def buy_something(assistant, sender: str, search: str) -> str:
    """A paid order of this conversation (its number and e-mail are verified in it, once the
    shop's payment notice has reached the chat)."""
    add_first_result(assistant, sender, search)
    link = checkout_to_payment_link(assistant, sender, f"{sender}@example.com")
    started = time.time()
    number = ORDER_NUMBER.search(pay_by_card(link)).group(0)
    wait_for_bot_text(assistant, sender, "payment received", started)
    assert assistant.slot(sender, "order_number") == number
    return number


def order_status(assistant, number: str) -> str:
    status, order = assistant.api("GET", f"/api/admin/orders/{number}", admin=True)
    assert status == 200, order
    return order["status"]


def test_money_back_before_shipping_is_the_cancellation_of_the_known_order(assistant, sender):
    number = buy_something(assistant, sender, "show me hoodies")
    offered = texts(assistant.say(sender, "I want my money back"))
    assert f"order {number.lower()} hasn't shipped yet" in offered, offered
    assert order_status(assistant, number) == "awaiting_preparation"  # only offered
    done = texts(assistant.say(sender, "yes"))
    assert "cancel" in done, done
    assert order_status(assistant, number) in ("cancelled", "refunded")


def test_refund_after_delivery_is_a_return_of_that_order(assistant, sender):
    number = buy_something(assistant, sender, "show me hoodies")
    status, shipped = assistant.api("POST", f"/api/admin/orders/{number}/shipments", {},
                                    admin=True)
    assert status == 201, shipped
    tracking = shipped["shipments"][0]["tracking_number"]
    started = time.time()
    status, scanned = assistant.api("POST", f"/api/admin/shipments/{tracking}/events",
                                    {"status": "delivered"}, admin=True)
    assert status == 201, scanned
    wait_for_bot_text(assistant, sender, "has been delivered", started)
    offered = texts(assistant.say(sender, "I want a refund"))
    assert "the way to your money is a return" in offered, offered
    assert "do you want to return this item" in offered or "which items" in offered, offered
    asked = texts(assistant.say(sender, "yes"))
    assert "reason" in asked, asked
    done = texts(assistant.say(sender, "it doesn't fit"))
    assert "return request" in done and number.lower() in done, done
    status, returns = assistant.api("GET", f"/api/orders/{number}/returns?email={sender}"
                                    "@example.com")
    assert status == 200 and returns["returns"], returns


def test_contact_question_gets_hours_and_the_offer_of_a_person(assistant, sender):
    answer = texts(assistant.say(sender, "is there a phone number I can call?"))
    assert "no phone line" in answer and "(yes / no)" in answer, answer
    declined = texts(assistant.say(sender, "no thanks"))
    assert "no phone line" not in declined and declined, declined
    assert not assistant.tracker(sender).get("paused")


def test_a_refinement_right_after_a_search_narrows_it(assistant, sender):
    shown = texts(assistant.say(sender, "show me hoodies"))
    assert "found" in shown, shown
    narrowed = texts(assistant.say(sender, "only the black ones"))
    assert "which product do you mean" not in narrowed, narrowed
    params = assistant.slot(sender, "search_params")
    assert params.get("color") == "black", params
    for result in assistant.slot(sender, "search_results"):
        status, product = assistant.api("GET", f"/api/products/{result['product_id']}")
        assert "black" in [c.lower() for c in product["colors"]], product["colors"]


def test_a_price_ceiling_in_words_is_kept(assistant, sender):
    assert "found" in texts(assistant.say(sender, "t-shirts please"))
    texts(assistant.say(sender, "less than forty dollars"))
    assert assistant.slot(sender, "search_params").get("max_price") == 4000
    prices = [r["price"]["amount"] for r in assistant.slot(sender, "search_results")]
    assert prices and max(prices) <= 4000, prices


def test_add_a_product_with_no_search_before_offers_matches(assistant, sender):
    offered = texts(assistant.say(sender, "put a water bottle in my basket"))
    assert "which one should i put in your cart" in offered, offered
    assert "bottle" in " ".join(r["name"].lower() for r in
                                assistant.slot(sender, "search_results"))
    assert not assistant.slot(sender, "cart_id")  # nothing added before the shopper picks


def test_a_complaint_is_acknowledged_before_the_form(assistant, sender):
    replies = assistant.say(sender, "my shoes fell apart after a week")
    first = str(replies[0].get("text", "")).lower()
    assert "sorry" in first and "e-mail" not in first, replies
    assert "e-mail" in texts(replies), replies


def test_shipping_times_for_a_named_country_are_that_countrys(assistant, sender):
    answer = texts(assistant.say(sender, "how long does shipping take to Germany?"))
    assert "delivery times to germany" in answer, answer
    assert "australia" not in answer and "canada" not in answer, answer


def test_a_bare_yes_to_the_results_then_to_a_product_is_interest(assistant, sender):
    assert "found" in texts(assistant.say(sender, "show me hoodies"))
    asked = texts(assistant.say(sender, "ok"))
    assert "which one would you like" in asked and "didn't quite get" not in asked, asked
    first = assistant.slot(sender, "search_results")[0]
    details = texts(assistant.say(sender, "the first one"))
    assert first["name"].lower() in details, details
    said = texts(assistant.say(sender, "yes"))
    for _ in range(2):  # its size, then its colour, at most: the first choice offered
        choices = CHOICES.search(said)
        if not choices:
            break
        said = texts(assistant.say(sender, choices.group(1).split(",")[0].strip()))
    assert "added" in said or "out of stock" in said, said
    if "added" in said:
        status, cart = assistant.api("GET", f"/api/carts/{assistant.slot(sender, 'cart_id')}")
        assert status == 200 and [line["product_id"] for line in cart["lines"]] == \
            [first["product_id"]], cart
