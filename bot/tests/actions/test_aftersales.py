"""After-sales actions against a real storefront: the return check, the return form, the
return request, refund status and complaints, each checked in the shop's own state."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher
from service_fixtures import make_order, order_form_tracker, shop_database  # noqa: F401

from bot.actions.aftersales import (ActionCheckReturn, ActionFileComplaint, ActionRefundStatus,
                                    ActionRequestReturn, ValidateComplaintForm,
                                    ValidateReturnForm, chosen_lines)

OPTIONS = [{"sku": "HD-NVY-M", "title": "Harbour Hoodie (Navy / M)", "quantity": 2},
           {"sku": "TS-WHT-S", "title": "Linen Tee (White / S)", "quantity": 1}]


def test_the_shopper_names_items_by_position_name_sku_or_all():
    assert chosen_lines("all of them", [], OPTIONS) == OPTIONS
    assert chosen_lines("2", [], OPTIONS) == [OPTIONS[1]]
    assert chosen_lines("the second one", [2], OPTIONS) == [OPTIONS[1]]
    assert chosen_lines("the last one", [-1], OPTIONS) == [OPTIONS[1]]
    assert chosen_lines("the hoodie", [], OPTIONS) == [OPTIONS[0]]
    assert chosen_lines("HD-NVY-M", [], OPTIONS) == [OPTIONS[0]]
    assert chosen_lines("yes", [], OPTIONS[:1]) == OPTIONS[:1]
    assert chosen_lines("the blue scarf", [], OPTIONS) == []
    assert chosen_lines("7", [], OPTIONS) == []


@pytest.mark.asyncio
async def test_a_delivered_order_can_be_returned_and_its_items_are_offered(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order(status="delivered", lines=2)
    events = await ActionCheckReturn().run(
        dispatcher, order_form_tracker(tracker_for, order, "request_return"), domain)
    slots = slots_set(events)
    assert slots["return_possible"] is True
    assert [o["sku"] for o in slots["return_options"]] == [l["sku"] for l in order["lines"]]
    assert dispatcher.messages == []


@pytest.mark.asyncio
async def test_a_return_outside_the_window_is_refused_with_the_date(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order(status="delivered", delivered_days_ago=45)
    events = await ActionCheckReturn().run(
        dispatcher, order_form_tracker(tracker_for, order, "request_return"), domain)
    assert slots_set(events)["return_possible"] is False
    closes = shop.get(f"/api/orders/{order['number']}/returns?email={order['email']}")
    assert f"closed on {closes['return_window_closes_on']}" in dispatcher.messages[0]["text"]


@pytest.mark.asyncio
async def test_an_order_not_yet_shipped_is_pointed_to_cancelling(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order()
    events = await ActionCheckReturn().run(
        dispatcher, order_form_tracker(tracker_for, order, "request_return"), domain)
    assert slots_set(events)["return_possible"] is False
    assert "cancel it instead" in dispatcher.messages[0]["text"]


@pytest.mark.asyncio
async def test_the_return_form_reads_the_choice_and_how_many(tracker_for, dispatcher, domain,
                                                             slots_set, uttered):
    tracker = tracker_for(
        slots={"return_options": OPTIONS, "requested_slot": "return_items"},
        latest_message={"intent": "inform", "text": "just one hoodie",
                        "entities": {"quantity": "1"}},
        active_loop="return_form", extracted={"return_items": "just one hoodie"})
    events = await ValidateReturnForm().run(dispatcher, tracker, domain)
    assert slots_set(events)["return_items"] == [{"sku": "HD-NVY-M", "quantity": 1}]

    unclear = CollectingDispatcher()
    tracker = tracker_for(slots={"return_options": OPTIONS, "requested_slot": "return_items"},
                          latest_message={"intent": "inform", "text": "the scarf"},
                          active_loop="return_form", extracted={"return_items": "the scarf"})
    events = await ValidateReturnForm().run(unclear, tracker, domain)
    assert slots_set(events)["return_items"] is None
    assert uttered(unclear) == ["utter_return_item_not_understood"]


@pytest.mark.asyncio
async def test_a_return_request_is_registered_in_the_shop(shop, make_order, tracker_for,
                                                          dispatcher, domain, slots_set):
    order = make_order(status="delivered", lines=2)
    line = order["lines"][1]
    tracker = order_form_tracker(
        tracker_for, order, "inform", order_request="return", return_reason="too small",
        return_items=[{"sku": line["sku"], "quantity": 1}],
        return_options=[{"sku": line["sku"], "title": line["title"], "quantity": 2}])
    events = await ActionRequestReturn().run(dispatcher, tracker, domain)
    returns = shop.get(f"/api/orders/{order['number']}/returns?email={order['email']}")["returns"]
    assert len(returns) == 1
    assert returns[0]["kind"] == "return" and returns[0]["reason"] == "too small"
    assert [(i["sku"], i["quantity"]) for i in returns[0]["items"]] == [(line["sku"], 1)]
    assert returns[0]["rma_number"] in dispatcher.messages[0]["text"]
    assert f"1 × {line['title']}" in dispatcher.messages[0]["text"]
    assert slots_set(events) == {"return_items": None, "return_reason": None}


@pytest.mark.asyncio
async def test_an_exchange_request_is_registered_as_an_exchange(shop, make_order, tracker_for,
                                                                dispatcher, domain):
    order = make_order(status="delivered")
    line = order["lines"][0]
    tracker = order_form_tracker(tracker_for, order, "inform", order_request="exchange",
                                 return_reason="faulty zip",
                                 return_items=[{"sku": line["sku"], "quantity": 2}])
    await ActionRequestReturn().run(dispatcher, tracker, domain)
    returns = shop.get(f"/api/orders/{order['number']}/returns?email={order['email']}")["returns"]
    assert [r["kind"] for r in returns] == ["exchange"]
    assert "exchange request" in dispatcher.messages[0]["text"]


@pytest.mark.asyncio
async def test_refund_status_with_no_refund_says_so(shop, make_order, tracker_for, dispatcher,
                                                    domain):
    order = make_order(status="delivered")
    await ActionRefundStatus().run(dispatcher, order_form_tracker(tracker_for, order), domain)
    assert shop.get(f"/api/orders/{order['number']}/refunds?email={order['email']}")[
        "refunds"] == []
    assert f"There's no refund on order {order['number']}" in dispatcher.messages[0]["text"]


@pytest.mark.asyncio
async def test_refund_status_after_a_cancellation_shows_the_refund(shop, make_order,
                                                                   tracker_for, dispatcher,
                                                                   domain):
    order = make_order()
    shop.post(f"/api/orders/{order['number']}/cancel", {"email": order["email"]})
    refunds = shop.get(f"/api/orders/{order['number']}/refunds?email={order['email']}")["refunds"]
    await ActionRefundStatus().run(dispatcher, order_form_tracker(tracker_for, order), domain)
    text = dispatcher.messages[0]["text"]
    assert refunds and refunds[0]["amount"]["formatted"] in text
    assert "refunded on" in text or "being processed" in text


@pytest.mark.asyncio
async def test_a_complaint_about_an_order_is_filed_with_a_reference(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order(status="delivered")
    tracker = order_form_tracker(tracker_for, order, "inform",
                                 complaint_text="The parcel arrived torn open.")
    events = await ActionFileComplaint().run(dispatcher, tracker, domain)
    tickets = shop.get("/api/admin/support/tickets?kind=complaint", admin=True)["tickets"]
    ticket = next(t for t in tickets if t["order_number"] == order["number"])
    assert ticket["message"] == "The parcel arrived torn open."
    assert ticket["conversation_id"] == "test-shopper"
    assert ticket["reference"] in dispatcher.messages[0]["text"]
    assert slots_set(events) == {"complaint_text": None}


@pytest.mark.asyncio
async def test_a_complaint_on_someone_elses_order_is_filed_without_it(
        shop, make_order, tracker_for, dispatcher, domain):
    order = make_order(status="delivered")
    tracker = tracker_for(slots={"order_number": order["number"],
                                 "customer_email": "not.the.buyer@example.com",
                                 "complaint_text": "Nobody answers my e-mails."})
    await ActionFileComplaint().run(dispatcher, tracker, domain)
    tickets = shop.get("/api/admin/support/tickets?kind=complaint", admin=True)["tickets"]
    ticket = next(t for t in tickets if t["email"] == "not.the.buyer@example.com")
    assert ticket["order_number"] is None
    assert order["number"] in ticket["message"]
    assert ticket["reference"] in dispatcher.messages[0]["text"]


@pytest.mark.asyncio
async def test_a_long_complaint_is_taken_as_written(tracker_for, dispatcher, domain, slots_set):
    text = "my jacket arrived with a broken zip and a stain"
    tracker = tracker_for(latest_message={"intent": "complaint", "text": text},
                          slots={"customer_email": "ada@example.com"}, active_loop="complaint_form")
    events = await ValidateComplaintForm().run(dispatcher, tracker, domain)
    assert slots_set(events)["complaint_text"] == text


@pytest.mark.asyncio
async def test_complaint_when_the_shop_is_down(unreachable_storefront, tracker_for, dispatcher,
                                               domain, uttered):
    tracker = tracker_for(slots={"customer_email": "a@example.com", "complaint_text": "late"})
    assert await ActionFileComplaint().run(dispatcher, tracker, domain) == []
    assert uttered(dispatcher) == ["utter_shop_unavailable"]


@pytest.mark.asyncio
async def test_a_text_wrapped_in_a_list_is_read_not_taken_as_the_items(
        tracker_for, dispatcher, domain, slots_set, uttered):
    """A list slot holds text as ["..."]: it is read like any answer, never sent as items."""
    tracker = tracker_for(slots={"return_options": OPTIONS, "requested_slot": "return_items"},
                          latest_message={"intent": "inform", "text": "the hoodie"},
                          active_loop="return_form", extracted={"return_items": ["the hoodie"]})
    events = await ValidateReturnForm().run(dispatcher, tracker, domain)
    assert slots_set(events)["return_items"] == [{"sku": "HD-NVY-M", "quantity": 2}]

    unclear = CollectingDispatcher()
    tracker = tracker_for(slots={"return_options": OPTIONS, "requested_slot": "return_items"},
                          latest_message={"intent": "inform", "text": "order shipped"},
                          active_loop="return_form",
                          extracted={"return_items": ["EXTERNAL: EXTERNAL_order_shipped"]})
    events = await ValidateReturnForm().run(unclear, tracker, domain)
    assert slots_set(events)["return_items"] is None
    assert uttered(unclear) == ["utter_return_item_not_understood"]

    chosen = [{"sku": "TS-WHT-S", "quantity": 1}]
    tracker = tracker_for(slots={"return_options": OPTIONS, "requested_slot": "return_items"},
                          latest_message={"intent": "inform", "text": "/inform"},
                          active_loop="return_form", extracted={"return_items": chosen})
    events = await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain)
    assert slots_set(events)["return_items"] == chosen
