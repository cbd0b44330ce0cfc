"""Checkout: the form (email, address, shipping method), the summary, the payment link, and
what the shop tells the conversation afterwards (payment received or failed).

The API is the judge of every detail: it lists the countries served and the methods with
prices, validates the address for its country, and prices the summary. The summary is a
preview (``POST .../checkout/preview``): it holds no stock and opens no payment session, so
a shopper who reads it and walks away keeps nothing from anyone. Only the payment link
(``POST .../checkout``, once the shopper says yes) holds the stock; with the same details it
returns the same open link, so asking twice is safe.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .cart import cart_or_none
from .common import (button, call_context, entity_value, items_text, money,
                     utter_unavailable, variant_name, web_buttons)
from .forms import AisleFormValidation
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
REGION_REQUIRED = {"US": "state", "CA": "province", "AU": "state", "MX": "state"}
COUNTRY_NAMES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.": "US",
    "u.s.a.": "US", "america": "US", "canada": "CA", "mexico": "MX", "united kingdom": "GB",
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "ireland": "IE", "france": "FR", "germany": "DE", "deutschland": "DE",
    "spain": "ES", "italy": "IT", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
    "belgium": "BE", "austria": "AT", "portugal": "PT", "sweden": "SE", "denmark": "DK",
    "finland": "FI", "poland": "PL", "switzerland": "CH", "norway": "NO", "luxembourg": "LU",
    "czechia": "CZ", "czech republic": "CZ", "greece": "GR", "hungary": "HU",
    "australia": "AU", "new zealand": "NZ", "japan": "JP", "singapore": "SG",
    "south korea": "KR", "korea": "KR", "brazil": "BR", "china": "CN", "india": "IN",
    "russia": "RU", "argentina": "AR", "south africa": "ZA", "nigeria": "NG", "egypt": "EG",
    "turkey": "TR", "israel": "IL", "united arab emirates": "AE", "uae": "AE",
}
FIELD_NAMES = {"name": "the recipient's name", "line1": "the street and number",
               "city": "the city", "region": "the state or province",
               "postal_code": "the postal code", "country": "the country"}
POSTAL = r"(?:\d{5}(?:-\d{4})?|\d{4}|\d{3} ?\d{2}|\d{2}-\d{3}|\d{4}-\d{3}|\d{3}-\d{4}|\d{6}" \
         r"|[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d|[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}" \
         r"|\d{4} ?[A-Za-z]{2})"
CITY_REGION_POSTAL = re.compile(rf"^(?:(?P<city>[^\d]+?)[\s,]+)?(?P<region>[A-Za-z]{{2,3}})\s+"
                                rf"(?P<postal_code>{POSTAL})$")
POSTAL_CITY = re.compile(rf"^(?P<postal_code>{POSTAL})\s+(?P<city>[^\d]+)$")
CITY_POSTAL = re.compile(rf"^(?P<city>[^\d]+?)\s+(?P<postal_code>{POSTAL})$")
POSTAL_ONLY = re.compile(rf"^(?P<postal_code>{POSTAL})$")
METHOD_WORDS = {"express": ("express", "fast", "quick", "next day", "overnight", "rush"),
                "pickup": ("pickup", "pick up", "pick-up", "collect", "pickup point"),
                "standard": ("standard", "normal", "regular", "cheap", "slow", "usual")}


# --- addresses ------------------------------------------------------------------------------

def country_code(text: str) -> str | None:
    cleaned = text.strip().strip(".").lower()
    if cleaned in COUNTRY_NAMES:
        return COUNTRY_NAMES[cleaned]
    if re.fullmatch(r"[a-z]{2}", cleaned):
        return cleaned.upper()
    return None


def _postal_part(part: str) -> dict[str, str] | None:
    """City, region and postal code out of one comma-separated part, in the usual orders."""
    for pattern in (CITY_REGION_POSTAL, POSTAL_CITY, CITY_POSTAL, POSTAL_ONLY):
        match = pattern.match(part)
        if match:
            return {k: v.strip() for k, v in match.groupdict().items() if v and v.strip()}
    return None


def parse_address(text: str, draft: dict[str, str] | None = None) -> dict[str, str]:
    """A one-line (or several-line) address as the API's fields; what this message leaves out
    is taken from ``draft`` (an earlier, incomplete answer)."""
    parts = [p.strip() for p in re.split(r"[,\n;]+", text) if p.strip()]
    found: dict[str, str] = {}
    if parts and country_code(parts[-1]) and (len(parts) > 1 or len(parts[-1]) > 2
                                              or parts[-1].isupper()):
        found["country"] = country_code(parts.pop())
    for index in range(len(parts) - 1, -1, -1):
        postal = _postal_part(parts[index])
        if postal:
            found.update(postal)
            parts.pop(index)
            break
    draft = dict(draft or {})
    rest = parts
    if rest and not any(ch.isdigit() for ch in rest[0]) and "name" not in draft \
            and (len(rest) > 1 or "line1" in draft):
        found["name"] = rest.pop(0)
    street = next((n for n, p in enumerate(rest) if any(ch.isdigit() for ch in p)), None)
    if street is not None:
        found["line1"] = rest[street]
        after = rest[street + 1:]
        if after and "city" not in found:
            found["city"] = after.pop()
        if after:
            found["line2"] = ", ".join(after)
    elif rest:
        _fill_missing(found, draft, rest)
    if "region" in found and len(found["region"]) <= 3:
        found["region"] = found["region"].upper()
    return {**draft, **found}


def _fill_missing(found: dict[str, str], draft: dict[str, str], rest: list[str]) -> None:
    """Words without a street number answer what the draft still lacks, in order."""
    for part in rest:
        for field in ("name", "city", "region"):
            if field not in draft and field not in found:
                if field == "region" and len(part) > 3:
                    continue
                found[field] = part
                break


def missing_fields(address: dict[str, str]) -> list[str]:
    needed = ["name", "line1", "city", "postal_code", "country"]
    if REGION_REQUIRED.get(address.get("country", "")):
        needed.insert(3, "region")
    return [field for field in needed if not address.get(field)]


def address_line(address: dict[str, str]) -> str:
    region_postal = " ".join(p for p in (address.get("region"), address.get("postal_code")) if p)
    return ", ".join(p for p in (address.get("name"), address.get("line1"), address.get("line2"),
                                 address.get("city"), region_postal, address.get("country"))
                     if p)


def spoken_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def shipping_method_from(text: str) -> str | None:
    lowered = text.lower()
    for method, phrases in METHOD_WORDS.items():
        if any(phrase in lowered for phrase in phrases):
            return method
    return None


# --- the form -------------------------------------------------------------------------------

class ValidateCheckoutForm(AisleFormValidation):
    def name(self) -> str:
        return "validate_checkout_form"

    async def validate_customer_email(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: dict) -> dict[str, Any]:
        match = EMAIL.search(str(value or ""))
        if not match:
            return self.reject(dispatcher, tracker, "customer_email",
                               "utter_checkout_invalid_email")
        return self.accept(tracker, "customer_email", match.group(0).lower())

    async def validate_shipping_address(self, value: Any, dispatcher: CollectingDispatcher,
                                        tracker: Tracker, domain: dict) -> dict[str, Any]:
        if isinstance(value, dict) and not missing_fields(value):
            return self.accept(tracker, "shipping_address", value)
        address = parse_address(str(value or ""), tracker.get_slot("address_draft"))
        try:
            served = await storefront().countries_served(call_context(tracker))
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return {"shipping_address": None}
        if address.get("country") and address["country"] not in served:
            result = self.reject(dispatcher, tracker, "shipping_address",
                                 "utter_country_not_served", country=address["country"],
                                 countries=", ".join(served))
            return {**result, "address_draft": {k: v for k, v in address.items()
                                                if k != "country"}}
        missing = missing_fields(address)
        if missing:
            result = self.reject(dispatcher, tracker, "shipping_address",
                                 "utter_address_incomplete",
                                 have=address_line(address) or "nothing yet",
                                 missing=spoken_list([FIELD_NAMES[m] for m in missing]))
            return {**result, "address_draft": address}
        return self.accept(tracker, "shipping_address", address, address_draft=None)

    async def validate_shipping_method(self, value: Any, dispatcher: CollectingDispatcher,
                                       tracker: Tracker, domain: dict) -> dict[str, Any]:
        method = shipping_method_from(str(value or ""))
        options = await shipping_options(tracker)
        if options is None:
            utter_unavailable(dispatcher)
            return {"shipping_method": None}
        offered = [o["method"] for o in options]
        if method not in offered:
            return self.reject(dispatcher, tracker, "shipping_method",
                               "utter_shipping_method_not_offered",
                               methods=spoken_list([o["name"] for o in options]))
        return self.accept(tracker, "shipping_method", method)


async def shipping_options(tracker: Tracker) -> list[dict[str, Any]] | None:
    """The methods and prices for the cart and the address's country; None if the API is
    down."""
    address = tracker.get_slot("shipping_address") or {}
    try:
        return await storefront().shipping_options(call_context(tracker),
                                                   tracker.get_slot("cart_id") or "-",
                                                   address.get("country", "US"))
    except StorefrontUnavailable:
        return None
    except StorefrontProblem:
        return []


class ActionAskShippingMethod(Action):
    def name(self) -> str:
        return "action_ask_shipping_method"

    async def run(self, dispatcher, tracker, domain):
        options = await shipping_options(tracker)
        if options is None:
            utter_unavailable(dispatcher)
            return []
        dispatcher.utter_message(
            response="utter_ask_shipping_method",
            options="\n".join(f"- {o['description']}" for o in options),
            buttons=web_buttons(tracker, [button(o["description"], "inform",
                                                 shipping_method=o["method"])
                                          for o in options]))
        return []


class ActionPrepareCheckout(Action):
    """Before the form: is there anything to check out?"""

    def name(self) -> str:
        return "action_prepare_checkout"

    async def run(self, dispatcher, tracker, domain):
        try:
            cart = await cart_or_none(call_context(tracker), tracker.get_slot("cart_id"))
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return [SlotSet("checkout_ready", False)]
        if not cart or not cart.get("lines"):
            dispatcher.utter_message(response="utter_checkout_cart_empty")
            return [SlotSet("checkout_ready", False)]
        dispatcher.utter_message(response="utter_checkout_start",
                                 items=items_text(cart["item_count"]),
                                 subtotal=money(cart["totals"]["subtotal"]))
        return [SlotSet("checkout_ready", True), SlotSet("awaiting_checkout_confirmation", False)]


# --- summary and payment link ---------------------------------------------------------------

def _checkout_details(tracker: Tracker) -> dict[str, Any]:
    return {"email": tracker.get_slot("customer_email"),
            "address": tracker.get_slot("shipping_address"),
            "shipping_method": tracker.get_slot("shipping_method")}


async def preview_checkout(tracker: Tracker) -> dict[str, Any]:
    """The summary to confirm; holds nothing."""
    return await storefront().checkout_preview(
        call_context(tracker), tracker.get_slot("cart_id") or "-", **_checkout_details(tracker))


async def start_checkout(tracker: Tracker) -> dict[str, Any]:
    """The payment link, holding the stock while the shopper pays."""
    return await storefront().checkout(
        call_context(tracker), tracker.get_slot("cart_id") or "-", **_checkout_details(tracker))


def summary_text(checkout: dict[str, Any]) -> dict[str, str]:
    totals = checkout["totals"]
    lines = "\n".join(f"- {l['quantity']} × {l['title']}{variant_name(l)}: "
                      f"{money(l['line_total'])}" for l in checkout["lines"])
    discount = (f"\nDiscount ({checkout['promo_code']}): −{money(totals['discount'])}"
                if totals["discount"]["amount"] else "")
    return {"lines": lines, "subtotal": money(totals["subtotal"]), "discount": discount,
            "shipping_name": checkout["shipping"]["name"] or "Shipping",
            "shipping": money(totals["shipping"]), "tax": money(totals["tax"]),
            "total": money(totals["total"]), "email": checkout["email"],
            "address": address_line(checkout["shipping_address"])}


def checkout_refused(dispatcher: CollectingDispatcher, problem: StorefrontProblem
                     ) -> list[dict[str, Any]]:
    """Say why the shop refused; an address it rejects is asked for again."""
    events: list[dict[str, Any]] = [SlotSet("awaiting_checkout_confirmation", False)]
    errors = problem.document.get("errors") or []
    if problem.status == 422 and any("shipping_address" in str(e.get("field", ""))
                                     for e in errors):
        reasons = "; ".join(str(e.get("message", "")) for e in errors)
        dispatcher.utter_message(response="utter_address_refused", reason=reasons)
        return [*events, SlotSet("shipping_address", None), FollowupAction("checkout_form")]
    dispatcher.utter_message(response="utter_checkout_refused", detail=problem.detail)
    return events


class ActionCheckoutSummary(Action):
    """The summary to confirm. A preview: nothing is held until the shopper says yes."""

    def name(self) -> str:
        return "action_checkout_summary"

    async def run(self, dispatcher, tracker, domain):
        try:
            summary = await preview_checkout(tracker)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return [SlotSet("awaiting_checkout_confirmation", False)]
        except StorefrontProblem as problem:
            return checkout_refused(dispatcher, problem)
        dispatcher.utter_message(
            response="utter_checkout_summary", **summary_text(summary),
            buttons=web_buttons(tracker, [button("Yes, send the payment link", "affirm"),
                                          button("Not now", "deny")]))
        return [SlotSet("awaiting_checkout_confirmation", True)]


class ActionSendPaymentLink(Action):
    def name(self) -> str:
        return "action_send_payment_link"

    async def run(self, dispatcher, tracker, domain):
        events = [SlotSet("awaiting_checkout_confirmation", False)]
        ready = all(tracker.get_slot(s) for s in ("cart_id", "customer_email",
                                                  "shipping_address", "shipping_method"))
        if not ready:
            dispatcher.utter_message(response="utter_payment_link_needs_checkout")
            return events
        try:
            checkout = await start_checkout(tracker)
        except StorefrontUnavailable:
            utter_unavailable(dispatcher)
            return events
        except StorefrontProblem as problem:
            return checkout_refused(dispatcher, problem)
        expires = str(checkout.get("expires_at") or "")[11:16]
        dispatcher.utter_message(
            response="utter_payment_link", url=checkout["payment_url"],
            total=money(checkout["totals"]["total"]),
            expires=f" It stays valid until {expires} UTC." if expires else "",
            buttons=web_buttons(tracker, [{"title": "Pay now", "url": checkout["payment_url"],
                                           "type": "web_url",
                                           "payload": checkout["payment_url"]}]))
        return [*events, SlotSet("checkout_token", checkout["token"])]


class ActionDeclineCheckout(Action):
    def name(self) -> str:
        return "action_decline_checkout"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_checkout_declined")
        return [SlotSet("awaiting_checkout_confirmation", False)]


# --- what the shop tells the conversation ----------------------------------------------------

class ActionPaymentReceived(Action):
    """EXTERNAL_payment_received: the order exists; this cart is done."""

    def name(self) -> str:
        return "action_payment_received"

    async def run(self, dispatcher, tracker, domain):
        number = entity_value(tracker, "order_number")
        total = entity_value(tracker, "order_total")
        email = tracker.get_slot("customer_email")
        dispatcher.utter_message(
            response="utter_payment_received", order_number=number or "",
            total=f" ({total})" if total else "",
            email=f" A confirmation is on its way to {email}." if email else "")
        return [SlotSet("order_number", number), SlotSet("cart_id", None),
                SlotSet("checkout_token", None), SlotSet("awaiting_checkout_confirmation", False),
                SlotSet("promo_code", None)]


class ActionPaymentFailed(Action):
    """EXTERNAL_payment_failed: say what happened and how to go on."""

    def name(self) -> str:
        return "action_payment_failed"

    async def run(self, dispatcher, tracker, domain):
        reason = str(entity_value(tracker, "reason") or "")
        if reason == "sold_out":
            dispatcher.utter_message(response="utter_payment_refunded_sold_out")
            return [SlotSet("checkout_token", None)]
        if reason:  # paid, but no order can come of it: the shop refunds in full
            dispatcher.utter_message(response="utter_payment_refunded")
            return [SlotSet("checkout_token", None)]
        dispatcher.utter_message(
            response="utter_payment_failed",
            buttons=web_buttons(tracker, [button("Send a new link", "request_payment_link")]))
        return [SlotSet("checkout_token", None)]
