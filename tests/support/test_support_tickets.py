"""Complaints and questions: about an order (opened like the lookup) or without one."""

from __future__ import annotations

import re

import pytest
from aftersales_factories import ADMIN, count, make_order, outbox_for, token_for
from assistant_calls import from_the_assistant
from cart_helpers import assert_problem, pick_variants
from sqlalchemy import select

from storefront_api.support.models import SupportTicket

REFERENCE = re.compile(r"T-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}")
CHAT = from_the_assistant("conv-ticket", "whatsapp")
INJECTION = "'; DROP TABLE support_tickets;--"


async def ticket_row(db, reference: str) -> SupportTicket:
    async with db.read() as session:
        return await session.scalar(select(SupportTicket)
                                    .where(SupportTicket.reference == reference))


async def an_order(db) -> dict:
    [variant] = await pick_variants(db, 1, min_stock=3)
    return await make_order(db, [(variant, 1)], status="shipped")


async def test_complaint_about_an_order(client, db):
    order = await an_order(db)
    resp = await client.post(f"/api/orders/{order['number']}/tickets", headers=CHAT, json={
        "email": order["email"], "kind": "complaint", "message": "The box arrived crushed."})
    ticket = await resp.json()
    assert resp.status == 201, ticket
    assert REFERENCE.fullmatch(ticket["reference"])
    assert (ticket["kind"], ticket["status"], ticket["order_number"]) == (
        "complaint", "open", order["number"])
    assert ticket["subject"] == f"Complaint about order {order['number']}"
    row = await ticket_row(db, ticket["reference"])
    assert (row.order_id, row.email, row.conversation_id, row.channel) == (
        order["id"], order["email"], "conv-ticket", "whatsapp")
    [mail] = await outbox_for(db, email=order["email"])
    # the acknowledgement: the reference, and none of the shopper's words
    assert ticket["reference"] in mail["subject"] and ticket["reference"] in mail["text"]
    assert "crushed" not in mail["text"] and "crushed" not in mail["subject"]


async def test_question_with_the_order_token(client, db, settings):
    order = await an_order(db)
    resp = await client.post(f"/api/orders/{order['number']}/tickets", json={
        "token": token_for(settings, order["number"]), "kind": "question",
        "subject": "Gift wrap?", "message": "Can you gift-wrap it?"})
    ticket = await resp.json()
    assert resp.status == 201 and ticket["email"] == order["email"]
    assert ticket["subject"] == "Gift wrap?"


async def test_question_without_an_order(client, db):
    resp = await client.post("/api/support/tickets", headers=CHAT, json={
        "email": " Someone@Example.com ", "kind": "question",
        "message": "Do you ship to Norway?"})
    ticket = await resp.json()
    assert resp.status == 201, ticket
    assert ticket["order_number"] is None and ticket["email"] == "someone@example.com"
    assert (await ticket_row(db, ticket["reference"])).conversation_id == "conv-ticket"


async def test_general_ticket_naming_an_order(client, db):
    order = await an_order(db)
    resp = await client.post("/api/support/tickets", json={
        "email": order["email"], "kind": "complaint", "message": "Late.",
        "order_number": order["number"].lower()})
    ticket = await resp.json()
    assert resp.status == 201 and ticket["order_number"] == order["number"]
    before = await count(db, SupportTicket)
    resp = await client.post("/api/support/tickets", json={
        "email": "someone-else@example.com", "kind": "complaint", "message": "Late.",
        "order_number": order["number"]})
    body = await resp.json()
    assert_problem(resp.status, resp.content_type, body, 404)
    assert body["type"].endswith("order-not-found")
    assert await count(db, SupportTicket) == before


async def test_injection_strings_are_kept_as_text(client, db):
    resp = await client.post("/api/support/tickets", json={
        "email": "bobby@example.com", "kind": "question", "subject": INJECTION,
        "message": INJECTION + " <script>alert(1)</script>"})
    ticket = await resp.json()
    assert resp.status == 201
    assert (await ticket_row(db, ticket["reference"])).subject == INJECTION


async def test_admin_lists_tickets_by_status(client, db):
    resp = await client.post("/api/support/tickets", json={
        "email": "lister@example.com", "kind": "question", "message": "Hello?"})
    reference = (await resp.json())["reference"]
    resp = await client.get("/api/admin/support/tickets", params={"status": "open"},
                            headers=ADMIN)
    tickets = (await resp.json())["tickets"]
    assert reference in [t["reference"] for t in tickets]
    assert all(t["status"] == "open" for t in tickets)
    resp = await client.get("/api/admin/support/tickets", params={"status": "closed"},
                            headers=ADMIN)
    assert reference not in [t["reference"] for t in (await resp.json())["tickets"]]
    resp = await client.get("/api/admin/support/tickets")
    assert resp.status == 401


TEN_KB = "x" * 10_240


@pytest.mark.parametrize("path,body,status", [
    ("/api/support/tickets", b"{not json", 400),
    ("/api/support/tickets", b"[]", 400),
    ("/api/support/tickets", {}, 422),
    ("/api/support/tickets", {"email": "not-an-email", "kind": "question", "message": "Hi"},
     422),
    ("/api/support/tickets", {"email": INJECTION, "kind": "question", "message": "Hi"}, 422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "praise", "message": "Hi"}, 422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": ""}, 422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": "  "}, 422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": "x" * 5001},
     422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": "Hi",
                              "subject": "x" * 201}, 422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": "Hi",
                              "order_number": "ZZ-00000"}, 404),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": "Hi",
                              "order_number": TEN_KB}, 422),
    ("/api/support/tickets", {"email": "a@b.co", "kind": "question", "message": "Hi",
                              "priority": "urgent"}, 422),
    ("/api/orders/{number}/tickets", {"email": "wrong@example.com", "kind": "question",
                                      "message": "Hi"}, 404),
    ("/api/orders/ZZ-00000/tickets", {"email": "{email}", "kind": "question",
                                      "message": "Hi"}, 404),
    ("/api/orders/{number}/tickets", {"kind": "question", "message": "Hi"}, 422),
    ("/api/orders/{number}/tickets", {"email": "{email}", "kind": "question",
                                      "message": TEN_KB}, 422),
    ("/api/orders/{number}/tickets", {"email": "{email}", "kind": "question"}, 422),
    ("/api/admin/support/tickets?status=bogus", None, 422),
])
async def test_bad_input_opens_no_ticket(client, db, path, body, status):
    order = await an_order(db)
    before = await count(db, SupportTicket)
    path = path.replace("{number}", order["number"])
    if isinstance(body, dict):
        body = {k: (order["email"] if v == "{email}" else v) for k, v in body.items()}
    if body is None:
        resp = await client.get(path, headers=ADMIN)
    elif isinstance(body, bytes):
        resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    else:
        resp = await client.post(path, json=body)
    assert_problem(resp.status, resp.content_type, await resp.json(), status)
    assert await count(db, SupportTicket) == before
