"""Cart actions against a real storefront_api: the cart really changes."""

from __future__ import annotations

from bot.actions.add_to_cart import ActionAddToCart, pick_variant
from bot.actions.cart import (ActionApplyPromoCode, ActionChangeQuantity, ActionRemoveFromCart,
                              ActionSaveForLater, ActionViewCart)
from bot.actions.stock_alerts import ActionShowSimilarProducts, ActionSubscribeBackInStock


def sizes_and_colours(product, variants):
    return len({v["size"] for v in variants}) > 1 and len({v["color"] for v in variants}) > 1


def in_stock_variant(product):
    return next(v for v in product["variants"] if v["available"] and v["stock"] >= 5)


def sold_out_variant(product):
    return next(v for v in product["variants"] if not v["available"])


async def add(shop, tracker_for, dispatcher, domain, product, variant, *, slots=None,
              quantity=None):
    slots = {"product_id": product["id"], "size": variant["size"], "color": variant["color"],
             **({"quantity": quantity} if quantity else {}), **(slots or {})}
    tracker = tracker_for(slots=slots, latest_message={"intent": "add_to_cart",
                                                       "text": "add it to my cart"})
    return await ActionAddToCart().run(dispatcher, tracker, domain)


async def test_add_creates_a_cart_that_really_holds_the_item(shop, tracker_for, dispatcher,
                                                            domain, slots_set, uttered):
    product = shop.product_with(sizes_and_colours)
    variant = in_stock_variant(product)
    events = await add(shop, tracker_for, dispatcher, domain, product, variant, quantity=2)
    slots = slots_set(events)
    cart = shop.get(f"/api/carts/{slots['cart_id']}")
    assert [(l["variant_id"], l["quantity"]) for l in cart["lines"]] == [(variant["id"], 2)]
    assert uttered(dispatcher) == ["utter_added_to_cart"]
    assert slots["awaiting_variant"] is False and slots["size"] is None
    assert slots["cart_id"] not in str(dispatcher.messages)  # the token is never shown


async def test_ambiguous_variant_asks_the_size_with_buttons_on_the_web(shop, tracker_for,
                                                                      dispatcher, domain,
                                                                      slots_set):
    product = shop.product_with(sizes_and_colours)
    tracker = tracker_for(channel="socketio", slots={"product_id": product["id"]},
                          latest_message={"intent": "add_to_cart", "text": "add it"})
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    assert slots_set(events) == {"product_id": product["id"], "awaiting_variant": True,
                                 "offered_alert": False}
    message = dispatcher.messages[0]
    assert message["response"] == "utter_ask_variant_size"
    sizes = list(dict.fromkeys(v["size"] for v in product["variants"]))
    assert [b["payload"] for b in message["buttons"]] == \
        [f'/inform{{"size": "{s}"}}' for s in sizes]


# The bot's last turn: action_add_to_cart asked for a size or colour.
ASKED = [{"event": "action", "name": "action_add_to_cart"},
         {"event": "action", "name": "action_listen"}]


def a_size_in_several_colours(product, variants):
    return any(len({v["color"] for v in variants if v["size"] == size}) > 1
               for size in {v["size"] for v in variants})


async def test_after_the_size_the_colour_is_asked(shop, tracker_for, dispatcher, domain,
                                                 slots_set):
    product = shop.product_with(a_size_in_several_colours)
    variants = product["variants"]
    size = next(s for s in dict.fromkeys(v["size"] for v in variants)
                if len({v["color"] for v in variants if v["size"] == s}) > 1)
    tracker = tracker_for(channel="socketio",
                          slots={"product_id": product["id"], "size": size,
                                 "awaiting_variant": True},
                          latest_message={"intent": "inform", "text": size,
                                          "entities": {"size": size}},
                          events=ASKED)
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_ask_variant_color"
    colours = list(dict.fromkeys(v["color"] for v in variants if v["size"] == size))
    assert [b["payload"] for b in message["buttons"]] == \
        [f'/inform{{"color": "{c}"}}' for c in colours]
    assert slots_set(events)["awaiting_variant"] is True
    assert "cart_id" not in slots_set(events)


async def test_out_of_stock_offers_an_alert_and_the_alert_is_recorded(shop, tracker_for,
                                                                     dispatcher, domain,
                                                                     slots_set, uttered):
    product = shop.product_with(lambda p, vs: any(not v["available"] for v in vs))
    variant = sold_out_variant(product)
    events = await add(shop, tracker_for, dispatcher, domain, product, variant)
    slots = slots_set(events)
    assert uttered(dispatcher) == ["utter_out_of_stock"]
    assert slots["offered_alert"] is True and slots["variant_id"] == variant["id"]
    assert "cart_id" not in slots
    subscribe = tracker_for(slots={**slots, "customer_email": "jane@example.com"},
                            latest_message="affirm", sender_id="alert-shopper")
    events = await ActionSubscribeBackInStock().run(dispatcher, subscribe, domain)
    assert slots_set(events) == {"offered_alert": False}
    assert dispatcher.messages[-1]["response"] == "utter_alert_subscribed"
    # asking the API again answers 200 "already subscribed": the first call really recorded it
    status, body = shop.call("POST", "/api/back-in-stock",
                             {"variant_id": variant["id"], "email": "jane@example.com"},
                             conversation_id="alert-shopper")
    assert status == 200 and body["already_subscribed"] is True


async def test_declining_the_alert_shows_similar_items_in_stock(shop, tracker_for, dispatcher,
                                                               domain, slots_set):
    product = shop.product_with(lambda p, vs: any(not v["available"] for v in vs))
    tracker = tracker_for(slots={"product_id": product["id"], "offered_alert": True},
                          latest_message="deny")
    events = await ActionShowSimilarProducts().run(dispatcher, tracker, domain)
    slots = slots_set(events)
    assert slots["offered_alert"] is False
    assert dispatcher.messages[0]["response"] == "utter_similar_products"
    similar = slots["search_results"]
    assert similar and all(r["in_stock"] for r in similar)
    assert product["id"] not in [r["product_id"] for r in similar]


async def test_more_than_the_stock_is_refused_with_what_is_available(shop, tracker_for,
                                                                    dispatcher, domain,
                                                                    uttered):
    product = shop.product_with(lambda p, vs: any(0 < v["stock"] < 90 for v in vs))
    variant = next(v for v in product["variants"] if 0 < v["stock"] < 90)
    events = await add(shop, tracker_for, dispatcher, domain, product, variant,
                       quantity=variant["stock"] + 1)
    assert uttered(dispatcher) == ["utter_only_some_left"]
    assert f"Only {variant['stock']}" in dispatcher.messages[0]["detail"]
    assert "cart_id" not in [e.get("name") for e in events]


def cart_with(shop, *variant_ids):
    token = shop.new_cart()
    for variant_id in variant_ids:
        shop.post(f"/api/carts/{token}/items", {"variant_id": variant_id, "quantity": 1})
    return token


def two_variants(shop):
    product = shop.product_with(lambda p, vs: sum(v["stock"] >= 5 for v in vs) >= 2)
    return product, [v for v in product["variants"] if v["stock"] >= 5][:2]


async def test_change_quantity_of_the_second_line(shop, tracker_for, dispatcher, domain):
    product, (first, second) = two_variants(shop)
    token = cart_with(shop, first["id"], second["id"])
    tracker = tracker_for(slots={"cart_id": token, "quantity": 3},
                          latest_message={"intent": "change_quantity",
                                          "text": "make the second one 3",
                                          "entities": {"ordinal": "2", "quantity": "3"}})
    await ActionChangeQuantity().run(dispatcher, tracker, domain)
    lines = {l["variant_id"]: l["quantity"] for l in shop.get(f"/api/carts/{token}")["lines"]}
    assert lines == {first["id"]: 1, second["id"]: 3}
    assert [m["response"] for m in dispatcher.messages] == ["utter_quantity_changed",
                                                           "utter_cart"]


async def test_without_saying_which_line_the_bot_asks(shop, tracker_for, dispatcher, domain):
    product, (first, second) = two_variants(shop)
    token = cart_with(shop, first["id"], second["id"])
    tracker = tracker_for(slots={"cart_id": token, "quantity": 2},
                          latest_message={"intent": "change_quantity", "text": "make it 2"})
    await ActionChangeQuantity().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_which_cart_line"
    assert all(l["quantity"] == 1 for l in shop.get(f"/api/carts/{token}")["lines"])


async def test_remove_and_save_for_later(shop, tracker_for, dispatcher, domain):
    product, (first, second) = two_variants(shop)
    token = cart_with(shop, first["id"], second["id"])
    remove = tracker_for(slots={"cart_id": token},
                         latest_message={"intent": "remove_from_cart",
                                         "entities": {"ordinal": "1"}})
    await ActionRemoveFromCart().run(dispatcher, remove, domain)
    save = tracker_for(slots={"cart_id": token}, latest_message="save_for_later")
    await ActionSaveForLater().run(dispatcher, save, domain)
    cart = shop.get(f"/api/carts/{token}")
    assert cart["lines"] == []
    assert [s["variant_id"] for s in cart["saved_for_later"]] == [second["id"]]


async def test_view_cart_lists_lines_and_totals(shop, tracker_for, dispatcher, domain):
    product, (first, _) = two_variants(shop)
    token = cart_with(shop, first["id"])
    await ActionViewCart().run(dispatcher, tracker_for(slots={"cart_id": token},
                                                       latest_message="view_cart"), domain)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_cart"
    assert message["lines"].startswith(f"1. 1 × {product['title']}")
    assert f"Total: {first['price']['formatted']}" in message["totals"]


async def test_view_cart_without_a_cart(shop, tracker_for, dispatcher, domain, uttered):
    await ActionViewCart().run(dispatcher, tracker_for(latest_message="view_cart"), domain)
    assert uttered(dispatcher) == ["utter_cart_empty"]


async def test_promo_code_applied(shop, tracker_for, dispatcher, domain):
    product, (first, _) = two_variants(shop)
    token = cart_with(shop, first["id"])
    tracker = tracker_for(slots={"cart_id": token},
                          latest_message={"intent": "apply_promo_code",
                                          "entities": {"promo_code": "welcome10"}})
    await ActionApplyPromoCode().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_promo_applied"
    assert shop.get(f"/api/carts/{token}")["promo_code"]["code"] == "WELCOME10"


async def test_refused_promo_codes_say_why(shop, tracker_for, dispatcher, domain, slots_set):
    product, (first, _) = two_variants(shop)
    token = cart_with(shop, first["id"])
    for code, response in (("NOSUCH42", "utter_promo_unknown"),
                           ("EXPIRED5", "utter_promo_refused")):
        tracker = tracker_for(slots={"cart_id": token},
                              latest_message={"intent": "apply_promo_code",
                                              "entities": {"promo_code": code}})
        events = await ActionApplyPromoCode().run(dispatcher, tracker, domain)
        assert dispatcher.messages[-1]["response"] == response
        assert slots_set(events) == {"promo_code": None}
    assert "expired" in dispatcher.messages[-1]["reason"].lower()
    assert shop.get(f"/api/carts/{token}")["promo_code"] is None


async def test_add_to_cart_when_the_shop_is_down(unreachable_storefront, tracker_for,
                                                 dispatcher, domain, uttered, slots_set):
    tracker = tracker_for(slots={"product_id": 1}, latest_message="add_to_cart")
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    assert uttered(dispatcher) == ["utter_shop_unavailable"]
    assert slots_set(events) == {"awaiting_variant": False, "offered_alert": False}


async def test_a_bare_answer_the_nlu_missed_is_matched_to_the_products_options(
        shop, tracker_for, dispatcher, domain, slots_set):
    product = shop.product_with(lambda _p, variants: len(
        {v["color"] for v in variants if v["size"] == variants[0]["size"]}) > 1)
    size = product["variants"][0]["size"]
    tracker = tracker_for(slots={"product_id": product["id"], "awaiting_variant": True},
                          latest_message={"intent": "nlu_fallback", "text": size.lower()},
                          events=ASKED)
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    # the size is taken, the colour is asked next...
    assert dispatcher.messages[0]["response"] == "utter_ask_variant_color"
    # ...and the size is kept for the colour's answer, which names the colour only
    assert slots_set(events)["size"] == size


async def test_a_question_left_unanswered_is_dropped_when_the_shopper_moves_on(
        shop, tracker_for, dispatcher, domain, slots_set):
    product = shop.product_with(sizes_and_colours)
    moved_on = [*ASKED, {"event": "user", "text": "checkout"},
                {"event": "action", "name": "action_prepare_checkout"},
                {"event": "action", "name": "action_listen"}]
    tracker = tracker_for(slots={"product_id": product["id"], "awaiting_variant": True},
                          latest_message={"intent": "inform", "text": "jane@example.com"},
                          events=moved_on)
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    # answered on its own, in this turn: not understood out of context, so the fallback's
    # "could you say it another way", and no follow-up action to leave the rules without a
    # next step
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_rephrase"]
    assert slots_set(events)["awaiting_variant"] is False
    assert not [e for e in events if e.get("event") == "followup"]


async def test_naming_another_product_while_asked_for_a_size_searches_for_it(
        shop, tracker_for, dispatcher, domain, slots_set):
    product = shop.product_with(sizes_and_colours)
    tracker = tracker_for(slots={"product_id": product["id"], "awaiting_variant": True},
                          latest_message={"intent": "search_products",
                                          "text": "show me jackets instead",
                                          "entities": {"product_type": "Jacket"}},
                          events=ASKED)
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_search_results"]
    slots = slots_set(events)
    assert slots["awaiting_variant"] is False and slots["search_params"]["q"] == "Jacket"
    expected = shop.get("/api/products?q=Jacket&page_size=5&facets=false")
    assert [r["product_id"] for r in slots["search_results"]] == \
        [i["id"] for i in expected["items"]]
    assert not [e for e in events if e.get("event") == "followup"]


async def test_a_size_the_product_does_not_come_in_is_said_then_asked(
        shop, tracker_for, dispatcher, domain, slots_set):
    """"Add it in size 10" for a hoodie in XS-XL: no line, no other size put in silently."""
    product = shop.product_with(sizes_and_colours)
    tracker = tracker_for(slots={"product_id": product["id"], "size": "10"},
                          latest_message={"intent": "add_to_cart", "text": "add it in size 10",
                                          "entities": {"size": "10"}})
    events = await ActionAddToCart().run(dispatcher, tracker, domain)
    first, second = dispatcher.messages
    assert first["response"] == "utter_option_not_offered"
    assert first["wanted"] == "size 10" and first["name"] == product["title"]
    assert second["response"] == "utter_ask_variant_size"
    sizes = list(dict.fromkeys(v["size"] for v in product["variants"]))
    assert second["choices"] == ", ".join(sizes)
    slots = slots_set(events)
    assert slots["size"] is None and slots["awaiting_variant"] is True
    assert "cart_id" not in slots  # nothing was added


async def test_a_colour_left_from_an_earlier_search_is_not_called_missing(
        shop, tracker_for, dispatcher, domain):
    """"blue hoodies" earlier, now "add it" for jeans with no blue: no "doesn't come in
    blue" for something the shopper did not ask of this product."""
    product = shop.product_with(lambda _p, variants: "Teal" not in {v["color"] for v in variants})
    tracker = tracker_for(slots={"product_id": product["id"], "color": "Teal"},
                          latest_message={"intent": "add_to_cart", "text": "add it"})
    await ActionAddToCart().run(dispatcher, tracker, domain)
    assert "utter_option_not_offered" not in [m.get("response") for m in dispatcher.messages]
