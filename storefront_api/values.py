"""Small values every domain writes the same way: timestamps in JSON, codes people read out,
country codes, e-mail addresses. One home, so an order, a return and a ticket agree."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

# Characters nobody confuses on a phone line or a handwritten parcel label (no 0/O, 1/I/L).
UNAMBIGUOUS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

# ISO 3166-1 alpha-2, as a shopper or merchant may type it ("de"); upper-cased once valid.
Country = Annotated[str, Field(max_length=2, pattern=r"^[A-Za-z]{2}$",
                               description="ISO 3166-1 alpha-2"),
                    AfterValidator(str.upper)]


MAX_EMAIL_LENGTH = 254
# Pragmatic: one @, no spaces, a dot in the domain, no leading/trailing dot in either part.
_EMAIL = re.compile(r"[^@\s.][^@\s]{0,63}@[^@\s.]+(\.[^@\s.]+)+")


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(email) is not None


def _checked_email(value: str) -> str:
    email = normalise_email(value)
    if not is_valid_email(email):
        raise ValueError("not a valid email address")
    return email


# An e-mail address in a request body: trimmed, lower-cased, then checked (422 otherwise).
Email = Annotated[str, AfterValidator(_checked_email)]


def iso(moment: datetime | None) -> str | None:
    """A naive UTC datetime (how the database keeps them) as JSON: ISO 8601 with ``Z``."""
    return moment.isoformat() + "Z" if moment else None


def random_code(alphabet: str, length: int) -> str:
    """``length`` characters of ``alphabet``, from the system's secure random source: codes
    that must not be guessable (the caller checks that the code is unused)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def reference(prefix: str) -> str:
    """'RMA-K7Q2MX': a prefix and six unambiguous characters (returns, tickets, handoffs)."""
    return prefix + random_code(UNAMBIGUOUS, 6)
