"""How to reach a person: the support team's hours (SUPPORT_HOURS, as storefront_api's
availability answer states them), whether someone can take the conversation now, and the
offer to put the shopper through. A "yes" then goes to the same handoff as the fallback's
offer (``human_offered``), which takes an e-mail instead when nobody is there.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import call_context, web_channel
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront


def hours_text(configured: str | None) -> str:
    """"Mon-Fri 09:00-18:00 Europe/Paris" → "Mon-Fri 09:00-18:00 (Europe/Paris time)"."""
    text = " ".join(str(configured or "").split())
    if not text or text.lower() in ("always", "24/7"):
        return "Our support team answers whenever someone is online, any day of the week."
    head, _, zone = text.rpartition(" ")
    if "/" in zone or zone.isupper():
        return f"Our support team works {head} ({zone} time)."
    return f"Our support team works {text}."


def availability_text(availability: dict[str, Any]) -> str:
    if availability.get("available"):
        return "Someone from the team is available right now."
    if availability.get("back_text"):
        return f"They're away at the moment and back {availability['back_text']}."
    return "Nobody from the team is online at the moment."


class ActionAnswerContact(Action):
    def name(self) -> str:
        return "action_answer_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        try:
            availability = await storefront().support_availability(call_context(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            availability = None
        parts = ["You can reach us right here in the chat: there's no phone line, and the "
                 "team writes back by e-mail when you leave a message."]
        if availability is not None:
            parts += [hours_text(availability.get("support_hours")),
                      availability_text(availability)]
        now = bool(availability and availability.get("available"))
        question = ("Shall I put you through to a person now?" if now else
                    "Shall I pass your question to them, so they answer you by e-mail?")
        if web_channel(tracker):
            dispatcher.utter_message(text=" ".join(parts) + " " + question, buttons=[
                {"title": "Yes please", "payload": "/affirm"},
                {"title": "No, thanks", "payload": "/deny"}])
        else:
            dispatcher.utter_message(text=" ".join(parts) + f" {question} (yes / no)")
        return [SlotSet("human_offered", True)]
