"""Support: handing the conversation to a person, the bot's return after it, and the
fallback that offers a person after repeated misunderstanding.

A person is asked for only when one can come: the shop says whether the team is open
(SUPPORT_HOURS) and an agent has the inbox open. If not, the bot says when the team is back,
stays on, and the contact form takes an e-mail instead, which opens a ticket with what the
shopper said. When an agent resolves the conversation, ``action_ask_csat`` (run by the inbox
through /execute, after the resume) asks for a 1-5 rating; ``action_record_csat`` sends the
answer to the shop.

The handoff is recorded in storefront_api's queue with what the agent needs to pick up
without asking again (the transcript, the cart, the orders the shopper proved are theirs);
then the bot pauses. An order goes to the agent only if the shop matches its number with
the e-mail the conversation gave for it: an order number or an e-mail typed in the chat
proves nothing, and the e-mail is sent marked as unverified unless one of those orders is
its own. While paused, Rasa predicts nothing: the inbox sends an agent's reply as a bot
message of the agent's straight through Rasa's API (storefront_api/support/conversations.py),
and ends with ``action_handoff_ended`` (or ``action_ask_csat``) after it resumed the
conversation.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.ratings import stars_in

from .common import call_context, entity_values, latest_intent, web_channel, web_payload
from .forms import AisleFormValidation
from .orders import find_email, find_order_number
from .storefront import StorefrontProblem, StorefrontUnavailable, storefront

log = logging.getLogger(__name__)

# The inbox runs the hand-back and the rating question through Rasa's /execute,
# which predicts nothing after them. Ending with a listen, as every bot turn does, makes
# the shopper's next message look like any other to the rules (which start from a listen):
# the rating buttons' /rate_support is then answered by its rule.
LISTEN = ActionExecuted("action_listen")
RATING_BUTTONS = [{"title": str(stars), "payload": f'/rate_support{{"csat": {stars}}}'}
                  for stars in range(1, 6)]

MAX_ORDER_CHECKS = 5  # the latest pairs; each costs one of the conversation's order lookups
TRANSCRIPT_TURNS = 200  # the API keeps at most this many, the most recent matter most
TURN_TEXT_LIMIT = 4000
CART_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CHANNEL = re.compile(r"^[a-z0-9_.-]{1,40}$")


def transcript(tracker: Tracker) -> list[dict[str, Any]]:
    """What was said, oldest first: the shopper's messages and the bot's replies."""
    turns = []
    for event in tracker.events:
        sender = {"user": "user", "bot": "bot"}.get(event.get("event"))
        text = (event.get("text") or "").strip()
        if sender and text and not text.startswith("/"):  # "/intent" payloads are buttons
            turns.append({"sender": sender, "text": text[:TURN_TEXT_LIMIT],
                          "ts": event.get("timestamp")})
    return turns[-TRANSCRIPT_TURNS:]


def order_claims(tracker: Tracker) -> list[tuple[str, str]]:
    """(order number, e-mail) as the conversation held them together, oldest first: what the
    order form checked, what a checkout and its payment notice left in the slots."""
    number = email = None
    claims: list[tuple[str, str]] = []
    slot_events = [(e.get("name"), e.get("value")) for e in tracker.events
                   if e.get("event") == "slot"]
    current = [("order_number", tracker.get_slot("order_number")),
               ("customer_email", tracker.get_slot("customer_email"))]
    for name, value in [*slot_events, *current]:
        if name == "order_number":
            number = find_order_number(value)
        elif name == "customer_email":
            email = find_email(value)
        else:
            continue
        if number and email:
            if (number, email) in claims:
                claims.remove((number, email))
            claims.append((number, email))
    return claims[-MAX_ORDER_CHECKS:]


async def verified_orders(tracker: Tracker) -> tuple[list[str], set[str]]:
    """The order numbers the shop matches with their e-mail now, and those e-mails. A claim
    the shop refuses, or cannot check at the moment, is left out."""
    ctx = call_context(tracker)

    async def matches(number: str, email: str) -> bool:
        try:
            await storefront().order(number, email, ctx)
        except (StorefrontUnavailable, StorefrontProblem):
            return False
        return True

    claims = order_claims(tracker)
    checked = await asyncio.gather(*(matches(number, email) for number, email in claims))
    proven = [claim for claim, ok in zip(claims, checked) if ok]
    numbers: list[str] = []
    for number, _email in proven:
        if number not in numbers:
            numbers.append(number)
    return numbers, {email for _number, email in proven}


def handoff_reason(tracker: Tracker) -> str:
    """Why the shopper needs a person: they asked, or the bot failed to understand them."""
    if latest_intent(tracker) == "affirm" and tracker.get_slot("human_offered"):
        return "repeated_fallback"
    if tracker.active_loop_name:
        return f"asked_for_human_during_{tracker.active_loop_name}"[:200]
    return "asked_for_human"


async def handoff_request(tracker: Tracker) -> dict[str, Any]:
    channel = tracker.get_latest_input_channel() or "rest"
    cart = tracker.get_slot("cart_id")
    numbers, proven_emails = await verified_orders(tracker)
    email = find_email(tracker.get_slot("customer_email"))
    return {
        "conversation_id": tracker.sender_id,
        "channel": channel if CHANNEL.match(channel) else "other",
        "reason": handoff_reason(tracker),
        "transcript": transcript(tracker),
        "cart_token": cart if isinstance(cart, str) and CART_TOKEN.match(cart) else None,
        "email": email,
        "email_verified": email in proven_emails,
        "order_numbers": numbers,
    }


class ActionHandoff(Action):
    """Queue the conversation for a person, tell the shopper, pause the bot."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        # A form in progress ends here: the person takes over from this point. (Always
        # returned, so the rules see the same events with and without a form.)
        leave_form = [ActiveLoop(None), SlotSet("requested_slot", None)]
        try:
            availability = await storefront().support_availability(call_context(tracker))
            if not availability.get("available"):
                say_when_back(dispatcher, availability)
                return [*leave_form, SlotSet("human_offered", False),
                        SlotSet("support_offline", True)]
            handoff = await storefront().request_handoff(await handoff_request(tracker),
                                                         call_context(tracker))
        except (StorefrontUnavailable, StorefrontProblem):
            # Pausing without a queue entry would leave the shopper talking to nobody.
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return [*leave_form, SlotSet("human_offered", False)]
        position = handoff.get("position")
        dispatcher.utter_message(
            response="utter_handoff_queued_next" if not position or position <= 1
            else "utter_handoff_queued", reference=handoff.get("reference"), position=position)
        if web_channel(tracker):  # the web chat shows a "connecting you" banner
            dispatcher.utter_message(json_message=web_payload(handoff="waiting"))
        return [*leave_form, SlotSet("human_offered", False),
                SlotSet("handoff_id", str(handoff.get("id"))), ConversationPaused()]


def say_when_back(dispatcher: CollectingDispatcher, availability: dict[str, Any]) -> None:
    """Nobody can come: when the team is back (outside the opening hours), else only that
    nobody is online; the contact form then asks for an e-mail."""
    back = availability.get("back_text")
    if back:
        dispatcher.utter_message(response="utter_support_closed", back=back)
    else:
        dispatcher.utter_message(response="utter_support_offline")


class ValidateContactForm(AisleFormValidation):
    def name(self) -> str:
        return "validate_contact_form"

    async def validate_contact_email(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: dict) -> dict[str, Any]:
        email = find_email(value)
        if email is None:
            return self.reject(dispatcher, tracker, "contact_email",
                               "utter_contact_email_invalid")
        return self.accept(tracker, "contact_email", email)


def contact_request(tracker: Tracker) -> str:
    """The ticket's text: that the shopper asked for a person while nobody was online, and
    what they wrote last (the agent answers by e-mail without the chat in front of them)."""
    said = [turn["text"] for turn in transcript(tracker) if turn["sender"] == "user"]
    latest = "\n".join(f"- {text[:500]}" for text in said[-5:])
    return ("Asked for a person in the chat while nobody from the team was online."
            + (f" Their latest messages:\n{latest}" if latest else ""))[:5000]


class ActionLeaveContact(Action):
    """The contact form is done: a ticket for the team, answered by e-mail."""

    def name(self) -> str:
        return "action_leave_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        email = tracker.get_slot("contact_email")
        done = [SlotSet("support_offline", False), SlotSet("contact_email", None)]
        try:
            ticket = await storefront().open_ticket(email, contact_request(tracker),
                                                    call_context(tracker), kind="question")
        except (StorefrontUnavailable, StorefrontProblem):
            dispatcher.utter_message(response="utter_contact_failed")
            return done
        dispatcher.utter_message(response="utter_contact_left", reference=ticket["reference"],
                                 email=ticket["email"])
        return done


class ActionContactDeclined(Action):
    """No e-mail after all: carry on without a person."""

    def name(self) -> str:
        return "action_contact_declined"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_contact_form_stopped")
        return [SlotSet("support_offline", False), SlotSet("contact_email", None)]


class ActionHandoffEnded(Action):
    """Run by the inbox after it resumed the conversation: the bot is back."""

    def name(self) -> str:
        return "action_handoff_ended"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_handoff_ended")
        if web_channel(tracker):
            dispatcher.utter_message(json_message=web_payload(handoff="ended"))
        return [SlotSet("handoff_id", None), LISTEN]


class ActionAskCsat(Action):
    """Run by the inbox after it resumed a resolved conversation: the bot is back and asks
    for a rating (buttons on the web chat, a typed number of stars elsewhere)."""

    def name(self) -> str:
        return "action_ask_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_ask_csat",
                                 buttons=RATING_BUTTONS if web_channel(tracker) else [])
        if web_channel(tracker):
            dispatcher.utter_message(json_message=web_payload(handoff="ended"))
        return [SlotSet("handoff_id", None), LISTEN]


def rating_of(tracker: Tracker) -> int | None:
    """The 1-5 the shopper chose (the button's entity, the number they typed, or a row of
    stars: "⭐⭐⭐⭐")."""
    for value in entity_values(tracker, "csat"):
        try:
            rating = int(float(str(value).strip()))
        except (ValueError, OverflowError):  # "five", "nan", "inf"
            continue
        if 1 <= rating <= 5:
            return rating
    stars = stars_in((tracker.latest_message or {}).get("text") or "")
    return stars if 1 <= stars <= 5 else None


class ActionRecordCsat(Action):
    def name(self) -> str:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        rating = rating_of(tracker)
        if rating is None:
            dispatcher.utter_message(response="utter_ask_csat")
            return []
        try:
            await storefront().rate_handoff(tracker.sender_id, rating, call_context(tracker))
        except StorefrontProblem as problem:
            if problem.status == 409:
                dispatcher.utter_message(response="utter_csat_already")
                return []
            # 404: nobody asked (a stray "5 stars"); thanks all the same
        except StorefrontUnavailable as error:  # thanked all the same; the rating is lost
            log.warning("a rating of %d could not reach the shop: %s", rating, error)
        dispatcher.utter_message(response="utter_csat_thanks")
        return []


# --- fallback ---------------------------------------------------------------------------------

def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the shopper's latest messages in a row the bot did not understand."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != "nlu_fallback":
            break
        count += 1
    return count


class ActionFallback(Action):
    """First miss: ask to rephrase, with options. Second in a row: offer a person."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        if consecutive_fallbacks(tracker) >= 2:
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("human_offered", True)]
        dispatcher.utter_message(response="utter_ask_rephrase")
        return [SlotSet("human_offered", False)]


class ActionHandoffDeclined(Action):
    """The shopper said no to a person: carry on, and forget the offer."""

    def name(self) -> str:
        return "action_handoff_declined"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_handoff_declined")
        return [SlotSet("human_offered", False)]
