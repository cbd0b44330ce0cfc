"""Shop FAQs, answered for what the shopper named.

The faq ResponseSelector picks the question (``faq/shipping_times``...); the answer in the
domain covers every case. When the message names something the answer depends on, the
shopper gets the part that is theirs instead, from the shop's own data:

- a country, for shipping times and costs (and whether it is served at all): that country's
  methods from GET /api/shipping-methods, not every zone;
- an order (named or already verified in the conversation), for "when will it arrive":
  the order's tracking, because that is an order question; and for the return policy, that
  order's return window;
- a product (the one being discussed, or one of the results named: "the second one"), for
  the size guide: that product's sizes and colours in stock after the general guide;
- contact and opening hours: the support team's hours and the offer of a person
  (bot/actions/contact.py).
Otherwise the selected response is sent as it is.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .checkout import COUNTRY_NAMES
from .common import call_context, entity_value, utter_unavailable
from .contact import ActionAnswerContact
from .orders import describe_order, find_order_number, known_order
from .search import chosen_product_id, options_text
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront

SHIPPING_KEYS = ("faq/shipping_times", "faq/shipping_costs", "faq/international_shipping")
CONTACT_KEYS = ("faq/contact", "faq/store_hours")
# "when will my order arrive", "where is my parcel": about one order, not the policy.
MY_ORDER = re.compile(r"\b(my|our|the|this|that)\s+(order|parcel|package|delivery|item|items|"
                      r"stuff|shipment|purchase|jacket|shoes|things?)\b|\bit\s+(arrive|come|get "
                      r"here|be delivered|ship)", re.I)
# Longest names first, so "south korea" wins over "korea" and "new zealand" is one country.
_NAMES = sorted((n for n in COUNTRY_NAMES if len(n) > 2 or n in ("uk", "usa")),
                key=len, reverse=True)
COUNTRY = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in _NAMES) + r")(?![\w])",
                     re.I)


def selected_answer(tracker: Tracker) -> str | None:
    """The FAQ the NLU selected ("faq/shipping_times"), or None."""
    selector = (tracker.latest_message or {}).get("response_selector") or {}
    chosen = (selector.get("faq") or {}).get("response") or {}
    key = chosen.get("intent_response_key")
    return str(key) if key else None


def named_country(text: str) -> tuple[str, str] | None:
    """(ISO code, the name as written) of the first country the text names."""
    found = COUNTRY.search(text or "")
    if not found:
        return None
    return COUNTRY_NAMES[found.group(1).lower()], found.group(1)


def country_shipping_text(name: str, options: list[dict[str, Any]], key: str) -> str:
    lines = []
    for option in options:
        days = option.get("delivery_days") or {}
        span = (f"{days.get('min')}-{days.get('max')}" if days.get("min") != days.get("max")
                else f"{days.get('min')}")
        price = "free" if option.get("free") else (option.get("price") or {}).get("formatted")
        free = (f", free on orders over {option['free_above']['formatted']}"
                if option.get("free_above") and not option.get("free") else "")
        if key == "faq/shipping_times":
            lines.append(f"- {option['name']}: {span} business days ({price})")
        else:
            lines.append(f"- {option['name']}: {price}{free}, {span} business days")
    what = "Delivery times" if key == "faq/shipping_times" else "Shipping"
    return (f"{what} to {name.title() if len(name) > 3 else name.upper()} after your order "
            "is placed:\n" + "\n".join(lines) + "\nYou pick the method at checkout.")


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        key = selected_answer(tracker)
        text = str((tracker.latest_message or {}).get("text") or "")
        if key in CONTACT_KEYS:
            return await ActionAnswerContact().run(dispatcher, tracker, domain)
        if key == "faq/shipping_times" and self.about_an_order(tracker, text):
            answered = await self.track(dispatcher, tracker, text)
            if answered is not None:
                return answered
        country = named_country(text) if key in SHIPPING_KEYS else None
        if country and await self.for_country(dispatcher, tracker, key, *country):
            return []
        if key == "faq/size_guide" and chosen_product_id(tracker) is not None:
            if await self.product_sizes(dispatcher, tracker):
                return []
        if key == "faq/returns_policy" and all(known_order(tracker)):
            if await self.return_window(dispatcher, tracker):
                return []
        dispatcher.utter_message(response=f"utter_{key}" if key else "utter_ask_rephrase")
        return []

    @staticmethod
    def about_an_order(tracker: Tracker, text: str) -> bool:
        return bool(find_order_number(entity_value(tracker, "order_number") or text)
                    or MY_ORDER.search(text))

    @staticmethod
    async def track(dispatcher: CollectingDispatcher, tracker: Tracker,
                    text: str) -> list[dict[str, Any]] | None:
        """The order's tracking when the conversation can look it up; None to answer the FAQ
        instead (no order known: the general delivery times, with how to track one)."""
        named = find_order_number(entity_value(tracker, "order_number") or text)
        number, email = known_order(tracker)
        number = named or number
        if not (number and email):
            return None
        try:
            order = await storefront().order(number, email, call_context(tracker))
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return []
        except StorefrontProblem:
            return None
        dispatcher.utter_message(text=describe_order(order))
        return [SlotSet("order_number", number)]

    @staticmethod
    async def for_country(dispatcher: CollectingDispatcher, tracker: Tracker, key: str,
                          code: str, name: str) -> bool:
        try:
            answer = await storefront().get("/api/shipping-methods", call_context(tracker),
                                            params={"country": code})
        except StorefrontUnavailable:
            return False  # the general answer is still true
        except StorefrontProblem as problem:
            if problem.status != 422:
                return False
            dispatcher.utter_message(response="utter_country_not_delivered",
                                     country=name.title() if len(name) > 3 else name.upper())
            return True
        options = answer.get("options") or []
        if not options:
            return False
        dispatcher.utter_message(text=country_shipping_text(name, options, key))
        return True

    @staticmethod
    async def return_window(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        number, email = known_order(tracker)
        try:
            returns = await storefront().order_returns(number, email, call_context(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            return False
        closes = returns.get("return_window_closes_on")
        if not closes:
            return False
        dispatcher.utter_message(response="utter_faq/returns_policy")
        if date.fromisoformat(closes) < date.today():
            dispatcher.utter_message(text=f"For your order {number}, the return window closed "
                                     f"on {closes}.")
        else:
            dispatcher.utter_message(text=f"For your order {number}, the return window is "
                                     f"open until {closes}. Say \"I want to return it\" to "
                                     "start.")
        return True

    @staticmethod
    async def product_sizes(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        try:
            product = await storefront().product(call_context(tracker),
                                                 chosen_product_id(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            return False
        options = options_text(product) or "It comes in one size."
        dispatcher.utter_message(response="utter_faq/size_guide")
        dispatcher.utter_message(text=f"{product['title']}: {options}")
        return True
