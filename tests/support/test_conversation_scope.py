"""A conversation id is not a credential: without the action server's service credential,
X-Conversation-Id and X-Channel are ignored, so nobody can tie a ticket, a cart (and the
payment confirmation that follows it) or a stock alert to somebody else's chat, and have the
shop write into it."""

from __future__ import annotations

import uuid

from assistant_calls import SERVICE, from_the_assistant
from shop_factories import make_variant
from sqlalchemy import select

from storefront_api.cart.models import Cart
from storefront_api.fulfilment.models import BackInStockSubscription
from storefront_api.support.models import SupportTicket

VICTIM = "conv-of-somebody-else"


def forged(conversation_id: str = VICTIM) -> dict[str, str]:
    return {"X-Conversation-Id": conversation_id, "X-Channel": "socketio"}


async def test_attack_a_public_ticket_cannot_attach_itself_to_a_conversation(client, db):
    body = {"email": f"shopper-{uuid.uuid4().hex[:8]}@example.com", "kind": "question",
            "message": "where is my parcel?"}
    for headers in (forged(), {**forged(), "Authorization": "Bearer not-the-service-token"}):
        resp = await client.post("/api/support/tickets", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        reference = (await resp.json())["reference"]
        async with db.read() as session:
            ticket = await session.scalar(select(SupportTicket)
                                          .where(SupportTicket.reference == reference))
        assert (ticket.conversation_id, ticket.channel) == (None, None)
    # the assistant's own call keeps the conversation, so an agent can answer in the chat
    own = f"conv-{uuid.uuid4().hex}"
    resp = await client.post("/api/support/tickets", json=body,
                             headers=from_the_assistant(own, "socketio"))
    reference = (await resp.json())["reference"]
    async with db.read() as session:
        ticket = await session.scalar(select(SupportTicket)
                                      .where(SupportTicket.reference == reference))
    assert (ticket.conversation_id, ticket.channel) == (own, "socketio")


async def test_attack_a_public_cart_is_not_tied_to_a_conversation(client, db):
    """Its payment confirmation would otherwise be pushed into the victim's chat."""
    resp = await client.post("/api/carts", json={}, headers=forged())
    token = (await resp.json())["token"]
    async with db.read() as session:
        cart = await session.scalar(select(Cart).where(Cart.token == token))
    assert cart.conversation_id is None and cart.channel is None


async def test_attack_a_stock_alert_for_someone_elses_chat_is_refused(client, db):
    variant = await make_variant(db, stock=0)  # sold out: an alert is what one asks for
    resp = await client.post("/api/back-in-stock",
                             json={"variant_id": variant["id"], "conversation_id": VICTIM})
    assert resp.status == 403, await resp.text()
    resp = await client.post("/api/back-in-stock", json={"variant_id": variant["id"]},
                             headers=forged())
    assert resp.status == 422  # no e-mail and (for a stranger) no conversation: where to?
    async with db.read() as session:
        kept = (await session.scalars(select(BackInStockSubscription).where(
            BackInStockSubscription.conversation_id == VICTIM))).all()
    assert kept == []
    resp = await client.post("/api/back-in-stock", json={"variant_id": variant["id"]},
                             headers={**SERVICE, "X-Conversation-Id": f"conv-{uuid.uuid4().hex}"})
    assert resp.status == 201, await resp.text()
