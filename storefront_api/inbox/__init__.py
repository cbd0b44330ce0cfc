"""The support inbox: where agents take over chat conversations, live, in a browser.

- ``page.py``: the page, ``/inbox`` (staff session, role agent or admin; no build step:
  storefront_api/web/inbox/);
- ``routes.py``: its API (the queue and one conversation, transfer, release, resolve, notes,
  typing, canned replies, presence), the bot's questions (is anyone there? the shopper's
  rating) and the chat page's typing;
- ``streams.py``: the live streams (server-sent events): ``/inbox/events`` for agents,
  ``/chat/events`` for a shopper's chat page (the agent typing);
- ``hub.py``: fan-out of changes to every process's streams (Redis pub/sub with
  REDIS_URL, in-process otherwise); ``watch.py``: what held shoppers write, read from Rasa's
  tracker store (``tracker.py``); ``presence.py``: who is online, claims whose agent left;
- ``documents.py``: what the inbox shows. docs/inbox.md explains the choices.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..app_keys import DB, SETTINGS
from ..db import Database
from ..settings import Settings
from .hub import InboxHub
from .tracker import TrackerStore
from .watch import ShopperWatch


class Inbox:
    """What one storefront_api process runs for the inbox."""

    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.hub = InboxHub(settings.redis_url)
        self.tracker = (TrackerStore(settings.tracker_store_url)
                        if settings.tracker_store_url else None)
        self.watch = ShopperWatch(db, self.tracker, self.hub) if self.tracker else None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        from . import notify, presence
        await self.hub.start()
        loop = asyncio.get_running_loop()
        if self.watch is not None:
            self._tasks.append(loop.create_task(self.watch.run(self._stop)))

        async def released(ids: list[int]) -> None:
            await notify.handoffs_changed(self, ids)

        self._tasks.append(loop.create_task(presence.sweep_abandoned(
            self.db, self.settings.support_claim_grace_seconds, released, self._stop)))

    async def close_streams(self) -> None:
        await self.hub.close()

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
        await self.hub.close()
        if self.tracker is not None:
            await self.tracker.close()


INBOX_APP_KEY = web.AppKey("inbox", Inbox)


def setup_inbox(app: web.Application) -> None:
    """The inbox's page, streams and background work (after the database is open)."""
    from .page import register_inbox_page
    from .streams import register_streams

    async def running(app: web.Application):
        inbox = Inbox(app[DB], app[SETTINGS])
        app[INBOX_APP_KEY] = inbox
        await inbox.start()
        yield
        await inbox.stop()

    async def end_streams(app: web.Application) -> None:
        if INBOX_APP_KEY in app:  # before the server waits for open requests to finish
            await app[INBOX_APP_KEY].close_streams()

    app.cleanup_ctx.append(running)
    app.on_shutdown.append(end_streams)
    register_inbox_page(app)
    register_streams(app)
