"""Small helpers every skill's actions share: who is calling, which channel, money, errors,
and the rendering of buttons and variant names.

Kept free of any skill's logic so the shopping and service actions can both import it.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency, get_currency_precision
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from .storefront import CallContext

# Channels that render buttons and custom payloads (cards): the web chat, and the messaging
# channels whose Aisle connectors draw them natively (bot/channels/rendering.py: Telegram
# inline keyboards, WhatsApp interactive messages, Messenger templates, Slack blocks).
# Twilio (SMS) reads text alone: its choices are the numbered lines of the text.
WEB_CHANNELS = frozenset({"socketio"})
RICH_CHANNELS = WEB_CHANNELS | frozenset({"telegram", "whatsapp", "facebook", "slack"})


def call_context(tracker: Tracker) -> CallContext:
    """The headers of one API call: the conversation id, the channel the shopper uses and,
    on the web chat, the browser the socket's token was issued to (``aisle_client`` in the
    message's metadata, set by bot/channels/socketio.py from the signed token). At a session's
    start Rasa has not logged the message yet: both come from the message's metadata, which
    Rasa hands the session start as ``session_started_metadata`` (Aisle's channels name
    themselves there as ``aisle_channel``)."""
    metadata = ((tracker.latest_message or {}).get("metadata")
                or tracker.get_slot("session_started_metadata") or {})
    if not isinstance(metadata, dict):
        metadata = {}
    client, named = metadata.get("aisle_client"), metadata.get("aisle_channel")
    return CallContext(conversation_id=tracker.sender_id,
                       channel=(named if isinstance(named, str) and named
                                else tracker.get_latest_input_channel()),
                       client=client if isinstance(client, str) else None,
                       point=conversation_point(tracker))


def conversation_point(tracker: Tracker) -> str:
    """Where the conversation stands as this action runs: the start of its session and how
    many events the session has. An action run again at the same point (after a crash, by
    another Rasa replica) gets the same answer, however the tracker was loaded: Rasa reads a
    conversation back from its latest session start."""
    events = tracker.events or []
    start = next((index for index in range(len(events) - 1, -1, -1)
                  if events[index].get("event") == "session_started"), None)
    if start is None:
        return f"all:{len(events)}"
    return f"{events[start].get('timestamp')}:{len(events) - start}"


def web_channel(tracker: Tracker) -> bool:
    """True where cards and buttons render: the web chat (socket.io) and the messaging
    channels with Aisle's renderers (``RICH_CHANNELS``)."""
    return tracker.get_latest_input_channel() in RICH_CHANNELS


def utter_unavailable(dispatcher: CollectingDispatcher) -> None:
    """The honest answer when storefront_api cannot be reached."""
    dispatcher.utter_message(response="utter_shop_unavailable")


def money(doc: dict[str, Any] | None) -> str:
    """The display form of an API money document ({amount, currency, formatted}).

    The API formats every amount (storefront_api/money.py); a document without its text is
    read the same way: the currency's CLDR minor units and English notation, through Babel
    (bot/tests/actions/test_money.py checks both agree for every currency Stripe takes)."""
    if not doc:
        return ""
    if doc.get("formatted"):
        return str(doc["formatted"])
    currency = str(doc.get("currency") or "USD").upper()
    units = Decimal(int(doc.get("amount", 0))).scaleb(-get_currency_precision(currency))
    text = format_currency(units, currency, locale="en_US")
    return re.sub(r"(?<=[^\W\d_])(?=\d)", "\u00a0", text, count=1)


def latest_intent(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("intent", {}).get("name") or ""


def entity_values(tracker: Tracker, name: str) -> list[Any]:
    """Every value of entity ``name`` in the latest message, in order, without repeats."""
    values: list[Any] = []
    for entity in (tracker.latest_message or {}).get("entities", []) or []:
        if entity.get("entity") == name and entity.get("value") not in values:
            values.append(entity.get("value"))
    return values


def entity_value(tracker: Tracker, name: str) -> Any:
    values = entity_values(tracker, name)
    return values[0] if values else None


def as_int(value: Any) -> int | None:
    """An entity or slot value as an int ("2", 2.0, "two" → 2), or None if it is not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().lower()
    if text in NUMBER_WORDS:
        return NUMBER_WORDS[text]
    try:
        return int(float(text.replace(",", "")))
    except ValueError:
        return None


NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "a": 1, "an": 1, "a couple": 2, "couple": 2,
                "a pair": 2, "pair": 2, "single": 1, "dozen": 12, "a dozen": 12}


ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
                 "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1,
                 "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5}


def as_ordinal(value: Any) -> int | None:
    """A position in a list ("second" → 2, "last" → -1), or None."""
    if isinstance(value, str) and value.strip().lower() in ORDINAL_WORDS:
        return ORDINAL_WORDS[value.strip().lower()]
    number = as_int(value)
    return number if number else None


# Rasa 3.6's socketio output passes a custom payload's keys straight to `sio.emit(...)` as
# arguments, so `json_message={"cards": [...]}` raises a TypeError inside Rasa and the
# shopper sees nothing. Payloads go under "data": they arrive as {"custom": {"data": ...}}
# on REST and as the bot_uttered body on the socket, where storefront_api/web/chat.js reads
# them.
def web_payload(**data) -> dict:
    """A custom payload the socketio channel can emit and the web chat renders."""
    return {"data": data}


# --- rendering: buttons and variant names, the same on every skill's answers ---------------

def payload(intent: str, **entities: Any) -> str:
    return f"/{intent}{json.dumps(entities)}" if entities else f"/{intent}"


def button(title: str, intent: str, **entities: Any) -> dict[str, str]:
    return {"title": title, "payload": payload(intent, **entities)}


def web_buttons(tracker: Tracker, buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Buttons where they render (``web_channel``); SMS reads the text alone."""
    return buttons if web_channel(tracker) else []


def items_text(count: Any) -> str:
    """"1 item", "3 items"."""
    count = as_int(count) or 0
    return f"{count} item" if count == 1 else f"{count} items"


def variant_name(variant: dict[str, Any] | None) -> str:
    """" (Pink / 41)" for a variant, or for a cart or checkout line (whose own "title" is
    the product's)."""
    variant = variant or {}
    title = (variant["variant_title"] if "variant_title" in variant
             else variant.get("title")) or ""
    return f" ({title})" if title and title.lower() != "default" else ""
