"""Amounts in the chat read as the API writes them, in every currency Stripe takes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.actions.common import money

ROOT = Path(__file__).resolve().parents[3]
# tests/ (not tests/fakes: its twilio.py would shadow the twilio package Rasa imports)
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.fake_stripe import CURRENCIES  # noqa: E402  (Stripe's list, from its documentation)

from storefront_api.money import format_money  # noqa: E402  (imports only Babel)


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
@pytest.mark.parametrize("amount", [0, 7, 123456, -1050])
def test_the_chat_shows_the_apis_text_and_formats_alike_without_it(currency, amount):
    api = format_money(amount, currency)
    assert money({"amount": amount, "currency": currency, "formatted": api}) == api
    assert money({"amount": amount, "currency": currency.lower()}) == api


def test_no_document_no_text():
    assert money(None) == "" and money({}) == ""
