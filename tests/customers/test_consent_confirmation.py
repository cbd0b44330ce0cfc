"""Double opt-in: an e-mail address is granted marketing or advertising only by its owner,
through the link mailed to it (storefront_api/consent/confirmation.py and pages.py); whoever
types an address can still refuse for it, at once. Reminders and audience exports see a
grant only once it is confirmed."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
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


# --- the link itself: what is signed, how, and for how long ---------------------------------

SECRET = "a shop's secret key"
ISSUED = 1_767_225_600  # 2026-01-01 00:00:00 UTC, in seconds


def _documented_token(email: str, customer: int, purposes: str, issued_us: int,
                      secret: str = SECRET) -> str:
    """The rule of the link, written out independently of confirmation.py: ``c1``, the hex
    SHA-256 of the trimmed, lower-cased address, the customer (0: none), the purposes in
    the order analytics, marketing, advertising joined by ``-``, the issue time in unix
    microseconds, joined by dots; then the unpadded base64url HMAC-SHA256 of that text
    under a key of its own, HMAC-SHA256(SECRET_KEY, "aisle consent confirmation")."""
    hashed = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    payload = f"c1.{hashed}.{customer}.{purposes}.{issued_us}"
    key = hmac.new(secret.encode(), b"aisle consent confirmation", hashlib.sha256).digest()
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def test_a_link_is_signed_by_the_documented_rule():
    """So that a link mailed before an upgrade still confirms after it, and a change to the
    signature that signing and checking would share cannot pass unnoticed."""
    token = confirmation.sign_link(SECRET, " Ada@Example.COM ", ["advertising", "marketing"],
                                   customer_id=42, now=ISSUED + 0.25)
    assert token == _documented_token("ada@example.com", 42, "marketing-advertising",
                                      ISSUED * 10**6 + 250_000)
    assert confirmation.sign_link(SECRET, "bob@example.com", ["marketing", "marketing"],
                                  now=ISSUED) == _documented_token(
        "bob@example.com", 0, "marketing", ISSUED * 10**6)
    # made with the secret key itself instead of the confirmation's own key: refused
    payload = token.rsplit(".", 1)[0]
    plain = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
    with pytest.raises(confirmation.LinkInvalid):
        confirmation.read_link(SECRET, f"{payload}.{base64.urlsafe_b64encode(plain).decode()}",
                               now=ISSUED)


def test_a_link_made_by_the_rule_reads_back_what_it_confirms():
    email = "carol@example.com"
    subject = consent.email_subject(email)
    token = _documented_token(email, 42, "analytics-advertising", ISSUED * 10**6)
    link = confirmation.read_link(SECRET, token, now=ISSUED + 3600)
    assert link == confirmation.ConfirmationLink(subject, 42, ("analytics", "advertising"),
                                                 ISSUED * 10**6)
    nobody = confirmation.read_link(SECRET, _documented_token(email, 0, "marketing",
                                                              ISSUED * 10**6), now=ISSUED)
    assert (nobody.customer_id, nobody.purposes) == (None, ("marketing",))
    with pytest.raises(confirmation.LinkInvalid):  # another shop's key
        confirmation.read_link("another key", token, now=ISSUED)


def test_a_link_works_for_seven_days_to_the_millisecond():
    token = confirmation.sign_link(SECRET, "dan@example.com", ["marketing"], now=ISSUED)
    last_moment = ISSUED + 7 * 86400 - 0.001
    assert confirmation.read_link(SECRET, token, now=last_moment).issued_at == ISSUED * 10**6
    with pytest.raises(confirmation.LinkExpired):
        confirmation.read_link(SECRET, token, now=ISSUED + 7 * 86400)


def test_a_token_of_up_to_300_characters_is_read():
    def token(digits: int) -> str:
        return confirmation.sign_link(SECRET, "eve@example.com", consent.PURPOSES,
                                      customer_id=int("9" * digits), now=ISSUED)
    digits = 300 - len(token(1)) + 1
    assert len(token(digits)) == 300
    assert confirmation.read_link(SECRET, token(digits), now=ISSUED).customer_id == int(
        "9" * digits)
    with pytest.raises(confirmation.LinkInvalid):  # signed, but longer than any real one
        confirmation.read_link(SECRET, token(digits + 1), now=ISSUED)


def _link(email: str, purposes: list[str], customer_id: int | None = None):
    """A link signed now, as its owner opens it."""
    sent = time.time()
    return confirmation.read_link(SECRET, confirmation.sign_link(
        SECRET, email, purposes, customer_id=customer_id, now=sent), now=sent)


async def _confirm(db, link) -> str:
    async with db.write() as session:
        return await confirmation.confirm(session, link)


async def test_a_no_given_the_instant_the_link_was_sent_stands(db):
    """A decision at the link's own microsecond counts as made after it; one a microsecond
    earlier, as made before."""
    for before, outcome, in_force_after in ((timedelta(0), "superseded", False),
                                            (timedelta(microseconds=1), "confirmed", True)):
        email = new_email()
        link = _link(email, ["marketing"])
        async with db.write() as session:
            await consent.record(session, [link.subject], (), source="checkout",
                                 purposes=["marketing"], at=link.issued - before)
        assert await _confirm(db, link) == outcome, before
        # the link grants what it names, and records nothing about the other purposes
        assert await in_force(db, [link.subject]) == {
            "analytics": None, "marketing": in_force_after, "advertising": None}, before


async def test_a_no_to_one_purpose_since_leaves_the_other_to_confirm(db):
    link = _link(new_email(), ["marketing", "advertising"])
    async with db.write() as session:
        await consent.record(session, [link.subject], (), source="checkout",
                             purposes=["marketing"], at=link.issued)
    assert await _confirm(db, link) == "confirmed"
    assert await in_force(db, [link.subject]) == {
        "analytics": None, "marketing": False, "advertising": True}


async def test_the_account_shares_a_grant_only_while_the_address_is_its_own(client, db):
    email = new_email()
    account = await sign_up(client, email)  # ticks nothing: no e-mails, nothing to confirm
    account_subject = f"customer:{account['id']}"
    assert await _confirm(db, _link(email, ["advertising"], account["id"])) == "confirmed"
    assert (await in_force(db, [account_subject]))["advertising"] is True
    async with db.read() as session:  # advertising is not the e-mail choice of the account
        assert (await session.get(Customer, account["id"])).marketing_consent is False
    # the account's address changed since the link was mailed: only the address it was
    # mailed to is granted
    async with db.write() as session:
        (await session.get(Customer, account["id"])).email = new_email()
    assert await _confirm(db, _link(email, ["marketing"], account["id"])) == "confirmed"
    assert (await in_force(db, [consent.email_subject(email)]))["marketing"] is True
    assert (await in_force(db, [account_subject]))["marketing"] is False  # from the sign-up
    async with db.read() as session:
        assert (await session.get(Customer, account["id"])).marketing_consent is False


async def test_the_confirmation_mail_is_word_for_word_the_shops(client, db, settings):
    """Whoever typed the address chose none of its words: the whole e-mail, exactly."""
    email = new_email()
    await check_out(client, db, email, ALL)
    [mail] = await mails_to(db, email)
    token = LINK.search(mail["text"]).group(1)
    shop = settings.shop_name
    assert (mail["subject"], mail["html"]) == (f"Please confirm: {shop} may write to you", None)
    assert mail["text"] == (
        f"Hello,\n\nSomeone, we hope you, asked {shop} for this, using this e-mail address:\n\n"
        "- e-mails from us: reminders about items left in your cart, and offers\n"
        "- ads from us on advertising platforms (such as Google and Meta) shown to you by "
        "matching a coded form of this e-mail address\n\n"
        "Nothing of this happens unless you confirm here, within 7 days:\n\n"
        f"{settings.storefront_url.rstrip('/')}/consent/confirm?token={token}\n\n"
        "If it was not you, ignore this e-mail: without your confirmation we send you none of "
        "these, and you can say no at any time.")


@pytest.mark.parametrize("storefront_url", ["https://shop.example/LUX/",
                                            "https://shop.example/LUX"])
def test_the_link_leads_to_the_shop_also_under_a_path(settings, storefront_url):
    """A shop served under a path (one per country here), written with or without its
    final slash: the link keeps the path and has one slash before consent/."""
    shop = dataclasses.replace(settings, storefront_url=storefront_url)
    assert confirmation.confirmation_url(shop, "c1.t") == (
        "https://shop.example/LUX/consent/confirm?token=c1.t")
