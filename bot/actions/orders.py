"""Orders: find the shopper's order (number + e-mail), say where it is, cancel it before it
ships, and pass on the shop's notices (shipped, delivered, refunded).

The order form asks only for what the conversation does not know yet, and checks the pair
with the shop as soon as both are known, so a typo is caught while the shopper is still
answering, not after the form.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import call_context, entity_value, items_text, latest_intent, money, \
    utter_unavailable, web_channel
from .forms import AisleFormValidation
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront

ORDER_NUMBER = re.compile(r"\b([A-Za-z]{2})\s*-?\s*(\d{5})\b")
EMAIL = re.compile(r"[^@\s<>(),;:\"'\[\]]+@[^@\s<>(),;:\"'\[\]]+\.[A-Za-z]{2,}")
CANCELLABLE = frozenset({"awaiting_preparation", "being_prepared"})


def find_order_number(text: Any) -> str | None:
    """'kx 48213', 'KX-48213', 'order KX48213' → 'KX-48213'."""
    found = ORDER_NUMBER.search(str(text or ""))
    return f"{found.group(1).upper()}-{found.group(2)}" if found else None


def find_email(text: Any) -> str | None:
    found = EMAIL.search(str(text or ""))
    return found.group(0).strip(".").lower() if found else None


def problem_type(problem: StorefrontProblem) -> str:
    """The last part of the problem's type URL ('order-not-cancellable')."""
    return str(problem.document.get("type", "")).rsplit("/", 1)[-1]


def known_order(tracker: Tracker) -> tuple[str | None, str | None]:
    return tracker.get_slot("order_number"), tracker.get_slot("customer_email")


async def fetch_order(dispatcher: CollectingDispatcher, tracker: Tracker) -> dict | None:
    """The order the slots name, or None after telling the shopper why not."""
    number, email = known_order(tracker)
    try:
        return await storefront().order(number, email, call_context(tracker))
    except StorefrontUnavailable:
        utter_unavailable(dispatcher)
    except StorefrontProblem as problem:
        utter_order_problem(dispatcher, problem, number, email)
    return None


def utter_order_problem(dispatcher: CollectingDispatcher, problem: StorefrontProblem,
                        number: str | None, email: str | None) -> None:
    if problem.status == 404:
        dispatcher.utter_message(response="utter_order_not_found", order_number=number,
                                 email=email)
    elif problem.status == 429:
        dispatcher.utter_message(response="utter_order_lookup_busy")
    else:  # the API's own words are written for the shopper
        dispatcher.utter_message(text=problem.detail or "Sorry, the shop refused that request.")


# --- the order form ---------------------------------------------------------------------------

class ValidateOrderForm(AisleFormValidation):
    """Order number and e-mail: each checked for its shape, then the pair with the shop."""

    def name(self) -> str:
        return "validate_order_form"

    async def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: dict) -> dict[str, Any]:
        number = find_order_number(value)
        if number is None:
            return self.reject(dispatcher, tracker, "order_number", "utter_invalid_order_number",
                               given=str(value)[:40])
        if "customer_email" in tracker.slots_to_validate():
            return {"order_number": number}  # the e-mail's validation checks the pair
        return await self.verified(dispatcher, tracker, number,
                                   tracker.get_slot("customer_email"))

    async def validate_customer_email(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: dict) -> dict[str, Any]:
        email = find_email(value)
        if email is None:
            return self.reject(dispatcher, tracker, "customer_email", "utter_invalid_email")
        number = find_order_number(tracker.get_slot("order_number"))
        return await self.verified(dispatcher, tracker, number, email)

    async def verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       number: str | None, email: str | None) -> dict[str, Any]:
        """Accept the pair if the shop knows it. A miss clears both (either may be the
        typo) and counts as a failure; if the shop cannot answer now, the action after the
        form asks again and says so."""
        if not (number and email):
            return self.accept(tracker, "order_number" if number else "customer_email",
                               number or email)
        try:
            await storefront().order(number, email, call_context(tracker))
        except StorefrontUnavailable:
            pass
        except StorefrontProblem as problem:
            if problem.status == 404:
                failed = self.reject(dispatcher, tracker, "customer_email",
                                     "utter_order_not_found", order_number=number, email=email)
                return {**failed, "order_number": None}
        return self.accept(tracker, "customer_email", email, order_number=number)


# --- tracking ---------------------------------------------------------------------------------

def describe_shipment(shipment: dict) -> str:
    carrier = shipment.get("carrier_name") or shipment.get("carrier") or "the carrier"
    lines = [f"Sent with {carrier}, tracking number {shipment.get('tracking_number')}"
             + (f": {shipment['tracking_url']}" if shipment.get("tracking_url") else ".")]
    events = shipment.get("events") or []
    if events:
        latest = events[-1]
        where = f" in {latest['location']}" if latest.get("location") else ""
        when = f" ({latest['at'][:10]})" if latest.get("at") else ""
        lines.append(f"Latest: {latest.get('label') or latest.get('status')}{where}{when}.")
    return "\n".join(lines)


def describe_order(order: dict) -> str:
    total = money((order.get("totals") or {}).get("total"))
    lines = [f"Order {order['number']}: {order.get('status_label') or order.get('status')}. "
             f"{order.get('status_detail', '')}".strip(),
             f"{items_text(order.get('item_count'))}, {total}."]
    lines += [describe_shipment(s) for s in order.get("shipments") or []]
    return "\n".join(lines)


class ActionTrackOrder(Action):
    def name(self) -> str:
        return "action_track_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        order = await fetch_order(dispatcher, tracker)
        if order is None:
            return []
        dispatcher.utter_message(text=describe_order(order))
        if order.get("status") in CANCELLABLE:
            dispatcher.utter_message(text="It hasn't left yet, so you can still cancel it if "
                                          "you need to.")
        return []


# --- cancelling -------------------------------------------------------------------------------

def not_cancellable_reason(order: dict) -> str:
    number, status = order["number"], order.get("status")
    if status == "shipped":
        return (f"Order {number} has already shipped, so it can't be cancelled any more. "
                "Once it arrives you can return it for a refund; just ask me.")
    if status == "delivered":
        return (f"Order {number} has been delivered, so it can't be cancelled, but I can start "
                "a return for you.")
    if status in ("cancelled", "refunded"):
        return f"Order {number} is already {status}; there is nothing left to cancel."
    return f"Order {number} is {order.get('status_label', status)} and can't be cancelled."


class ActionConfirmCancel(Action):
    """Before cancelling, check it still can be, and ask the shopper to confirm."""

    def name(self) -> str:
        return "action_confirm_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        order = await fetch_order(dispatcher, tracker)
        if order is None:
            return [SlotSet("confirming_cancel", False)]
        if order.get("status") not in CANCELLABLE:
            dispatcher.utter_message(text=not_cancellable_reason(order))
            return [SlotSet("confirming_cancel", False)]
        total = money((order.get("totals") or {}).get("total"))
        question = (f"Order {order['number']} ({items_text(order.get('item_count'))}, {total}) "
                    "hasn't shipped yet. Cancel it and refund the payment to your card?")
        if web_channel(tracker):
            dispatcher.utter_message(text=question, buttons=[
                {"title": "Yes, cancel it", "payload": "/affirm"},
                {"title": "No, keep it", "payload": "/deny"}])
        else:
            dispatcher.utter_message(text=question + " (yes / no)")
        return [SlotSet("confirming_cancel", True)]


class ActionCancelOrder(Action):
    """The shopper's answer to the confirmation: cancel on yes, keep the order on no."""

    def name(self) -> str:
        return "action_cancel_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        number, email = known_order(tracker)
        if latest_intent(tracker) != "affirm":
            dispatcher.utter_message(response="utter_cancel_kept", order_number=number)
            return [SlotSet("confirming_cancel", False)]
        try:
            done = await storefront().cancel_order(number, email, call_context(tracker),
                                                   reason="asked in the chat")
            dispatcher.utter_message(text=done.get("message") or f"Order {number} is cancelled.")
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
        except StorefrontProblem as problem:
            utter_order_problem(dispatcher, problem, number, email)
        return [SlotSet("confirming_cancel", False)]


# --- notices from the shop (EXTERNAL_ intents sent by storefront_api) ----------------------

def shipped_notice(tracker: Tracker, number: str) -> str:
    carrier = entity_value(tracker, "carrier") or "the carrier"
    tracking = entity_value(tracker, "tracking_number")
    url = entity_value(tracker, "tracking_url")
    text = f"Good news: your order {number} has shipped with {carrier}."
    if tracking:
        text += f" Tracking number {tracking}" + (f": {url}" if url else ".")
    return text


def notice_text(tracker: Tracker, intent: str, number: str) -> str | None:
    if intent == "EXTERNAL_order_shipped":
        return shipped_notice(tracker, number)
    if intent == "EXTERNAL_order_delivered":
        return (f"Your order {number} has been delivered. I hope you like it! If anything is "
                "wrong, tell me: I can start a return or pass a complaint to the team.")
    if intent == "EXTERNAL_refund_issued":
        amount = entity_value(tracker, "refund_amount") or "Your refund"
        rma = entity_value(tracker, "rma_number")
        why = f"your return {rma}" if rma else "your cancelled order"
        return (f"{amount} has been refunded for {why} (order {number}). Depending on your "
                "bank it shows on your statement within 5 to 10 working days.")
    return None


class ActionOrderNotice(Action):
    """Tells the shopper what the shop announced; the order becomes the one talked about."""

    def name(self) -> str:
        return "action_order_notice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        number = find_order_number(entity_value(tracker, "order_number"))
        text = notice_text(tracker, latest_intent(tracker), number or "")
        if not (number and text):
            return []  # a malformed notice: better silent than a wrong message
        dispatcher.utter_message(text=text)
        return [SlotSet("order_number", number)]
