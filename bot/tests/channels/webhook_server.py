"""A messaging channel's blueprint served by a real Sanic server on 127.0.0.1, inside the
test's loop, with a stand-in for Rasa that records every message reaching it and answers
through the channel's own output (so the platform's fake receives the answer).

The fakes of the platforms live in tests/fakes/ (shared with the end-to-end tests)."""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, channel: InputChannel, port: int):
        self.channel = channel
        self.port = port
        self.received: list[UserMessage] = []

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/{self.channel.name()}/webhook"

    async def settle(self) -> None:
        """Wait until every message the channel took is handled."""
        await asyncio.sleep(0.05)
        await self.channel.conversations.drain()


async def echo(message: UserMessage) -> None:
    """Rasa's stand-in: answers "echo: <text>" through the message's own output channel."""
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


@asynccontextmanager
async def served(channel: InputChannel,
                 answer: Optional[Callable[[UserMessage], Awaitable[Any]]] = echo
                 ) -> AsyncIterator[Served]:
    Sanic.test_mode = True
    app = Sanic(f"channel_{uuid.uuid4().hex[:8]}")
    port = free_port()
    server = Served(channel, port)

    async def on_new_message(message: UserMessage) -> None:
        server.received.append(message)
        if answer is not None:
            await answer(message)

    app.blueprint(channel.blueprint(on_new_message), url_prefix=f"/webhooks/{channel.name()}")
    running = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                      access_log=False)
    await running.startup()
    await running.before_start()
    await running.after_start()
    try:
        yield server
    finally:
        await server.settle()
        await running.before_stop()
        await running.close()
        await running.after_stop()
