"""Compaction of the daily visits PostgreSQL keeps for the Overview (migration 0012).

Every write to ``events`` appends its reduction to ``event_visits`` (a trigger; appending
takes no row lock, so writers never wait for each other); ``compact_event_visits()`` folds
the appended rows into one row per visit. Each API process runs it every
``VISITS_COMPACT_SECONDS`` (default 300; 0: never; at least 10): a run that finds another
process's at work returns at once. Readers sum the rows of a visit, so compaction only keeps
the table small; it never changes a number. On SQLite, and on a PostgreSQL database without
the table (a server older than 15), there is nothing to do.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text

from ..db import Database

log = logging.getLogger("storefront_api.events")


async def has_visits(db: Database) -> bool:
    """Whether the database keeps the daily visits (PostgreSQL 15+, migration 0012)."""
    if db.is_sqlite:
        return False
    async with db.read() as session:
        found = await session.execute(text("SELECT to_regproc('compact_event_visits')"))
        return found.scalar() is not None


async def compact_visits(db: Database) -> int:
    """Fold the appended rows of the daily visits; how many were folded (0 as well when
    another process's compaction is at work)."""
    async with db.write() as session:
        # only a TRUNCATE of events or a migration can hold it up: give up, try next time
        await session.execute(text("SET LOCAL lock_timeout = '10s'"))
        folded = await session.execute(text("SELECT compact_event_visits()"))
        return int(folded.scalar() or 0)


async def run_compaction(db: Database, stop: asyncio.Event, every: float) -> None:
    """Compact every ``every`` seconds until ``stop`` is set; stops between runs, never in
    a database call. Nothing when the database keeps no daily visits."""
    if every <= 0 or db.is_sqlite:
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except asyncio.TimeoutError:
            pass
        try:
            if await has_visits(db):
                folded = await compact_visits(db)
                if folded:
                    log.info("folded %d appended rows of the daily visits", folded)
        except Exception:  # the next run tries again; readers sum meanwhile
            log.exception("daily visits compaction failed")
