"""A bare "yes", "ok" or thumbs-up right after the results or a product's details: nothing
was asked, so it is read as interest. After results the shopper is asked which one, after a
product's details the product is added (or its size asked), after a search that found
nothing the shopper is asked what to look for. Against a real storefront: the cart is read
back from the shop."""

from __future__ import annotations

from bot.actions.add_to_cart import ActionAddToCart, ActionYesToWhatWasShown, shown_last_turn


def turn(action: str, *slots: tuple[str, object]) -> list[dict]:
    """A shopper's message, then the bot's turn: ``action`` and the slots it set."""
    return [{"event": "user", "text": "earlier"}, {"event": "action", "name": action},
            *[{"event": "slot", "name": name, "value": value} for name, value in slots],
            {"event": "action", "name": "action_listen"}]


YES = {"intent": "affirm", "text": "ok"}


def test_what_the_last_turn_showed(tracker_for):
    results = turn("action_search_products", ("search_params", {"q": "hoodie"}),
                   ("search_results", [{"product_id": 1, "name": "Hoodie"}]))
    details = turn("action_select_product", ("product_id", 7), ("awaiting_variant", False))
    nothing = turn("action_search_products")
    assert shown_last_turn(tracker_for(events=results, latest_message=YES)) == "results"
    assert shown_last_turn(tracker_for(events=details, latest_message=YES)) == "product"
    assert shown_last_turn(tracker_for(events=nothing, latest_message=YES)) is None
    # results shown two turns ago are not what the shopper answers now
    assert shown_last_turn(tracker_for(events=results + nothing, latest_message=YES)) is None
    # a product just added also sets product_id: a "yes" to that adds nothing again
    added = turn("action_add_to_cart", ("product_id", 7), ("cart_id", "tok"))
    assert shown_last_turn(tracker_for(events=added, latest_message=YES)) is None


async def test_yes_to_the_results_asks_which_one(shop, tracker_for, dispatcher, domain,
                                                 uttered, slots_set):
    shown = shop.get("/api/products?q=hoodie&page_size=5&facets=false")["items"]
    results = [{"product_id": i["id"], "name": i["title"]} for i in shown]
    tracker = tracker_for(slots={"search_results": results}, latest_message=YES,
                          events=turn("action_search_products", ("search_results", results)))
    events = await ActionYesToWhatWasShown().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_which_result"]
    assert slots_set(events) == {"awaiting_variant": False, "offered_alert": False}


async def test_yes_after_nothing_was_found_asks_what_to_look_for(tracker_for, dispatcher,
                                                                 domain, uttered):
    tracker = tracker_for(latest_message=YES, events=turn("action_search_products"))
    await ActionYesToWhatWasShown().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_ask_what_to_search"]


async def test_yes_to_a_product_with_one_variant_adds_it(shop, tracker_for, dispatcher, domain,
                                                         uttered):
    product = shop.product_with(lambda p, variants: len(variants) == 1
                                and variants[0]["available"])
    tracker = tracker_for(
        slots={"product_id": product["id"], "cart_id": shop.new_cart()},
        latest_message={"intent": "affirm", "text": "yes"},
        events=turn("action_select_product", ("product_id", product["id"])))
    await ActionYesToWhatWasShown().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_added_to_cart"]
    assert dispatcher.messages[0]["items"] == "1 item"  # not "1 items"
    cart = shop.get(f"/api/carts/{tracker.get_slot('cart_id')}")
    assert [line["variant_id"] for line in cart["lines"]] == [product["variants"][0]["id"]]


async def test_yes_to_a_product_in_sizes_asks_the_size_and_takes_the_answer(
        shop, tracker_for, dispatcher, domain, uttered, slots_set):
    product = shop.product_with(lambda p, variants: len({v["size"] for v in variants}) > 1
                                and len({v["color"] for v in variants}) == 1
                                and all(v["available"] and v["stock"] >= 5 for v in variants))
    cart = shop.new_cart()
    details = turn("action_select_product", ("product_id", product["id"]))
    tracker = tracker_for(slots={"product_id": product["id"], "cart_id": cart},
                          latest_message={"intent": "affirm", "text": "👍"}, events=details)
    asked = slots_set(await ActionYesToWhatWasShown().run(dispatcher, tracker, domain))
    assert uttered(dispatcher) == ["utter_ask_variant_size"]
    assert asked["awaiting_variant"] is True
    assert shop.get(f"/api/carts/{cart}")["lines"] == []  # nothing added before the size
    # The size's answer goes back to add-to-cart, which knows its question was asked.
    dispatcher.messages.clear()
    size = product["variants"][-1]["size"]
    answered = tracker_for(
        slots={"product_id": product["id"], "cart_id": cart, "awaiting_variant": True},
        latest_message={"intent": "inform", "text": size, "entities": {"size": size}},
        events=details + [{"event": "user", "text": "👍"},
                          {"event": "action", "name": "action_yes_to_what_was_shown"},
                          {"event": "slot", "name": "awaiting_variant", "value": True},
                          {"event": "action", "name": "action_listen"}])
    answered.slots["size"] = size
    await ActionAddToCart().run(dispatcher, answered, domain)
    assert uttered(dispatcher) == ["utter_added_to_cart"]
    lines = shop.get(f"/api/carts/{cart}")["lines"]
    assert [line["variant_id"] for line in lines] == [product["variants"][-1]["id"]]
