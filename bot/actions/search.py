"""Finding products: search and refine, then pick one of the results.

``action_search_products`` answers three intents. ``search_products`` is a new search when it
names a new kind of thing (product type, category or brand) and a refinement of the previous
search when it only adds filters ("in blue", "size M", "under 50"); ``search_cheaper`` and
``show_more`` always work on the previous search. What was shown is kept in
``search_results`` so that "the second one" means what the shopper saw.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import (as_int, as_ordinal, call_context, entity_value, entity_values,
                     latest_intent, money, utter_unavailable, web_channel, web_payload)
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront
from .support import ActionFallback

PAGE_SIZE = 5
SUBJECT_ENTITIES = ("product_type", "category", "brand")
FILTER_ENTITIES = ("color", "size", "min_price", "max_price")
IN_STOCK_WORDS = re.compile(r"\b(in stock|available now|available today|ships? now)\b", re.I)
STOP_WORDS = frozenset("""a an the me about tell show more one that this those these it of for
in on with and or please i i'd id want like see look looking some any is are do you have
details detail info information picture photo""".split())


# --- search parameters ----------------------------------------------------------------------

PRICE_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
                "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
                "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
                "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                "ninety": 90, "hundred": 100, "a hundred": 100, "one hundred": 100}
CURRENCY_WORDS = (r"(?:dollars?|bucks?|usd|euros?|eur|pounds?|quid|gbp|\$|€|£)")
_AMOUNT = (r"(?P<amount>[$€£]?\s?\d+(?:[.,]\d{1,2})?|(?:(?:twenty|thirty|forty|fourty|fifty|"
           r"sixty|seventy|eighty|ninety)(?:[\s-](?:one|two|three|four|five|six|seven|eight|"
           r"nine))?|a hundred|one hundred|hundred|ten|eleven|twelve|thirteen|fourteen|fifteen|"
           r"sixteen|seventeen|eighteen|nineteen|one|two|three|four|five|six|seven|eight|"
           r"nine))")
CEILING = re.compile(r"\b(?:under|below|less than|cheaper than|lower than|max(?:imum)?|at most|"
                     r"up to|no more than|not more than|<)\s*" + _AMOUNT
                     + r"\s*" + CURRENCY_WORDS + r"?(?!\w)", re.I)
FLOOR = re.compile(r"\b(?:over|above|(?<!no )(?<!not )more than|at least|min(?:imum)?|from|>)"
                   r"\s*" + _AMOUNT
                   + r"\s*" + CURRENCY_WORDS + r"?(?!\w)", re.I)


def spoken_amount(text: str) -> float | None:
    """"40", "$40", "39.90", "forty", "forty-five", "a hundred" as a number, else None."""
    cleaned = str(text).strip().lower().lstrip("$€£").strip().replace(",", ".")
    try:
        return float(cleaned)
    except ValueError:
        pass
    if cleaned in PRICE_WORDS:
        return float(PRICE_WORDS[cleaned])
    tens, _, ones = cleaned.replace("-", " ").partition(" ")
    if tens in PRICE_WORDS and ones in PRICE_WORDS and PRICE_WORDS[ones] < 10:
        return float(PRICE_WORDS[tens] + PRICE_WORDS[ones])
    return None


def major_to_minor(value: Any, minor_units: int = 2) -> int | None:
    """A price the shopper said ("80", 79.5, "forty") in minor units of the shop's currency,
    which has ``minor_units`` decimals (2 for dollars, 0 for yen: storefront's /api/shop)."""
    if value is None:
        return None
    amount = spoken_amount(str(value))
    if amount is None:
        return None
    return max(0, round(amount * 10 ** minor_units))


def prices_in_text(text: str, minor_units: int = 2) -> dict[str, int]:
    """Price limits written out ("less than forty dollars", "under 40 euros", "over 20
    bucks"), for what the entity extractor missed: a ceiling or floor in minor units."""
    found: dict[str, int] = {}
    for name, pattern in (("max_price", CEILING), ("min_price", FLOOR)):
        match = pattern.search(text or "")
        amount = major_to_minor(match.group("amount"), minor_units) if match else None
        if amount is not None and (name == "max_price" or match.group(0).strip()[0] != "f"
                                   or re.search(CURRENCY_WORDS, match.group(0), re.I)):
            found[name] = amount
    return found


def message_filters(tracker: Tracker, minor_units: int = 2) -> dict[str, Any]:
    """The filters the latest message states, as API query parameters (prices in minor units
    of a currency with ``minor_units`` decimals)."""
    filters: dict[str, Any] = {}
    colors = [str(c).lower() for c in entity_values(tracker, "color")]
    sizes = [str(s).upper() if len(str(s)) <= 4 else str(s) for s in entity_values(tracker, "size")]
    if colors:
        filters["color"] = ",".join(colors)
    if sizes:
        filters["size"] = ",".join(sizes)
    written = prices_in_text(message_text(tracker), minor_units)
    for name in ("min_price", "max_price"):
        amount = major_to_minor(entity_value(tracker, name), minor_units)
        if amount is None:
            amount = written.get(name)
        if amount is not None:
            filters[name] = amount
    if "min_price" in filters and "max_price" in filters \
            and filters["min_price"] > filters["max_price"]:
        filters["min_price"], filters["max_price"] = filters["max_price"], filters["min_price"]
    if IN_STOCK_WORDS.search(message_text(tracker)):
        filters["in_stock"] = True
    return filters


def message_subject(tracker: Tracker) -> dict[str, Any]:
    """What kind of thing the latest message asks for: product type, category, brand."""
    words = [str(entity_value(tracker, name)) for name in ("brand", "product_type")
             if entity_value(tracker, name)]
    subject: dict[str, Any] = {}
    if words:
        subject["q"] = " ".join(words)
    category = entity_value(tracker, "category")
    if category:
        subject["category"] = str(category)
    return subject


def message_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def plain_query(tracker: Tracker) -> str:
    """The message as search words, for a request no entity was found in."""
    text = message_text(tracker)
    if text.startswith("/"):  # a button payload carries no words
        return ""
    return text.strip()[:200]


def next_search(tracker: Tracker, intent: str | None = None,
                minor_units: int = 2) -> dict[str, Any] | None:
    """The search to run now, from the latest message and the previous search."""
    previous = tracker.get_slot("search_params") or None
    if (intent or latest_intent(tracker)) in ("search_cheaper", "show_more"):
        return dict(previous) if previous else None
    subject, filters = message_subject(tracker), message_filters(tracker, minor_units)
    if previous and _audience_only(subject) and previous.get("q"):  # "for women"
        return {**previous, **subject, **filters, "page": 1}
    if subject and not _same_subject(subject, previous):  # a new kind of thing
        return {**subject, **filters, "page": 1}
    if previous and (subject or filters):  # "in blue", "under 50": narrow what was shown
        return {**previous, **filters, "page": 1}
    if filters:
        return {**filters, "page": 1}
    text = plain_query(tracker)
    if text:
        return {"q": text, "page": 1}
    return dict(previous) if previous else None


AUDIENCES = frozenset("""women woman womens women's ladies lady female men man mens men's
male gentlemen kids kid children child boys girls unisex""".split())


def _audience_only(subject: dict[str, Any]) -> bool:
    """Only who it is for ("for women"): a refinement of what was shown, not a new search."""
    return (set(subject) == {"category"}
            and str(subject["category"]).strip().lower() in AUDIENCES)


def refines_last_search(tracker: Tracker) -> bool:
    """The message only narrows the search just shown ("only the red ones", "size M",
    "under 40", "for women"): it names filters and no product, right after a search."""
    if not tracker.get_slot("search_params") or not tracker.get_slot("search_results"):
        return False
    if entity_value(tracker, "product_id") or entity_value(tracker, "variant_id") \
            or entity_value(tracker, "ordinal"):
        return False
    subject = message_subject(tracker)
    if subject.get("q"):
        return False
    return bool(message_filters(tracker)) or _audience_only(subject)


def previous_turn(tracker: Tracker) -> list[dict[str, Any]]:
    """The events of the bot's turn before the shopper's latest message (between that
    message and the one before it), newest first."""
    turn: list[dict[str, Any]] = []
    seen_message = False
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            if seen_message:
                break
            seen_message = True
        elif seen_message:
            turn.append(event)
    return turn


def bot_action_before(tracker: Tracker) -> str | None:
    """The bot's last action before the shopper's latest message (not listening)."""
    return next((event.get("name") for event in previous_turn(tracker)
                 if event.get("event") == "action"
                 and event.get("name") not in ("action_listen", None)), None)


def narrows_what_was_shown(tracker: Tracker) -> bool:
    """A refinement answered right after the results it refines (not the answer to the size
    or colour question of add-to-cart: "41" then is the size to add)."""
    if tracker.get_slot("awaiting_variant"):
        return False
    return refines_last_search(tracker) and bot_action_before(tracker) in (
        "action_search_products", "action_select_product", "action_add_to_cart",
        "action_refine_or_fallback")


async def refine_search(dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer the message as a refinement of the last search, whatever intent it got."""
    return await ActionSearchProducts().search(dispatcher, tracker, "search_products")


CART_WORDS = re.compile(r"\b(add|put|place|throw|stick|get|buy|order|drop|i'?ll take|take|"
                        r"to|in|into|my|the|your|cart|basket|bag|trolley|please|pls|can you|"
                        r"could you|would you|i want|i'd like|id like|a|an|some|one|it|this|that|them|"
                        r"me|for|too|also)\b", re.I)


def wanted_product_words(tracker: Tracker) -> str:
    """What "add X to my cart" asks for, as search words: the product type or brand the
    NLU found, else the message without the cart words."""
    subject = message_subject(tracker).get("q")
    if subject:
        return str(subject)
    text = plain_query(tracker)
    return " ".join(CART_WORDS.sub(" ", text).split())[:100]


async def offer_matches(dispatcher: CollectingDispatcher, tracker: Tracker,
                        words: str) -> list[dict[str, Any]] | None:
    """"Add a water bottle" with nothing shown before: search for it and offer the top
    matches to pick from. None when the search finds nothing."""
    minor_units = await storefront().minor_units(call_context(tracker))
    params, answer = await run_search(tracker, {"q": words,
                                                **message_filters(tracker, minor_units),
                                                "page": 1})
    if not answer.get("items"):
        return None
    events = present(dispatcher, tracker, "search_products", params, answer)
    dispatcher.utter_message(response="utter_pick_one_to_add")
    return events


def _same_subject(subject: dict[str, Any], previous: dict[str, Any] | None) -> bool:
    if not previous:
        return False
    return all(str(previous.get(k, "")).lower() == str(v).lower() for k, v in subject.items())


def cheaper(params: dict[str, Any], shown: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Below the cheapest price shown, cheapest first; None when nothing was shown."""
    prices = [r["price"]["amount"] for r in shown if isinstance(r.get("price"), dict)]
    if not prices:
        return None
    return {**params, "max_price": max(min(prices) - 1, 0), "min_price": None,
            "sort": "price_asc", "page": 1}


# --- presenting results ---------------------------------------------------------------------

def availability_text(item: dict[str, Any]) -> str:
    if not item.get("in_stock"):
        return "sold out"
    if item.get("on_sale") and item.get("compare_at_price"):
        return f"in stock, on sale (was {money(item['compare_at_price'])})"
    return "in stock"


def result_lines(items: list[dict[str, Any]], first_number: int = 1) -> str:
    return "\n".join(f"{n}. {item['title']} — {money(item['price'])} ({availability_text(item)})"
                     for n, item in enumerate(items, start=first_number))


def product_card(item: dict[str, Any]) -> dict[str, Any]:
    select = f'/select_product{{"product_id": {item["id"]}}}'
    add = f'/add_to_cart{{"product_id": {item["id"]}}}'
    return {"title": item["title"], "subtitle": f"{money(item['price'])} · "
            f"{availability_text(item)}", "image_url": item.get("image"),
            "product_id": item["id"],
            "buttons": [{"title": "Details", "payload": select},
                        {"title": "Add to cart", "payload": add}]}


def remembered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``search_results`` keeps of each result shown."""
    return [{"product_id": i["id"], "name": i["title"], "price": i["price"],
             "in_stock": bool(i.get("in_stock"))} for i in items]


class ActionSearchProducts(Action):
    def name(self) -> str:
        return "action_search_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        intent = latest_intent(tracker)
        # A bare "size M" after the results (inform) is a refinement, as a search would be.
        return await self.search(dispatcher, tracker,
                                 "search_products" if intent == "inform" else intent)

    async def search(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     intent: str) -> list[dict[str, Any]]:
        try:
            minor_units = await storefront().minor_units(call_context(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            utter_unavailable(dispatcher)
            return []
        params = next_search(tracker, intent, minor_units)
        if params is None:
            dispatcher.utter_message(response="utter_ask_what_to_search")
            return []
        if intent == "search_cheaper":
            params = cheaper(params, tracker.get_slot("search_results") or [])
            if params is None:
                dispatcher.utter_message(response="utter_ask_what_to_search")
                return []
        if intent == "show_more":
            params["page"] = int(params.get("page") or 1) + 1
        try:
            params, answer = await run_search(tracker, params)
            if not answer.get("items") and intent == "search_products":
                params, answer = await without_options(dispatcher, tracker, params, answer)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem as problem:
            dispatcher.utter_message(response="utter_search_refused", detail=problem.detail)
            return []
        return present(dispatcher, tracker, intent, params, answer)


OPTIONS = ("size", "color")


async def without_options(dispatcher: CollectingDispatcher, tracker: Tracker,
                          params: dict[str, Any], answer: dict[str, Any]
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Nothing found, with a size or colour asked for ("jeans in size 10"): when the same
    search without them finds products, say which option the shop lacks and show those
    (one more API call, only when there was nothing to show)."""
    asked = {name: params[name] for name in OPTIONS if params.get(name)}
    if not asked or not (params.get("q") or params.get("category")):
        return params, answer
    relaxed = {**params, **{name: None for name in asked}}
    relaxed, relaxed_answer = await run_search(tracker, relaxed)
    if not relaxed_answer.get("items"):
        return params, answer
    parts = ([str(asked["color"]).replace(",", " or ")] if "color" in asked else []) + \
        ([f"size {str(asked['size']).replace(',', ' or ')}"] if "size" in asked else [])
    dispatcher.utter_message(response="utter_no_results_in_option", wanted=", ".join(parts))
    return relaxed, relaxed_answer


async def run_search(tracker: Tracker,
                     params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``params``; a category the shop does not know becomes search words instead."""
    query = {k: v for k, v in params.items() if v not in (None, "", False)}
    try:
        answer = await storefront().search_products(call_context(tracker),
                                                    page_size=PAGE_SIZE, facets=False, **query)
    except StorefrontProblem as problem:
        if problem.status != 404 or not params.get("category"):
            raise
        words = f"{params.get('q') or ''} {params['category']}".strip()
        params = {**params, "q": words, "category": None}
        return await run_search(tracker, params)
    return params, answer


def present(dispatcher: CollectingDispatcher, tracker: Tracker, intent: str,
            params: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
    items = answer.get("items", [])
    if not items:
        if intent == "show_more":
            dispatcher.utter_message(response="utter_no_more_results")
        elif intent == "search_cheaper":
            dispatcher.utter_message(response="utter_nothing_cheaper")
        else:
            dispatcher.utter_message(response="utter_no_results")
        return [SlotSet("search_params", params)] if intent == "show_more" else []
    first = (int(params.get("page") or 1) - 1) * PAGE_SIZE + 1
    corrected = (answer.get("query") or {}).get("corrected")
    dispatcher.utter_message(
        response="utter_search_results", total=answer.get("total", len(items)),
        results=result_lines(items, first),
        searched_for=f" (searched for “{corrected}”)" if corrected else "")
    if web_channel(tracker):
        dispatcher.utter_message(json_message=web_payload(
            type="product_cards", cards=[product_card(i) for i in items]))
    return [SlotSet("search_params", params), SlotSet("search_results", remembered(items))]


# --- choosing one product -------------------------------------------------------------------

def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower())
            if len(w) > 2 and w not in STOP_WORDS}


def chosen_product_id(tracker: Tracker, *, fall_back_to_slot: bool = True) -> int | None:
    """The product the shopper means: a button's id, "the second one", a name they saw, or
    (``fall_back_to_slot``) the one already being discussed."""
    explicit = as_int(entity_value(tracker, "product_id"))
    if explicit:
        return explicit
    shown = tracker.get_slot("search_results") or []
    position = as_ordinal(entity_value(tracker, "ordinal"))
    if position is not None and shown:
        index = position - 1 if position > 0 else len(shown) + position
        if 0 <= index < len(shown):
            return int(shown[index]["product_id"])
    by_name = _named_in(message_text(tracker), shown)
    if by_name is not None:
        return by_name
    return as_int(tracker.get_slot("product_id")) if fall_back_to_slot else None


def _named_in(text: str, shown: list[dict[str, Any]]) -> int | None:
    """The one shown result whose name shares the most words with ``text`` (no ties)."""
    said = words(text)
    scores = sorted(((len(said & words(r["name"])), int(r["product_id"])) for r in shown),
                    reverse=True)
    if not scores or scores[0][0] == 0:
        return None
    if len(scores) > 1 and scores[1][0] == scores[0][0]:
        return None
    return scores[0][1]


def options_text(product: dict[str, Any]) -> str:
    """"Sizes in stock: M, L. Colours: burgundy, cream." from the variants."""
    variants = product.get("variants", [])
    parts = []
    sizes = _in_order([v["size"] for v in variants if v.get("size") and v.get("available")])
    colors = _in_order([v["color"] for v in variants if v.get("color") and v.get("available")])
    if sizes and len(_in_order([v["size"] for v in variants if v.get("size")])) > 1:
        parts.append("Sizes in stock: " + ", ".join(sizes) + ".")
    if colors and len(_in_order([v["color"] for v in variants if v.get("color")])) > 1:
        parts.append("Colours in stock: " + ", ".join(colors) + ".")
    if not any(v.get("available") for v in variants):
        parts.append("It is sold out at the moment.")
    return " ".join(parts)


def _in_order(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


class ActionSelectProduct(Action):
    def name(self) -> str:
        return "action_select_product"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        product_id = chosen_product_id(tracker, fall_back_to_slot=False)
        if product_id is None and refines_last_search(tracker):  # "only the red ones"
            return await refine_search(dispatcher, tracker, domain)
        if product_id is None:
            dispatcher.utter_message(response="utter_which_product")
            return []
        try:
            product = await storefront().product(call_context(tracker), product_id)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem:
            dispatcher.utter_message(response="utter_product_not_found")
            return []
        rating = (f" Rated {product['rating']}/5 by {product['rating_count']} shoppers."
                  if product.get("rating_count") else "")
        dispatcher.utter_message(
            response="utter_product_details", name=product["title"],
            price=money(product["price"]), brand=product.get("vendor") or "",
            options=options_text(product), rating=rating, product_id=product["id"])
        if web_channel(tracker):
            dispatcher.utter_message(json_message=web_payload(
                type="product_cards", cards=[product_card(product)]))
        # Another product looked at: an earlier back-in-stock offer is over (a "yes" now is
        # to this product).
        return [SlotSet("product_id", product["id"]), SlotSet("awaiting_variant", False),
                SlotSet("offered_alert", False)]


class ActionRefineOrFallback(Action):
    """A message the NLU did not understand: a refinement of the results just shown ("only
    the red ones") narrows them; anything else is the fallback (ask to rephrase, then offer
    a person). Both set ``human_offered``, so the fallback rules read the same."""

    def name(self) -> str:
        return "action_refine_or_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        if narrows_what_was_shown(tracker):
            events = await refine_search(dispatcher, tracker, domain)
            return [*events, SlotSet("human_offered", False)]
        return await ActionFallback().run(dispatcher, tracker, domain)
