"""The refund request against a real storefront: before shipping it is a cancellation (asked,
then done through the existing cancel action), after delivery a return (the return form's
options), on the way a "return it once it arrives", and already cancelled its refunds."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher
from service_fixtures import make_order, order_form_tracker, ship, shop_database  # noqa: F401

from bot.actions.orders import ActionCancelOrder
from bot.actions.refunds import ActionOfferRefund


def order_doc(shop, order):
    return shop.get(f"/api/orders/{order['number']}?email={order['email']}")


@pytest.mark.asyncio
async def test_before_shipping_the_refund_is_a_cancellation_asked_then_done(
        shop, make_order, tracker_for, domain, slots_set):
    order = make_order()
    asking = CollectingDispatcher()
    events = await ActionOfferRefund().run(
        asking, order_form_tracker(tracker_for, order, "request_refund",
                                   order_request="refund_request"), domain)
    assert slots_set(events) == {"confirming_cancel": True, "return_possible": False}
    question = asking.messages[0]["text"]
    assert f"Order {order['number']} hasn't shipped yet" in question and "Cancel it?" in question
    assert order_doc(shop, order)["status"] == "awaiting_preparation"  # only asked

    done = CollectingDispatcher()
    await ActionCancelOrder().run(
        done, order_form_tracker(tracker_for, order, "affirm", confirming_cancel=True), domain)
    after = order_doc(shop, order)
    assert after["status"] in ("cancelled", "refunded")
    assert after["refunds"][0]["amount"]["amount"] == order["total"]


@pytest.mark.asyncio
async def test_after_delivery_the_refund_is_a_return_of_the_orders_items(
        shop, make_order, tracker_for, dispatcher, domain, slots_set, uttered):
    order = make_order(status="delivered", lines=2)
    events = await ActionOfferRefund().run(
        dispatcher, order_form_tracker(tracker_for, order, "request_refund",
                                       order_request="refund_request"), domain)
    slots = slots_set(events)
    assert slots["return_possible"] is True and slots["confirming_cancel"] is False
    assert [o["sku"] for o in slots["return_options"]] == [l["sku"] for l in order["lines"]]
    assert uttered(dispatcher) == ["utter_refund_by_return"]
    assert order_doc(shop, order)["status"] == "delivered"


@pytest.mark.asyncio
async def test_on_its_way_the_shopper_is_told_to_return_it_once_it_arrives(
        shop, make_order, tracker_for, dispatcher, domain, slots_set, uttered):
    order = make_order()
    ship(shop, order["number"])
    events = await ActionOfferRefund().run(
        dispatcher, order_form_tracker(tracker_for, order, "request_refund"), domain)
    assert slots_set(events) == {"confirming_cancel": False, "return_possible": False}
    assert uttered(dispatcher) == ["utter_refund_after_delivery"]
    assert order_doc(shop, order)["status"] == "shipped"


@pytest.mark.asyncio
async def test_a_closed_return_window_is_said_and_nothing_is_offered(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order(status="delivered", delivered_days_ago=45)
    events = await ActionOfferRefund().run(
        dispatcher, order_form_tracker(tracker_for, order, "request_refund"), domain)
    assert slots_set(events) == {"confirming_cancel": False, "return_possible": False}
    assert "return window" in dispatcher.messages[0]["text"]


@pytest.mark.asyncio
async def test_a_cancelled_order_shows_where_its_refund_is(
        shop, make_order, tracker_for, domain, slots_set):
    order = make_order()
    await ActionCancelOrder().run(
        CollectingDispatcher(),
        order_form_tracker(tracker_for, order, "affirm", confirming_cancel=True), domain)
    told = CollectingDispatcher()
    events = await ActionOfferRefund().run(
        told, order_form_tracker(tracker_for, order, "request_refund"), domain)
    assert slots_set(events) == {"confirming_cancel": False, "return_possible": False}
    text = told.messages[0]["text"]
    assert f"Order {order['number']} is" in text and "refund" in text
    total = order_doc(shop, order)["refunds"][0]["amount"]["formatted"]
    assert total in text


@pytest.mark.asyncio
async def test_an_order_that_is_not_the_emails_is_not_found_and_nothing_changes(
        shop, make_order, tracker_for, dispatcher, domain, slots_set, uttered):
    order = make_order()
    tracker = tracker_for(slots={"order_number": order["number"],
                                 "customer_email": "someone-else@example.com"},
                          latest_message="request_refund")
    events = await ActionOfferRefund().run(dispatcher, tracker, domain)
    assert slots_set(events) == {"confirming_cancel": False, "return_possible": False}
    assert uttered(dispatcher) == ["utter_order_not_found"]
    assert order_doc(shop, order)["status"] == "awaiting_preparation"


@pytest.mark.asyncio
async def test_the_shop_down_is_said_honestly(unreachable_storefront, tracker_for, dispatcher,
                                              domain, uttered, slots_set):
    tracker = tracker_for(slots={"order_number": "KX-48213", "customer_email": "a@b.co"},
                          latest_message="request_refund")
    events = await ActionOfferRefund().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_shop_unavailable"]
    assert slots_set(events) == {"confirming_cancel": False, "return_possible": False}
