"""Checkout form, summary and payment link against a real storefront_api."""

from __future__ import annotations

import pytest

from bot.actions.checkout import (ActionAskShippingMethod, ActionCheckoutSummary,
                                  ActionDeclineCheckout, ActionPaymentFailed,
                                  ActionPaymentReceived, ActionPrepareCheckout,
                                  ActionSendPaymentLink, ValidateCheckoutForm, missing_fields,
                                  parse_address)

ADDRESS = {"name": "Jane Doe", "line1": "12 Main St", "city": "Springfield", "region": "IL",
           "postal_code": "62704", "country": "US"}


@pytest.mark.parametrize("text, expected", [
    ("Jane Doe, 12 Main St, Springfield, IL 62704, US", ADDRESS),
    ("Jane Doe, 12 Main St, Apt 4, Springfield IL 62704, USA", {**ADDRESS, "line2": "Apt 4"}),
    ("John Smith, 10 Downing Street, London SW1A 2AA, United Kingdom",
     {"name": "John Smith", "line1": "10 Downing Street", "city": "London",
      "postal_code": "SW1A 2AA", "country": "GB"}),
    ("Max Muster, Hauptstr. 5, 10115 Berlin, Germany",
     {"name": "Max Muster", "line1": "Hauptstr. 5", "city": "Berlin", "postal_code": "10115",
      "country": "DE"}),
])
def test_one_line_addresses(text, expected):
    assert parse_address(text) == expected


def test_an_incomplete_address_is_completed_by_the_next_answer():
    draft = parse_address("Jane Doe, 12 Main St, Springfield")
    assert missing_fields(draft) == ["postal_code", "country"]
    assert parse_address("IL 62704, US", draft) == ADDRESS


def cart_token(shop):
    product = shop.product_with(lambda p, vs: any(v["stock"] >= 5 for v in vs))
    variant = next(v for v in product["variants"] if v["stock"] >= 5)
    token = shop.new_cart()
    shop.post(f"/api/carts/{token}/items", {"variant_id": variant["id"], "quantity": 1})
    return token


async def validate(tracker_for, dispatcher, domain, requested, text, slots=None, entities=None):
    tracker = tracker_for(slots={"requested_slot": requested, **(slots or {})},
                          latest_message={"intent": "inform", "text": text,
                                          "entities": entities or {}},
                          active_loop="checkout_form", extracted={requested: text})
    return await ValidateCheckoutForm().run(dispatcher, tracker, domain)


async def test_invalid_email_is_asked_again_and_help_offered_after_two(
        shop, tracker_for, dispatcher, domain, slots_set, uttered):
    events = await validate(tracker_for, dispatcher, domain, "customer_email", "jane at home")
    slots = slots_set(events)
    assert slots["customer_email"] is None and slots["form_failures"] == {"customer_email": 1}
    events = await validate(tracker_for, dispatcher, domain, "customer_email", "still no",
                            slots={"form_failures": slots["form_failures"]})
    assert uttered(dispatcher) == ["utter_checkout_invalid_email",
                                   "utter_checkout_invalid_email", "utter_form_help"]
    events = await validate(tracker_for, dispatcher, domain, "customer_email",
                            "it's Jane.Doe@Example.com")
    assert slots_set(events)["customer_email"] == "jane.doe@example.com"


async def test_incomplete_address_says_what_is_missing(shop, tracker_for, dispatcher, domain,
                                                      slots_set):
    events = await validate(tracker_for, dispatcher, domain, "shipping_address",
                            "Jane Doe, 12 Main St, Springfield")
    slots = slots_set(events)
    assert slots["shipping_address"] is None
    assert slots["address_draft"]["line1"] == "12 Main St"
    message = dispatcher.messages[0]
    assert message["response"] == "utter_address_incomplete"
    assert message["missing"] == "the postal code and the country"
    events = await validate(tracker_for, dispatcher, domain, "shipping_address",
                            "IL 62704, United States", slots={"address_draft":
                                                              slots["address_draft"]})
    assert slots_set(events)["shipping_address"] == ADDRESS


async def test_a_country_the_shop_does_not_ship_to(shop, tracker_for, dispatcher, domain,
                                                  slots_set):
    events = await validate(tracker_for, dispatcher, domain, "shipping_address",
                            "Ana Souza, Rua Augusta 12, Sao Paulo, 01305-000, Brazil")
    assert slots_set(events)["shipping_address"] is None
    message = dispatcher.messages[0]
    assert message["response"] == "utter_country_not_served"
    served = shop.get("/api/shipping-methods")["countries_served"]
    assert message["countries"] == ", ".join(served)


async def test_shipping_methods_come_with_prices_and_are_checked(shop, tracker_for, dispatcher,
                                                                domain, slots_set):
    token = cart_token(shop)
    ask = tracker_for(channel="socketio", slots={"cart_id": token, "shipping_address": ADDRESS},
                      active_loop="checkout_form")
    await ActionAskShippingMethod().run(dispatcher, ask, domain)
    options = shop.get(f"/api/carts/{token}/shipping-options?country=US")["options"]
    assert dispatcher.messages[0]["options"] == "\n".join(f"- {o['description']}"
                                                          for o in options)
    assert len(dispatcher.messages[0]["buttons"]) == len(options)
    canadian = {**ADDRESS, "country": "CA", "region": "ON", "postal_code": "K1A 0B1"}
    events = await validate(tracker_for, dispatcher, domain, "shipping_method", "pickup",
                            slots={"cart_id": token, "shipping_address": canadian})
    assert slots_set(events)["shipping_method"] is None  # no pickup points in Canada
    events = await validate(tracker_for, dispatcher, domain, "shipping_method",
                            "the fast one please, express",
                            slots={"cart_id": token, "shipping_address": canadian})
    assert slots_set(events)["shipping_method"] == "express"


async def test_checkout_with_an_empty_cart(shop, tracker_for, dispatcher, domain, slots_set):
    events = await ActionPrepareCheckout().run(
        dispatcher, tracker_for(slots={"cart_id": shop.new_cart()}, latest_message="checkout"),
        domain)
    assert slots_set(events) == {"checkout_ready": False}
    assert dispatcher.messages[0]["response"] == "utter_checkout_cart_empty"


def line_available(shop, token) -> int:
    """Units of the cart's (only) variant anyone could still buy: stock not held."""
    return shop.get(f"/api/carts/{token}")["lines"][0]["available"]


async def test_summary_holds_nothing_then_the_same_payment_link_twice(
        shop, tracker_for, dispatcher, domain, slots_set):
    token = cart_token(shop)
    before = line_available(shop, token)
    slots = {"cart_id": token, "customer_email": "jane@example.com",
             "shipping_address": ADDRESS, "shipping_method": "standard"}
    prepared = slots_set(await ActionPrepareCheckout().run(
        dispatcher, tracker_for(slots=slots, latest_message="checkout"), domain))
    assert prepared["checkout_ready"] is True
    events = await ActionCheckoutSummary().run(dispatcher, tracker_for(slots=slots), domain)
    assert slots_set(events) == {"awaiting_checkout_confirmation": True}  # no checkout yet
    summary = dispatcher.messages[-1]
    assert summary["response"] == "utter_checkout_summary"
    assert line_available(shop, token) == before  # reading the summary holds no stock
    links, tokens = [], []
    for _ in range(2):
        events = await ActionSendPaymentLink().run(
            dispatcher, tracker_for(slots=slots, latest_message="affirm"), domain)
        links.append(dispatcher.messages[-1]["url"])
        tokens.append(slots_set(events)["checkout_token"])
    checkout = shop.get(f"/api/checkouts/{tokens[0]}")
    assert tokens[0] == tokens[1] and links[0] == links[1] == checkout["payment_url"]
    assert summary["total"] == checkout["totals"]["total"]["formatted"]  # what was shown
    assert summary["tax"] == checkout["totals"]["tax"]["formatted"]
    assert line_available(shop, token) == before - 1  # the link holds the unit, once


async def test_a_declined_summary_leaves_the_stock_to_others(shop, tracker_for, dispatcher,
                                                            domain, slots_set):
    token = cart_token(shop)
    before = line_available(shop, token)
    slots = {"cart_id": token, "customer_email": "jane@example.com",
             "shipping_address": ADDRESS, "shipping_method": "express"}
    for _ in range(3):  # asked for the summary again and again, then "not now"
        await ActionCheckoutSummary().run(dispatcher, tracker_for(slots=slots), domain)
    events = await ActionDeclineCheckout().run(dispatcher, tracker_for(slots=slots), domain)
    assert slots_set(events) == {"awaiting_checkout_confirmation": False}
    assert [m["response"] for m in dispatcher.messages] == ["utter_checkout_summary"] * 3 + [
        "utter_checkout_declined"]
    assert line_available(shop, token) == before


async def test_a_bad_postal_code_is_refused_by_the_shop_and_asked_again(
        shop, tracker_for, dispatcher, domain, slots_set):
    slots = {"cart_id": cart_token(shop), "customer_email": "jane@example.com",
             "shipping_address": {**ADDRESS, "postal_code": "6270"},
             "shipping_method": "standard"}
    events = await ActionCheckoutSummary().run(dispatcher, tracker_for(slots=slots), domain)
    assert dispatcher.messages[0]["response"] == "utter_address_refused"
    assert "postal" in dispatcher.messages[0]["reason"]
    assert slots_set(events)["shipping_address"] is None
    assert [e["name"] for e in events if e["event"] == "followup"] == ["checkout_form"]


async def test_a_link_past_the_hold_cap_is_refused_with_what_to_do(shop, tracker_for,
                                                                   dispatcher, domain,
                                                                   slots_set):
    product = shop.product_with(lambda p, vs: any(v["stock"] >= 11 for v in vs))
    variant = next(v for v in product["variants"] if v["stock"] >= 11)
    token = shop.new_cart()
    shop.post(f"/api/carts/{token}/items", {"variant_id": variant["id"], "quantity": 11})
    before = line_available(shop, token)
    slots = {"cart_id": token, "customer_email": "jane@example.com",
             "shipping_address": ADDRESS, "shipping_method": "standard"}
    tracker = tracker_for(slots=slots, latest_message="affirm", sender_id="bulk-buyer")
    events = await ActionSendPaymentLink().run(dispatcher, tracker, domain)
    message = dispatcher.messages[-1]
    assert message["response"] == "utter_checkout_refused"
    assert "at most 10" in message["detail"] and "fewer" in message["detail"]
    assert "checkout_token" not in slots_set(events)
    assert line_available(shop, token) == before  # nothing was held


async def test_payment_link_without_a_checkout(shop, tracker_for, dispatcher, domain):
    await ActionSendPaymentLink().run(dispatcher, tracker_for(latest_message=
                                                              "request_payment_link"), domain)
    assert dispatcher.messages[0]["response"] == "utter_payment_link_needs_checkout"


async def test_payment_received_confirms_the_order_and_forgets_the_cart(
        tracker_for, dispatcher, domain, slots_set):
    tracker = tracker_for(slots={"cart_id": "abc", "customer_email": "jane@example.com"},
                          latest_message={"intent": "EXTERNAL_payment_received",
                                          "entities": {"order_number": "KX-48213",
                                                       "order_total": "$63.99"}})
    events = await ActionPaymentReceived().run(dispatcher, tracker, domain)
    assert slots_set(events)["order_number"] == "KX-48213"
    assert slots_set(events)["cart_id"] is None
    message = dispatcher.messages[0]
    assert (message["order_number"], message["total"]) == ("KX-48213", " ($63.99)")


async def test_payment_failed_offers_a_new_link_on_the_web(tracker_for, dispatcher, domain):
    tracker = tracker_for(channel="socketio", latest_message="EXTERNAL_payment_failed")
    await ActionPaymentFailed().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_payment_failed"
    assert dispatcher.messages[0]["buttons"][0]["payload"] == "/request_payment_link"


async def test_checkout_when_the_shop_is_down(unreachable_storefront, tracker_for, dispatcher,
                                              domain, slots_set, uttered):
    slots = {"cart_id": "abc", "customer_email": "jane@example.com",
             "shipping_address": ADDRESS, "shipping_method": "standard"}
    events = await ActionCheckoutSummary().run(dispatcher, tracker_for(slots=slots), domain)
    assert uttered(dispatcher) == ["utter_shop_unavailable"]
    assert slots_set(events) == {"awaiting_checkout_confirmation": False}
