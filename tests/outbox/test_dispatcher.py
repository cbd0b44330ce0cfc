"""The outbox sender against a fresh database (SQLite and PostgreSQL): .eml files, a real
SMTP conversation, Rasa notices with retries, and two senders sharing the work."""

from __future__ import annotations

import asyncio
import email
import logging
from datetime import timedelta
from email import policy
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select

from outbox_fakes import FakeRasa, FakeSmtpServer, self_signed_tls

from storefront_api.db import Database, utcnow
from storefront_api.outbox.delivery import PermanentFailure
from storefront_api.outbox.dispatcher import (FAILED_FOR_GOOD, GIVE_UP_AFTER, LEASE,
                                              OutboxDispatcher, retry_delay, retry_schedule)
from storefront_api.outbox.models import OutboxMessage
from storefront_api.outbox.service import enqueue_conversation_notice, enqueue_email
from storefront_api.settings import Settings


@pytest.fixture
async def outbox_db(empty_url):
    database = Database(empty_url)
    yield database
    await database.dispose()


def make_settings(empty_url, tmp_path, **overrides) -> Settings:
    return Settings.from_env(database_url=empty_url, var_dir=tmp_path, **overrides)


async def add_email(db, to="ada@example.com", subject="Order AB-12345 confirmed — Shop",
                    text="Total paid: €42.00\n.leading dot line\n", tag="order-confirmation"):
    async with db.write() as session:
        await enqueue_email(session, to=to, subject=subject, text=text, tag=tag)


async def add_notices(db, *conversation_ids: str, intent="EXTERNAL_order_shipped"):
    async with db.write() as session:
        for conversation_id in conversation_ids:
            await enqueue_conversation_notice(session, conversation_id=conversation_id,
                                              intent=intent, entities={"order_number": "AB-1"})


async def messages(db) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.scalars(select(OutboxMessage)
                                           .order_by(OutboxMessage.id))).all())


# --- e-mail ---------------------------------------------------------------------------------

async def test_emails_become_eml_files(outbox_db, empty_url, tmp_path):
    settings = make_settings(empty_url, tmp_path)
    await add_email(outbox_db)
    await add_email(outbox_db, to="grace@example.com", subject="Your order has shipped",
                    text="On its way.\n", tag="order-shipped")
    sender = OutboxDispatcher(outbox_db, settings)
    try:
        assert await sender.run_once() == 2
        assert await sender.run_once() == 0  # nothing is sent twice
    finally:
        await sender.close()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "outbox").glob(".*"))
    first = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert first["From"] == "Aisle Demo Shop <orders@localhost>"
    assert first["To"] == "ada@example.com"
    assert first["Subject"] == "Order AB-12345 confirmed — Shop"
    assert first["X-Aisle-Tag"] == "order-confirmation"
    assert first["Message-ID"].startswith("<aisle.") and first["Message-ID"].endswith("@localhost>")
    assert abs(parsedate_to_datetime(first["Date"]).timestamp()
               - utcnow().timestamp() - _utc_offset()) < 60
    assert first.get_content() == "Total paid: €42.00\n.leading dot line\n"
    second = email.message_from_bytes(files[1].read_bytes(), policy=policy.default)
    assert second["To"] == "grace@example.com"  # names sort in sending order
    rows = await messages(outbox_db)
    assert [(m.status, m.attempts) for m in rows] == [("sent", 1), ("sent", 1)]
    assert all(m.sent_at for m in rows)


def _utc_offset() -> float:
    """utcnow() is naive UTC; .timestamp() reads naive times as local time."""
    now = utcnow()
    return now.timestamp() - now.replace(tzinfo=__import__("datetime").timezone.utc).timestamp()


async def test_mail_from_is_configurable(outbox_db, empty_url, tmp_path):
    settings = make_settings(empty_url, tmp_path, mail_from="Harbour Goods <shop@harbour.test>",
                             storefront_url="https://shop.harbour.test")
    await add_email(outbox_db)
    sender = OutboxDispatcher(outbox_db, settings)
    await sender.run_once()
    [file] = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
    assert message["From"] == "Harbour Goods <shop@harbour.test>"
    assert message["Message-ID"].endswith("@shop.harbour.test>")


async def test_smtp_delivery(outbox_db, empty_url, tmp_path, monkeypatch):
    tls, certificate = self_signed_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # trust the fake's certificate
    server = await FakeSmtpServer(user="shop", password="s3cret!", tls=tls).start()
    try:
        settings = make_settings(empty_url, tmp_path,
                                 smtp_url=f"smtp://shop:s3cret%21@127.0.0.1:{server.port}")
        await add_email(outbox_db)
        sender = OutboxDispatcher(outbox_db, settings)
        assert await sender.run_once() == 1
    finally:
        await server.stop()
    [delivered] = server.messages
    assert server.logins == ["shop"] and server.plain_logins == []  # after STARTTLS
    assert delivered.sender == "orders@localhost"
    assert delivered.recipients == ["ada@example.com"]
    message = email.message_from_bytes(delivered.data.replace(b"\r\n", b"\n"),
                                       policy=policy.default)  # SMTP lines end in CRLF
    assert message["Subject"] == "Order AB-12345 confirmed — Shop"
    assert message.get_content() == "Total paid: €42.00\n.leading dot line\n"
    assert [m.status for m in await messages(outbox_db)] == ["sent"]
    assert not (tmp_path / "outbox").exists()  # SMTP instead of files, not as well


async def test_attack_credentials_never_travel_without_tls(outbox_db, empty_url, tmp_path):
    """A server (or a man in the middle stripping it) that offers no STARTTLS gets no AUTH:
    the message waits for a retry, the password never leaves in clear."""
    server = await FakeSmtpServer(user="shop", password="s3cret!").start()
    try:
        settings = make_settings(empty_url, tmp_path,
                                 smtp_url=f"smtp://shop:s3cret%21@127.0.0.1:{server.port}")
        await add_email(outbox_db)
        sender = OutboxDispatcher(outbox_db, settings)
        assert await sender.run_once() == 1
    finally:
        await server.stop()
    assert server.logins == [] and server.messages == []
    [message] = await messages(outbox_db)
    assert message.status == "pending" and "STARTTLS" in message.last_error


async def test_refused_recipient_fails_for_good(outbox_db, empty_url, tmp_path, caplog):
    server = await FakeSmtpServer(refuse=("nobody@example.com",)).start()
    try:
        settings = make_settings(empty_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{server.port}")
        await add_email(outbox_db, to="nobody@example.com")
        with caplog.at_level(logging.INFO, logger="storefront_api.outbox"):
            await OutboxDispatcher(outbox_db, settings).run_once()
    finally:
        await server.stop()
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts) == ("failed", 1)
    assert "550" in message.last_error
    assert "failed for good" in caplog.text and "nobody@example.com" not in caplog.text


async def test_unreachable_smtp_is_retried(outbox_db, empty_url, tmp_path):
    server = await FakeSmtpServer().start()
    await server.stop()  # the port is now closed
    settings = make_settings(empty_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{server.port}")
    await add_email(outbox_db)
    before = utcnow()
    await OutboxDispatcher(outbox_db, settings).run_once()
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "Connection" in message.last_error or "refused" in message.last_error.lower()
    wait = (message.next_attempt_at - before).total_seconds()
    assert 5 <= wait < 7


# --- chat notices ---------------------------------------------------------------------------

async def test_conversation_notice_reaches_rasa(outbox_db, empty_url, tmp_path, aiohttp_server):
    rasa = FakeRasa()
    server = await aiohttp_server(rasa.app())
    settings = make_settings(empty_url, tmp_path, rasa_url=str(server.make_url("/")))
    await add_notices(outbox_db, "conv 1+ä")
    sender = OutboxDispatcher(outbox_db, settings)
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.close()
    assert rasa.calls == [{"conversation_id": "conv 1+ä", "query": {"output_channel": "latest"},
                           "body": {"name": "EXTERNAL_order_shipped",
                                    "entities": {"order_number": "AB-1"}}}]
    assert [m.status for m in await messages(outbox_db)] == ["sent"]


async def test_rasa_outage_is_retried_with_backoff(outbox_db, empty_url, tmp_path,
                                                   aiohttp_server):
    rasa = FakeRasa(statuses=[503])
    server = await aiohttp_server(rasa.app())
    settings = make_settings(empty_url, tmp_path, rasa_url=str(server.make_url("/")))
    await add_notices(outbox_db, "conv-retry")
    sender = OutboxDispatcher(outbox_db, settings)
    try:
        start = utcnow()
        assert await sender.run_once(start) == 1
        [message] = await messages(outbox_db)
        assert (message.status, message.attempts) == ("pending", 1)
        assert message.last_error.startswith("Rasa answered 503")
        assert 5 <= (message.next_attempt_at - start).total_seconds() < 7
        assert await sender.run_once(start + timedelta(seconds=2)) == 0  # not due yet
        assert await sender.run_once(start + timedelta(seconds=8)) == 1
    finally:
        await sender.close()
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts) == ("sent", 2)
    assert [call["conversation_id"] for call in rasa.calls] == ["conv-retry", "conv-retry"]


async def test_rasa_down_keeps_the_notice(outbox_db, empty_url, tmp_path, aiohttp_server):
    server = await aiohttp_server(FakeRasa().app())
    url = str(server.make_url("/"))
    await server.close()  # nobody listens there any more
    settings = make_settings(empty_url, tmp_path, rasa_url=url)
    await add_notices(outbox_db, "conv-down")
    sender = OutboxDispatcher(outbox_db, settings)
    try:
        await sender.run_once()
    finally:
        await sender.close()
    [message] = await messages(outbox_db)
    assert message.status == "pending" and "ClientConnectorError" in message.last_error


def test_backoff_doubles_up_to_an_hour():
    assert [retry_delay(n) for n in range(1, 14)] == [
        5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    assert retry_delay(10_000) == 3600  # no overflow however long it goes on


def test_the_schedule_runs_for_three_days():
    """Stripe's kind of schedule: exponential back-off, retried for three days."""
    schedule = retry_schedule()
    hours = [t / 3600 for t in schedule]
    assert schedule[:6] == [0, 5, 15, 35, 75, 155]
    assert hours[-2] < 72 <= hours[-1] < 73  # the last attempt is the first one past 72 h
    gaps = [b - a for a, b in zip(schedule, schedule[1:])]
    assert max(gaps) == 3600 and gaps == sorted(gaps)
    assert 75 <= len(schedule) <= 90  # about 80 attempts, never a flood


class FakeClock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


class AlwaysFailing:
    """A mail server that never takes the message: every attempt fails (retryably)."""

    def __init__(self):
        self.attempts = 0

    async def send(self, message_id, payload, created_at):
        self.attempts += 1
        raise ConnectionRefusedError(f"connection refused sending to {payload['to']}")


async def test_a_failing_message_is_retried_for_three_days_then_fails(
        outbox_db, empty_url, tmp_path, caplog):
    """Driven by a fake clock: pending at every attempt before 72 h, failed at the first
    attempt after, with one alertable ERROR line that names no recipient."""
    await add_email(outbox_db, to="ada@example.com")
    clock = FakeClock()  # from now on time moves only when the test says so
    sender = OutboxDispatcher(outbox_db, make_settings(empty_url, tmp_path), clock=clock)
    sender.mailer = AlwaysFailing()
    start, seen = clock.now, []
    with caplog.at_level(logging.INFO, logger="storefront_api.outbox"):
        for _ in range(200):
            [message] = await messages(outbox_db)
            if message.status != "pending":
                break
            clock.now = max(clock.now, message.next_attempt_at)  # sleep until it is due
            assert await sender.run_once() == 1
            seen.append(((clock.now - start).total_seconds(), message.status))
    [message] = await messages(outbox_db)
    assert message.status == "failed"
    assert [t for t, _ in seen] == retry_schedule()
    assert sender.mailer.attempts == message.attempts == len(retry_schedule())
    assert (message.first_attempt_at, message.last_attempt_at) == (
        start, start + timedelta(seconds=retry_schedule()[-1]))
    assert all(status == "pending" for _, status in seen)  # before each attempt
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alerts) == 1 and alerts[0].getMessage().startswith(FAILED_FOR_GOOD + ": ")
    assert "kind=email what=order-confirmation" in alerts[0].getMessage()
    assert "ada@example.com" not in caplog.text and "<address>" in alerts[0].getMessage()


async def test_a_message_due_before_72_hours_is_still_pending(outbox_db, empty_url, tmp_path):
    """The boundary itself: a failure just before 72 h schedules another attempt."""
    await add_email(outbox_db)
    clock = FakeClock()
    sender = OutboxDispatcher(outbox_db, make_settings(empty_url, tmp_path), clock=clock)
    sender.mailer = AlwaysFailing()
    start = clock.now
    assert await sender.run_once() == 1
    clock.now = start + GIVE_UP_AFTER - timedelta(seconds=1)
    assert await sender.run_once() == 1
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts) == ("pending", 2)
    clock.now = message.next_attempt_at
    assert await sender.run_once() == 1
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts) == ("failed", 3)


async def test_a_permanent_failure_fails_at_once(outbox_db, empty_url, tmp_path, caplog):
    class Refusing:
        async def send(self, message_id, payload, created_at):
            raise PermanentFailure(f"recipient {payload['to']} refused (550)")

    sender = OutboxDispatcher(outbox_db, make_settings(empty_url, tmp_path))
    sender.mailer = Refusing()
    await add_email(outbox_db, to="gone@example.com")
    with caplog.at_level(logging.ERROR, logger="storefront_api.outbox"):
        assert await sender.run_once() == 1
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts) == ("failed", 1)
    [alert] = caplog.records
    assert alert.getMessage().startswith(FAILED_FOR_GOOD)
    assert "gone@example.com" not in alert.getMessage()


# --- several senders ------------------------------------------------------------------------

async def test_two_senders_never_send_a_message_twice(empty_url, tmp_path, aiohttp_server):
    rasa = FakeRasa(delay=0.01)
    server = await aiohttp_server(rasa.app())
    settings = make_settings(empty_url, tmp_path, rasa_url=str(server.make_url("/")))
    # Two engines on one database: as two server processes would be.
    first, second = Database(empty_url), Database(empty_url)
    senders = [OutboxDispatcher(db, settings, batch_size=4) for db in (first, second)]
    ids = [f"conv-{n}" for n in range(40)]
    totals = [0, 0]
    try:
        await add_notices(first, *ids)
        for _ in range(40):
            handled = await asyncio.gather(*(s.run_once() for s in senders))
            totals = [t + h for t, h in zip(totals, handled)]
            if not sum(handled):
                break
    finally:
        for sender in senders:
            await sender.close()
        await second.dispose()
    rows = await messages(first)
    await first.dispose()
    assert sorted(call["conversation_id"] for call in rasa.calls) == sorted(ids)
    assert {(m.status, m.attempts) for m in rows} == {("sent", 1)}
    assert all(totals) and sum(totals) == 40  # both took part, each message once


async def test_a_late_sender_does_not_overwrite_a_newer_claim(outbox_db, empty_url, tmp_path,
                                                              caplog):
    """A sender whose lease ran out (stuck for 5 minutes) records nothing."""
    settings = make_settings(empty_url, tmp_path)
    await add_email(outbox_db)
    slow, other = OutboxDispatcher(outbox_db, settings), OutboxDispatcher(outbox_db, settings)
    now = utcnow()
    [claimed] = await slow._claim(now)
    assert await other.run_once(now + timedelta(seconds=10)) == 0  # still leased
    assert await other.run_once(now + LEASE + timedelta(seconds=1)) == 1
    await slow._record([(claimed, RuntimeError("timed out"))])
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, None)
    assert "lease expired" in caplog.text


# --- in the application ---------------------------------------------------------------------

async def test_enqueueing_wakes_the_running_sender(outbox_db, empty_url, tmp_path,
                                                   aiohttp_server):
    rasa = FakeRasa()
    server = await aiohttp_server(rasa.app())
    settings = make_settings(empty_url, tmp_path, rasa_url=str(server.make_url("/")),
                             outbox_poll_seconds=60)  # only a wake-up can be this quick
    sender = OutboxDispatcher(outbox_db, settings)
    sender.start()
    try:
        await asyncio.sleep(0.1)
        await add_notices(outbox_db, "conv-wake")
        for _ in range(50):
            if rasa.calls:
                break
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
    assert [call["conversation_id"] for call in rasa.calls] == ["conv-wake"]


async def test_the_app_runs_a_sender(aiohttp_client, empty_url, tmp_path, outbox_db):
    from storefront_api.app import create_app
    settings = make_settings(empty_url, tmp_path)
    await aiohttp_client(create_app(settings, migrate=False))
    await add_email(outbox_db, to="app@example.com")
    for _ in range(60):
        if list((tmp_path / "outbox").glob("*.eml")):
            break
        await asyncio.sleep(0.05)
    [file] = (tmp_path / "outbox").glob("*.eml")
    assert b"app@example.com" in file.read_bytes()


async def test_a_disabled_sender_sends_nothing(outbox_db, empty_url, tmp_path):
    """OUTBOX_POLL_SECONDS=0: no task runs, and the message is still there, unclaimed, for
    the process that does send (observed by that process sending it)."""
    settings = make_settings(empty_url, tmp_path, outbox_poll_seconds=0)
    sender = OutboxDispatcher(outbox_db, settings)
    sender.start()
    await add_email(outbox_db)
    assert sender._task is None
    await sender.stop()
    [message] = await messages(outbox_db)
    assert (message.status, message.attempts, message.first_attempt_at) == ("pending", 0, None)
    other = OutboxDispatcher(outbox_db, make_settings(empty_url, tmp_path))
    assert await other.run_once() == 1
    assert [m.status for m in await messages(outbox_db)] == ["sent"]
