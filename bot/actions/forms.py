"""The shared base of every form validation: counts failures, offers a way out.

A shopper who fails the same question twice is usually stuck (a format the bot does not
understand, or information they do not have), so after the second failure the bot offers
help: talk to a person, or stop the form. Saying "stop" at any point leaves the form through
the rules (the form's text mappings ignore the ``stop`` intent so that the rule can run).

An answer of the wrong kind counts too: when the message fills another of the form's slots
(an e-mail address given when the order number was asked, "express" when the address was)
but not the one asked, the question comes again, so it is a failure of the asked slot. (A
message that fills nothing is left alone: the form steps aside and the rules answer it, an
FAQ in the middle of checkout for example.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.events import SlotSet
from rasa_sdk.forms import FormValidationAction

FAILURES_SLOT = "form_failures"
FAILURES_BEFORE_HELP = 2


class AisleFormValidation(FormValidationAction, ABC):
    """Subclasses validate with ``self.accept(...)`` and ``self.reject(...)``."""

    # Abstract, so that rasa_sdk's executor does not try to register the base class itself.
    @abstractmethod
    def name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        events = await super().run(dispatcher, tracker, domain)
        return events + self.unanswered(dispatcher, tracker, events)

    def unanswered(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                   events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The asked slot was not answered although another one was: count a failure."""
        asked = tracker.get_slot("requested_slot")
        if not asked or not tracker.slots_to_validate():
            return []
        touched = {e.get("name") for e in events if e.get("event") == "slot"}
        if asked in tracker.slots_to_validate() or asked in touched:
            return []
        failures = self.failures(tracker)
        for event in events:  # a validation above may have counted already
            if event.get("name") == FAILURES_SLOT and isinstance(event.get("value"), dict):
                failures = dict(event["value"])
        failures[asked] = failures.get(asked, 0) + 1
        if failures[asked] >= FAILURES_BEFORE_HELP:
            dispatcher.utter_message(response="utter_form_help")
            failures[asked] = 0
        return [SlotSet(FAILURES_SLOT, failures)]

    @staticmethod
    def failures(tracker: Tracker) -> dict[str, int]:
        value = tracker.get_slot(FAILURES_SLOT)
        return dict(value) if isinstance(value, dict) else {}

    def accept(self, tracker: Tracker, slot: str, value: Any,
               **other_slots: Any) -> dict[str, Any]:
        """The slot is valid: keep it and forget its earlier failures."""
        failures = self.failures(tracker)
        failures.pop(slot, None)
        return {slot: value, FAILURES_SLOT: failures, **other_slots}

    def reject(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str,
               response: str, **response_args: Any) -> dict[str, Any]:
        """The slot is not valid: say why (``response``), count it, and after repeated
        failures offer help. The form asks the same question again."""
        failures = self.failures(tracker)
        failures[slot] = failures.get(slot, 0) + 1
        dispatcher.utter_message(response=response, **response_args)
        if failures[slot] >= FAILURES_BEFORE_HELP:
            dispatcher.utter_message(response="utter_form_help")
            failures[slot] = 0
        return {slot: None, FAILURES_SLOT: failures}
