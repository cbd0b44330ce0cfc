"""How each kind of outbox message leaves: e-mail (SMTP, or .eml files) and chat notices
(Rasa's trigger_intent, with storefront_api's JWT for Rasa's API). Any exception means "try
again later", except PermanentFailure."""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import aiohttp

from ..chat.rasa_api import rasa_credential
from ..settings import Settings

SMTP_TIMEOUT = 30  # seconds, per connection step
RASA_TIMEOUT = 5


class PermanentFailure(Exception):
    """Retrying cannot help (the recipient does not exist, the message is malformed)."""


class SmtpWithoutTls(Exception):
    """The server would take our credentials in clear (STARTTLS missing, or stripped on the
    way): retried later, never sent."""


def _mail_domain(settings: Settings) -> str:
    host = urlsplit(settings.storefront_url).hostname or "localhost"
    try:
        ip_address(host)
        return "localhost"  # an address is not a mail domain
    except ValueError:
        return host


def mail_sender(settings: Settings) -> str:
    """MAIL_FROM, or 'SHOP_NAME <orders@storefront host>'."""
    domain = _mail_domain(settings)
    return settings.mail_from or formataddr((settings.shop_name, f"orders@{domain}"))


def compose(message_id: int, payload: dict[str, Any], settings: Settings, *,
            created_at: datetime, now: datetime | None = None) -> EmailMessage:
    """An RFC 5322 message. Its Message-ID is fixed by the outbox row, so a message sent
    twice after a crash is recognisably the same message."""
    message = EmailMessage()
    message["From"] = mail_sender(settings)
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = format_datetime(now or datetime.now(timezone.utc))
    created = int(created_at.replace(tzinfo=timezone.utc).timestamp())
    message["Message-ID"] = f"<aisle.{message_id}.{created}@{_mail_domain(settings)}>"
    if payload.get("tag"):
        message["X-Aisle-Tag"] = payload["tag"]
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


class Mailer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.outbox_dir = settings.var_dir / "outbox"

    async def send(self, message_id: int, payload: dict[str, Any], created_at: datetime) -> None:
        try:
            message = compose(message_id, payload, self.settings, created_at=created_at)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentFailure(f"malformed e-mail payload: {exc}") from None
        if self.settings.smtp_url:
            await asyncio.to_thread(send_smtp, self.settings.smtp_url, message)
        else:
            await asyncio.to_thread(write_eml, self.outbox_dir, message_id, created_at, message)


def write_eml(directory: Path, message_id: int, created_at: datetime,
              message: EmailMessage) -> Path:
    """var/outbox/20250301T101502123456Z-00000042.eml: names sort by the time the message
    was put in the outbox (the time of the order, the restock...), then by its number."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{created_at:%Y%m%dT%H%M%S%fZ}-{message_id:08d}.eml"
    temporary = directory / f".{name}.tmp"
    temporary.write_bytes(message.as_bytes())
    os.replace(temporary, directory / name)  # a reader never sees half a file
    return directory / name


def send_smtp(smtp_url: str, message: EmailMessage) -> None:
    """smtp://user:pass@host:port (STARTTLS) or smtps:// (TLS from the first byte).
    Credentials never travel in clear: with a user name (or ``?starttls=required``) a server
    that does not offer STARTTLS gets nothing but EHLO, and the message waits for a retry;
    only ``?starttls=off`` (a local relay in the demo; production refuses it) skips TLS.
    Blocking: run it in a thread."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise PermanentFailure("SMTP_URL must look like smtp://user:pass@host:587 or smtps://")
    context = ssl.create_default_context()
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(url.hostname, url.port or 465, timeout=SMTP_TIMEOUT,
                                  context=context)
    else:
        client = smtplib.SMTP(url.hostname, url.port or 25, timeout=SMTP_TIMEOUT)
    starttls = parse_qs(url.query).get("starttls", [""])[-1].lower()
    with client:
        client.ehlo()
        if url.scheme == "smtp" and starttls not in ("off", "no", "0", "false"):
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif url.username or starttls == "required":
                raise SmtpWithoutTls(f"the SMTP server {url.hostname}:{url.port or 25} does not "
                                     "offer STARTTLS; credentials are never sent without TLS "
                                     "(use smtps://, or enable STARTTLS on the server)")
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        try:
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):  # 5xx: the address will never work
                raise PermanentFailure(f"recipient refused ({codes[0]})") from None
            raise


class ConversationNotices:
    """POST {RASA_URL}/conversations/{id}/trigger_intent?output_channel=latest, signed
    (Authorization: Bearer, RASA_JWT_SECRET)."""

    def __init__(self, settings: Settings):
        self.base = settings.rasa_url.rstrip("/")
        self.credential = rasa_credential(settings.rasa_jwt_secret)
        self._http: aiohttp.ClientSession | None = None

    async def send(self, payload: dict[str, Any]) -> None:
        if not payload.get("conversation_id") or not payload.get("intent"):
            raise PermanentFailure("a conversation notice needs conversation_id and intent")
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=RASA_TIMEOUT))
        url = (f"{self.base}/conversations/{quote(payload['conversation_id'], safe='')}"
               "/trigger_intent")
        body = {"name": payload["intent"], "entities": payload.get("entities") or {}}
        async with self._http.post(url, params={"output_channel": "latest"}, json=body,
                                   headers=self.credential.headers()) as resp:
            if not 200 <= resp.status < 300:  # Rasa restarting or overloaded: try again later
                detail = (await resp.text())[:200]
                raise RuntimeError(f"Rasa answered {resp.status}: {detail}")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
