"""The cart: add (with the variant and stock checks), show, change, remove, save for later,
promo codes, and back-in-stock alerts for what cannot be bought now.

The cart token lives in the ``cart_id`` slot and is never shown. The API prices the cart on
every answer, so the bot repeats its totals and never computes one itself.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import (as_int, as_ordinal, call_context, entity_value, money,
                     utter_unavailable, web_channel, web_payload)
from .search import (ActionSearchProducts, chosen_product_id, message_subject,
                     narrows_what_was_shown, offer_matches, product_card, refine_search,
                     remembered, result_lines, wanted_product_words, words)
from .storefront import CallContext, StorefrontProblem, StorefrontUnavailable, storefront
from .support import ActionFallback

GONE_CART_STATUSES = (404, 410)


def problem_is(problem: StorefrontProblem, kind: str) -> bool:
    """The problem document's type is ``kind`` (types are URLs ending in the kind)."""
    return str(problem.document.get("type") or "").rsplit("/", 1)[-1] == kind


def payload(intent: str, **entities: Any) -> str:
    return f"/{intent}{json.dumps(entities)}" if entities else f"/{intent}"


def button(title: str, intent: str, **entities: Any) -> dict[str, str]:
    return {"title": title, "payload": payload(intent, **entities)}


def web_buttons(tracker: Tracker, buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Buttons for the web chat; messaging channels read the text alone."""
    return buttons if web_channel(tracker) else []


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


def variant_name(variant: dict[str, Any] | None) -> str:
    """" (Pink / 41)" for a variant, or for a cart or checkout line (whose own "title" is
    the product's)."""
    variant = variant or {}
    title = (variant["variant_title"] if "variant_title" in variant
             else variant.get("title")) or ""
    return f" ({title})" if title and title.lower() != "default" else ""


def option_buttons(option: str, candidates: list[dict]) -> list[dict[str, str]]:
    buttons = []
    for value in _values(candidates, option):
        sold_out = not any(v.get("available") for v in candidates if v.get(option) == value)
        title = f"{value} (sold out)" if sold_out else value
        buttons.append(button(title, "inform", **{option: value}))
    return buttons


# --- the cart -------------------------------------------------------------------------------

async def cart_or_none(ctx: CallContext, token: str | None) -> dict[str, Any] | None:
    """The cart behind ``token``; None when there is none (never made, or gone)."""
    if not token:
        return None
    try:
        return await storefront().cart(ctx, token)
    except StorefrontProblem as problem:
        if problem.status in GONE_CART_STATUSES:
            return None
        raise


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


def cart_lines_text(cart: dict[str, Any]) -> str:
    rows = []
    for number, line in enumerate(cart.get("lines", []), start=1):
        short = "" if line.get("in_stock", True) else f" — only {line['available']} left"
        rows.append(f"{number}. {line['quantity']} × {line['title']}{variant_name(line)}"
                    f" — {money(line['line_total'])}{short}")
    return "\n".join(rows)


def cart_totals_text(cart: dict[str, Any]) -> str:
    totals = cart.get("totals", {})
    parts = [f"Subtotal: {money(totals.get('subtotal'))}"]
    promo = cart.get("promo_code")
    if promo and promo.get("valid"):
        parts.append(f"Code {promo['code']}: −{money(totals.get('discount'))}")
    elif promo:
        parts.append(f"Code {promo['code']} does not apply: {promo.get('reason') or ''}".strip())
    if cart.get("shipping") and cart["shipping"].get("valid"):
        parts.append(f"Shipping: {money(totals.get('shipping'))}")
    parts.append(f"Total: {money(totals.get('total'))}")
    return "\n".join(parts)


def saved_text(cart: dict[str, Any]) -> str:
    saved = cart.get("saved_for_later") or []
    if not saved:
        return ""
    return "\nSaved for later: " + ", ".join(f"{s['title']}{variant_name(s)}" for s in saved)


CART_BUTTONS = [button("Check out", "checkout"), button("Keep shopping", "search_products")]


def show_cart(dispatcher: CollectingDispatcher, tracker: Tracker,
              cart: dict[str, Any] | None) -> None:
    if not cart or not cart.get("lines"):
        dispatcher.utter_message(response="utter_cart_empty",
                                 saved=saved_text(cart) if cart else "")
        return
    dispatcher.utter_message(response="utter_cart", item_count=cart["item_count"],
                             lines=cart_lines_text(cart), totals=cart_totals_text(cart),
                             saved=saved_text(cart), buttons=web_buttons(tracker, CART_BUTTONS))


# --- add to cart ----------------------------------------------------------------------------

def _is_search(tracker: Tracker) -> bool:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") == "search_products"


def _is_new_search(tracker: Tracker) -> bool:
    return _is_search(tracker) and any(
        entity.get("entity") in NEW_SEARCH_ENTITIES
        for entity in (tracker.latest_message or {}).get("entities") or [])


def _question_still_open(tracker: Tracker) -> bool:
    """Whether the bot's last turn before this message was our size/colour question."""
    seen_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_message = True
        elif (seen_message and event.get("event") == "action"
              and event.get("name") != "action_listen"):
            return event.get("name") == "action_add_to_cart"
    return False


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
            variant=variant_name(line), item_count=cart["item_count"],
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


# --- show and change the cart ---------------------------------------------------------------

class ActionViewCart(Action):
    def name(self) -> str:
        return "action_view_cart"

    async def run(self, dispatcher, tracker, domain):
        try:
            cart = await cart_or_none(call_context(tracker), tracker.get_slot("cart_id"))
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        show_cart(dispatcher, tracker, cart)
        return [] if cart else [SlotSet("cart_id", None)]


def chosen_line(tracker: Tracker, lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cart line meant: "the second one", a name, a colour or size, the product just
    discussed, or the only line."""
    position = as_ordinal(entity_value(tracker, "ordinal"))
    if position is not None and lines:
        index = position - 1 if position > 0 else len(lines) + position
        return lines[index] if 0 <= index < len(lines) else None
    said = words(str((tracker.latest_message or {}).get("text") or ""))
    for option in ("color", "size"):
        wanted = entity_value(tracker, option)
        if wanted:
            said.add(str(wanted).lower())
    scored = sorted(((len(said & words(f"{l['title']} {l.get('variant_title') or ''}")), n)
                     for n, l in enumerate(lines)), reverse=True)
    if scored and scored[0][0] and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return lines[scored[0][1]]
    if len(lines) == 1:
        return lines[0]
    current = as_int(tracker.get_slot("product_id"))
    same = [l for l in lines if l["product_id"] == current]
    return same[0] if len(same) == 1 else None


class CartLineAction(Action, ABC):
    """Find the line the shopper means, change it through the API, show the cart."""

    intent = ""

    # Abstract, so that rasa_sdk's executor does not try to register the base class itself.
    @abstractmethod
    def name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    async def run(self, dispatcher, tracker, domain):
        ctx = call_context(tracker)
        try:
            cart = await cart_or_none(ctx, tracker.get_slot("cart_id"))
            if not cart or not cart.get("lines"):
                show_cart(dispatcher, tracker, cart)
                return [SlotSet("quantity", None)]
            line = chosen_line(tracker, cart["lines"])
            if line is None:
                self.ask_which(dispatcher, tracker, cart)
                return []
            changed = await self.change(dispatcher, tracker, ctx, cart["token"], line)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem as problem:
            dispatcher.utter_message(response="utter_cart_refused", detail=problem.detail)
            return [SlotSet("quantity", None)]
        if changed is not None:
            show_cart(dispatcher, tracker, changed)
        return [SlotSet("quantity", None)]

    def ask_which(self, dispatcher, tracker, cart):
        quantity = as_int(tracker.get_slot("quantity"))
        extra = {"quantity": quantity} if quantity is not None else {}
        buttons = [button(f"{l['title']}{variant_name(l)}", self.intent, ordinal=n, **extra)
                   for n, l in enumerate(cart["lines"], start=1)]
        dispatcher.utter_message(response="utter_which_cart_line", lines=cart_lines_text(cart),
                                 buttons=web_buttons(tracker, buttons))

    async def change(self, dispatcher, tracker, ctx, token, line):  # pragma: no cover
        raise NotImplementedError


class ActionChangeQuantity(CartLineAction):
    intent = "change_quantity"

    def name(self) -> str:
        return "action_change_quantity"

    async def change(self, dispatcher, tracker, ctx, token, line):
        quantity = as_int(tracker.get_slot("quantity"))
        if quantity is None:
            dispatcher.utter_message(response="utter_ask_quantity", name=line["title"])
            return None
        if quantity <= 0:
            cart = await storefront().remove_line(ctx, token, line["id"])
            dispatcher.utter_message(response="utter_removed_from_cart", name=line["title"])
            return cart
        cart = await storefront().change_line(ctx, token, line["id"], quantity=quantity)
        dispatcher.utter_message(response="utter_quantity_changed", name=line["title"],
                                 quantity=quantity)
        return cart


class ActionRemoveFromCart(CartLineAction):
    intent = "remove_from_cart"

    def name(self) -> str:
        return "action_remove_from_cart"

    async def change(self, dispatcher, tracker, ctx, token, line):
        cart = await storefront().remove_line(ctx, token, line["id"])
        dispatcher.utter_message(response="utter_removed_from_cart", name=line["title"])
        return cart


class ActionSaveForLater(CartLineAction):
    intent = "save_for_later"

    def name(self) -> str:
        return "action_save_for_later"

    async def change(self, dispatcher, tracker, ctx, token, line):
        cart = await storefront().change_line(ctx, token, line["id"], saved_for_later=True)
        dispatcher.utter_message(response="utter_saved_for_later", name=line["title"])
        return cart


# --- promo codes ----------------------------------------------------------------------------

class ActionApplyPromoCode(Action):
    def name(self) -> str:
        return "action_apply_promo_code"

    async def run(self, dispatcher, tracker, domain):
        code = str(entity_value(tracker, "promo_code") or tracker.get_slot("promo_code")
                   or "").strip().upper()
        if not code:
            dispatcher.utter_message(response="utter_ask_promo_code")
            return []
        ctx = call_context(tracker)
        try:
            cart = await cart_or_none(ctx, tracker.get_slot("cart_id"))
            if not cart or not cart.get("lines"):
                dispatcher.utter_message(response="utter_promo_needs_cart", code=code)
                return [SlotSet("promo_code", None)]
            cart = await storefront().apply_promo_code(ctx, cart["token"], code)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem as problem:
            why = "utter_promo_unknown" if problem.status == 404 else "utter_promo_refused"
            dispatcher.utter_message(response=why, code=code, reason=problem.detail)
            return [SlotSet("promo_code", None)]
        promo = cart.get("promo_code") or {}
        dispatcher.utter_message(response="utter_promo_applied", code=promo.get("code", code),
                                 description=promo.get("description") or "",
                                 totals=cart_totals_text(cart))
        return [SlotSet("promo_code", promo.get("code", code))]


# --- when it cannot be bought now ------------------------------------------------------------

class ActionSubscribeBackInStock(Action):
    def name(self) -> str:
        return "action_subscribe_back_in_stock"

    async def run(self, dispatcher, tracker, domain):
        variant_id = as_int(tracker.get_slot("variant_id"))
        events = [SlotSet("offered_alert", False)]
        if variant_id is None:
            dispatcher.utter_message(response="utter_which_product")
            return events
        email = tracker.get_slot("customer_email")
        try:
            await storefront().subscribe_back_in_stock(call_context(tracker), variant_id, email)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return events
        except StorefrontProblem as problem:
            dispatcher.utter_message(response="utter_alert_refused", detail=problem.detail)
            return events
        by_email = f" and by email at {email}" if email else ""
        dispatcher.utter_message(response="utter_alert_subscribed", by_email=by_email)
        return events


class ActionShowSimilarProducts(Action):
    """Instead of waiting: similar products that can be bought now."""

    def name(self) -> str:
        return "action_show_similar_products"

    async def run(self, dispatcher, tracker, domain):
        events = [SlotSet("offered_alert", False)]
        product_id = as_int(tracker.get_slot("product_id"))
        try:
            items = await storefront().similar_products(call_context(tracker), product_id) \
                if product_id else []
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return events
        except StorefrontProblem:
            items = []
        items = [item for item in items if item.get("in_stock")][:5]
        if not items:
            dispatcher.utter_message(response="utter_no_similar_products")
            return events
        dispatcher.utter_message(response="utter_similar_products", results=result_lines(items))
        if web_channel(tracker):
            dispatcher.utter_message(json_message=web_payload(
                type="product_cards", cards=[product_card(i) for i in items]))
        return [*events, SlotSet("search_results", remembered(items))]


class ActionBackInStockNotice(Action):
    """EXTERNAL_back_in_stock (sent by storefront_api): the item is back, add it?"""

    def name(self) -> str:
        return "action_back_in_stock_notice"

    async def run(self, dispatcher, tracker, domain):
        title = entity_value(tracker, "product_title") or "The item you were waiting for"
        variant = entity_value(tracker, "variant")
        variant_id = as_int(entity_value(tracker, "variant_id"))
        buttons = [button("Add it to my cart", "add_to_cart", variant_id=variant_id)] \
            if variant_id else []
        dispatcher.utter_message(response="utter_back_in_stock", name=title,
                                 variant=f" ({variant})" if variant else "",
                                 buttons=web_buttons(tracker, buttons))
        return [SlotSet("variant_id", variant_id)] if variant_id else []


class ActionCartReminder(Action):
    """EXTERNAL_cart_reminder (sent by the cart-recovery job): a gentle nudge."""

    def name(self) -> str:
        return "action_cart_reminder"

    async def run(self, dispatcher, tracker, domain):
        count = as_int(entity_value(tracker, "item_count")) or 0
        total = entity_value(tracker, "cart_total")
        code = entity_value(tracker, "promo_code")
        items = "1 item" if count == 1 else f"{count} items" if count else "items"
        dispatcher.utter_message(
            response="utter_cart_reminder", items=items,
            total=f" ({total})" if total else "",
            promo=f" Use code {code} at checkout for a little something off." if code else "",
            buttons=web_buttons(tracker, [button("Check out", "checkout"),
                                          button("View cart", "view_cart")]))
        return [SlotSet("promo_code", code)] if code else []

