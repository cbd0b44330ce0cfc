"""The start of a conversation session: keep what must survive a pause, record the chat.

A chat is recorded (``chat_started``) when a shopper's message on one of Aisle's channels
starts the session: their metadata names the channel (``aisle_channel``; Rasa runs the
session start before it logs the message, so the tracker has no input channel yet) and, on
the web chat, the browser (``aisle_client``). A session a shop notice starts (Rasa's
trigger_intent on a conversation silent for an hour: "your order has shipped") or a call on
Rasa's local REST channel without that metadata is no chat a shopper began: not recorded.

Rasa starts a new session after an hour of silence (and on restart). Search results and
half-answered forms are stale by then, but the shopper's cart, e-mail and the order they
were asking about are not, so exactly those three carry over. So does a handoff still
open (``handoff_id``, cleared when the agent hands back or resolves): a new session would
un-pause the bot (Rasa resets the pause with the session), and it would answer a shopper
who is waiting for a person, so the conversation is paused again.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import call_context
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront

log = logging.getLogger(__name__)

CARRIED_SLOTS = ("cart_id", "customer_email", "order_number", "handoff_id")


def carried_slots(tracker: Tracker) -> list[dict[str, Any]]:
    return [SlotSet(name, tracker.get_slot(name)) for name in CARRIED_SLOTS
            if tracker.get_slot(name) is not None]


def start_metadata(tracker: Tracker) -> list[dict[str, Any]]:
    """What the channel sent with the first message (Rasa puts it in this slot for us)."""
    metadata = tracker.get_slot("session_started_metadata")
    return [SlotSet("session_started_metadata", metadata)] if metadata else []


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        carried = carried_slots(tracker)
        metadata = tracker.get_slot("session_started_metadata")
        channel = metadata.get("aisle_channel") if isinstance(metadata, dict) else None
        if isinstance(channel, str) and channel:
            await record_chat_started(tracker, returning=bool(carried))
        held = [ConversationPaused()] if tracker.get_slot("handoff_id") else []
        return [SessionStarted(), *start_metadata(tracker), *carried, *held,
                ActionExecuted("action_listen")]


async def record_chat_started(tracker: Tracker, *, returning: bool) -> None:
    """The chat_started analytics event. Analytics must never cost the shopper the
    conversation, so a failure is logged and the session starts anyway."""
    try:
        await storefront().record_event("chat_started", call_context(tracker),
                                        properties={"returning": returning})
    except (StorefrontUnavailable, StorefrontProblem) as error:
        log.warning("chat_started not recorded for a conversation: %s", error)
