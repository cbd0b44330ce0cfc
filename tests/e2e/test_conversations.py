"""Whole conversations over Rasa's REST channel against the real assistant, asserting on the
replies and on the shop's own state: the cart holds the item, the order exists after the
test-gateway payment and the chat says so, the handoff is queued and the bot goes quiet."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conversation_steps import add_first_result, bot_texts_after, wait_for_bot_text

from assistant_stack import texts

pytestmark = pytest.mark.slow

EMAIL = re.compile(r"e-?mail")
PAYMENT_LINK = re.compile(r"https?://\S+/pay/[A-Za-z0-9_-]+")
ADDRESS = "Jane Doe, 12 Main St, Springfield, IL 62704, US"


def pay_by_card(link: str, number: str = "4242 4242 4242 4242") -> str:
    form = urllib.parse.urlencode({"number": number, "expiry": "12/34", "cvc": "123",
                                   "name": "Jane Doe"}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(link, data=form), timeout=30) as page:
            return page.read().decode()
    except urllib.error.HTTPError as refused:  # a declined card: 402 with the page
        assert refused.code == 402, (refused.code, link, refused.read()[:300])
        return refused.read().decode()


def cart_of(assistant, sender: str) -> dict:
    token = assistant.slot(sender, "cart_id")
    assert token, "the conversation has no cart"
    status, cart = assistant.api("GET", f"/api/carts/{token}")
    assert status == 200, cart
    return cart


def checkout_to_payment_link(assistant, sender: str, email: str) -> str:
    assert EMAIL.search(texts(assistant.say(sender, "checkout")))
    asked = texts(assistant.say(sender, email))
    assert "where should we ship it?" in asked, asked  # utter_ask_shipping_address
    methods = texts(assistant.say(sender, ADDRESS))
    assert "how should we ship it?" in methods and "say standard, express or pickup" in methods, \
        methods
    summary = texts(assistant.say(sender, "standard please"))
    assert "here is your order:" in summary and "\ntotal: $" in summary, summary
    assert f"confirmation to {email.lower()}" in summary, summary
    assert "shall i send you the payment link?" in summary, summary
    replies = assistant.say(sender, "yes")
    link = PAYMENT_LINK.search(" ".join(str(r.get("text", "")) for r in replies))
    assert link, f"no payment link in {replies}"
    return link.group(0)


def test_search_add_to_cart_and_the_cart_really_holds_it(assistant, sender):
    said = add_first_result(assistant, sender, "show me hoodies")
    cart = cart_of(assistant, sender)
    assert sum(line["quantity"] for line in cart["lines"]) == 1
    assert "hoodie" in cart["lines"][0]["title"].lower()
    token = assistant.slot(sender, "cart_id")
    assert all(token not in text for text in said)  # the cart token never reaches the chat

    shown = texts(assistant.say(sender, "what's in my cart?"))
    assert cart["lines"][0]["title"].lower() in shown


def test_asked_for_a_size_the_shopper_searches_for_something_else(assistant, sender):
    """The question is dropped: the new search is answered, once, and nothing else is said
    (no second size question, no "I didn't get that")."""
    assert "found" in texts(assistant.say(sender, "show me hoodies"))
    asked = ""
    for ordinal in ("first", "second", "third", "fourth", "fifth"):
        asked = texts(assistant.say(sender, f"add the {ordinal} one"))
        if "which size" in asked:
            break
    assert "which size" in asked, "no hoodie among the results has a size to choose"
    replies = assistant.say(sender, "show me jeans instead")
    said = texts(replies)
    assert len(replies) == 1 and "jeans" in said and "found" in said, replies
    assert not assistant.slot(sender, "awaiting_variant")
    assert "you're welcome" in texts(assistant.say(sender, "thanks"))


def test_a_size_the_shop_lacks_is_said_not_replaced(assistant, sender):
    said = texts(assistant.say(sender, "do you have hoodies in size 10"))
    assert "nothing like that in size 10" in said and "found" in said, said
    for ordinal in ("first", "second", "third", "fourth", "fifth"):
        said = texts(assistant.say(sender, f"add the {ordinal} one in size 10"))
        if "doesn't come in size 10" in said:
            break
    assert "doesn't come in size 10" in said and "which size" in said, said
    assert not assistant.slot(sender, "cart_id")  # nothing was put in a cart


def test_checkout_payment_and_the_order_is_confirmed_in_the_chat(assistant, sender):
    add_first_result(assistant, sender, "I'm looking for a t-shirt")
    email = f"{sender}@example.com"
    link = checkout_to_payment_link(assistant, sender, email)
    assert link.startswith(assistant.storefront_url)
    started = time.time()

    page = pay_by_card(link)
    number = re.search(r"[A-Z]{2}-\d{5}", page).group(0)
    status, order = assistant.api("GET", f"/api/admin/orders/{number}", admin=True)
    assert status == 200 and order["email"] == email and order["conversation_id"] == sender
    confirmation = wait_for_bot_text(assistant, sender, "payment received", started)
    assert number in confirmation
    assert assistant.slot(sender, "order_number") == number

    # The order, tracked in the same conversation: number and e-mail are remembered.
    tracked = texts(assistant.say(sender, "where is my order?"))
    assert number.lower() in tracked


def test_a_declined_card_then_a_new_link_on_request_then_the_order(assistant, sender):
    add_first_result(assistant, sender, "show me jeans")
    link = checkout_to_payment_link(assistant, sender, f"{sender}@example.com")
    declined = pay_by_card(link, "4000 0000 0000 0002")
    assert "declined" in declined.lower()
    again = assistant.say(sender, "send me a new payment link")
    new_link = PAYMENT_LINK.search(" ".join(str(r.get("text", "")) for r in again))
    assert new_link, again
    started = time.time()
    page = pay_by_card(new_link.group(0))
    number = re.search(r"[A-Z]{2}-\d{5}", page).group(0)
    assert number in wait_for_bot_text(assistant, sender, "payment received", started)


def test_tracking_an_order_asks_for_the_email_of_an_unknown_conversation(assistant, sender):
    checkout_sender = sender + "-buyer"
    add_first_result(assistant, checkout_sender, "show me sneakers")
    email = f"{checkout_sender}@example.com"
    page = pay_by_card(checkout_to_payment_link(assistant, checkout_sender, email))
    number = re.search(r"[A-Z]{2}-\d{5}", page).group(0)

    asked = texts(assistant.say(sender, f"where is my order {number}"))
    assert EMAIL.search(asked), asked
    answer = texts(assistant.say(sender, email))
    assert number.lower() in answer
    wrong = texts(assistant.say(sender + "-other", f"track order {number}"))
    assert EMAIL.search(wrong), wrong
    refused = texts(assistant.say(sender + "-other", "someone.else@example.com"))
    assert number.lower() not in refused or "couldn't" in refused or "can't" in refused


def test_faq_is_answered(assistant, sender):
    answer = texts(assistant.say(sender, "how long does delivery usually take?"))
    assert "delivery times after your order is placed" in answer, answer  # faq/shipping_times
    answer = texts(assistant.say(sender, "can i send something back if it doesnt fit"))
    assert "return or exchange items within 30 days of delivery" in answer, answer


def test_handoff_is_queued_and_the_bot_stays_quiet_until_handed_back(assistant, sender):
    assistant.api("POST", "/api/admin/support/presence", {}, admin=True)  # someone is online
    assistant.say(sender, "hi")
    asked = texts(assistant.say(sender, "I want to talk to a real person"))
    # the shopper is told someone will join, and that the bot now waits (utter_handoff_*)
    assert "i've asked a person from our team to join this chat" in asked, asked
    assert "until they join, i'll stay quiet." in asked, asked
    status, queue = assistant.api("GET", "/api/admin/support/handoffs?status=waiting",
                                  admin=True)
    assert status == 200
    handoff = next(h for h in queue["handoffs"] if h["conversation_id"] == sender)

    assert assistant.say(sender, "hello? anyone there?") == []  # paused: no bot answer
    status, detail = assistant.api("GET", f"/api/admin/support/handoffs/{handoff['id']}",
                                   admin=True)
    assert status == 200
    assert any("real person" in (m.get("text") or "") for m in detail["transcript"])

    started = time.time()
    status, _ = assistant.api("POST", f"/api/admin/support/handoffs/{handoff['id']}/claim",
                              {}, admin=True)  # the agent is whoever is signed in
    assert status == 200
    status, _ = assistant.api("POST", f"/api/admin/support/handoffs/{handoff['id']}/messages",
                              {"text": "Hi, Ana here. How can I help?"}, admin=True)
    assert status == 201
    assert any("Ana here" in text for text in bot_texts_after(assistant, sender, started))

    status, _ = assistant.api("POST", f"/api/admin/support/handoffs/{handoff['id']}/release",
                              {}, admin=True)
    assert status == 200
    assert "found" in texts(assistant.say(sender, "show me hoodies"))  # the bot answers again

