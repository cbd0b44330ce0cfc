"""Double opt-in: an e-mail address is granted marketing or advertising only by its owner,
through the link mailed to it (storefront_api/consent/confirmation.py and pages.py); whoever
types an address can still refuse for it, at once. Reminders and audience exports see a
grant only once it is confirmed."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from aiohttp.test_utils import make_mocked_request
from cart_helpers import cart_id
from shop_factories import ADDRESS, cart_with, checkout_body, make_variant
from sqlalchemy import func, select

from analytics.audience import hash_email
from analytics.consent import advertising_consents
from storefront_api.access_log import redacted_path
from storefront_api.auth import sign_customer_token
from storefront_api.cart.models import Cart
from storefront_api.consent import confirmation
from storefront_api.consent import service as consent
from storefront_api.consent.models import ConsentDecision
from storefront_api.customers.models import Customer
from storefront_api.db import utcnow
from storefront_api.outbox.models import OutboxMessage
from storefront_api.recovery.eligibility import RecoveryPolicy, assess

PASSWORD = "correct horse battery"
ALL = "analytics,marketing,advertising"
LINK = re.compile(r"https?://\S+/consent/confirm\?token=(\S+)")


def new_email() -> str:
    return f"owner-{uuid.uuid4().hex[:10]}@example.com"


async def in_force(db, subjects: list[str]) -> dict[str, bool | None]:
    """The decision in force per purpose among ``subjects`` (consent.service.latest)."""
    async with db.read() as session:
        found = {p: await consent.latest(session, subjects, p) for p in consent.PURPOSES}
    return {p: None if d is None else d.granted for p, d in found.items()}


async def decision_count(db, subject: str) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(ConsentDecision)
                                    .where(ConsentDecision.subject == subject))


async def mails_to(db, email: str) -> list[dict]:
    async with db.read() as session:
        rows = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "email").order_by(OutboxMessage.id))).all()
    return [m.payload for m in rows
            if m.payload["to"] == email and m.payload["tag"] == "consent-confirmation"]


async def token_mailed_to(db, email: str) -> str:
    [mail] = await mails_to(db, email)
    return LINK.search(mail["text"]).group(1)


async def check_out(client, db, email: str, consent_header: str | None, *,
                    session_id: str | None = None, address=None) -> str:
    """A fresh cart of a product of its own, checked out for ``email``: its token."""
    variant = await make_variant(db, stock=5)
    token = await cart_with(client, variant["id"])
    headers = {"X-Session-Id": session_id or f"web-{uuid.uuid4().hex}",
               **({"X-Consent": consent_header} if consent_header else {})}
    resp = await client.post(f"/api/carts/{token}/checkout", headers=headers,
                             json=checkout_body(email=email, address=address))
    assert resp.status == 201, await resp.text()
    return token


async def open_and_confirm(client, token: str) -> str:
    """The owner opens the link and presses the button: the page's text."""
    page = await client.get("/consent/confirm", params={"token": token})
    assert page.status == 200
    form = await page.text()
    assert 'method="post"' in form and 'action="/consent/confirm"' in form
    done = await client.post("/consent/confirm", data={"token": token})
    assert done.status == 200
    return await done.text()


async def sign_up(client, email: str, headers=None, **fields) -> dict:
    resp = await client.post("/api/customers", headers=headers,
                             json={"email": email, "password": PASSWORD, **fields})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_attack_a_checkout_cannot_grant_for_someone_elses_address(client, db):
    """The reviewer's reproduction: the victim refused everything at sign-up; an anonymous
    stranger checks out with the victim's address and grants everything."""
    victim = new_email()
    account = await sign_up(client, victim, headers={"X-Consent": "denied"})
    theirs = [f"customer:{account['id']}", consent.email_subject(victim)]
    attacker_session = f"web-{uuid.uuid4().hex}"
    lure = {**ADDRESS, "name": "Mallory Claim Your Prize Now"}
    token = await check_out(client, db, victim, ALL, session_id=attacker_session, address=lure)

    for subject in theirs:
        decided = await in_force(db, [subject])
        assert decided["marketing"] is False and decided["advertising"] is False, subject
    assert await in_force(db, theirs) == {"analytics": False, "marketing": False,
                                          "advertising": False}
    # what the stranger controls, their own session, carries their decision
    assert await in_force(db, [f"session:{attacker_session}"]) == {
        "analytics": True, "marketing": True, "advertising": True}
    # the victim is asked, in words that are all the shop's own
    [mail] = await mails_to(db, victim)
    assert "reminders about items left in your cart" in mail["text"]
    assert "advertising platforms" in mail["text"]
    for written_by_the_stranger in ("Mallory", "Prize", lure["line1"], lure["postal_code"],
                                    attacker_session, token, "Test Tee"):  # their cart too
        assert written_by_the_stranger not in mail["subject"] + mail["text"]
    assert mail["html"] is None  # no markup of anyone's choosing either


async def test_attack_a_sign_up_cannot_grant_for_an_address_it_does_not_own(client, db):
    """An account made with an address nobody proved: the grant stays the caller's (their
    session) until the owner confirms; the mail does not repeat the name they chose."""
    email, session_id = new_email(), f"web-{uuid.uuid4().hex}"
    account = await sign_up(client, email, headers={"X-Consent": ALL,
                                                    "X-Session-Id": session_id},
                            name="Visit evil dot example", marketing_consent=True)
    assert account["awaiting_confirmation"] == ["marketing", "advertising"]
    assert account["marketing_consent"] is False
    for subject in (f"customer:{account['id']}", consent.email_subject(email)):
        decided = await in_force(db, [subject])
        assert (decided["marketing"], decided["advertising"]) == (None, None), subject
    assert (await in_force(db, [f"session:{session_id}"]))["marketing"] is True
    [mail] = await mails_to(db, email)
    assert "evil" not in mail["text"] and "Visit" not in mail["text"]


async def test_the_link_confirms_only_when_its_button_is_pressed(client, db, settings):
    email = new_email()
    account = await sign_up(client, email, marketing_consent=True)
    token = await token_mailed_to(db, email)
    subject = consent.email_subject(email)
    before = await decision_count(db, subject)
    # a mail scanner or a link preview opens the link: nothing is recorded
    for _ in range(2):
        page = await client.get("/consent/confirm", params={"token": token})
        assert page.status == 200
        html = await page.text()
        assert "reminders about items left in your cart" in html and email not in html
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    assert await decision_count(db, subject) == before
    assert "Thank you" in await open_and_confirm(client, token)
    for who in (subject, f"customer:{account['id']}"):
        async with db.read() as session:
            decision = await consent.latest(session, [who], "marketing")
        assert (decision.granted, decision.source) == (True, "email-confirmation"), who
    async with db.read() as session:
        assert (await session.get(Customer, account["id"])).marketing_consent is True


async def test_a_used_link_changes_nothing_more(client, db):
    email = new_email()
    await check_out(client, db, email, "marketing,advertising")
    token = await token_mailed_to(db, email)
    await open_and_confirm(client, token)
    subject = consent.email_subject(email)
    recorded = await decision_count(db, subject)
    again = await open_and_confirm(client, token)
    assert "Already confirmed" in again
    assert await decision_count(db, subject) == recorded
    assert await in_force(db, [subject]) == {"analytics": False, "marketing": True,
                                             "advertising": True}


def _tampered(token: str) -> list[str]:
    head, signature = token.rsplit(".", 1)
    parts = head.split(".")
    other_address = consent.email_subject(new_email()).removeprefix("email:")
    return [
        f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",  # signature changed
        ".".join([*parts[:3], "marketing-advertising", parts[4]]) + "." + signature,  # more
        ".".join([parts[0], other_address, *parts[2:]]) + "." + signature,  # someone else
        ".".join([*parts[:4], str(int(parts[4]) + 86400 * 10**6)]) + "." + signature,  # later
        token[:-5], "", "x" * 5000, "c1.....", token + ".extra",
    ]


async def test_attack_a_tampered_or_expired_link_records_nothing(client, db, settings):
    email = new_email()
    account = await sign_up(client, email, marketing_consent=True)
    token = await token_mailed_to(db, email)
    subject = consent.email_subject(email)
    before = await decision_count(db, subject)
    customer_token = sign_customer_token(settings.secret_key, account["id"]).token
    expired = confirmation.sign_link(settings.secret_key, email, ["marketing"],
                                     now=time.time() - 8 * 86400)
    other_key = confirmation.sign_link("another-shop's-key", email, ["marketing"])
    cases = [(bad, 400) for bad in (*_tampered(token), customer_token, other_key)]
    cases.append((expired, 410))
    for bad, status in cases:
        page = await client.get("/consent/confirm", params={"token": bad})
        assert page.status == status, bad
        post = await client.post("/consent/confirm", data={"token": bad})
        assert post.status == status, bad
        assert "Nothing was changed" in await post.text()
    # a body that is no form at all
    assert (await client.post("/consent/confirm", json={"token": token})).status == 400
    assert await decision_count(db, subject) == before
    assert (await in_force(db, [subject]))["marketing"] is None


async def test_a_no_given_after_the_link_was_sent_stands(client, db):
    """A later refusal outranks an older link: nobody can revive a withdrawn grant with it."""
    email = new_email()
    await check_out(client, db, email, "marketing")
    token = await token_mailed_to(db, email)
    await check_out(client, db, email, "denied")  # anyone may refuse for an address
    assert "Nothing changed" in await open_and_confirm(client, token)
    assert (await in_force(db, [consent.email_subject(email)]))["marketing"] is False


async def test_attack_confirmation_emails_are_limited_per_address(client, db):
    """Checkouts naming one address over and over: three e-mails a day reach it, the
    checkouts all go through."""
    email = new_email()
    for _ in range(5):
        await check_out(client, db, email, "marketing")
    assert len(await mails_to(db, email)) == 3
    other = new_email()  # per address: another address is not affected
    await check_out(client, db, other, "marketing")
    assert len(await mails_to(db, other)) == 1


async def test_no_mail_when_the_address_already_granted_it(client, db):
    email = new_email()
    await check_out(client, db, email, "marketing")
    await open_and_confirm(client, await token_mailed_to(db, email))
    await check_out(client, db, email, "analytics,marketing")
    assert len(await mails_to(db, email)) == 1


async def test_a_withdrawal_applies_at_once(client, db, shop_url):
    email = new_email()
    await check_out(client, db, email, "marketing,advertising")
    await open_and_confirm(client, await token_mailed_to(db, email))
    assert hash_email(email) in advertising_consents(shop_url)
    await check_out(client, db, email, "analytics")  # leaves marketing and advertising out
    decided = await in_force(db, [consent.email_subject(email)])
    assert (decided["marketing"], decided["advertising"]) == (False, False)
    assert hash_email(email) not in advertising_consents(shop_url)
    assert len(await mails_to(db, email)) == 1  # a refusal asks nobody anything


async def _reminder(db, settings, token: str):
    """How the reminder job judges the cart three hours from now (idle by then)."""
    async with db.read() as session:
        cart = await session.get(Cart, await cart_id(db, token))
        return await assess(session, cart, RecoveryPolicy.from_settings(settings),
                            utcnow() + timedelta(hours=3))


async def test_reminders_and_the_audience_see_a_grant_only_once_confirmed(client, db,
                                                                         settings, shop_url):
    email = new_email()
    token = await check_out(client, db, email, "marketing,advertising")
    before = await _reminder(db, settings, token)
    assert (before.reason, before.kinds) == ("no-consent", [])
    assert hash_email(email) not in advertising_consents(shop_url)
    await open_and_confirm(client, await token_mailed_to(db, email))
    after = await _reminder(db, settings, token)
    assert (after.reason, after.kinds, after.email) == ("eligible", ["email"], email)
    assert hash_email(email) in advertising_consents(shop_url)


async def test_a_signed_in_customer_confirms_a_grant_for_their_address(client, db):
    """Nobody verified an account's address: the account's own decision counts at once,
    the address's once confirmed; a refusal reaches both at once."""
    email = new_email()
    account = await sign_up(client, email)
    signed_in = await (await client.post("/api/customers/sign-in", json={
        "email": email, "password": PASSWORD})).json()
    bearer = {"Authorization": f"Bearer {signed_in['customer_token']}"}
    resp = await client.post("/api/consent", headers=bearer,
                             json={"granted": ["marketing", "advertising"]})
    body = await resp.json()
    assert resp.status == 201, body
    assert body["awaiting_confirmation"] == ["marketing", "advertising"]
    account_subject, address = f"customer:{account['id']}", consent.email_subject(email)
    assert (await in_force(db, [account_subject]))["marketing"] is True
    assert (await in_force(db, [address]))["marketing"] is False  # from the sign-up
    assert (await in_force(db, [address]))["advertising"] is None
    await open_and_confirm(client, await token_mailed_to(db, email))
    assert await in_force(db, [address]) == {"analytics": False, "marketing": True,
                                             "advertising": True}
    resp = await client.post("/api/consent", headers=bearer, json={"granted": []})
    assert (await resp.json())["awaiting_confirmation"] == []
    for subject in (account_subject, address):
        assert await in_force(db, [subject]) == {"analytics": False, "marketing": False,
                                                 "advertising": False}


@pytest.mark.parametrize("header", ["granted", "analytics", "denied", None])
async def test_no_mail_without_a_grant_that_needs_the_owner(client, db, header):
    email = new_email()
    await check_out(client, db, email, header)
    assert await mails_to(db, email) == []


def test_the_token_stays_out_of_the_access_log():
    request = make_mocked_request("GET", "/consent/confirm?token=c1.abc.0.marketing.1.sig")
    assert redacted_path(request) == "/consent/confirm?token=***"
