"""Adding to the cart: which product and variant the shopper means (asking the size or the
colour still open), the stock check at add time, and what to say when it cannot be added.

The API checks stock when a line is added; an item sold out is offered as a back-in-stock
alert (bot/actions/stock_alerts.py takes the answer).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .cart import CART_BUTTONS, GONE_CART_STATUSES
from .common import (as_int, button, call_context, entity_value, items_text, money,
                     utter_unavailable, variant_name, web_buttons)
from .search import (ActionSearchProducts, bot_action_before, chosen_product_id,
                     message_subject, narrows_what_was_shown, offer_matches, previous_turn,
                     refine_search, wanted_product_words, words)
from .storefront import CallContext, StorefrontProblem, StorefrontUnavailable, storefront
from .support import ActionFallback


def problem_is(problem: StorefrontProblem, kind: str) -> bool:
    """The problem document's type is ``kind`` (types are URLs ending in the kind)."""
    return str(problem.document.get("type") or "").rsplit("/", 1)[-1] == kind


# --- variants -------------------------------------------------------------------------------

def _matching(variants: list[dict], option: str, wanted: Any) -> list[dict]:
    if not wanted:
        return variants
    chosen = [v for v in variants if str(v.get(option) or "").lower() == str(wanted).lower()]
    return chosen or variants


def _values(variants: list[dict], option: str) -> list[str]:
    values: list[str] = []
    for variant in variants:
        if variant.get(option) and variant[option] not in values:
            values.append(variant[option])
    return values


def not_offered(product: dict[str, Any], size: Any, color: Any) -> str | None:
    """The option ("size" / "color") the shopper asked for in a value this product does
    not come in ("size 10" for a hoodie in XS-XL), or None."""
    for option, wanted in (("size", size), ("color", color)):
        values = [str(value).lower() for value in _values(product.get("variants", []), option)]
        if wanted and values and str(wanted).lower() not in values:
            return option
    return None


def pick_variant(product: dict[str, Any], size: Any,
                 color: Any) -> tuple[dict[str, Any] | None, str | None, list[dict]]:
    """The variant meant, or the option still to ask (``"size"`` / ``"color"``) and the
    variants still possible."""
    candidates = _matching(_matching(product.get("variants", []), "size", size), "color", color)
    for option in ("size", "color"):
        if len(_values(candidates, option)) > 1:
            return None, option, candidates
    return (candidates[0] if candidates else None), None, candidates


def options_in_text(text: str, product: dict[str, Any]) -> dict[str, str]:
    """The product's own sizes and colours named in a bare answer ("m", "olive", "size 42"),
    which the NLU cannot always tell apart from other intents."""
    tokens = [token.strip(".,!?;:()\"'") for token in text.lower().split()]
    phrase = " ".join(tokens)
    found: dict[str, str] = {}
    for option in ("size", "color"):
        for value in _values(product.get("variants", []), option):
            wanted = str(value).lower()
            if (wanted in tokens if " " not in wanted else wanted in phrase):
                found.setdefault(option, value)
    return found


NEW_SEARCH_ENTITIES = ("product_type", "category", "brand", "min_price", "max_price")


def option_buttons(option: str, candidates: list[dict]) -> list[dict[str, str]]:
    buttons = []
    for value in _values(candidates, option):
        sold_out = not any(v.get("available") for v in candidates if v.get(option) == value)
        title = f"{value} (sold out)" if sold_out else value
        buttons.append(button(title, "inform", **{option: value}))
    return buttons


# --- add to cart ----------------------------------------------------------------------------

async def add_line(ctx: CallContext, token: str | None, variant_id: int,
                   quantity: int) -> dict[str, Any]:
    """Add to the shopper's cart, starting a new one if there is none (or it was checked
    out or merged)."""
    client = storefront()
    if token:
        try:
            return await client.add_to_cart(ctx, token, variant_id, quantity)
        except StorefrontProblem as problem:
            gone = problem.status in GONE_CART_STATUSES or problem_is(problem,
                                                                      "cart-converted")
            if not gone:
                raise
    cart = await client.create_cart(ctx)
    return await client.add_to_cart(ctx, cart["token"], variant_id, quantity)


def _is_search(tracker: Tracker) -> bool:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") == "search_products"


def _is_new_search(tracker: Tracker) -> bool:
    return _is_search(tracker) and any(
        entity.get("entity") in NEW_SEARCH_ENTITIES
        for entity in (tracker.latest_message or {}).get("entities") or [])


# The actions that ask for a size or a colour (the next message may answer it).
ASKS_THE_VARIANT = ("action_add_to_cart", "action_yes_to_what_was_shown")


def _question_still_open(tracker: Tracker) -> bool:
    """Whether the bot's last turn before this message was our size/colour question."""
    return bot_action_before(tracker) in ASKS_THE_VARIANT


def shown_last_turn(tracker: Tracker) -> str | None:
    """What the bot's turn before this message showed: ``"results"`` (search results),
    ``"product"`` (one product's details, by action_select_product: a product added to the
    cart also sets ``product_id``, and a "yes" to that must not add it again), or None
    (nothing found, or something else)."""
    turn = previous_turn(tracker)
    set_in_turn = {e.get("name") for e in turn if e.get("event") == "slot" and e.get("value")}
    actions = {e.get("name") for e in turn if e.get("event") == "action"}
    if "search_results" in set_in_turn:
        return "results"
    if "product_id" in set_in_turn and "action_select_product" in actions:
        return "product"
    return None


def names_another_product(tracker: Tracker, product: dict[str, Any]) -> bool:
    """The message names a kind of product (or a brand) that is not ``product``."""
    named = message_subject(tracker).get("q")
    if not named:
        return False
    said = {w.rstrip("s") for w in words(str(named))}
    about = [str(product.get(k) or "") for k in ("title", "vendor", "product_type")]
    about += [str(t) for t in product.get("tags") or []]
    about.append(str((product.get("category") or {}).get("name") or ""))
    known = {w.rstrip("s") for w in words(" ".join(about))}
    return bool(said) and not said & known


class ActionAddToCart(Action):
    def name(self) -> str:
        return "action_add_to_cart"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        ctx = call_context(tracker)
        try:
            events = await self._add(dispatcher, tracker, ctx, domain)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            events = []
        # Both flags are always set so that the rules after this action stay simple: a
        # question pending (awaiting_variant) or an alert offered (offered_alert), or neither.
        named = {event["name"] for event in events}
        return events + [SlotSet(flag, False) for flag in ("awaiting_variant", "offered_alert")
                         if flag not in named]

    async def _add(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                   ctx: CallContext, domain: dict[str, Any]) -> list[dict[str, Any]]:
        if tracker.get_slot("awaiting_variant") and (
                not _question_still_open(tracker)  # left unanswered: the shopper moved on
                or _is_new_search(tracker)):  # asked for a size, searched for another thing
            return await self._moved_on(dispatcher, tracker, domain)
        variant_id = as_int(entity_value(tracker, "variant_id"))
        product_id = chosen_product_id(tracker, fall_back_to_slot=False)
        if variant_id is None and product_id is None and narrows_what_was_shown(tracker):
            # "only the red ones please", read as adding: narrow the results just shown.
            return [SlotSet("awaiting_variant", False),
                    *await refine_search(dispatcher, tracker, domain)]
        discussed = product_id is None  # only the product talked about before, if any
        product_id = product_id or as_int(tracker.get_slot("product_id"))
        if variant_id is None and product_id is None:
            return await self._search_first(dispatcher, tracker)
        try:
            product = await storefront().product(ctx, product_id) if product_id else None
        except StorefrontProblem:
            dispatcher.utter_message(response="utter_product_not_found")
            return [SlotSet("awaiting_variant", False), SlotSet("product_id", None)]
        if (variant_id is None and discussed and product is not None
                and not tracker.get_slot("awaiting_variant")
                and names_another_product(tracker, product)):
            # "add a water bottle" while a hoodie was being looked at: the water bottle.
            return await self._search_first(dispatcher, tracker)
        if variant_id is None:
            size, color = tracker.get_slot("size"), tracker.get_slot("color")
            if tracker.get_slot("awaiting_variant"):  # the answer to our size/colour question
                named = options_in_text((tracker.latest_message or {}).get("text") or "",
                                        product)
                size, color = size or named.get("size"), color or named.get("color")
            # Named in this message (a slot can be left from an earlier search):
            absent = not_offered(product, entity_value(tracker, "size") and size,
                                 entity_value(tracker, "color") and color)
            if absent:  # said, then asked, rather than silently replaced by another size
                wanted = {"size": f"size {size}", "color": color}[absent]
                dispatcher.utter_message(response="utter_option_not_offered",
                                         name=product["title"], wanted=wanted)
                size, color = (None, color) if absent == "size" else (size, None)
                candidates = _matching(_matching(product.get("variants", []), "size", size),
                                       "color", color)
                return [SlotSet(absent, None),
                        *self._ask_option(dispatcher, tracker, product, absent, candidates)]
            variant, missing, candidates = pick_variant(product, size, color)
            if missing:
                # What the answer named is kept for the next question's answer ("m", then
                # "burgundy"): a bare answer the NLU missed sets no slot by itself.
                known = [SlotSet(name, value) for name, value in (("size", size),
                                                                   ("color", color))
                         if value and value != tracker.get_slot(name)]
                return known + self._ask_option(dispatcher, tracker, product, missing,
                                                candidates)
            if variant is None:
                dispatcher.utter_message(response="utter_product_not_found")
                return [SlotSet("awaiting_variant", False)]
            if not variant.get("available"):
                return self._out_of_stock(dispatcher, tracker, product["title"], variant)
            variant_id = variant["id"]
        return await self._put_in_cart(dispatcher, tracker, ctx, variant_id, product)

    @staticmethod
    async def _search_first(dispatcher: CollectingDispatcher,
                            tracker: Tracker) -> list[dict[str, Any]]:
        """Nothing shown or discussed yet ("put a water bottle in my basket"): search for
        what was named and offer the top matches; ask which product only when there are
        no words to search or nothing matches."""
        wanted = wanted_product_words(tracker)
        try:
            events = await offer_matches(dispatcher, tracker, wanted) if wanted else None
        except StorefrontProblem:
            events = None
        if events is None:
            dispatcher.utter_message(response="utter_which_product")
            return [SlotSet("awaiting_variant", False)]
        return [SlotSet("awaiting_variant", False), *events]

    @staticmethod
    async def _moved_on(dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: dict[str, Any]) -> list[dict[str, Any]]:
        """The size/colour question is over: this message is answered on its own, here (as a
        follow-up action it would leave the dialogue with no rule for what comes after it,
        and the question was asked again)."""
        handler = ActionSearchProducts() if _is_search(tracker) else ActionFallback()
        return [SlotSet("awaiting_variant", False),
                *await handler.run(dispatcher, tracker, domain)]

    def _ask_option(self, dispatcher, tracker, product, option, candidates):
        dispatcher.utter_message(
            response=f"utter_ask_variant_{option}", name=product["title"],
            choices=", ".join(_values(candidates, option)),
            buttons=web_buttons(tracker, option_buttons(option, candidates)))
        return [SlotSet("product_id", product["id"]), SlotSet("awaiting_variant", True)]

    def _out_of_stock(self, dispatcher, tracker, title, variant):
        dispatcher.utter_message(
            response="utter_out_of_stock", name=title, variant=variant_name(variant),
            buttons=web_buttons(tracker, [button("Yes, tell me", "affirm"),
                                          button("No, show similar items", "deny")]))
        return [SlotSet("variant_id", variant["id"]), SlotSet("offered_alert", True),
                SlotSet("awaiting_variant", False)]

    async def _put_in_cart(self, dispatcher, tracker, ctx, variant_id, product):
        quantity = max(1, as_int(tracker.get_slot("quantity")) or 1)
        try:
            cart = await add_line(ctx, tracker.get_slot("cart_id"), variant_id, quantity)
        except StorefrontProblem as problem:
            return self._refused(dispatcher, tracker, problem, variant_id, product)
        line = next(line for line in cart["lines"] if line["variant_id"] == variant_id)
        dispatcher.utter_message(
            response="utter_added_to_cart", quantity=quantity, name=line["title"],
            variant=variant_name(line), items=items_text(cart["item_count"]),
            subtotal=money(cart["totals"]["subtotal"]),
            buttons=web_buttons(tracker, [button("View cart", "view_cart"), *CART_BUTTONS]))
        return [SlotSet("cart_id", cart["token"]), SlotSet("product_id", line["product_id"]),
                SlotSet("variant_id", variant_id), SlotSet("awaiting_variant", False),
                SlotSet("offered_alert", False), SlotSet("size", None), SlotSet("color", None),
                SlotSet("quantity", None)]

    def _refused(self, dispatcher, tracker, problem, variant_id, product):
        doc = problem.document
        if problem.status == 409 and problem_is(problem, "insufficient-stock"):
            available = int(doc.get("available") or 0)
            if available == 0:
                variant = next((v for v in (product or {}).get("variants", [])
                                if v["id"] == variant_id), {"id": variant_id})
                return self._out_of_stock(dispatcher, tracker,
                                          (product or {}).get("title", "That item"), variant)
            can_add = max(available - int(doc.get("in_cart") or 0), 0)
            dispatcher.utter_message(
                response="utter_only_some_left", detail=problem.detail,
                buttons=web_buttons(tracker, [button(f"Add {can_add}", "add_to_cart",
                                                     variant_id=variant_id, quantity=can_add)]
                                    if can_add else []))
            return [SlotSet("quantity", None), SlotSet("awaiting_variant", False)]
        dispatcher.utter_message(response="utter_cart_refused", detail=problem.detail)
        return [SlotSet("quantity", None), SlotSet("awaiting_variant", False)]


class ActionYesToWhatWasShown(Action):
    """A bare "yes", "ok" or thumbs-up right after the results or a product's details.
    Nothing was asked, so it is read as interest: after a product's details, that product is
    wanted (added, or its size or colour asked, as "add it to my cart" would); after
    results, the shopper is asked which one; after a search that found nothing, what to
    look for."""

    def name(self) -> str:
        return "action_yes_to_what_was_shown"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        shown = shown_last_turn(tracker)
        if shown == "product":
            return await ActionAddToCart().run(dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_which_result" if shown == "results"
                                 else "utter_ask_what_to_search")
        return [SlotSet("awaiting_variant", False), SlotSet("offered_alert", False)]
