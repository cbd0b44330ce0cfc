"""The arithmetic without a database: money formatting, rounding, discounts, totals."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storefront_api.money import format_money, money
from storefront_api.pricing.models import PromoCode
from storefront_api.pricing.service import (check_promo, compute_totals, discount_for,
                                            tax_amount)


@pytest.mark.parametrize("amount, currency, text", [
    (4999, "USD", "$49.99"), (0, "USD", "$0.00"), (5, "USD", "$0.05"),
    (123456789, "USD", "$1,234,567.89"), (-1050, "USD", "-$10.50"),
    (4999, "EUR", "€49.99"), (50, "GBP", "£0.50"), (3600, "JPY", "¥3,600"),
    # a symbol that is letters keeps a (no-break) space from the digits, as CLDR says
    (4999, "CHF", "CHF\u00a049.99"), (1234, "kwd", "KWD\u00a01.234"),
    (4999, "sek", "SEK\u00a049.99"), (990, "ISK", "ISK\u00a0990"),
    (12000, "HUF", "HUF\u00a012,000"), (1500, "XOF", "F\u202fCFA\u00a01,500"),
])
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


def test_money_object():
    assert money(4999, "usd") == {"amount": 4999, "currency": "USD", "formatted": "$49.99"}


@pytest.mark.parametrize("taxable, bp, tax", [
    (10000, 1900, 1900), (1, 5000, 1), (1, 4999, 0), (3, 5000, 2), (999, 2000, 200),
    (0, 2000, 0), (12345, 0, 0), (2, 2500, 1),
])
def test_tax_rounds_half_up(taxable, bp, tax):
    assert tax_amount(taxable, bp) == tax


def _promo(kind: str, value: int = 0, **fields) -> PromoCode:
    defaults = dict(code="X", active=True, currency="USD", min_subtotal=0, times_used=0,
                    usage_limit=None, starts_at=None, expires_at=None)
    return PromoCode(kind=kind, value=value, **{**defaults, **fields})


def test_discounts():
    assert discount_for(check_promo(_promo("percentage", 15), 999, "USD"), 999) == 150
    assert discount_for(check_promo(_promo("fixed_amount", 5000), 3000, "USD"), 3000) == 3000
    assert discount_for(check_promo(_promo("free_shipping"), 3000, "USD"), 3000) == 0
    assert discount_for(None, 3000) == 0


def test_promo_reasons_in_order():
    now = datetime(2030, 6, 1)
    assert check_promo(_promo("percentage", 5, active=False), 0, "USD", now).problem == "not-active"
    assert check_promo(_promo("percentage", 5, starts_at=now + timedelta(hours=1)), 0, "USD",
                       now).problem == "not-yet-valid"
    assert check_promo(_promo("percentage", 5, expires_at=now), 0, "USD", now).problem == "expired"
    assert check_promo(_promo("percentage", 5, usage_limit=3, times_used=3), 0, "USD",
                       now).problem == "used-up"
    status = check_promo(_promo("percentage", 5, min_subtotal=10000), 2501, "USD", now)
    assert status.problem == "minimum-not-met" and status.missing == 7499
    assert "add $74.99 more" in status.reason
    assert check_promo(_promo("fixed_amount", 500, currency="EUR"), 900, "USD",
                       now).problem == "wrong-currency"
    assert check_promo(_promo("percentage", 5, min_subtotal=100), 100, "USD", now).valid


def test_compute_totals():
    totals = compute_totals("USD", subtotal=10000, discount=1000, shipping=599, tax_rate_bp=1900)
    assert (totals.tax, totals.total) == (1824, 10000 - 1000 + 599 + 1824)
    capped = compute_totals("USD", subtotal=500, discount=5000, shipping=0, tax_rate_bp=2000)
    assert (capped.discount, capped.total) == (500, 0)
    untaxed = compute_totals("USD", subtotal=500, discount=0, shipping=0, tax_rate_bp=None)
    assert (untaxed.tax, untaxed.tax_rate_bp, untaxed.total) == (0, None, 500)
