"""The shop as a mail relay: anyone may open a ticket for any e-mail address, and the shop
mails that address an acknowledgement. It carries none of the sender's words, and tickets
are limited per sender and per recipient."""

from __future__ import annotations

import uuid
from dataclasses import replace

from aftersales_factories import count, make_order, outbox_for, token_for
from assistant_calls import from_the_assistant
from cart_helpers import pick_variants
from sqlalchemy import select

from storefront_api.app import create_app
from storefront_api.support.models import SupportTicket
from storefront_api.support.service import acknowledgement

SPAM_SUBJECT = "You won a prize! Claim it at http://evil.example/claim"
SPAM = "Dear friend, your parcel is held: pay the fee at http://evil.example/pay today."


def stranger() -> str:
    return f"stranger-{uuid.uuid4().hex[:10]}@example.com"


def ticket(email: str, message: str = SPAM, **extra) -> dict:
    return {"email": email, "kind": "question", "subject": SPAM_SUBJECT, "message": message,
            **extra}


async def tickets_to(db, email: str) -> int:
    async with db.read() as session:
        return len((await session.scalars(select(SupportTicket.id)
                                          .where(SupportTicket.email == email))).all())


async def behind_the_proxy(aiohttp_client, settings):
    """A client whose requests come from any address it names (TRUST_PROXY=1)."""
    return await aiohttp_client(create_app(replace(settings, trust_proxy=True), migrate=False))


async def test_attack_a_ticket_to_a_strangers_address_carries_none_of_the_senders_text(
        client, db):
    victim = stranger()
    resp = await client.post("/api/support/tickets", json=ticket(victim))
    body = await resp.json()
    assert resp.status == 201, body
    [mail] = await outbox_for(db, email=victim)
    assert mail["subject"] == f"We received your message ({body['reference']})"
    assert mail["text"] == acknowledgement(body["reference"])
    assert not mail.get("html")
    for words in ("evil.example", "prize", "parcel", "fee"):
        assert words not in mail["subject"] and words not in mail["text"]
    # the merchant still reads what was written
    assert body["message"] == SPAM and body["subject"] == SPAM_SUBJECT


async def test_attack_tickets_to_one_recipient_are_limited_whoever_sends_them(
        aiohttp_client, settings, db):
    client = await behind_the_proxy(aiohttp_client, settings)
    victim = stranger()
    senders = [{"X-Forwarded-For": "198.51.100.21"}, {"X-Forwarded-For": "198.51.100.22"},
               from_the_assistant(f"conv-{uuid.uuid4().hex}", "web")]
    for headers in senders:  # three different senders, each within its own allowance
        resp = await client.post("/api/support/tickets", json=ticket(victim), headers=headers)
        assert resp.status == 201, await resp.json()
    for headers in ({"X-Forwarded-For": "198.51.100.23"},
                    from_the_assistant(f"conv-{uuid.uuid4().hex}", "web")):
        resp = await client.post("/api/support/tickets", json=ticket(victim), headers=headers)
        problem = await resp.json()
        assert resp.status == 429 and problem["type"].endswith("/rate-limited"), problem
        assert "to this address" in problem["detail"] and int(resp.headers["Retry-After"]) > 0
    assert await tickets_to(db, victim) == 3
    assert len(await outbox_for(db, email=victim)) == 3


async def test_attack_one_sender_cannot_write_to_many_recipients(client, db):
    """Five tickets an hour from one address; forged conversation ids change nothing."""
    for n in range(5):
        resp = await client.post("/api/support/tickets", json=ticket(stranger()),
                                 headers={"X-Conversation-Id": f"forged-{n}"})
        assert resp.status == 201, await resp.json()
    before = await count(db, SupportTicket)
    resp = await client.post("/api/support/tickets", json=ticket(stranger()),
                             headers={"X-Conversation-Id": "forged-fresh"})
    problem = await resp.json()
    assert resp.status == 429 and "support requests" in problem["detail"]
    assert await count(db, SupportTicket) == before


async def test_tickets_about_an_order_count_against_its_address(aiohttp_client, settings, db):
    """Opened with the order's token (no e-mail given), the recipient is the order's."""
    client = await behind_the_proxy(aiohttp_client, settings)
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="shipped")
    token = token_for(settings, order["number"])
    for n in range(3):
        resp = await client.post(f"/api/orders/{order['number']}/tickets",
                                 json={"token": token, "kind": "complaint", "message": "Late."},
                                 headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
        assert resp.status == 201, await resp.json()
    resp = await client.post(f"/api/orders/{order['number']}/tickets",
                             json={"token": token, "kind": "complaint", "message": "Late."},
                             headers={"X-Forwarded-For": "203.0.113.99"})
    assert resp.status == 429
    mails = await outbox_for(db, email=order["email"])
    assert len([m for m in mails if m.get("tag") == "ticket-opened"]) == 3
