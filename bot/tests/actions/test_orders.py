"""Order actions against a real storefront: the order form's checks, tracking, cancelling,
and the shop's notices."""

from __future__ import annotations

import pytest
from service_fixtures import make_order, order_form_tracker, ship, shop_database  # noqa: F401

from bot.actions.orders import (ActionCancelOrder, ActionConfirmCancel, ActionOrderNotice,
                                ActionTrackOrder, ValidateOrderForm, find_email,
                                find_order_number)

def form_tracker(tracker_for, **extracted):
    return tracker_for(latest_message={"intent": "inform", "text": " ".join(extracted.values())},
                       active_loop="order_form", extracted=extracted,
                       slots={"requested_slot": next(iter(extracted))})


async def validate(tracker, dispatcher, domain):
    return await ValidateOrderForm().run(dispatcher, tracker, domain)


def test_order_numbers_and_emails_are_read_from_free_text():
    assert find_order_number("it's order kx 48213 please") == "KX-48213"
    assert find_order_number("KX48213") == "KX-48213"
    assert find_order_number("order 48213") is None
    assert find_email("Mail: Ada.L@Example.com.") == "ada.l@example.com"
    assert find_email("ada at example dot com") is None


@pytest.mark.asyncio
async def test_the_form_accepts_a_number_and_email_the_shop_knows(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order()
    tracker = tracker_for(latest_message="inform", active_loop="order_form",
                          slots={"requested_slot": "customer_email"},
                          extracted={"order_number": order["number"].lower(),
                                     "customer_email": f"it is {order['email']}"})
    events = await validate(tracker, dispatcher, domain)
    assert slots_set(events)["order_number"] == order["number"]
    assert slots_set(events)["customer_email"] == order["email"]
    assert dispatcher.messages == []


@pytest.mark.asyncio
async def test_an_unknown_order_number_is_asked_again_with_the_reason(
        shop, tracker_for, dispatcher, domain, slots_set, uttered):
    tracker = tracker_for(latest_message="inform", active_loop="order_form",
                          slots={"requested_slot": "customer_email", "order_number": "ZZ-00000"},
                          extracted={"customer_email": "ada@example.com"})
    events = await validate(tracker, dispatcher, domain)
    assert slots_set(events)["order_number"] is None
    assert slots_set(events)["customer_email"] is None
    assert uttered(dispatcher) == ["utter_order_not_found"]
    assert dispatcher.messages[0]["order_number"] == "ZZ-00000"


@pytest.mark.asyncio
async def test_a_wrong_email_twice_offers_help(shop, make_order, tracker_for, domain, slots_set,
                                              uttered):
    from rasa_sdk.executor import CollectingDispatcher
    order = make_order()
    failures = {}
    for attempt in (1, 2):
        dispatcher = CollectingDispatcher()
        tracker = tracker_for(latest_message="inform", active_loop="order_form",
                              slots={"requested_slot": "customer_email", "form_failures": failures,
                                     "order_number": order["number"]},
                              extracted={"customer_email": "someone.else@example.com"})
        events = await validate(tracker, dispatcher, domain)
        failures = slots_set(events)["form_failures"]
        assert slots_set(events)["customer_email"] is None
    assert uttered(dispatcher) == ["utter_order_not_found", "utter_form_help"]


@pytest.mark.asyncio
async def test_a_number_that_is_not_one_is_refused_without_asking_the_shop(
        unreachable_storefront, tracker_for, dispatcher, domain, slots_set, uttered):
    events = await validate(form_tracker(tracker_for, order_number="my order from tuesday"),
                            dispatcher, domain)
    assert slots_set(events)["order_number"] is None
    assert uttered(dispatcher) == ["utter_invalid_order_number"]


@pytest.mark.asyncio
async def test_tracking_a_shipped_order_gives_the_carrier_and_tracking_link(
        shop, make_order, tracker_for, dispatcher, domain):
    order = make_order()
    shipped = ship(shop, order["number"])
    shipment = shipped["shipments"][0]
    events = await ActionTrackOrder().run(dispatcher, order_form_tracker(tracker_for, order),
                                          domain)
    text = dispatcher.messages[0]["text"]
    assert events == []
    assert f"Order {order['number']}: Shipped" in text
    assert shipment["tracking_number"] in text and shipment["tracking_url"] in text
    assert shipment["carrier_name"] in text


@pytest.mark.asyncio
async def test_tracking_an_order_being_prepared_says_it_can_still_be_cancelled(
        shop, make_order, tracker_for, dispatcher, domain):
    order = make_order(status="being_prepared", quantity=3)
    await ActionTrackOrder().run(dispatcher, order_form_tracker(tracker_for, order), domain)
    assert "Being prepared" in dispatcher.messages[0]["text"]
    assert "3 items" in dispatcher.messages[0]["text"]
    assert "still cancel" in dispatcher.messages[1]["text"]


@pytest.mark.asyncio
async def test_tracking_when_the_shop_is_down_says_so(unreachable_storefront, tracker_for,
                                                      dispatcher, domain, uttered):
    tracker = tracker_for(slots={"order_number": "KX-48213", "customer_email": "a@example.com"})
    assert await ActionTrackOrder().run(dispatcher, tracker, domain) == []
    assert uttered(dispatcher) == ["utter_shop_unavailable"]


@pytest.mark.asyncio
async def test_cancel_asks_to_confirm_then_cancels_and_refunds(
        shop, make_order, tracker_for, domain, slots_set):
    from rasa_sdk.executor import CollectingDispatcher
    order = make_order()
    asking = CollectingDispatcher()
    events = await ActionConfirmCancel().run(
        asking, order_form_tracker(tracker_for, order, "cancel_order", ), domain)
    assert slots_set(events) == {"confirming_cancel": True}
    assert "Cancel it" in asking.messages[0]["text"]
    assert shop.get(f"/api/orders/{order['number']}?email={order['email']}")["status"] \
        == "awaiting_preparation"

    done = CollectingDispatcher()
    events = await ActionCancelOrder().run(
        done, order_form_tracker(tracker_for, order, "affirm", confirming_cancel=True), domain)
    assert slots_set(events) == {"confirming_cancel": False}
    after = shop.get(f"/api/orders/{order['number']}?email={order['email']}")
    assert after["status"] in ("cancelled", "refunded")
    assert f"Order {order['number']} is cancelled" in done.messages[0]["text"]
    assert after["refunds"] and after["refunds"][0]["amount"]["amount"] == order["total"]


@pytest.mark.asyncio
async def test_cancel_confirmation_on_the_web_has_buttons(shop, make_order, tracker_for,
                                                          dispatcher, domain):
    order = make_order()
    tracker = tracker_for(slots={"order_number": order["number"],
                                 "customer_email": order["email"]},
                          latest_message="cancel_order", channel="socketio")
    await ActionConfirmCancel().run(dispatcher, tracker, domain)
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/affirm", "/deny"]


@pytest.mark.asyncio
async def test_saying_no_keeps_the_order(shop, make_order, tracker_for, dispatcher, domain,
                                        uttered, slots_set):
    order = make_order()
    events = await ActionCancelOrder().run(
        dispatcher, order_form_tracker(tracker_for, order, "deny", confirming_cancel=True), domain)
    assert uttered(dispatcher) == ["utter_cancel_kept"]
    assert slots_set(events) == {"confirming_cancel": False}
    assert shop.get(f"/api/orders/{order['number']}?email={order['email']}")["status"] \
        == "awaiting_preparation"


@pytest.mark.asyncio
async def test_an_order_already_shipped_cannot_be_cancelled(shop, make_order, tracker_for,
                                                            dispatcher, domain, slots_set):
    order = make_order()
    ship(shop, order["number"])
    events = await ActionConfirmCancel().run(
        dispatcher, order_form_tracker(tracker_for, order, "cancel_order"), domain)
    assert slots_set(events) == {"confirming_cancel": False}
    assert "already shipped" in dispatcher.messages[0]["text"]
    assert shop.get(f"/api/orders/{order['number']}?email={order['email']}")["status"] \
        == "shipped"


@pytest.mark.asyncio
async def test_a_refused_cancellation_passes_on_the_shops_reason(
        shop, make_order, tracker_for, dispatcher, domain):
    """Shipped between the question and the "yes": the API's 409 explains it."""
    order = make_order()
    ship(shop, order["number"])
    await ActionCancelOrder().run(
        dispatcher, order_form_tracker(tracker_for, order, "affirm", confirming_cancel=True),
        domain)
    assert "can no longer be cancelled" in dispatcher.messages[0]["text"]
    assert shop.get(f"/api/orders/{order['number']}?email={order['email']}")["status"] \
        == "shipped"


@pytest.mark.asyncio
async def test_the_shipped_notice_gives_the_tracking_and_remembers_the_order(
        tracker_for, dispatcher, domain, slots_set):
    tracker = tracker_for(latest_message={"intent": "EXTERNAL_order_shipped", "entities": {
        "order_number": "KX-48213", "carrier": "Aisle Express", "tracking_number": "AX123",
        "tracking_url": "http://shop/track/AX123"}})
    events = await ActionOrderNotice().run(dispatcher, tracker, domain)
    assert slots_set(events) == {"order_number": "KX-48213"}
    assert dispatcher.messages[0]["text"] == (
        "Good news: your order KX-48213 has shipped with Aisle Express. "
        "Tracking number AX123: http://shop/track/AX123")


@pytest.mark.asyncio
async def test_a_notice_without_an_order_number_says_nothing(tracker_for, dispatcher, domain):
    tracker = tracker_for(latest_message={"intent": "EXTERNAL_order_delivered", "entities": {}})
    assert await ActionOrderNotice().run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []
