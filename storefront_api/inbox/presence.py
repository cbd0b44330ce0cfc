"""Which agents are online, and claims whose agent went away.

An agent is online while their inbox is open: its live stream records a beat every
BEAT_SECONDS in ``agent_presence`` (shared by every replica through the database), and an
agent whose last beat is older than ONLINE_SECONDS is offline. A claim, a reply or an
explicit ``POST /api/admin/support/presence`` beats too, so an agent working through the
API counts as well.

A claim outlives its agent's browser by SUPPORT_CLAIM_GRACE_SECONDS (a reload, a train
through a tunnel): after that, ``release_abandoned`` puts the conversation back in the
queue. Every replica runs it; the release is a conditional update, so two replicas never
release the same claim twice, and a claim taken again meanwhile is left alone. A claim made
with the break-glass token (no staff account) is never released this way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..auth import StaffMember
from ..db import Database, utcnow
from ..events.service import EventContext, record_event
from ..support.models import AgentPresence, Handoff

log = logging.getLogger("storefront_api.inbox")

BEAT_SECONDS = 10  # how often an open inbox records that its agent is there
ONLINE_SECONDS = 30  # no beat for this long: offline


def presence_key(member: StaffMember) -> str:
    return "break-glass" if member.id is None else f"staff:{member.id}"


async def beat(db: Database, member: StaffMember, now: datetime | None = None) -> None:
    """``member`` is here now (insert or update their row, on either database)."""
    values = {"key": presence_key(member), "agent": member.shown_name[:80],
              "agent_id": member.id, "last_seen_at": now or utcnow()}
    insert = sqlite_insert if db.is_sqlite else pg_insert
    statement = insert(AgentPresence).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[AgentPresence.key],
        set_={"agent": statement.excluded.agent, "last_seen_at": statement.excluded.last_seen_at})
    async with db.write() as session:
        await session.execute(statement)


_beaten: dict[str, float] = {}  # this process's last beat per agent (monotonic seconds)


async def beat_now_and_then(db: Database, member: StaffMember) -> None:
    """A beat for an agent acting through the API, at most one per BEAT_SECONDS from this
    process: a reply must not wait for a presence write each time."""
    key, now = presence_key(member), time.monotonic()
    if now - _beaten.get(key, -BEAT_SECONDS) < BEAT_SECONDS:
        return
    _beaten[key] = now
    await beat(db, member)


async def leave(db: Database, member: StaffMember) -> None:
    """``member`` is offline from now (signing out): their claims wait the grace period."""
    _beaten.pop(presence_key(member), None)
    async with db.write() as session:
        await session.execute(
            update(AgentPresence).where(AgentPresence.key == presence_key(member))
            .values(last_seen_at=utcnow() - timedelta(seconds=ONLINE_SECONDS)))


async def online(db: Database, now: datetime | None = None) -> list[AgentPresence]:
    since = (now or utcnow()) - timedelta(seconds=ONLINE_SECONDS)
    async with db.read() as session:
        return list((await session.scalars(
            select(AgentPresence).where(AgentPresence.last_seen_at > since)
            .order_by(AgentPresence.agent))).all())


async def online_ids(db: Database) -> set[int]:
    return {row.agent_id for row in await online(db) if row.agent_id is not None}


async def release_abandoned(db: Database, grace_seconds: int,
                            now: datetime | None = None) -> list[int]:
    """Put back in the queue the claims whose agent has not been seen for the grace
    period (nor claimed it within it), each with an ``agent_left`` event; the ids of the
    handoffs released."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=grace_seconds)
    async with db.write() as session:
        present = select(AgentPresence.agent_id).where(
            AgentPresence.agent_id.is_not(None), AgentPresence.last_seen_at >= cutoff)
        stale = (await session.scalars(
            select(Handoff).where(
                Handoff.status == "active", Handoff.agent_id.is_not(None),
                Handoff.claimed_at < cutoff, Handoff.agent_id.not_in(present)))).all()
        released = []
        for handoff in stale:
            result = await session.execute(
                update(Handoff).where(Handoff.id == handoff.id, Handoff.status == "active",
                                      Handoff.agent_id == handoff.agent_id)
                .values(status="waiting", agent=None, agent_id=None, claimed_at=None)
                .execution_options(synchronize_session=False))
            if result.rowcount:
                released.append(handoff.id)
                await record_event(session, "agent_left", EventContext(
                    conversation_id=handoff.conversation_id, channel=handoff.channel),
                    properties={"handoff": handoff.reference, "reason": handoff.reason,
                                "agent": handoff.agent, "agent_id": handoff.agent_id,
                                "via": "grace", "grace_seconds": grace_seconds})
    if released:
        log.info("inbox: %d claim(s) back in the queue after %d s without their agent",
                 len(released), grace_seconds)
    return released


async def sweep_abandoned(db: Database, grace_seconds: int, on_released, stop: asyncio.Event,
                          interval: float | None = None) -> None:
    """Run ``release_abandoned`` until ``stop``; ``on_released(ids)`` after each release."""
    interval = interval or min(5.0, max(1.0, grace_seconds / 4))
    while not stop.is_set():
        try:
            released = await release_abandoned(db, grace_seconds)
            if released:
                await on_released(released)
        except Exception as exc:  # the database hiccuped: try again at the next round
            log.warning("inbox: releasing abandoned claims failed: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass
