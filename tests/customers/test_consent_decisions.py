"""Consent per purpose: what X-Consent states, where each decision is recorded (with its time
and source), that the latest one wins, and who may decide for whom."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import datetime, timedelta

import pytest
from assistant_calls import from_the_assistant
from cart_helpers import add_item, assert_problem, cart_id, pick_variants
from shop_factories import cart_with, checkout_body, make_variant
from sqlalchemy import select

from storefront_api.consent import service as consent
from storefront_api.consent.models import ConsentDecision
from storefront_api.customers.models import Customer
from storefront_api.db import Database
from storefront_api.events.models import Event
from storefront_api.migrations import upgrade_async

PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"consent-{uuid.uuid4().hex[:10]}@example.com"


async def decisions(db, subject: str) -> dict[str, ConsentDecision]:
    """The decision in force per purpose for one subject."""
    async with db.read() as session:
        return {purpose: await consent.latest(session, [subject], purpose)
                for purpose in consent.PURPOSES}


def granted(found: dict[str, ConsentDecision]) -> dict[str, bool | None]:
    return {purpose: None if d is None else d.granted for purpose, d in found.items()}


@pytest.mark.parametrize("header, purposes", [
    (None, None), ("", None), ("   ", None), ("maybe", None),
    ("granted", {"analytics"}), ("TRUE", {"analytics"}), ("yes", {"analytics"}),
    ("denied", set()), ("none", set()), ("0", set()),
    ("analytics,marketing", {"analytics", "marketing"}),
    ("Marketing; Advertising", {"marketing", "advertising"}),
    ("advertising, frobnicate", {"advertising"}),
    ("granted,marketing", {"analytics", "marketing"}),
    ("analytics," * 1000 + "marketing", {"analytics"}),  # read up to 200 characters only
])
def test_what_x_consent_states(header, purposes):
    assert consent.parse(header) == (None if purposes is None else frozenset(purposes))


async def test_the_cookie_banner_decision_is_recorded_and_the_latest_wins(client, db):
    session_id = f"web-{uuid.uuid4().hex}"
    headers = {"X-Session-Id": session_id}
    resp = await client.post("/api/consent", headers=headers,
                             json={"granted": ["analytics", "advertising"],
                                   "source": "cookie-banner"})
    body = await resp.json()
    assert resp.status == 201, body
    assert {p: d["granted"] for p, d in body["consent"].items()} == {
        "analytics": True, "marketing": False, "advertising": True}
    assert {d["source"] for d in body["consent"].values()} == {"cookie-banner"}
    resp = await client.post("/api/consent", headers=headers, json={"granted": ["analytics"]})
    assert resp.status == 201
    now = await (await client.get("/api/consent", headers=headers)).json()
    assert {p: d["granted"] for p, d in now["consent"].items()} == {
        "analytics": True, "marketing": False, "advertising": False}
    assert now["consent"]["advertising"]["source"] == "api"
    async with db.read() as session:
        rows = (await session.scalars(select(ConsentDecision).where(
            ConsentDecision.subject == f"session:{session_id}"))).all()
    assert len(rows) == 6  # every decision kept, with its time and source
    assert all(row.recorded_at is not None for row in rows)


@pytest.mark.parametrize("body, headers, status", [
    ({"granted": ["analytics"]}, {}, 422),  # whose consent?
    ({"granted": ["analytics"]}, {"X-Conversation-Id": "someone-elses-chat"}, 422),
    ({"granted": ["analytics"], "source": "chat"}, {"X-Session-Id": "s"}, 422),
    ({"granted": ["profiling"]}, {"X-Session-Id": "s"}, 422),
    ({"granted": "analytics"}, {"X-Session-Id": "s"}, 422),
    ({"granted": ["analytics"], "email": "victim@example.com"}, {"X-Session-Id": "s"}, 422),
    ({"granted": ["marketing"]}, {"Authorization": "Bearer v1.1.9999999999.forged"}, 401),
])
async def test_attack_nobody_decides_for_someone_else(client, db, body, headers, status):
    """No e-mail address, conversation or account can be named in the body or forged in a
    header: decisions go to the caller's own session, account or (the assistant's)
    conversation."""
    async with db.read() as session:
        before = len((await session.scalars(select(ConsentDecision.id))).all())
    resp = await client.post("/api/consent", json=body, headers=headers)
    assert_problem(resp.status, resp.content_type, await resp.json(), status)
    async with db.read() as session:
        assert len((await session.scalars(select(ConsentDecision.id))).all()) == before


async def test_a_signed_in_customer_decides_for_their_account_and_address(client, db):
    email = new_email()
    resp = await client.post("/api/customers", json={"email": email, "password": PASSWORD,
                                                      "marketing_consent": True})
    customer = await resp.json()
    # the tick waits for the address's owner (tests/customers/test_consent_confirmation.py)
    assert customer["awaiting_confirmation"] == ["marketing"]
    assert (await decisions(db, f"customer:{customer['id']}"))["marketing"] is None
    signed_in = await (await client.post("/api/customers/sign-in", json={
        "email": email, "password": PASSWORD})).json()
    bearer = {"Authorization": f"Bearer {signed_in['customer_token']}"}
    resp = await client.post("/api/consent", headers=bearer, json={"granted": []})
    assert resp.status == 201
    assert (await resp.json())["awaiting_confirmation"] == []
    for subject in (f"customer:{customer['id']}", consent.email_subject(email)):
        assert granted(await decisions(db, subject)) == {
            "analytics": False, "marketing": False, "advertising": False}
    me = await (await client.get("/api/customers/me", headers=bearer)).json()
    assert me["marketing_consent"] is False  # the account page shows the e-mail choice


async def test_sign_up_records_the_box_and_the_header(client, db):
    email = new_email()
    resp = await client.post("/api/customers", headers={"X-Consent": "analytics"},
                             json={"email": email, "password": PASSWORD,
                                   "marketing_consent": True})
    customer = await resp.json()
    assert resp.status == 201, customer
    assert customer["awaiting_confirmation"] == ["marketing"]
    found = await decisions(db, consent.email_subject(email))
    # nobody proved the address is theirs: it gets the refusals at once, and the tick once
    # its owner confirms it (tests/customers/test_consent_confirmation.py)
    assert granted(found) == {"analytics": None, "marketing": None, "advertising": False}
    assert {d.source for d in found.values() if d} == {"signup"}
    # without a header, only the box is a decision (the other purposes were never asked)
    other = new_email()
    await client.post("/api/customers", json={"email": other, "password": PASSWORD})
    assert granted(await decisions(db, consent.email_subject(other))) == {
        "analytics": None, "marketing": False, "advertising": None}


@pytest.mark.parametrize("header, expected, for_the_address", [
    # the address typed gets the refusals at once, grants only from its owner
    ("granted", {"analytics": True, "marketing": False, "advertising": False},
     {"analytics": None, "marketing": False, "advertising": False}),
    ("analytics,marketing", {"analytics": True, "marketing": True, "advertising": False},
     {"analytics": None, "marketing": None, "advertising": False}),
    ("denied", {"analytics": False, "marketing": False, "advertising": False}, None),
    (None, {"analytics": None, "marketing": None, "advertising": None}, None),
])
async def test_checkout_records_the_shoppers_decision(client, db, header, expected,
                                                      for_the_address):
    variant = await make_variant(db, stock=5)
    email, session_id = new_email(), f"web-{uuid.uuid4().hex}"
    headers = {"X-Session-Id": session_id, **({"X-Consent": header} if header else {})}
    token = await cart_with(client, variant["id"])
    # the summary is not a decision point: nothing recorded
    await client.post(f"/api/carts/{token}/checkout/preview",
                      json=checkout_body(email=email), headers=headers)
    assert granted(await decisions(db, consent.email_subject(email)))["analytics"] is None
    resp = await client.post(f"/api/carts/{token}/checkout", json=checkout_body(email=email),
                             headers=headers)
    assert resp.status == 201
    for subject, wanted in ((consent.email_subject(email), for_the_address or expected),
                            (f"session:{session_id}", expected)):
        found = await decisions(db, subject)
        assert granted(found) == wanted
        assert all(d is None or d.source == "checkout" for d in found.values())


async def test_the_assistant_records_for_its_conversation(client, db):
    conversation = f"conv-{uuid.uuid4().hex}"
    resp = await client.post("/api/consent", headers=from_the_assistant(conversation, "web"),
                             json={"granted": ["marketing"]})
    assert resp.status == 201
    found = await decisions(db, f"conversation:{conversation}")
    assert granted(found)["marketing"] is True and found["marketing"].source == "chat"


@pytest.mark.parametrize("header, keeps_identifiers", [
    ("granted", True), ("analytics,advertising", True), ("marketing,advertising", False),
    ("denied", False), (None, False)])
async def test_events_keep_identifiers_only_with_analytics_consent(client, db, header,
                                                                   keeps_identifiers):
    email = new_email()
    await client.post("/api/customers", json={"email": email, "password": PASSWORD})
    resp = await client.post("/api/customers/sign-in", json={"email": email,
                                                             "password": PASSWORD})
    signed_in = await resp.json()
    token = signed_in["cart"]["token"]
    [variant] = await pick_variants(db, 1, min_stock=2)
    await add_item(client, token, variant_id=variant["id"],
                   headers={"X-Consent": header} if header else None)
    async with db.read() as session:
        event = (await session.scalars(select(Event).where(
            Event.name == "add_to_cart", Event.cart_id == str(await cart_id(db, token))))).one()
    assert event.consent is keeps_identifiers
    assert (event.customer_id == str(signed_in["customer"]["id"])) is keeps_identifiers


async def test_migration_turns_marketing_ticks_into_decisions(empty_url):
    """0009 gives the customers of before their sign-up tick as a marketing decision."""
    from alembic import command
    from sqlalchemy import text

    from storefront_api.migrations import alembic_config
    # the schema of before (Alembic runs its own event loop: in a thread)
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), "0008")
    db = Database(empty_url)
    try:
        async with db.write() as session:
            await session.execute(text(
                "INSERT INTO customers (email, name, password_hash, marketing_consent, "
                "created_at) VALUES ('yes@example.com', '', '-', :yes, '2026-01-02 03:04:05'),"
                " ('no@example.com', '', '-', :no, '2026-01-02 03:04:05')"),
                {"yes": True, "no": False})
    finally:
        await db.dispose()
    await upgrade_async(empty_url)
    db = Database(empty_url)
    try:
        async with db.read() as session:
            ids = dict((await session.execute(select(Customer.email, Customer.id))).all())
            for email, expected in (("yes@example.com", True), ("no@example.com", False)):
                decision = await consent.latest(session, [f"customer:{ids[email]}"],
                                                "marketing")
                assert (decision.granted, decision.source) == (expected, "signup")
                assert decision.recorded_at.year == 2026
    finally:
        await db.dispose()


def test_the_subjects_of_one_shopper_in_a_fixed_order_with_long_ids_cut():
    hashed = hashlib.sha256(b"ada@example.com").hexdigest()
    assert consent.subjects(conversation_id="c" * 200, session_id="s" * 200,
                            email=" Ada@Example.COM ", customer_id=7) == [
        "customer:7", f"email:{hashed}", "session:" + "s" * 128, "conversation:" + "c" * 128]
    assert consent.subjects(session_id="web-1") == ["session:web-1"]
    assert consent.subjects(customer_id=0, email="", session_id="", conversation_id="") == []


def test_an_address_with_a_lone_surrogate_still_gets_its_subject():
    """JSON may carry "\\udcff": the address is hashed as written (its UTF-8 bytes with the
    surrogate kept), not refused with a server error."""
    expected = hashlib.sha256(b"\xed\xb3\xbfa@example.com").hexdigest()
    assert consent.email_subject(" \udcffA@example.com") == f"email:{expected}"


async def test_record_takes_an_owners_grant_for_an_address_only_from_the_owner(db):
    address = consent.email_subject(new_email())
    session_subject = f"session:web-{uuid.uuid4().hex}"
    async with db.write() as session:
        for source in ("checkout", "signup", "chat", "api", "cookie-banner"):
            for purpose in ("marketing", "advertising"):
                with pytest.raises(ValueError) as refused:
                    await consent.record(session, [session_subject, address], {purpose},
                                         source=source)
                assert str(refused.value) == ("only the address's owner grants it marketing "
                                              "or advertising (consent/confirmation.py)")
        with pytest.raises(ValueError) as refused:
            await consent.record(session, [session_subject], (), source="newsletter")
        assert str(refused.value) == "unknown consent source 'newsletter'"
        # a grant of those purposes outside the purposes recorded grants the address nothing
        await consent.record(session, [address], {"analytics", "marketing"}, source="checkout",
                             purposes=["analytics"])
    assert granted(await decisions(db, address)) == {
        "analytics": True, "marketing": None, "advertising": None}
    assert granted(await decisions(db, session_subject)) == {
        "analytics": None, "marketing": None, "advertising": None}


async def test_the_latest_decision_is_the_latest_in_time_then_the_last_recorded(db):
    """Decisions can be recorded out of time order (a migrated sign-up tick keeps its old
    time); at one instant, the one recorded last stands."""
    subject = f"session:web-{uuid.uuid4().hex}"
    noon = datetime(2026, 5, 1, 12)
    async with db.write() as session:
        async def decide(purpose: str, yes: bool, at: datetime) -> None:
            await consent.record(session, [subject], {purpose} if yes else (), source="api",
                                 purposes=[purpose], at=at)
        await decide("marketing", True, noon + timedelta(minutes=1))
        await decide("marketing", False, noon)  # recorded after, about an earlier moment
        await decide("analytics", False, noon)
        await decide("analytics", True, noon)
        await decide("advertising", True, noon)
        await decide("advertising", False, noon)
    assert granted(await decisions(db, subject)) == {
        "analytics": True, "marketing": True, "advertising": False}
    # the same among one shopper's subjects: their chat said yes, then their session no
    for chat_first in (True, False):
        chat, browser = f"conversation:{uuid.uuid4().hex}", f"session:web-{uuid.uuid4().hex}"
        first, then = (chat, browser) if chat_first else (browser, chat)
        async with db.write() as session:
            await consent.record(session, [first], {"analytics"}, source="api",
                                 purposes=["analytics"], at=noon)
            await consent.record(session, [then], (), source="api", purposes=["analytics"],
                                 at=noon)
        async with db.read() as session:
            assert (await consent.granted(session, [chat, browser], "analytics")) is False


async def test_a_sign_up_box_decides_only_about_e_mails_for_the_session(client, db):
    """Without X-Consent the sign-up asked one question, the e-mail box: the visitor's
    session gets that answer and nothing about analytics or ads."""
    session_id = f"web-{uuid.uuid4().hex}"
    await client.post("/api/customers", headers={"X-Session-Id": session_id},
                      json={"email": new_email(), "password": PASSWORD,
                            "marketing_consent": True})
    assert granted(await decisions(db, f"session:{session_id}")) == {
        "analytics": None, "marketing": True, "advertising": None}
