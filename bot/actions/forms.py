"""The shared base of every form validation: counts failures, offers a way out.

A shopper who fails the same question twice is usually stuck (a format the bot does not
understand, or information they do not have), so after the second failure the bot offers
help: talk to a person, or stop the form. Saying "stop" at any point leaves the form through
the rules (the form's text mappings ignore the ``stop`` intent so that the rule can run).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

FAILURES_SLOT = "form_failures"
FAILURES_BEFORE_HELP = 2


class AisleFormValidation(FormValidationAction, ABC):
    """Subclasses validate with ``self.accept(...)`` and ``self.reject(...)``."""

    # Abstract, so that rasa_sdk's executor does not try to register the base class itself.
    @abstractmethod
    def name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

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
