"""The settings that choose between Aisle's way and Rasa's (bot/choices.py): unset or blank
is Aisle's, case and spaces do not matter, anything else stops with what to set."""

from __future__ import annotations

import pytest

from bot.choices import chosen


@pytest.mark.parametrize("value, expected", [
    (None, "kept"), ("", "kept"), ("  ", "kept"), ("kept", "kept"), (" RASA ", "rasa"),
    ("Rasa", "rasa")])
def test_a_setting_reads_aisles_way_unless_rasas_is_named(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("AISLE_EXAMPLE_SETTING", raising=False)
    else:
        monkeypatch.setenv("AISLE_EXAMPLE_SETTING", value)
    assert chosen("AISLE_EXAMPLE_SETTING", "kept", "rasa") == expected


@pytest.mark.parametrize("value", ["fast", "kept,rasa", "'; DROP TABLE events; --", "0"])
def test_any_other_value_stops_the_process_with_the_two_it_takes(monkeypatch, value):
    monkeypatch.setenv("AISLE_EXAMPLE_SETTING", value)
    with pytest.raises(SystemExit) as stopped:
        chosen("AISLE_EXAMPLE_SETTING", "kept", "rasa")
    message = str(stopped.value)
    assert message.startswith("AISLE_EXAMPLE_SETTING=") and repr(value.strip().lower()) in message
    assert "use 'kept' (the default) or 'rasa'" in message


def test_a_replacement_installed_twice_still_wraps_rasas_own():
    from bot.choices import rasas_own, replace

    class Owner:
        @staticmethod
        def greet(name):
            return f"hello {name}"

    rasa = Owner.greet
    for _ in range(2):  # a second install must not wrap the first replacement
        original = rasas_own(Owner, "greet")
        replace(Owner, "greet", lambda name, original=original: original(name).upper(),
                original)
    assert rasas_own(Owner, "greet") is rasa
    assert Owner.greet("ana") == "HELLO ANA"
