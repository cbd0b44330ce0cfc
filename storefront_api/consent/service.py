"""Reading X-Consent, recording decisions, and the latest decision for a purpose.

X-Consent states the caller's consent on a request:
- absent or unreadable: nothing stated (no purpose granted, nothing recorded);
- ``granted`` (also ``true``, ``yes``, ``1``), the value from before purposes: analytics only;
- ``denied`` (also ``none``, ``false``, ``no``, ``0``): every purpose refused;
- a list of purposes, ``analytics,marketing``: those granted, the others refused.

Decisions are recorded where the shopper makes them (a checkout, a sign-up, the consent
banner, the chat), for the subjects that identify them there: their account, their e-mail
address (hashed), their browser session, their conversation. The latest decision among a
shopper's subjects wins, so a "no" given in the chat overrides a "yes" ticked at checkout a
week earlier, and the reverse.

Invariant: an ``email:`` subject is granted marketing or advertising only with source
"email-confirmation", i.e. by the owner of the address following the link mailed to it
(consent/confirmation.py); ``record`` refuses anything else. Whoever types an address (at
checkout, at sign-up) proves nothing about owning it, so from them the address only gets
what cannot harm its owner: refusals (``record_stated``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from .models import ConsentDecision

PURPOSES = ("analytics", "marketing", "advertising")
CONFIRMED = "email-confirmation"  # the owner of the address followed the mailed link
SOURCES = ("checkout", "signup", "chat", "api", "cookie-banner", CONFIRMED)
# Purposes that send something to the address or hand it to someone (reminders, ad
# audiences): granted for an address only by its owner. Analytics is about this visit only.
NEEDS_OWNER = frozenset({"marketing", "advertising"})
_ALL_ANALYTICS = {"granted", "true", "yes", "1"}  # the single flag of before: analytics
_NOTHING = {"denied", "none", "false", "no", "0"}
MAX_HEADER = 200  # characters of X-Consent read; three purpose names fit in 40


def parse(raw: str | None) -> frozenset[str] | None:
    """The purposes an X-Consent value grants, or None when it states nothing."""
    value = (raw or "")[:MAX_HEADER].strip().lower()
    if not value:
        return None
    if value in _NOTHING:
        return frozenset()
    granted: set[str] = set()
    understood = False
    for word in value.replace(";", ",").replace(" ", ",").split(","):
        if word in PURPOSES:
            granted.add(word)
        elif word in _ALL_ANALYTICS:
            granted.add("analytics")
        elif word not in _NOTHING:
            continue
        understood = True
    return frozenset(granted) if understood else None


def in_order(purposes: Iterable[str]) -> list[str]:
    """``purposes`` in the order of PURPOSES, for documents."""
    wanted = set(purposes)
    return [p for p in PURPOSES if p in wanted]


def from_header(request) -> frozenset[str] | None:
    """What this request's X-Consent states (see ``parse``)."""
    return parse(request.headers.get("X-Consent"))


def email_subject(email: str) -> str:
    """``email:`` + hex SHA-256 of the trimmed, lower-cased address: the same hash the
    audience export uploads (analytics.audience.hash_email), so the two always match."""
    normalised = email.strip().lower().encode("utf-8", "surrogatepass")
    return "email:" + hashlib.sha256(normalised).hexdigest()


def subjects(*, customer_id: int | None = None, email: str | None = None,
             session_id: str | None = None, conversation_id: str | None = None) -> list[str]:
    """The subjects that identify one shopper here, in a fixed order."""
    found = []
    if customer_id:
        found.append(f"customer:{customer_id}")
    if email:
        found.append(email_subject(email))
    if session_id:
        found.append(f"session:{session_id[:128]}")
    if conversation_id:
        found.append(f"conversation:{conversation_id[:128]}")
    return list(dict.fromkeys(found))


async def record(session: AsyncSession, subjects: Iterable[str], granted: Iterable[str], *,
                 source: str, purposes: Iterable[str] = PURPOSES,
                 at: datetime | None = None) -> None:
    """One decision per subject and purpose (of ``purposes``): granted when in ``granted``,
    refused otherwise. In the caller's transaction."""
    if source not in SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    subjects, purposes = list(subjects), list(purposes)
    granted, when = set(granted), at or utcnow()
    if source != CONFIRMED and granted & NEEDS_OWNER & set(purposes) and any(
            subject.startswith("email:") for subject in subjects):
        raise ValueError("only the address's owner grants it marketing or advertising "
                         "(consent/confirmation.py)")
    session.add_all(ConsentDecision(subject=subject, purpose=purpose,
                                    granted=purpose in granted, source=source,
                                    recorded_at=when)
                    for subject in subjects for purpose in purposes)
    await session.flush()


async def record_stated(session: AsyncSession, granted: Iterable[str], *, own: list[str],
                        unproven: list[str], source: str,
                        purposes: Iterable[str] = PURPOSES) -> frozenset[str]:
    """A decision stated by someone who controls the ``own`` subjects (their session, their
    conversation, the account they signed in to) about the ``unproven`` ones (an address
    they typed, an account just made from it): recorded in full for ``own``; for
    ``unproven``, the refusals only (a "no" only ever protects the owner; a "yes" is theirs
    to give). Answers the grants of marketing and advertising that wait for the owner of
    the address (confirmation.ask_owner mails the link); an analytics grant is about this
    visit and stays with ``own``."""
    granted, purposes = frozenset(granted), tuple(purposes)
    if own:
        await record(session, own, granted, source=source, purposes=purposes)
    if not unproven:
        return frozenset()
    await record(session, unproven, (), source=source,
                 purposes=[p for p in purposes if p not in granted])
    return granted & NEEDS_OWNER & set(purposes)


async def latest(session: AsyncSession, subjects: Iterable[str],
                 purpose: str) -> ConsentDecision | None:
    """The newest decision on ``purpose`` by any of ``subjects``, or None."""
    wanted = list(subjects)
    if not wanted:
        return None
    return (await session.execute(
        select(ConsentDecision)
        .where(ConsentDecision.subject.in_(wanted), ConsentDecision.purpose == purpose)
        .order_by(ConsentDecision.recorded_at.desc(), ConsentDecision.id.desc()).limit(1)
    )).scalar_one_or_none()


async def granted(session: AsyncSession, subjects: Iterable[str], purpose: str) -> bool:
    """Whether the latest decision grants ``purpose``; no decision is no consent."""
    decision = await latest(session, subjects, purpose)
    return decision is not None and decision.granted


async def decisions_document(session: AsyncSession, subjects: Iterable[str]) -> dict:
    """Per purpose, the decision in force: granted, source, recorded_at (or null)."""
    wanted = list(subjects)
    document = {}
    for purpose in PURPOSES:
        decision = await latest(session, wanted, purpose)
        document[purpose] = None if decision is None else {
            "granted": decision.granted, "source": decision.source,
            "recorded_at": decision.recorded_at.isoformat() + "Z"}
    return document
