"""What one client may hold: at most ``MAX_HELD_UNITS`` units (default 10) across its open
checkouts at once, each hold lasting ``CHECKOUT_MINUTES`` (default 30, 5 to 120).

Only a payment link holds stock (a summary does not), and a link costs nothing to ask for:
without this cap, one client asking for link after link could hold a scarce variant away
from every real shopper. The holder is the client as the rate limiter counts it: the
caller's address (the proxy's last X-Forwarded-For hop with TRUST_PROXY=1, otherwise the
connection's address, so forged headers change nothing), or for Aisle's assistant, which
brings every chat shopper through one address, the conversation.

The cap is checked and the hold taken in one transaction, serialised per holder
(PostgreSQL: an advisory lock on the holder; SQLite: its write transaction excludes every
other writer), so fifty requests at once cannot all see room for one more.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..catalog.models import StockReservation
from ..db import utcnow
from ..problems import conflict
from ..settings import Settings
from .models import Checkout


def _lock_id(holder: str) -> int:
    """A stable signed 64-bit number for the holder (PostgreSQL's advisory lock key)."""
    return int.from_bytes(hashlib.blake2b(holder.encode("utf-8", "surrogatepass"),
                                          digest_size=8, person=b"aisle-hold").digest(),
                          "big", signed=True)


async def lock_holder(session: AsyncSession, holder: str) -> None:
    """Serialise hold changes of one holder until the transaction ends."""
    if session.bind.dialect.name != "sqlite":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                              {"key": _lock_id(holder)})


def _active_holds(holder: str, now: datetime):
    return (select(StockReservation)
            .join(Checkout, Checkout.id == StockReservation.checkout_id)
            .where(Checkout.holder == holder, Checkout.status == "open",
                   StockReservation.status == "active", StockReservation.expires_at > now))


async def units_held(session: AsyncSession, holder: str,
                     now: datetime | None = None) -> tuple[int, datetime | None]:
    """Units ``holder`` holds now in open checkouts, and when the first of them comes back."""
    holds = _active_holds(holder, now or utcnow()).subquery()
    units, first_release = (await session.execute(
        select(func.coalesce(func.sum(holds.c.quantity), 0), func.min(holds.c.expires_at))
    )).one()
    return int(units), first_release


async def check_room(session: AsyncSession, holder: str, wanted: int,
                     settings: Settings) -> None:
    """409 when holding ``wanted`` more units would take ``holder`` over the cap. Call it
    after the holder's lock, and after releasing what the new hold replaces."""
    held, first_release = await units_held(session, holder)
    cap = settings.max_held_units
    if held + wanted <= cap:
        return
    minutes = settings.checkout_minutes
    if held:
        when = f" (the first comes back at {first_release:%H:%M} UTC)" if first_release else ""
        detail = (f"You already hold {held} units in open payment links, and one shopper may "
                  f"hold at most {cap} at once. Pay for an open link, or wait until one "
                  f"expires{when}: links last {minutes} minutes. Or check out fewer items.")
    else:
        detail = (f"This checkout asks for {wanted} units; one shopper may hold at most {cap} "
                  "at once in payment links. Check out fewer items, or contact the shop for "
                  "a larger order.")
    raise conflict(detail, type="hold-limit", max_held_units=cap, held=held,
                   requested=wanted, hold_minutes=minutes,
                   first_release=first_release.isoformat() + "Z" if first_release else None)
