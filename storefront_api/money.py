"""Money as the API shows it: integer minor units, an ISO 4217 currency and a display string.

The one source of truth for what a currency's minor unit is and how an amount reads, used
by the API, the e-mails, the payment pages and the dashboard::

    money(4999, "USD") == {"amount": 4999, "currency": "USD", "formatted": "$49.99"}

Minor units follow the Unicode CLDR's digits for the currency (through Babel): 2 for USD,
0 for JPY, HUF, ISK, XAF, 3 for KWD. Babel is pinned (constraints.txt) because the meaning of
every stored amount depends on this table; tests/pricing/test_currencies.py holds it still.

Stripe counts some currencies differently from CLDR (its "zero-decimal" list, ISK and UGX sent
as two-decimal amounts, three-decimal amounts ending in 0): ``stripe_amount`` converts what
goes to Stripe and what Stripe reports back is compared in the same units.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency, get_currency_precision, is_currency

# How amounts read: English, US conventions ("$1,234.50", "€49.99", "CHF 49.99").
LOCALE = "en_US"

# Stripe's own units (https://docs.stripe.com/currencies): amounts of these currencies are
# sent as whole units ("zero-decimal"). UGX is on Stripe's zero-decimal list too, but its
# special case (like ISK's) says to send it as a two-decimal amount ending in 00.
STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split())
# Three-decimal currencies: minor units, and Stripe takes only amounts whose last digit is 0.
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())

# CLDR's currency spacing: a symbol that is letters ("CHF", "FCFA") keeps a space from the
# digits; Babel's formatter leaves it out ("CHF49.99").
_LETTER_BEFORE_DIGIT = re.compile(r"(?<=[^\W\d_])(?=[\d])")


class UnknownCurrency(ValueError):
    """Not an ISO 4217 currency code that CLDR knows."""


def known_currency(currency: str) -> str:
    """The upper-case code of a currency CLDR knows, or UnknownCurrency."""
    code = str(currency or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or not is_currency(code):
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency code (e.g. USD, EUR)")
    return code


def minor_unit_exponent(currency: str) -> int:
    """Minor units per unit as a power of ten: 2 for USD (cents), 0 for JPY, 3 for KWD."""
    return get_currency_precision(str(currency).upper())


def in_units(amount: int, currency: str) -> Decimal:
    """Minor units as an exact amount of the currency: ``(4999, "USD") -> Decimal("49.99")``."""
    return Decimal(int(amount)).scaleb(-minor_unit_exponent(currency))


def format_money(amount: int, currency: str) -> str:
    """'$49.99', '€1,250.00', '£0.50', '¥500', 'CHF 49.99', 'KWD 1.234'."""
    code = str(currency).upper()
    text = format_currency(in_units(amount, code), code, locale=LOCALE)
    return _LETTER_BEFORE_DIGIT.sub("\u00a0", text, count=1)


def money(amount: int, currency: str) -> dict[str, Any]:
    """The JSON shape of an amount of money, used by every response that carries one."""
    return {"amount": int(amount), "currency": currency.upper(),
            "formatted": format_money(amount, currency)}


# --- Stripe ----------------------------------------------------------------------------------

def stripe_exponent(currency: str) -> int:
    """The power of ten Stripe's API amounts of ``currency`` are counted in."""
    code = str(currency).upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2  # every other currency, ISK, UGX, HUF and TWD included


def stripe_amount(amount: int, currency: str) -> int:
    """An amount in this shop's minor units as Stripe's API counts it.

    ``(500, "JPY") -> 500``, ``(4999, "USD") -> 4999``, ``(5, "ISK") -> 500``. A
    three-decimal amount whose last digit is not 0 cannot be charged at Stripe: it is rounded
    down to one that can (5.125 KWD is sent as 5.120), so nobody is charged more than the
    shop showed; the webhook compares what Stripe reports with this same figure."""
    if amount < 0:
        raise ValueError(f"a negative amount ({amount}) is never sent to Stripe")
    shift = stripe_exponent(currency) - minor_unit_exponent(currency)
    sent = int(amount) * 10 ** shift if shift >= 0 else int(amount) // 10 ** -shift
    if str(currency).upper() in STRIPE_THREE_DECIMAL:
        sent -= sent % 10
    return sent
