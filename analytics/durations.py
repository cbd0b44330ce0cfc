"""Durations on the command line: ``90s``, ``30m``, ``1h``, ``7d``, ``2w``, or ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

from .schema import InputError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, *, option: str = "duration") -> timedelta:
    cleaned = text.strip().lower().replace(" ", "")
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise InputError(f"{option}: {text!r} is not a duration; write e.g. 30m, 1h, 7d or 1h30m")
    total = sum((timedelta(**{_UNITS[unit]: float(number)}) for number, unit in parts),
                timedelta())
    if total <= timedelta():
        raise InputError(f"{option}: the duration must be longer than zero")
    return total
