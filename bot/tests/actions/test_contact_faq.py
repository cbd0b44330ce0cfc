"""How to reach a person, and FAQ answers for what the shopper named (a country, an order),
against a real storefront: the shipping methods and days are the shop's own for that
country, the order's tracking is the shop's order."""

from __future__ import annotations

import pytest
from service_fixtures import make_order, ship, shop_database  # noqa: F401

from bot.actions.contact import ActionAnswerContact, availability_text, hours_text
from bot.actions.faq import ActionAnswerFaq, named_country
from storefront_api.support.hours import parse_support_hours


def faq_tracker(tracker_for, key: str, text: str, **slots):
    tracker = tracker_for(slots=slots, latest_message={"intent": "faq", "text": text})
    tracker.latest_message["response_selector"] = {"faq": {"response": {
        "intent_response_key": key, "utter_action": f"utter_{key}"}}}
    return tracker


def test_hours_read_like_a_sentence():
    configured = parse_support_hours("Mon-Fri 09:00-18:00, Sat 10:00-14:00 Europe/Paris")
    assert hours_text(configured.text) == \
        "Our support team works Mon-Fri 09:00-18:00, Sat 10:00-14:00 (Europe/Paris time)."
    assert hours_text(parse_support_hours("Mon-Fri 08:00-16:00 UTC").text).endswith(
        "(UTC time).")
    assert "whenever someone is online" in hours_text("always")
    assert availability_text({"available": False, "back_text": "Monday at 09:00 (UTC time)"}) \
        == "They're away at the moment and back Monday at 09:00 (UTC time)."
    assert availability_text({"available": True}).startswith("Someone from the team")


def test_countries_are_found_by_name_longest_first():
    assert named_country("how long does shipping take to Germany?") == ("DE", "Germany")
    assert named_country("shipping to new zealand") == ("NZ", "new zealand")
    assert named_country("do you ship to the UK") == ("GB", "UK")
    assert named_country("how long does shipping take") is None
    assert named_country("is it sold in a fine ukulele shop") is None


@pytest.mark.asyncio
async def test_contact_gives_the_shops_availability_and_offers_a_person(
        shop, tracker_for, dispatcher, domain, slots_set):
    availability = shop.get("/api/support/availability",
                            conversation_id="contact-test")  # what the bot is told
    events = await ActionAnswerContact().run(
        dispatcher, tracker_for(latest_message="ask_contact"), domain)
    text = dispatcher.messages[0]["text"]
    assert "no phone line" in text
    assert hours_text(availability["support_hours"]) in text
    assert availability_text(availability) in text
    assert text.endswith("(yes / no)")
    assert slots_set(events) == {"human_offered": True}


@pytest.mark.asyncio
async def test_contact_with_the_shop_down_still_answers_and_offers(
        unreachable_storefront, tracker_for, dispatcher, domain, slots_set):
    events = await ActionAnswerContact().run(
        dispatcher, tracker_for(latest_message="ask_contact", channel="socketio"), domain)
    assert "no phone line" in dispatcher.messages[0]["text"]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/affirm", "/deny"]
    assert slots_set(events) == {"human_offered": True}


@pytest.mark.asyncio
async def test_shipping_times_for_the_named_country_only(shop, tracker_for, dispatcher,
                                                         domain):
    methods = shop.get("/api/shipping-methods?country=DE")["options"]
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_times", "how long does shipping take to Germany"), domain)
    assert len(dispatcher.messages) == 1
    text = dispatcher.messages[0]["text"]
    assert text.startswith("Delivery times to Germany")
    for method in methods:
        days = method["delivery_days"]
        assert f"{method['name']}: {days['min']}-{days['max']} business days" in text
    assert "Australia" not in text and "Canada" not in text  # not every zone


@pytest.mark.asyncio
async def test_shipping_costs_for_the_named_country(shop, tracker_for, dispatcher, domain):
    methods = shop.get("/api/shipping-methods?country=CA")["options"]
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_costs", "how much is shipping to Canada?"), domain)
    text = dispatcher.messages[0]["text"]
    assert text.startswith("Shipping to Canada")
    assert all(m["price"]["formatted"] in text for m in methods if not m["free"])
    assert "Europe" not in text


@pytest.mark.asyncio
async def test_a_country_not_served_is_told_so(shop, tracker_for, dispatcher, domain,
                                                uttered):
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_times", "how long does delivery to Brazil take"), domain)
    assert uttered(dispatcher) == ["utter_country_not_delivered"]
    assert dispatcher.messages[0]["country"] == "Brazil"


@pytest.mark.asyncio
async def test_no_country_named_gets_the_whole_answer(shop, tracker_for, dispatcher, domain,
                                                      uttered):
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_times", "how long does shipping take"), domain)
    assert uttered(dispatcher) == ["utter_faq/shipping_times"]


@pytest.mark.asyncio
async def test_when_will_my_order_arrive_is_the_known_orders_tracking(
        shop, make_order, tracker_for, dispatcher, domain, slots_set):
    order = make_order()
    shipped = ship(shop, order["number"])
    tracking = shipped["shipments"][0]["tracking_number"]
    events = await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_times", "when will my order arrive?",
        order_number=order["number"], customer_email=order["email"]), domain)
    text = dispatcher.messages[0]["text"]
    assert f"Order {order['number']}" in text and tracking in text
    assert slots_set(events) == {"order_number": order["number"]}


@pytest.mark.asyncio
async def test_arrival_with_no_order_known_is_the_general_answer(shop, tracker_for, dispatcher,
                                                                 domain, uttered):
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_times", "when will my order arrive?"), domain)
    assert uttered(dispatcher) == ["utter_faq/shipping_times"]


@pytest.mark.asyncio
async def test_another_persons_order_named_is_not_shown(shop, make_order, tracker_for,
                                                        dispatcher, domain, uttered):
    theirs = make_order()
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/shipping_times", f"when will order {theirs['number']} arrive",
        customer_email="not-the-buyer@example.com"), domain)
    assert uttered(dispatcher) == ["utter_faq/shipping_times"]
    assert theirs["number"] not in str(dispatcher.messages)


@pytest.mark.asyncio
async def test_return_policy_with_a_known_order_gives_its_window(
        shop, make_order, tracker_for, dispatcher, domain):
    order = make_order(status="delivered", delivered_days_ago=3)
    closes = shop.get(f"/api/orders/{order['number']}/returns?email={order['email']}")[
        "return_window_closes_on"]
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/returns_policy", "what's your return policy",
        order_number=order["number"], customer_email=order["email"]), domain)
    assert dispatcher.messages[0]["response"] == "utter_faq/returns_policy"
    assert f"open until {closes}" in dispatcher.messages[1]["text"]


@pytest.mark.asyncio
async def test_the_contact_faq_is_the_contact_answer(shop, tracker_for, dispatcher, domain,
                                                     slots_set):
    events = await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/contact", "is there a phone number"), domain)
    assert "no phone line" in dispatcher.messages[0]["text"]
    assert slots_set(events) == {"human_offered": True}


@pytest.mark.asyncio
async def test_size_guide_for_the_product_being_discussed(shop, tracker_for, dispatcher,
                                                          domain):
    product = shop.product_with(lambda p, variants: len({v["size"] for v in variants
                                                         if v.get("size")}) > 1)
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/size_guide", "what sizes does it come in?",
        product_id=product["id"]), domain)
    assert dispatcher.messages[0]["response"] == "utter_faq/size_guide"
    text = dispatcher.messages[1]["text"]
    in_stock = {v["size"] for v in product["variants"] if v.get("size") and v["available"]}
    assert text.startswith(product["title"]) and all(size in text for size in in_stock)


@pytest.mark.asyncio
async def test_size_guide_with_no_product_is_the_general_guide(shop, tracker_for, dispatcher,
                                                               domain, uttered):
    await ActionAnswerFaq().run(dispatcher, faq_tracker(
        tracker_for, "faq/size_guide", "do you have a size guide"), domain)
    assert uttered(dispatcher) == ["utter_faq/size_guide"]
