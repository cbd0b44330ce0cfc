"""The settings that choose, for one part of a Rasa turn, between Aisle's way (the default)
and Rasa's own: AISLE_GRAPH_RUNNER, AISLE_HTTP_SESSIONS, AISLE_ACTION_CALL_JSON and
AISLE_TRACKER_COPY (README, "Configuration"). Each module that changes a part of Rasa reads its
setting here, at install time."""

from __future__ import annotations

import os


def chosen(variable: str, aisle: str, rasa: str) -> str:
    """The value of ``variable`` (``aisle`` when unset or blank, case and spaces ignored);
    anything but ``aisle`` or ``rasa`` stops the process with what to set instead."""
    choice = os.environ.get(variable, "").strip().lower() or aisle
    if choice not in (aisle, rasa):
        raise SystemExit(f"{variable}={choice!r}: use {aisle!r} (the default) or {rasa!r}")
    return choice
