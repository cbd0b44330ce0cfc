"""Search and pick actions against a real storefront_api."""

from __future__ import annotations

from bot.actions.search import (ActionSearchProducts, ActionSelectProduct, chosen_product_id,
                                next_search)


async def run(action, dispatcher, tracker, domain):
    return await action.run(dispatcher, tracker, domain)


async def test_search_lists_results_and_remembers_them(shop, tracker_for, dispatcher, domain,
                                                      slots_set, uttered):
    tracker = tracker_for(latest_message={"intent": "search_products", "text": "hoodies",
                                          "entities": {"product_type": "hoodie"}})
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    slots = slots_set(events)
    expected = shop.get("/api/products?q=hoodie&page_size=5&facets=false")
    assert uttered(dispatcher) == ["utter_search_results"]
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]
    message = dispatcher.messages[0]
    assert message["results"].startswith(f"1. {expected['items'][0]['title']} — ")
    assert message["total"] == expected["total"]
    assert slots["search_params"] == {"q": "hoodie", "page": 1}


async def test_filters_from_entities_price_range_in_minor_units(shop, tracker_for, dispatcher,
                                                               domain, slots_set):
    tracker = tracker_for(latest_message={
        "intent": "search_products", "text": "hoodies between 20 and 50 dollars in stock",
        "entities": {"product_type": "hoodie", "min_price": "20", "max_price": "50"}})
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    slots = slots_set(events)
    assert slots["search_params"]["min_price"] == 2000
    assert slots["search_params"]["max_price"] == 5000
    assert slots["search_params"]["in_stock"] is True
    prices = [r["price"]["amount"] for r in slots["search_results"]]
    assert prices and all(2000 <= price <= 5000 for price in prices)


async def test_colour_alone_refines_the_previous_search(shop, tracker_for, dispatcher, domain,
                                                       slots_set):
    previous = {"q": "hoodie", "page": 1}
    tracker = tracker_for(slots={"search_params": previous},
                          latest_message={"intent": "search_products", "text": "in black",
                                          "entities": {"color": "black"}})
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    params = slots_set(events)["search_params"]
    assert params == {"q": "hoodie", "color": "black", "page": 1}
    results = slots_set(events)["search_results"]
    assert results  # the seeded catalog has black hoodies
    for result in results:
        product = shop.get(f"/api/products/{result['product_id']}")
        assert "black" in [c.lower() for c in product["colors"]]


def test_a_new_product_type_starts_a_new_search(tracker_for):
    tracker = tracker_for(slots={"search_params": {"q": "hoodie", "color": "black", "page": 2}},
                          latest_message={"intent": "search_products", "text": "red dresses",
                                          "entities": {"product_type": "dress",
                                                       "color": "red"}})
    assert next_search(tracker) == {"q": "dress", "color": "red", "page": 1}


async def test_cheaper_stays_below_the_cheapest_shown(shop, tracker_for, dispatcher, domain,
                                                     slots_set):
    first = tracker_for(latest_message={"intent": "search_products", "text": "shirts",
                                        "entities": {"product_type": "shirt"}})
    shown = slots_set(await run(ActionSearchProducts(), dispatcher, first, domain))
    cheapest = min(r["price"]["amount"] for r in shown["search_results"])
    cheaper = shop.get(f"/api/products?q=shirt&max_price={cheapest - 1}&facets=false")
    assert cheaper["total"] > 0  # the seeded catalog has cheaper shirts than the first five
    tracker = tracker_for(slots=shown, latest_message="search_cheaper")
    slots = slots_set(await run(ActionSearchProducts(), dispatcher, tracker, domain))
    prices = [r["price"]["amount"] for r in slots["search_results"]]
    assert prices and all(price < cheapest for price in prices) and prices == sorted(prices)
    assert slots["search_params"]["sort"] == "price_asc"


async def test_nothing_cheaper_than_the_cheapest_is_said_so(shop, tracker_for, dispatcher,
                                                           domain, slots_set):
    bottom = shop.get("/api/products?q=jacket&sort=price_asc&page_size=5&facets=false")
    shown = {"search_params": {"q": "jacket", "page": 1},
             "search_results": [{"product_id": i["id"], "price": i["price"],
                                 "title": i["title"], "in_stock": True}
                                for i in bottom["items"]]}
    tracker = tracker_for(slots=shown, latest_message="search_cheaper")
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    assert dispatcher.messages[-1]["response"] == "utter_nothing_cheaper"
    assert "search_results" not in slots_set(events)


async def test_show_more_pages_on(shop, tracker_for, dispatcher, domain, slots_set):
    first = tracker_for(latest_message={"intent": "search_products", "text": "shirts",
                                        "entities": {"product_type": "shirt"}})
    shown = slots_set(await run(ActionSearchProducts(), dispatcher, first, domain))
    more = slots_set(await run(ActionSearchProducts(), dispatcher,
                               tracker_for(slots=shown, latest_message="show_more"), domain))
    assert more["search_params"]["page"] == 2
    assert not {r["product_id"] for r in more["search_results"]} & \
        {r["product_id"] for r in shown["search_results"]}
    assert dispatcher.messages[-1]["results"].startswith("6. ")


async def test_no_results_says_so_and_keeps_the_previous_search(shop, tracker_for, dispatcher,
                                                               domain, uttered):
    tracker = tracker_for(slots={"search_params": {"q": "hoodie", "page": 1}},
                          latest_message={"intent": "search_products",
                                          "text": "qzxv wplk",
                                          "entities": {"product_type": "qzxvwplk"}})
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_no_results"]
    assert events == []


async def test_web_channel_gets_cards_with_buttons(shop, tracker_for, dispatcher, domain):
    tracker = tracker_for(channel="socketio",
                          latest_message={"intent": "search_products", "text": "hoodies",
                                          "entities": {"product_type": "hoodie"}})
    await run(ActionSearchProducts(), dispatcher, tracker, domain)
    cards = dispatcher.messages[1]["custom"]["data"]["cards"]
    assert cards and cards[0]["image_url"]
    assert cards[0]["buttons"][0]["payload"] == \
        f'/select_product{{"product_id": {cards[0]["product_id"]}}}'


async def test_search_when_the_shop_is_down(unreachable_storefront, tracker_for, dispatcher,
                                           domain, uttered):
    tracker = tracker_for(latest_message={"intent": "search_products", "text": "hoodies",
                                          "entities": {"product_type": "hoodie"}})
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    assert events == []
    assert uttered(dispatcher) == ["utter_shop_unavailable"]


def test_the_product_meant(tracker_for):
    shown = [{"product_id": 7, "name": "Alpine Fleece Hoodie"},
             {"product_id": 9, "name": "Relaxed Cotton Hoodie"},
             {"product_id": 11, "name": "Trail Running Shoe"}]
    assert chosen_product_id(tracker_for(
        slots={"search_results": shown},
        latest_message={"intent": "select_product", "text": "the second one",
                        "entities": {"ordinal": "second"}})) == 9
    assert chosen_product_id(tracker_for(
        slots={"search_results": shown},
        latest_message={"intent": "select_product", "text": "the last one",
                        "entities": {"ordinal": "-1"}})) == 11
    assert chosen_product_id(tracker_for(
        slots={"search_results": shown},
        latest_message={"intent": "select_product",
                        "text": "tell me about the alpine hoodie"})) == 7
    assert chosen_product_id(tracker_for(
        slots={"search_results": shown, "product_id": 3},
        latest_message={"intent": "select_product", "text": "the hoodie"}),
        fall_back_to_slot=False) is None  # two hoodies: ambiguous, ask


async def test_select_shows_details_and_remembers_the_product(shop, tracker_for, dispatcher,
                                                             domain, slots_set):
    product = shop.get("/api/products?q=hoodie&page_size=1")["items"][0]
    tracker = tracker_for(latest_message={"intent": "select_product",
                                          "entities": {"product_id": product["id"]}})
    events = await run(ActionSelectProduct(), dispatcher, tracker, domain)
    assert slots_set(events)["product_id"] == product["id"]
    message = dispatcher.messages[0]
    assert message["response"] == "utter_product_details"
    assert message["name"] == product["title"] and message["price"] == \
        product["price"]["formatted"]


async def test_a_size_the_shop_lacks_is_said_and_the_search_shown_without_it(
        shop, tracker_for, dispatcher, domain, slots_set, uttered):
    tracker = tracker_for(latest_message={
        "intent": "search_products", "text": "do you have hoodies in size 10",
        "entities": {"product_type": "hoodie", "size": "10"}})
    assert shop.get("/api/products?q=hoodie&size=10&facets=false")["total"] == 0
    events = await run(ActionSearchProducts(), dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_no_results_in_option", "utter_search_results"]
    assert dispatcher.messages[0]["wanted"] == "size 10"
    slots = slots_set(events)
    assert slots["search_params"] == {"q": "hoodie", "size": None, "page": 1}
    expected = shop.get("/api/products?q=hoodie&page_size=5&facets=false")
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]
