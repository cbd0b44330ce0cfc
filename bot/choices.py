"""The settings that choose, for one part of a Rasa turn, between Aisle's way (the default)
and Rasa's own: AISLE_GRAPH_RUNNER, AISLE_HTTP_SESSIONS, AISLE_ACTION_CALL_JSON and
AISLE_TRACKER_COPY (README, "Configuration"). Each module that changes a part of Rasa reads its
setting here, at install time, and puts its function in place of Rasa's with ``replace``."""

from __future__ import annotations

import os
from typing import Any, Callable


def chosen(variable: str, aisle: str, rasa: str) -> str:
    """The value of ``variable`` (``aisle`` when unset or blank, case and spaces ignored);
    anything but ``aisle`` or ``rasa`` stops the process with what to set instead."""
    choice = os.environ.get(variable, "").strip().lower() or aisle
    if choice not in (aisle, rasa):
        raise SystemExit(f"{variable}={choice!r}: use {aisle!r} (the default) or {rasa!r}")
    return choice


def rasas_own(owner: Any, name: str) -> Callable:
    """Rasa's own ``owner.name``, also once Aisle's replacement is in place."""
    current = getattr(owner, name)
    return getattr(current, "_rasa", current)


def replace(owner: Any, name: str, replacement: Callable, original: Callable) -> None:
    """Puts ``replacement`` in place of ``owner.name``, remembering Rasa's ``original`` so that
    installing again wraps Rasa's function rather than the replacement."""
    replacement._rasa = original  # type: ignore[attr-defined]
    setattr(owner, name, replacement)
