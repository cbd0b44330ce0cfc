"""Stand-ins for what the outbox talks to: Rasa's trigger_intent endpoint and an SMTP server.

The SMTP server is a minimal RFC 5321 responder (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT,
DATA, RSET, QUIT) on a local port, enough for Python's smtplib to deliver to it for real.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web


@dataclass
class FakeRasa:
    """Records every trigger_intent call; answers with ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{conversation_id}/trigger_intent", self.trigger)
        return app

    async def trigger(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.calls.append({"conversation_id": request.match_info["conversation_id"],
                           "query": dict(request.query), "body": await request.json()})
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return web.json_response({"error": "unavailable"}, status=status)
        return web.json_response({"tracker": {}, "messages": []})


@dataclass
class Delivered:
    sender: str
    recipients: list[str]
    data: bytes


class FakeSmtpServer:
    """An SMTP server on 127.0.0.1. With ``tls`` (a server SSLContext) it offers STARTTLS,
    as a real submission server does; ``logins`` records each AUTH and ``plain_logins`` the
    ones made before TLS (credentials an eavesdropper would have read)."""

    def __init__(self, *, user: str = "", password: str = "",
                 refuse: tuple[str, ...] = (), tls: ssl.SSLContext | None = None):
        self.user, self.password, self.refuse, self.tls = user, password, refuse, tls
        self.messages: list[Delivered] = []
        self.logins: list[str] = []
        self.plain_logins: list[str] = []
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> "FakeSmtpServer":
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        def reply(text: str) -> None:
            writer.write(text.encode() + b"\r\n")

        sender, recipients, secure = "", [], False
        reply("220 fake.smtp ESMTP ready")
        while line := await reader.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                starttls = "250-STARTTLS\r\n" if self.tls and not secure else ""
                reply(f"250-fake.smtp\r\n{starttls}250-AUTH PLAIN\r\n250-8BITMIME\r\n"
                      "250 SIZE 1000000")
            elif verb == "STARTTLS" and self.tls and not secure:
                reply("220 2.0.0 Ready to start TLS")
                await writer.drain()
                await writer.start_tls(self.tls)
                secure = True
                continue
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
                ok = (user.decode(), password.decode()) == (self.user, self.password)
                self.logins.append(user.decode())
                if not secure:
                    self.plain_logins.append(user.decode())
                reply("235 2.7.0 Authentication successful" if ok else "535 5.7.8 Bad login")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip().split()[0].strip("<>"), []
                reply("250 OK")
            elif verb == "RCPT":
                recipient = command.split(":", 1)[1].strip().strip("<>")
                if recipient in self.refuse:
                    reply("550 5.1.1 No such user here")
                else:
                    recipients.append(recipient)
                    reply("250 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                chunks = []
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.messages.append(Delivered(sender, recipients, b"".join(chunks)))
                reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                reply("250 OK")
            elif verb == "QUIT":
                reply("221 Bye")
                await writer.drain()
                break
            else:
                reply("502 Command not implemented")
            await writer.drain()
        writer.close()


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1 made now by openssl, and the
    certificate's path (for SSL_CERT_FILE, so that clients trust it)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert
