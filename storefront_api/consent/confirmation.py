"""Double opt-in: an e-mail address is granted marketing or advertising only by its owner.

Whoever types an address (at checkout, at sign-up, or signs in to an account whose address
nobody verified) proves nothing about owning it. Their grant of those purposes is recorded
for what they do control (consent.service.record_stated), and the address gets an e-mail
(``ask_owner``): fixed text naming the purposes, nothing the caller wrote, and a link to
GET /consent/confirm?token=... (consent/pages.py). Only the POST of that page's button
records the grant, source "email-confirmation", for the address and for the customer whose
address it is; a mail scanner that opens the link confirms nothing.

The token is stateless: the address's subject, the customer of that address when the mail
was sent, the purposes and the time, signed with a key derived from SECRET_KEY; it works
for ``LINK_DAYS``. Using it again changes nothing, and it never overrides a decision made
after it was sent (a "no" given since stands). Confirmation e-mails are limited per address
("consent-confirmation"): past the limit the decision still counts where it can, the e-mail
is just not sent, so the shop cannot be made to fill a stranger's inbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ..app_keys import DB, SETTINGS
from ..auth import same_secret
from ..customers.models import Customer
from ..customers.service import find_customer
from ..values import normalise_email
from ..outbox.service import enqueue_email
from ..ratelimit import within
from ..settings import Settings
from . import service

LINK_DAYS = 7
_EPOCH = datetime(1970, 1, 1)  # naive UTC, as the database's times
_VERSION = "c1"
MAX_TOKEN = 300  # characters; a real one is about 150
PURPOSE_LINES = {
    "marketing": "e-mails from us: reminders about items left in your cart, and offers",
    "advertising": "ads from us on advertising platforms (such as Google and Meta) shown to "
                   "you by matching a coded form of this e-mail address",
}


class LinkInvalid(Exception):
    """Not a token we signed: incomplete, altered, or signed with another key."""


class LinkExpired(Exception):
    """A token we signed, older than LINK_DAYS."""


@dataclass(frozen=True)
class ConfirmationLink:
    subject: str  # email:<sha256>
    customer_id: int | None  # the customer of that address when the mail was sent
    purposes: tuple[str, ...]
    issued_at: int  # unix microseconds: decisions a moment before it must count as before

    @property
    def issued(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.issued_at)


def _key(secret_key: str) -> bytes:
    # A key of its own: no signature made for another purpose can pass as a confirmation.
    return hmac.new(secret_key.encode(), b"aisle consent confirmation", hashlib.sha256).digest()


def _signature(secret_key: str, payload: str) -> str:
    digest = hmac.new(_key(secret_key), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_link(secret_key: str, email: str, purposes: Iterable[str], *,
              customer_id: int | None = None, now: float | None = None) -> str:
    wanted = [p for p in service.PURPOSES if p in set(purposes)]
    hashed = service.email_subject(email).removeprefix("email:")
    issued = round((now if now is not None else time.time()) * 1_000_000)
    payload = f"{_VERSION}.{hashed}.{customer_id or 0}.{'-'.join(wanted)}.{issued}"
    return f"{payload}.{_signature(secret_key, payload)}"


def read_link(secret_key: str, token: str, *, now: float | None = None) -> ConfirmationLink:
    """What a token confirms; LinkInvalid or LinkExpired otherwise."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN or len(parts) != 6 or parts[0] != _VERSION:
        raise LinkInvalid
    payload, signature = ".".join(parts[:5]), parts[5]
    if not same_secret(signature, _signature(secret_key, payload)):
        raise LinkInvalid
    _, hashed, customer, purposes, issued = parts[:5]  # signed by us: well formed
    link = ConfirmationLink("email:" + hashed, int(customer) or None,
                            tuple(purposes.split("-")), int(issued))
    oldest = (now if now is not None else time.time()) - LINK_DAYS * 86400
    if link.issued_at <= oldest * 1_000_000:
        raise LinkExpired
    return link


def confirmation_url(settings: Settings, token: str) -> str:
    return f"{settings.storefront_url.rstrip('/')}/consent/confirm?token={token}"


async def still_to_confirm(session: AsyncSession, email: str,
                           purposes: Iterable[str]) -> list[str]:
    """Of ``purposes``, those the address does not already grant."""
    subject = service.email_subject(email)
    return [p for p in service.PURPOSES if p in set(purposes)
            and not await service.granted(session, [subject], p)]


async def mail_link(session: AsyncSession, settings: Settings, email: str,
                    purposes: list[str], customer_id: int | None) -> None:
    """The confirmation e-mail, in the caller's transaction. Every word of it is ours: it
    repeats nothing the person who typed the address wrote (no name, no cart)."""
    link = confirmation_url(settings, sign_link(settings.secret_key, email, purposes,
                                                customer_id=customer_id))
    shop = settings.shop_name
    lines = "\n".join(f"- {PURPOSE_LINES[p]}" for p in purposes)
    await enqueue_email(
        session, to=email, tag="consent-confirmation",
        subject=f"Please confirm: {shop} may write to you",
        text=(f"Hello,\n\nSomeone, we hope you, asked {shop} for this, using this e-mail "
              f"address:\n\n{lines}\n\nNothing of this happens unless you confirm here, "
              f"within {LINK_DAYS} days:\n\n{link}\n\nIf it was not you, ignore this e-mail: "
              "without your confirmation we send you none of these, and you can say no at "
              "any time."))


async def ask_owner(request: web.Request, email: str, purposes: Iterable[str]) -> None:
    """Once the decision is committed: mail the address's owner the link that grants
    ``purposes``, unless the address already grants them or got its share of these e-mails
    ("consent-confirmation", counted per address). Never refuses the request itself."""
    purposes = list(purposes)
    if not purposes:
        return
    email = normalise_email(email)
    db, settings = request.app[DB], request.app[SETTINGS]
    async with db.read() as session:
        wanted = await still_to_confirm(session, email, purposes)
        customer = await find_customer(session, email) if wanted else None
    if not wanted or not await within(request, "consent-confirmation",
                                      key="recipient:" + email[:320]):
        return
    async with db.write() as session:
        await mail_link(session, settings, email, wanted, customer.id if customer else None)


async def confirm(session: AsyncSession, link: ConfirmationLink) -> str:
    """Record the grants of a link opened and confirmed by the address's owner, in the
    caller's transaction: "confirmed"; "already" when there was nothing left to record (a
    link used twice); "superseded" when the address said no after the link was sent."""
    to_record, refused_since = [], False
    for purpose in link.purposes:
        latest = await service.latest(session, [link.subject], purpose)
        if latest is not None and latest.recorded_at >= link.issued:
            refused_since = refused_since or not latest.granted
            continue  # decided since (or confirmed already): the later decision stands
        to_record.append(purpose)
    if not to_record:
        return "superseded" if refused_since else "already"
    subjects = [link.subject]
    customer = await session.get(Customer, link.customer_id) if link.customer_id else None
    if customer is not None and service.email_subject(customer.email) == link.subject:
        subjects.append(f"customer:{customer.id}")
        if "marketing" in to_record:  # the account page shows the e-mail choice
            await session.execute(update(Customer).where(Customer.id == customer.id)
                                  .values(marketing_consent=True))
    await service.record(session, subjects, to_record, source=service.CONFIRMED,
                         purposes=to_record)
    return "confirmed"
