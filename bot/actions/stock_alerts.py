"""When it cannot be bought now: a back-in-stock alert for the variant that is sold out,
similar products that can be bought instead, and the notice when the item is back.
"""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from .common import (as_int, button, call_context, entity_value, utter_unavailable,
                     web_buttons, web_channel, web_payload)
from .search import product_card, remembered, result_lines
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront


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
