"""Money as the API shows it: integer minor units, an ISO 4217 currency and a display string.

Every amount leaves the API through ``money()`` so that clients (the chat, the shop page, the
dashboard) never format or round prices themselves::

    money(4999, "USD") == {"amount": 4999, "currency": "USD", "formatted": "$49.99"}
"""

from __future__ import annotations

from typing import Any

# Currencies whose symbol goes in front of the amount, English style ("$1,234.50").
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "CA$",
            "NZD": "NZ$", "INR": "₹"}
# ISO 4217 exponents that differ from 2 (minor units per major unit = 10 ** exponent).
_EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "HUF": 2,
              "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


def minor_unit_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_money(amount: int, currency: str) -> str:
    """'$49.99', '€1,250.00', '£0.50', '¥500'; other currencies as '49.99 CHF'."""
    currency = currency.upper()
    exponent = minor_unit_exponent(currency)
    major, minor = divmod(abs(int(amount)), 10 ** exponent)
    number = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency}"


def money(amount: int, currency: str) -> dict[str, Any]:
    """The JSON shape of an amount of money, used by every response that carries one."""
    return {"amount": int(amount), "currency": currency.upper(),
            "formatted": format_money(amount, currency)}
