"""After-sales: returns and exchanges, refund status, complaints.

A return starts with a check (is the order delivered, is its return window still open,
is anything left to send back) so the shopper is not asked which items and why only to hear
at the end that it was never possible. What can be returned is kept in ``return_options``
so the form can read "the second one" or "all" without asking the shop again.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import as_int, call_context, entity_values, latest_intent, money, \
    utter_unavailable, web_channel
from .forms import AisleFormValidation
from .orders import fetch_order, find_email, known_order, problem_type, utter_order_problem
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront

ALL_WORDS = re.compile(r"\b(all|everything|both|whole order|every item|the lot)\b", re.I)
YES_WORDS = re.compile(r"^\s*(yes|yep|yeah|sure|ok|okay|that one|this one|it)\b", re.I)
NUMBER = re.compile(r"\b(\d{1,2})\b")
REASON_LIMIT = 500
COMPLAINT_MIN_WORDS = 6  # a complaint message this long already says what happened


def return_kind(tracker: Tracker) -> str:
    return "exchange" if tracker.get_slot("order_request") == "exchange" else "return"


# --- can it be returned? ----------------------------------------------------------------------

def returnable_lines(order: dict) -> list[dict[str, Any]]:
    """The order's lines with units still to send back (bought minus already returned)."""
    options = []
    for line in order.get("lines") or []:
        left = int(line.get("quantity", 0)) - int(line.get("returned_quantity") or 0)
        if left > 0:
            title = line.get("title") or line.get("sku")
            if line.get("variant_title"):
                title += f" ({line['variant_title']})"
            options.append({"sku": line["sku"], "title": title, "quantity": left})
    return options


def why_not_returnable(order: dict, window_closes: str | None) -> str | None:
    number, status = order["number"], order.get("status")
    if status in ("awaiting_preparation", "being_prepared"):
        return (f"Order {number} hasn't shipped yet, so there is nothing to return: you can "
                "cancel it instead, just ask me.")
    if status == "shipped":
        return (f"Order {number} is still on its way. Once it has been delivered you can "
                "return it; ask me again then.")
    if status != "delivered":
        return f"Order {number} is {status}; there is nothing left to return."
    if window_closes and date.fromisoformat(window_closes) < date.today():
        return (f"I'm sorry, the return window of order {number} closed on {window_closes}, "
                "so I can't start a return. If something is wrong with the item, I can pass "
                "a complaint to the team or put you through to a person.")
    if not returnable_lines(order):
        return f"Everything in order {number} is already in a return."
    return None


class ActionCheckReturn(Action):
    """Sets return_possible and, when it is, the lines the shopper can choose from."""

    def name(self) -> str:
        return "action_check_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        fresh = [SlotSet("return_items", None), SlotSet("return_reason", None)]
        order = await fetch_order(dispatcher, tracker)
        if order is None:
            return [*fresh, SlotSet("return_possible", False)]
        number, email = known_order(tracker)
        try:
            returns = await storefront().order_returns(number, email, call_context(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            returns = {}  # the request itself will hear about a closed window
        reason = why_not_returnable(order, returns.get("return_window_closes_on"))
        if reason:
            dispatcher.utter_message(text=reason)
            return [*fresh, SlotSet("return_possible", False)]
        return [*fresh, SlotSet("return_options", returnable_lines(order)),
                SlotSet("return_possible", True)]


# --- which items and why ----------------------------------------------------------------------

def chosen_lines(text: str, ordinals: list[Any], options: list[dict]) -> list[dict]:
    """The options the answer names: "all", a position ("2", "the second one"), or words of
    an item's name or its SKU."""
    if ALL_WORDS.search(text) or (len(options) == 1 and YES_WORDS.search(text)):
        return list(options)
    positions = [as_int(o) for o in ordinals] + [int(n) for n in NUMBER.findall(text)]
    picked = [options[p - 1 if p > 0 else p] for p in positions
              if p is not None and p != 0 and -len(options) <= p <= len(options)]
    if picked:
        return list({o["sku"]: o for o in picked}.values())
    words = {w for w in re.findall(r"[a-z0-9-]{3,}", text.lower())}
    return [o for o in options
            if o["sku"].lower() in words or words & set(re.findall(r"[a-z0-9-]{3,}",
                                                                 o["title"].lower()))]


def _is_item(item: Any, options: list[dict]) -> bool:
    """One chosen item as the return request needs it: an SKU on offer, a sensible count."""
    if not isinstance(item, dict):
        return False
    left = {o["sku"]: o["quantity"] for o in options}
    quantity = as_int(item.get("quantity"))
    return item.get("sku") in left and quantity is not None and 1 <= quantity <= left[item["sku"]]


def with_quantity(lines: list[dict], quantity: int | None) -> list[dict[str, Any]]:
    """One item chosen with a number of units ("just one of them"): at most what is left."""
    if quantity and len(lines) == 1:
        return [{"sku": lines[0]["sku"], "quantity": max(1, min(quantity, lines[0]["quantity"]))}]
    return [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines]


class ValidateReturnForm(AisleFormValidation):
    def name(self) -> str:
        return "validate_return_form"

    async def validate_return_items(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: dict) -> dict[str, Any]:
        options = tracker.get_slot("return_options") or []
        if isinstance(value, list) and value and all(_is_item(i, options) for i in value):
            return self.accept(tracker, "return_items", value)  # already chosen as a list
        if isinstance(value, list):  # the text a list slot was given, as Rasa wraps it
            value = " ".join(str(part) for part in value)
        text = str(value or "")
        # A bare position is an ordinal; a number with an item named is how many units.
        lines = chosen_lines(text, entity_values(tracker, "ordinal"), options)
        if not lines:
            return self.reject(dispatcher, tracker, "return_items",
                               "utter_return_item_not_understood")
        quantities = [as_int(q) for q in entity_values(tracker, "quantity")]
        return self.accept(tracker, "return_items", with_quantity(lines, next(
            (q for q in quantities if q), None)))

    async def validate_return_reason(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: dict) -> dict[str, Any]:
        reason = " ".join(str(value or "").split())[:REASON_LIMIT]
        if len(reason) < 2:
            return self.reject(dispatcher, tracker, "return_reason", "utter_ask_return_reason")
        return self.accept(tracker, "return_reason", reason)


class ActionAskReturnItems(Action):
    """The question for return_items: the order's returnable items, numbered."""

    def name(self) -> str:
        return "action_ask_return_items"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        options = tracker.get_slot("return_options") or []
        kind = return_kind(tracker)
        listing = "\n".join(f"{i}. {o['quantity']} × {o['title']}"
                            for i, o in enumerate(options, 1))
        if len(options) == 1:
            question = (f"Do you want to {kind} this item?\n{listing}\n"
                        "Say yes, or how many of them.")
        else:
            question = (f"Which items do you want to {kind}?\n{listing}\n"
                        "Answer with a number, the item's name, or \"all\".")
        if web_channel(tracker):
            buttons = [{"title": o["title"][:60], "payload": o["sku"]} for o in options]
            if len(options) > 1:
                buttons.append({"title": "All of them", "payload": "all"})
            dispatcher.utter_message(text=question, buttons=buttons)
        else:
            dispatcher.utter_message(text=question)
        return []


def describe_items(items: list[dict], options: list[dict]) -> str:
    titles = {o["sku"]: o["title"] for o in options}
    return ", ".join(f"{i['quantity']} × {titles.get(i['sku'], i['sku'])}" for i in items)


class ActionRequestReturn(Action):
    def name(self) -> str:
        return "action_request_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        number, email = known_order(tracker)
        items = tracker.get_slot("return_items") or []
        kind = return_kind(tracker)
        done = [SlotSet("return_items", None), SlotSet("return_reason", None)]
        try:
            created = await storefront().request_return(
                number, email, call_context(tracker), kind=kind, items=items,
                reason=tracker.get_slot("return_reason") or "not given")
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return done
        except StorefrontProblem as problem:
            utter_order_problem(dispatcher, problem, number, email)
            return done
        what = describe_items(items, tracker.get_slot("return_options") or [])
        replacement = " We'll send the same item again once yours is back." \
            if kind == "exchange" else ""
        dispatcher.utter_message(text=(
            f"Your {kind} request {created['rma_number']} for order {number} is registered: "
            f"{what}.{replacement} {created.get('next_step') or ''} Please don't send anything "
            f"yet: we'll e-mail you at {email} where to send the parcel.").replace("  ", " "))
        return done


# --- refunds ----------------------------------------------------------------------------------

def describe_refund(refund: dict) -> str:
    amount = money(refund.get("amount"))
    why = f" for return {refund['rma_number']}" if refund.get("rma_number") else ""
    when = (refund.get("updated_at") or refund.get("created_at") or "")[:10]
    if refund.get("status") == "succeeded":
        return f"{amount}{why}: refunded on {when} to the card you paid with."
    if refund.get("status") == "failed":
        return f"{amount}{why}: it didn't go through yet; the shop is retrying it."
    return f"{amount}{why}: being processed."


class ActionRefundStatus(Action):
    def name(self) -> str:
        return "action_refund_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        number, email = known_order(tracker)
        ctx = call_context(tracker)
        try:
            found = await storefront().order_refunds(number, email, ctx)
            refunds = found.get("refunds") or []
            returns = [] if refunds else (
                await storefront().order_returns(number, email, ctx)).get("returns") or []
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem as problem:
            utter_order_problem(dispatcher, problem, number, email)
            return []
        if refunds:
            dispatcher.utter_message(text=f"Refunds for order {number}:\n" + "\n".join(
                describe_refund(r) for r in refunds))
        elif returns:
            latest = returns[-1]
            dispatcher.utter_message(text=(
                f"There's no refund on order {number} yet. Your {latest['kind']} "
                f"{latest['rma_number']} is {latest['status']}: {latest.get('next_step', '')}"
            ).strip())
        else:
            dispatcher.utter_message(text=(
                f"There's no refund on order {number}: it hasn't been cancelled or returned. "
                "If you'd like to send something back, I can start a return."))
        return []


# --- complaints -------------------------------------------------------------------------------

class ValidateComplaintForm(AisleFormValidation):
    def name(self) -> str:
        return "validate_complaint_form"

    async def extract_complaint_text(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: dict) -> dict[str, Any]:
        """When the complaint itself already tells what happened, don't ask again."""
        text = (tracker.latest_message or {}).get("text") or ""
        if (tracker.get_slot("requested_slot") is None and latest_intent(tracker) == "complaint"
                and not tracker.get_slot("complaint_text")
                and len(text.split()) >= COMPLAINT_MIN_WORDS):
            return {"complaint_text": text}
        return {}

    async def validate_customer_email(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: dict) -> dict[str, Any]:
        email = find_email(value)
        if email is None:
            return self.reject(dispatcher, tracker, "customer_email", "utter_invalid_email")
        return self.accept(tracker, "customer_email", email)

    async def validate_complaint_text(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: dict) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if len(text) < 3:
            return self.reject(dispatcher, tracker, "complaint_text", "utter_ask_complaint_text")
        return self.accept(tracker, "complaint_text", text[:5000])


class ActionFileComplaint(Action):
    """Files the complaint on the conversation's order when there is one (and it is the
    shopper's), otherwise as a general ticket; answers with the reference."""

    def name(self) -> str:
        return "action_file_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        number, email = known_order(tracker)
        message = tracker.get_slot("complaint_text") or ""
        ctx = call_context(tracker)
        try:
            ticket = await self.file(message, email, number, ctx)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem as problem:
            dispatcher.utter_message(text=problem.detail or "Sorry, I couldn't file that.")
            return []
        about = f" about order {ticket['order_number']}" if ticket.get("order_number") else ""
        dispatcher.utter_message(text=(
            f"I've passed your complaint{about} to the team. Your reference is "
            f"{ticket['reference']}. They'll answer you by e-mail at {ticket['email']}, "
            "usually within one working day."))
        return [SlotSet("complaint_text", None)]

    @staticmethod
    async def file(message: str, email: str, number: str | None, ctx) -> dict:
        if number:
            try:
                return await storefront().open_ticket(email, message, ctx, order_number=number)
            except StorefrontProblem as problem:
                if problem.status != 404:  # not this e-mail's order: file it without one
                    raise
            message = f"(About order {number}, which is not on this e-mail.) {message}"
        return await storefront().open_ticket(email, message, ctx)
