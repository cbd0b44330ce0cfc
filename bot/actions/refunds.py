""""I want a refund": the way to the money depends on where the order is.

The order comes from the order form (number and e-mail, or the ones the conversation already
verified). Before it ships, a refund is a cancellation (asked to confirm, then the existing
cancel action); once delivered, it is a return (the existing return form); on its way, the
shopper is told to return it once it arrives; already cancelled or refunded, they hear where
the refund is. The action always sets ``confirming_cancel`` and ``return_possible`` so the
rules after it branch on those two slots only.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .aftersales import describe_refund, returnable_lines, why_not_returnable
from .common import call_context, money, utter_unavailable, web_channel
from .orders import CANCELLABLE, fetch_order, known_order
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront


def outcome(*, cancel: bool = False, ret: bool = False) -> list[dict[str, Any]]:
    return [SlotSet("confirming_cancel", cancel), SlotSet("return_possible", ret)]


class ActionOfferRefund(Action):
    def name(self) -> str:
        return "action_offer_refund"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        order = await fetch_order(dispatcher, tracker)
        if order is None:
            return outcome()
        status = order.get("status")
        if status in CANCELLABLE:
            self.offer_cancellation(dispatcher, tracker, order)
            return outcome(cancel=True)
        if status == "shipped":
            dispatcher.utter_message(response="utter_refund_after_delivery",
                                     order_number=order["number"])
            return outcome()
        if status == "delivered":
            return await self.offer_return(dispatcher, tracker, order)
        await self.say_refunds(dispatcher, tracker, order)
        return outcome()

    @staticmethod
    def offer_cancellation(dispatcher: CollectingDispatcher, tracker: Tracker,
                           order: dict) -> None:
        total = money((order.get("totals") or {}).get("total"))
        question = (f"Order {order['number']} hasn't shipped yet, so I can cancel it and the "
                    f"full {total} goes back to the card you paid with. Cancel it?")
        if web_channel(tracker):
            dispatcher.utter_message(text=question, buttons=[
                {"title": "Yes, cancel and refund", "payload": "/affirm"},
                {"title": "No, keep it", "payload": "/deny"}])
        else:
            dispatcher.utter_message(text=question + " (yes / no)")

    @staticmethod
    async def offer_return(dispatcher: CollectingDispatcher, tracker: Tracker,
                           order: dict) -> list[dict[str, Any]]:
        number, email = known_order(tracker)
        try:
            returns = await storefront().order_returns(number, email, call_context(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            returns = {}  # the return request itself will hear about a closed window
        reason = why_not_returnable(order, returns.get("return_window_closes_on"))
        if reason:
            dispatcher.utter_message(text=reason)
            return outcome()
        dispatcher.utter_message(response="utter_refund_by_return", order_number=number)
        return [*outcome(ret=True), SlotSet("return_options", returnable_lines(order)),
                SlotSet("return_items", None), SlotSet("return_reason", None)]

    @staticmethod
    async def say_refunds(dispatcher: CollectingDispatcher, tracker: Tracker,
                          order: dict) -> None:
        """A cancelled or refunded order: where its money is."""
        number, email = known_order(tracker)
        try:
            refunds = (await storefront().order_refunds(number, email, call_context(tracker))
                       ).get("refunds") or []
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return
        except StorefrontProblem:
            refunds = []
        if refunds:
            dispatcher.utter_message(text=f"Order {number} is {order.get('status')}. Its "
                                     "refunds:\n" + "\n".join(describe_refund(r)
                                                               for r in refunds))
        else:
            dispatcher.utter_message(text=f"Order {number} is {order.get('status')}; there "
                                     "is nothing left on it to refund.")
