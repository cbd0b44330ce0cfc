"""A form question answered with the wrong kind of value: the message fills another of the
form's slots but not the one asked. Twice in a row, the shopper is offered the way out (a
person, or stop), as after two answers the form could not read."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from bot.actions.orders import ValidateOrderForm


def email_when_number_asked(tracker_for, failures=None):
    return tracker_for(
        slots={"requested_slot": "order_number", "form_failures": failures or {}},
        latest_message={"intent": "inform", "text": "jane@example.com",
                        "entities": {"email": "jane@example.com"}},
        active_loop="order_form", extracted={"customer_email": "jane@example.com"})


async def test_twice_the_wrong_kind_of_answer_offers_the_way_out(tracker_for, domain,
                                                                slots_set, uttered):
    first = CollectingDispatcher()
    events = await ValidateOrderForm().run(first, email_when_number_asked(tracker_for), domain)
    slots = slots_set(events)
    assert slots["customer_email"] == "jane@example.com"  # the e-mail is kept
    assert slots["form_failures"] == {"order_number": 1}
    assert uttered(first) == []

    second = CollectingDispatcher()
    events = await ValidateOrderForm().run(
        second, email_when_number_asked(tracker_for, slots["form_failures"]), domain)
    assert uttered(second) == ["utter_form_help"]
    assert slots_set(events)["form_failures"] == {"order_number": 0}


async def test_the_asked_slot_answered_counts_nothing(tracker_for, dispatcher, domain,
                                                      slots_set, uttered, shop):
    tracker = tracker_for(
        slots={"requested_slot": "order_number", "form_failures": {"order_number": 1}},
        latest_message={"intent": "inform", "text": "it's KX-48213",
                        "entities": {"order_number": "KX-48213"}},
        active_loop="order_form", extracted={"order_number": "KX-48213"})
    events = await ValidateOrderForm().run(dispatcher, tracker, domain)
    assert slots_set(events)["order_number"] == "KX-48213"
    assert "utter_form_help" not in uttered(dispatcher)
    assert slots_set(events)["form_failures"] == {}


async def test_a_message_that_fills_nothing_is_left_to_the_rules(tracker_for, dispatcher,
                                                                 domain):
    tracker = tracker_for(slots={"requested_slot": "order_number"},
                          latest_message={"intent": "faq", "text": "do you ship to canada"},
                          active_loop="order_form")
    assert await ValidateOrderForm().run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []
