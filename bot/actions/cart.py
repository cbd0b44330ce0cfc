"""The cart itself: show it, change a line's quantity, remove a line, save it for later,
promo codes, and the cart reminder.

The cart token lives in the ``cart_id`` slot and is never shown. The API prices the cart on
every answer, so the bot repeats its totals and never computes one itself. Adding to the
cart is bot/actions/add_to_cart.py; back-in-stock alerts, bot/actions/stock_alerts.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import (as_int, as_ordinal, button, call_context, entity_value, items_text,
                     money, utter_unavailable, variant_name, web_buttons)
from .search import words
from .storefront import CallContext, StorefrontProblem, StorefrontUnavailable, storefront

GONE_CART_STATUSES = (404, 410)


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
    dispatcher.utter_message(response="utter_cart", items=items_text(cart["item_count"]),
                             lines=cart_lines_text(cart), totals=cart_totals_text(cart),
                             saved=saved_text(cart), buttons=web_buttons(tracker, CART_BUTTONS))


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


# --- reminders ------------------------------------------------------------------------------

class ActionCartReminder(Action):
    """EXTERNAL_cart_reminder (sent by the cart-recovery job): a gentle nudge."""

    def name(self) -> str:
        return "action_cart_reminder"

    async def run(self, dispatcher, tracker, domain):
        count = as_int(entity_value(tracker, "item_count")) or 0
        total = entity_value(tracker, "cart_total")
        code = entity_value(tracker, "promo_code")
        items = items_text(count) if count else "items"
        dispatcher.utter_message(
            response="utter_cart_reminder", items=items,
            total=f" ({total})" if total else "",
            promo=f" Use code {code} at checkout for a little something off." if code else "",
            buttons=web_buttons(tracker, [button("Check out", "checkout"),
                                          button("View cart", "view_cart")]))
        return [SlotSet("promo_code", code)] if code else []
