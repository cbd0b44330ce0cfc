"""Who can take a conversation: the opening hours (SUPPORT_HOURS, parsed with one-line
errors, daylight saving included), agents online while their inbox is open, and claims
that go back to the queue once their agent has been gone for the grace period."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from assistant_calls import SERVICE
from inbox_helpers import ask_for_human, claim, conversation, events_named, open_stream
from staff_accounts import bearer, make_staff

from storefront_api.app import create_app
from storefront_api.db import Database, utcnow
from storefront_api.inbox import presence
from storefront_api.settings import Settings
from storefront_api.support.hours import parse_support_hours

PARIS = "Mon-Fri 09:00-18:00, Sat 10:00-14:00 Europe/Paris"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("moment, open_now, back", [
    (utc(2026, 3, 2, 7, 59), False, "today at 09:00 (Europe/Paris time)"),  # Mon 08:59 CET
    (utc(2026, 3, 2, 8, 0), True, None),  # Mon 09:00 CET
    (utc(2026, 3, 2, 16, 59), True, None),
    (utc(2026, 3, 2, 17, 0), False, "tomorrow at 09:00 (Europe/Paris time)"),  # 18:00
    (utc(2026, 3, 7, 9, 30), True, None),  # Sat 10:30
    (utc(2026, 3, 7, 13, 0), False, "Monday at 09:00 (Europe/Paris time)"),  # Sat 14:00
    (utc(2026, 7, 6, 7, 0), True, None),  # Mon 09:00 CEST: summer time moves the hour
    (utc(2026, 7, 6, 6, 59), False, "today at 09:00 (Europe/Paris time)"),
])
def test_opening_hours_in_the_teams_time_zone(moment, open_now, back):
    hours = parse_support_hours(PARIS)
    assert hours.is_open(moment) is open_now
    assert hours.back_text(moment) == back
    assert hours.is_open(moment.replace(tzinfo=None)) is open_now  # naive means UTC


def test_always_open_by_default():
    for raw in ("", "always", " 24/7 "):
        hours = parse_support_hours(raw)
        assert hours.always and hours.is_open(utc(2026, 1, 1, 3)) and hours.back_text(
            utc(2026, 1, 1, 3)) is None


@pytest.mark.parametrize("raw, says", [
    ("Mon-Fri 09:00-18:00", "time zone"),
    ("Mon-Fri 09:00-18:00 Mars/Olympus", "unknown time zone"),
    ("Mon-Fry 09:00-18:00 UTC", "not a day"),
    ("Mon-Fri 18:00-09:00 UTC", "ends before it starts"),
    ("Mon-Fri 09:00-25:00 UTC", "not a time of day"),
    ("Mon-Fri nine to five UTC", "cannot read"),
    ("UTC", "needs days"),
])
def test_bad_opening_hours_stop_with_one_line(raw, says, monkeypatch):
    monkeypatch.setenv("SUPPORT_HOURS", raw)
    with pytest.raises(SystemExit) as stopped:
        Settings.from_env(database_url="sqlite+aiosqlite://", var_dir="/tmp")
    message = str(stopped.value)
    assert message.startswith("SUPPORT_HOURS") and says in message and "\n" not in message


@pytest.mark.parametrize("name, value, says", [
    ("SUPPORT_WAIT_AMBER_SECONDS", "0", "SUPPORT_WAIT_AMBER_SECONDS must be"),
    ("SUPPORT_WAIT_RED_SECONDS", "30", "more than"),
    ("SUPPORT_CLAIM_GRACE_SECONDS", "-1", "SUPPORT_CLAIM_GRACE_SECONDS must be"),
    ("SUPPORT_CLAIM_GRACE_SECONDS", "soon", "SUPPORT_CLAIM_GRACE_SECONDS must be"),
])
def test_bad_support_settings_stop_with_one_line(name, value, says, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        Settings.from_env(database_url="sqlite+aiosqlite://", var_dir="/tmp")
    assert says in str(stopped.value) and "\n" not in str(stopped.value)


@pytest.fixture
async def empty_db(empty_url):
    database = Database(empty_url)
    yield database
    await database.dispose()


async def test_a_person_is_offered_only_when_the_team_is_open_and_someone_is_online(
        aiohttp_client, empty_url, empty_db, tmp_path):
    async def availability(hours: str = "") -> dict:
        settings = Settings.from_env(database_url=empty_url, var_dir=tmp_path,
                                     service_token=SERVICE["Authorization"][7:],
                                     support_hours=parse_support_hours(hours))
        client = await aiohttp_client(create_app(settings, migrate=False))
        body = await (await client.get("/api/support/availability", headers=SERVICE)).json()
        await client.close()
        return body

    nobody = await availability()
    assert (nobody["available"], nobody["agents_online"], nobody["open_now"]) == (False, 0, True)
    ana = await make_staff(empty_db, "agent", name="Ana")
    await presence.beat(empty_db, presence_member(ana))
    someone = await availability()
    assert (someone["available"], someone["agents_online"]) == (True, 1)
    opens = datetime.now(timezone.utc) + timedelta(hours=12)  # one minute, half a day away
    closed = await availability(f"{opens:%a} {opens:%H}:00-{opens:%H}:01 UTC")
    assert (closed["available"], closed["open_now"]) == (False, False)
    assert closed["back_text"].endswith(f"at {opens:%H}:00 (UTC time)")
    assert closed["back_at"].startswith(f"{opens:%Y-%m-%dT%H}:00")
    # an agent whose inbox closed more than ONLINE_SECONDS ago is offline
    await presence.beat(empty_db, presence_member(ana),
                        utcnow() - timedelta(seconds=presence.ONLINE_SECONDS + 1))
    assert (await availability())["available"] is False


def presence_member(user):
    from storefront_api.auth import StaffMember
    return StaffMember(id=user.id, email=user.email, name=user.name, role=user.role)


async def test_an_open_inbox_keeps_its_agent_online(client, db):
    user = await make_staff(db, "agent", name="Ana")
    stream = await open_stream(client, "/inbox/events", await bearer(db, user))
    await stream.next("hello")
    online = {row.agent_id for row in await presence.online(db)}
    assert user.id in online
    stream.response.close()


async def test_claims_go_back_to_the_queue_after_the_grace_period(client, db):
    gone, here = await make_staff(db, "agent", name="Gone"), await make_staff(
        db, "agent", name="Here")
    first, second = [await ask_for_human(client, conversation()) for _ in range(2)]
    await claim(client, first["id"], await bearer(db, gone))
    await claim(client, second["id"], await bearer(db, here))
    grace = 120
    later = utcnow() + timedelta(seconds=grace + 5)
    # Gone's browser stopped beating when the claim was made; Here's inbox is still open
    await presence.beat(db, presence_member(here), later - timedelta(seconds=3))
    released = await presence.release_abandoned(db, grace, later)
    assert first["id"] in released and second["id"] not in released
    rows = {h["id"]: h for h in (await (await client.get(
        "/api/admin/support/inbox", headers={"Authorization": "Bearer test-admin"})).json())[
        "handoffs"]}
    assert (rows[first["id"]]["status"], rows[first["id"]]["agent"]) == ("waiting", None)
    assert rows[second["id"]]["agent"] == "Here"
    [left] = await events_named(db, first["conversation_id"], "agent_left")
    assert (left.properties["agent"], left.properties["via"]) == ("Gone", "grace")
    assert await presence.release_abandoned(db, grace, later) == []  # once
    # within the grace period nothing moves
    third = await ask_for_human(client, conversation())
    await claim(client, third["id"], await bearer(db, gone))
    assert third["id"] not in await presence.release_abandoned(db, grace, utcnow())


async def test_break_glass_claims_are_never_released(client, db):
    handoff = await ask_for_human(client, conversation())
    await claim(client, handoff["id"], {"Authorization": "Bearer test-admin"})
    later = utcnow() + timedelta(days=1)
    assert handoff["id"] not in await presence.release_abandoned(db, 60, later)
