"""Refinements right after a search narrow it, whatever intent the NLU gave them ("only the
red ones" read as not understood, as adding, as picking); prices written with number and
currency words; "add X" with nothing shown searches and offers the top matches. Against a
real storefront: the results are checked in the shop's own catalog."""

from __future__ import annotations

import pytest

from bot.actions.add_to_cart import ActionAddToCart
from bot.actions import storefront as storefront_module
from bot.actions.search import (ActionRefineOrFallback, ActionSearchProducts,
                                ActionSelectProduct, major_to_minor, next_search,
                                prices_in_text, refines_last_search, spoken_amount)

AFTER_SEARCH = [{"event": "action", "name": "action_search_products"},
                {"event": "action", "name": "action_listen"}]


def test_prices_written_out_are_ceilings_and_floors():
    assert prices_in_text("less than forty dollars") == {"max_price": 4000}
    assert prices_in_text("anything under forty bucks?") == {"max_price": 4000}
    assert prices_in_text("under 40 euros") == {"max_price": 4000}
    assert prices_in_text("below $25.50") == {"max_price": 2550}
    assert prices_in_text("no more than forty-five") == {"max_price": 4500}
    assert prices_in_text("over 20 quid") == {"min_price": 2000}
    assert prices_in_text("tees from 30 dollars") == {"min_price": 3000}
    # Not prices: a size, an unrelated "from one".
    assert prices_in_text("shoes in size 40") == {}
    assert prices_in_text("jeans from one brand") == {}
    assert spoken_amount("forty") == 40 and spoken_amount("ninety-nine") == 99
    assert spoken_amount("lots") is None


def test_prices_in_currencies_with_other_decimals():
    """The shop's currency says how many decimals a minor unit has (GET /api/shop)."""
    assert prices_in_text("under 5000 yen", 0) == {"max_price": 5000}
    assert prices_in_text("less than forty dinars", 3) == {"max_price": 40000}
    assert major_to_minor("79.5", 0) == 80 and major_to_minor("79.5", 2) == 7950


async def test_the_shop_tells_its_decimals_once(shop):
    client = storefront_module.storefront()
    assert await client.minor_units() == 2
    client.base_url = "http://127.0.0.1:9"  # asked once per process: no second call
    assert await client.minor_units() == 2


async def test_a_price_ceiling_in_a_yen_shop_is_in_whole_yen(yen_shop, tracker_for, dispatcher,
                                                             domain, slots_set):
    """'under N yen' in a JPY shop: max_price N, not N * 100 (every product would match)."""
    yen = yen_shop
    prices = sorted(i["price"]["amount"] for i in yen.get(
        "/api/products?page_size=100&facets=false")["items"])
    assert {i["price"]["currency"] for i in yen.get("/api/products?page_size=5")["items"]} \
        == {"JPY"}
    ceiling = prices[len(prices) // 2]  # whole yen, e.g. 3600
    tracker = tracker_for(latest_message={"intent": "search_products",
                                          "text": f"anything under {ceiling} yen"})
    slots = slots_set(await ActionSearchProducts().run(dispatcher, tracker, domain))
    assert slots["search_params"]["max_price"] == ceiling
    shown = [r["price"]["amount"] for r in slots["search_results"]]
    assert shown and max(shown) <= ceiling
    assert yen.get(f"/api/products?max_price={ceiling}&page_size=1&facets=false")["total"] \
        < len(prices)  # a real ceiling: some products are above it


async def search_first(shop, tracker_for, dispatcher, domain, slots_set, text, **entities):
    tracker = tracker_for(latest_message={"intent": "search_products", "text": text,
                                          "entities": entities})
    return slots_set(await ActionSearchProducts().run(dispatcher, tracker, domain))


async def test_less_than_forty_dollars_is_a_price_ceiling(shop, tracker_for, dispatcher, domain,
                                                         slots_set):
    tracker = tracker_for(
        slots={"search_params": {"q": "t-shirt", "page": 1}},
        latest_message={"intent": "search_products", "text": "less than forty dollars"})
    slots = slots_set(await ActionSearchProducts().run(dispatcher, tracker, domain))
    assert slots["search_params"] == {"q": "t-shirt", "max_price": 4000, "page": 1}
    expected = shop.get("/api/products?q=t-shirt&max_price=4000&page_size=5&facets=false")
    assert expected["items"] and expected["total"] < shop.get(
        "/api/products?q=t-shirt&page_size=5&facets=false")["total"]
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]
    assert all(r["price"]["amount"] <= 4000 for r in slots["search_results"])


@pytest.mark.parametrize("intent", ["nlu_fallback", "add_to_cart", "select_product"])
async def test_only_the_red_ones_narrows_the_last_search(shop, tracker_for, dispatcher, domain,
                                                         slots_set, uttered, intent):
    # A colour some hoodies have and others not, from the shop's own facets.
    facets = shop.get("/api/products?q=hoodie&page_size=1")["facets"]["color"]
    total = shop.get("/api/products?q=hoodie&page_size=1&facets=false")["total"]
    colour = next(f["value"].lower() for f in facets if 0 < f["count"] < total)
    shown = await search_first(shop, tracker_for, dispatcher, domain, slots_set, "hoodies",
                               product_type="hoodie")
    dispatcher.messages.clear()
    tracker = tracker_for(slots=shown, events=AFTER_SEARCH, latest_message={
        "intent": intent, "text": f"only the {colour} ones", "entities": {"color": colour}})
    assert refines_last_search(tracker)
    action = {"nlu_fallback": ActionRefineOrFallback(), "add_to_cart": ActionAddToCart(),
              "select_product": ActionSelectProduct()}[intent]
    slots = slots_set(await action.run(dispatcher, tracker, domain))
    assert "utter_which_product" not in uttered(dispatcher)
    assert slots["search_params"] == {"q": "hoodie", "color": colour, "page": 1}
    expected = shop.get(f"/api/products?q=hoodie&color={colour}&page_size=5&facets=false")
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]
    assert "cart_id" not in slots  # nothing was added


async def test_a_misunderstanding_with_nothing_shown_is_still_the_fallback(
        tracker_for, dispatcher, domain, uttered, slots_set):
    tracker = tracker_for(latest_message={"intent": "nlu_fallback", "text": "only the red ones",
                                          "entities": {"color": "red"}})
    events = await ActionRefineOrFallback().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_ask_rephrase"]
    assert slots_set(events) == {"human_offered": False}


def test_for_women_narrows_instead_of_starting_over(tracker_for):
    tracker = tracker_for(slots={"search_params": {"q": "hoodie", "page": 1},
                                 "search_results": [{"product_id": 1}]},
                          latest_message={"intent": "search_products", "text": "for women",
                                          "entities": {"category": "women"}})
    assert next_search(tracker) == {"q": "hoodie", "category": "women", "page": 1}
    assert refines_last_search(tracker)
    another = tracker_for(slots={"search_params": {"q": "hoodie", "page": 1}},
                          latest_message={"intent": "search_products", "text": "bags",
                                          "entities": {"category": "bags"}})
    assert next_search(another) == {"category": "bags", "page": 1}


async def test_add_a_product_with_nothing_shown_searches_and_offers_it(
        shop, tracker_for, dispatcher, domain, slots_set, uttered):
    tracker = tracker_for(latest_message={
        "intent": "add_to_cart", "text": "put a water bottle in my basket",
        "entities": {"product_type": "Water Bottle"}})
    slots = slots_set(await ActionAddToCart().run(dispatcher, tracker, domain))
    assert uttered(dispatcher) == ["utter_search_results", "utter_pick_one_to_add"]
    expected = shop.get("/api/products?q=Water+Bottle&page_size=5&facets=false")
    assert expected["items"]
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]
    assert slots["awaiting_variant"] is False and "cart_id" not in slots  # nothing added yet


async def test_add_without_a_product_type_uses_the_words(shop, tracker_for, dispatcher, domain,
                                                         slots_set, uttered):
    tracker = tracker_for(latest_message={"intent": "add_to_cart",
                                          "text": "add a hoodie to my cart please"})
    slots = slots_set(await ActionAddToCart().run(dispatcher, tracker, domain))
    assert slots["search_params"]["q"] == "hoodie"
    assert uttered(dispatcher)[-1] == "utter_pick_one_to_add"


async def test_add_with_nothing_to_search_asks_which_product(shop, tracker_for, dispatcher,
                                                             domain, uttered):
    tracker = tracker_for(latest_message={"intent": "add_to_cart", "text": "add it to my cart"})
    await ActionAddToCart().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_which_product"]


async def test_a_bare_size_after_the_results_narrows_them(shop, tracker_for, dispatcher,
                                                          domain, slots_set):
    tracker = tracker_for(slots={"search_params": {"q": "hoodie", "page": 1}},
                          events=AFTER_SEARCH,
                          latest_message={"intent": "inform", "text": "size M",
                                          "entities": {"size": "M"}})
    slots = slots_set(await ActionSearchProducts().run(dispatcher, tracker, domain))
    assert slots["search_params"] == {"q": "hoodie", "size": "M", "page": 1}
    expected = shop.get("/api/products?q=hoodie&size=M&page_size=5&facets=false")
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]


async def test_the_answer_to_the_size_question_is_the_size_not_a_refinement(
        shop, tracker_for, dispatcher, domain, slots_set, uttered):
    """Asked "which size?" after "add the first one", "M" is the size to add, although it
    would narrow the results still shown."""
    product = shop.product_with(lambda p, variants: len({v["size"] for v in variants}) > 1
                                and all(v["available"] for v in variants)
                                and len({v["color"] for v in variants}) == 1)
    size = product["variants"][0]["size"]
    shown = [{"product_id": product["id"], "name": product["title"], "price": product["price"],
              "in_stock": True}]
    asked = [{"event": "action", "name": "action_add_to_cart"},
             {"event": "action", "name": "action_listen"}]
    tracker = tracker_for(
        slots={"search_params": {"q": "anything", "page": 1}, "search_results": shown,
               "product_id": product["id"], "awaiting_variant": True,
               "cart_id": shop.new_cart()},
        events=asked, latest_message={"intent": "inform", "text": size,
                                      "entities": {"size": size}})
    slots = slots_set(await ActionAddToCart().run(dispatcher, tracker, domain))
    assert "search_params" not in slots
    assert uttered(dispatcher)[0] == "utter_added_to_cart"
    cart = shop.get(f"/api/carts/{tracker.get_slot('cart_id')}")
    assert [line["variant_id"] for line in cart["lines"]] == [product["variants"][0]["id"]]


async def test_add_another_kind_of_product_while_one_is_discussed_searches_it(
        shop, tracker_for, dispatcher, domain, slots_set, uttered):
    """Looking at a hoodie, "add a water bottle to my cart" is the water bottle: searched
    and offered, the hoodie not added."""
    hoodie = shop.get("/api/products?q=hoodie&page_size=1&facets=false")["items"][0]
    tracker = tracker_for(slots={"product_id": hoodie["id"]}, latest_message={
        "intent": "add_to_cart", "text": "add a water bottle to my cart",
        "entities": {"product_type": "Water Bottle"}})
    slots = slots_set(await ActionAddToCart().run(dispatcher, tracker, domain))
    assert uttered(dispatcher) == ["utter_search_results", "utter_pick_one_to_add"]
    assert all("bottle" in r["name"].lower() for r in slots["search_results"])
    assert "cart_id" not in slots


async def test_naming_the_discussed_product_again_adds_it(shop, tracker_for, dispatcher,
                                                          domain, uttered):
    product = shop.product_with(lambda p, variants: len(variants) == 1
                                and variants[0]["available"])
    kind = product["product_type"]
    tracker = tracker_for(slots={"product_id": product["id"], "cart_id": shop.new_cart()},
                          latest_message={"intent": "add_to_cart",
                                          "text": f"add the {kind} to my cart",
                                          "entities": {"product_type": kind}})
    await ActionAddToCart().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_added_to_cart"]
    cart = shop.get(f"/api/carts/{tracker.get_slot('cart_id')}")
    assert [line["variant_id"] for line in cart["lines"]] == [product["variants"][0]["id"]]
