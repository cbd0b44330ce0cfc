"""Personal data kept out of logs and operators' listings: e-mail addresses in free text.

One pattern for every place that writes text an operator reads (the access log, the outbox's
errors and alerts). It is linear in the text's length whatever the text is: a match may only
start where a run of address characters starts, so no run is scanned twice.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+%'-])[\w.+%'-]++@[\w-]++(?:\.[\w-]++)*+")
EMAIL_MASK = "<address>"


def redact_emails(text: str) -> str:
    """``text`` with every e-mail address replaced by ``<address>``."""
    return _EMAIL.sub(EMAIL_MASK, text) if "@" in text else text
