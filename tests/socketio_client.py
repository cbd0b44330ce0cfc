"""A raw Socket.IO v5 client (Engine.IO v4, WebSocket only) for tests that try what a
browser page could not: no token, a forged one, another conversation's session_id.

It speaks the packets by hand, as storefront_api/web/chat.js does, so nothing is hidden by a
client library:
  server "0{...}" open -> client "40" + auth -> server "40{sid}" connected | "44{message}"
  client 42["session_request", {...}] -> server 42["session_confirm", id]
  client 42["user_uttered", {...}]    -> server 42["bot_uttered", {...}] ...
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp


def socket_url(base: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/socket.io/?EIO=4&transport=websocket"


@dataclass
class RawSocket:
    """One connection; ``packets`` is everything the server sent, in order."""

    ws: aiohttp.ClientWebSocketResponse
    http: aiohttp.ClientSession
    packets: list[str] = field(default_factory=list)
    closed: bool = False

    @classmethod
    async def open(cls, base: str, origin: str | None = None) -> "RawSocket":
        """Opens the WebSocket and reads Engine.IO's open packet (raises if refused)."""
        http = aiohttp.ClientSession()
        headers = {"Origin": origin} if origin else {}
        try:
            ws = await http.ws_connect(socket_url(base), headers=headers,
                                      timeout=aiohttp.ClientWSTimeout(ws_close=10))
        except BaseException:
            await http.close()
            raise
        socket = cls(ws, http)
        opened = await socket.next_packet()
        assert opened and opened.startswith("0"), opened
        return socket

    async def connect(self, auth: dict | None) -> str:
        """The namespace connect; answers the server's reply ("40{...}" or "44{...}")."""
        await self.ws.send_str("40" + (json.dumps(auth) if auth is not None else ""))
        reply = await self.next_packet()
        return reply or ""

    async def emit(self, event: str, data: Any) -> None:
        if not self.closed:
            await self.ws.send_str("42" + json.dumps([event, data]))

    async def next_packet(self, timeout: float = 10) -> str | None:
        """The next Socket.IO packet (pings answered on the way); None once closed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.closed:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return None
            try:
                message = await self.ws.receive(timeout=left)
            except asyncio.TimeoutError:
                return None
            if message.type != aiohttp.WSMsgType.TEXT:
                self.closed = True
                return None
            if message.data == "2":
                await self.ws.send_str("3")
                continue
            self.packets.append(message.data)
            return message.data
        return None

    async def events(self, seconds: float) -> list[tuple[str, Any]]:
        """The events received within ``seconds`` (stops early when the server closes)."""
        found = []
        deadline = asyncio.get_running_loop().time() + seconds
        while not self.closed:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            packet = await self.next_packet(left)
            if packet is None:
                break
            if packet.startswith("42"):
                name, *data = json.loads(packet[2:])
                found.append((name, data[0] if data else None))
        return found

    @property
    def disconnected_by_server(self) -> bool:
        """The server sent a Socket.IO disconnect ("41") or closed the connection."""
        return self.closed or any(p.startswith("41") or p == "1" for p in self.packets)

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
        await self.http.close()
