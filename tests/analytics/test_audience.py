"""Audience CSV: hashed, normalised, unique, and only for the advertising purpose (the latest
decision of each address), read from the shop's consents table or a file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics.audience import (audience_csv, audience_hashes, hash_email, with_advertising,
                                write_audience)
from analytics.consent import (CONSENT_SCHEMA, advertising_consents, advertising_hashes,
                               consents_source, load_consents)
from analytics.schema import InputError
from storefront_api.consent import service as shop_consent
from storefront_api.db import Database

ROOT = Path(__file__).resolve().parents[2]
ADA = "ada.lovelace+shop@gmail.com"
T0 = datetime(2026, 9, 1, 12)


def _members():
    return pl.DataFrame({
        "user_id": ["a", "b", "c", "d", "e"],
        "email": ["  Ada.Lovelace+shop@GMail.com ", ADA, "bob@example.com", None,
                  "not-an-address"],
        "consent": [True, True, True, True, True],  # analytics consent: not the question
    })


def _decision(email: str, purpose: str, granted: bool, minutes: int) -> dict:
    return {"subject": "email:" + hash_email(email), "purpose": purpose, "granted": granted,
            "recorded_at": T0 + timedelta(minutes=minutes)}


def _decisions(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CONSENT_SCHEMA)


def test_known_address_hashes_like_hashlib():
    expected = hashlib.sha256(ADA.encode()).hexdigest()
    assert hash_email("  Ada.Lovelace+shop@GMail.com ") == expected
    # the shop records decisions under the same hash
    assert shop_consent.email_subject("  Ada.Lovelace+shop@GMail.com ") == "email:" + expected


def test_only_advertising_consent_exports_and_the_latest_decision_wins():
    decisions = _decisions(
        _decision(ADA, "advertising", True, 0),
        _decision("bob@example.com", "analytics", True, 0),  # analytics is not advertising
        _decision("bob@example.com", "marketing", True, 0),  # nor is marketing e-mail
        _decision("carol@example.com", "advertising", True, 0),
        _decision("carol@example.com", "advertising", False, 5),  # withdrawn since
        _decision("dan@example.com", "advertising", False, 0),
        _decision("dan@example.com", "advertising", True, 9))
    granted = advertising_hashes(decisions)
    assert granted == {hash_email(ADA), hash_email("dan@example.com")}
    lines = audience_csv(_members(), granted).splitlines()
    # dots and +tags stay: trim and lower-case only, as the platforms document
    assert lines == ["Email", hashlib.sha256(ADA.encode()).hexdigest()]
    assert audience_csv(_members(), granted, platform="meta").splitlines()[0] == "email"
    assert audience_csv(_members(), frozenset()).splitlines() == ["Email"]  # nobody asked
    flagged = with_advertising(_members(), granted)
    assert flagged["advertising"].to_list() == [True, True, False, False, False]


def test_write_audience_reports_what_was_left_out(tmp_path):
    path = tmp_path / "audience.csv"
    result = write_audience(_members(), path, {hash_email(ADA)}, segment="champions")
    assert (result["members"], result["exported"], result["left_out"]) == (5, 1, 4)
    assert path.read_text().count("\n") == 2


async def test_decisions_recorded_by_the_shop_are_read_from_its_database(shop_url):
    """Both databases: what storefront_api records is what the audience export reads."""
    carol = f"carol-{datetime.now().timestamp()}@example.com"
    db = Database(shop_url)
    try:
        async with db.write() as session:
            # an address is granted advertising only by its owner (the mailed link)
            subjects = shop_consent.subjects(email=f" {carol.upper()} ")
            await shop_consent.record(session, subjects, {"advertising"},
                                      source=shop_consent.CONFIRMED, at=T0)
            await shop_consent.record(session, subjects, {"analytics"}, source="api",
                                      at=T0 + timedelta(minutes=1))  # advertising withdrawn
            await shop_consent.record(session, shop_consent.subjects(email=ADA),
                                      {"advertising", "marketing"},
                                      source=shop_consent.CONFIRMED, at=T0)
    finally:
        await db.dispose()
    decisions = load_consents(shop_url)
    assert decisions.schema == pl.Schema(CONSENT_SCHEMA)
    granted = advertising_consents(shop_url)
    assert hash_email(ADA) in granted and hash_email(carol) not in granted


def test_cli_exports_with_a_consents_file_and_refuses_without_output(tmp_path):
    events = pl.DataFrame({  # two buyers alike: both score 1-1-1, segment "lost"
        "ts": [T0, T0], "name": ["purchase", "purchase"],
        "customer_id": ["u1", "u2"], "value": [5000, 5000], "currency": ["EUR", "EUR"],
        "order_number": ["o1", "o2"], "consent": [True, True],
        "properties": [json.dumps({"email": ADA}), json.dumps({"email": "bob@example.com"})]})
    events.write_parquet(tmp_path / "events.parquet")
    _decisions(_decision(ADA, "advertising", True, 0),
               _decision("bob@example.com", "marketing", True, 0)
               ).write_parquet(tmp_path / "consents.parquet")
    base = [sys.executable, "-m", "analytics", "segments", "--events",
            str(tmp_path / "events.parquet")]
    done = subprocess.run([*base, "--audience", "lost", "--output", str(tmp_path / "a.csv"),
                           "--consents", str(tmp_path / "consents.parquet")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["exported"] == 1  # bob consented to e-mail, not to ads
    assert (tmp_path / "a.csv").read_text().splitlines()[1] == hash_email(ADA)
    without = {k: v for k, v in os.environ.items() if k != "ANALYTICS_CONSENTS_URL"}
    done = subprocess.run([*base, "--audience", "lost", "--output", str(tmp_path / "b.csv")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=without)
    assert done.returncode == 0 and json.loads(done.stdout)["exported"] == 0  # no decisions
    done = subprocess.run([*base, "--audience", "champions"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--output" in done.stderr


# --- what a merchant uploads, exactly -------------------------------------------------------

BOB = "bob@example.com"


def _sha256(text: str) -> str:
    """The platforms' rule, written out here: SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("platform, header", [("google", "Email"), ("meta", "email")])
def test_the_csv_is_a_header_then_one_sorted_hash_per_line(platform, header):
    """The file a merchant uploads: the platform's column name, then each granted address
    once (however many members share it, however it is cased), sorted, newline-ended."""
    members = pl.DataFrame({"email": [f" {BOB.upper()}", ADA, BOB,
                                      "  Ada.Lovelace+shop@GMail.com ", "carol@example.com",
                                      None]})
    hashes = sorted([_sha256(ADA), _sha256(BOB)])
    text = audience_csv(members, {_sha256(ADA), _sha256(BOB)}, platform=platform)
    assert text == f"{header}\n{hashes[0]}\n{hashes[1]}\n"


def test_google_is_the_platform_when_none_is_named(tmp_path):
    members = pl.DataFrame({"email": [BOB]})
    assert audience_csv(members, {_sha256(BOB)}) == f"Email\n{_sha256(BOB)}\n"
    result = write_audience(members, tmp_path / "a.csv", {_sha256(BOB)})
    assert (tmp_path / "a.csv").read_text() == f"Email\n{_sha256(BOB)}\n"
    assert (result["platform"], result["segment"]) == ("google", "")


@pytest.mark.parametrize("platform", ["tiktok", "Google", ""])
def test_an_unknown_platform_is_refused_with_the_choices(tmp_path, platform):
    members = pl.DataFrame({"email": [BOB]})
    with pytest.raises(InputError) as refused:
        audience_csv(members, {_sha256(BOB)}, platform=platform)
    assert str(refused.value) == "platform must be one of google, meta"
    with pytest.raises(InputError):
        write_audience(members, tmp_path / "a.csv", {_sha256(BOB)}, platform=platform)
    assert not (tmp_path / "a.csv").exists()


def test_write_audience_answers_what_it_wrote_and_where(tmp_path):
    members = pl.DataFrame({"email": [ADA, BOB, "carol@example.com", ADA.upper()]})
    path = tmp_path / "meta.csv"
    result = write_audience(members, str(path), {_sha256(ADA), _sha256(BOB)},
                            platform="meta", segment="at-risk")
    assert result == {"segment": "at-risk", "members": 4, "exported": 2, "left_out": 2,
                      "output": str(path), "platform": "meta"}
    assert path.read_text() == "email\n" + "".join(
        h + "\n" for h in sorted([_sha256(ADA), _sha256(BOB)]))
    empty = write_audience(members, tmp_path / "none.csv", frozenset())
    assert (empty["exported"], empty["left_out"]) == (0, 4)
    assert (tmp_path / "none.csv").read_text() == "Email\n"


def test_write_audience_refuses_a_folder_that_does_not_exist(tmp_path):
    path = tmp_path / "missing" / "a.csv"
    with pytest.raises(InputError) as refused:
        write_audience(pl.DataFrame({"email": [BOB]}), path, {_sha256(BOB)})
    assert str(refused.value) == f"the folder {tmp_path / 'missing'} does not exist"
    assert not path.parent.exists()


def test_a_bare_file_name_is_written_where_the_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = write_audience(pl.DataFrame({"email": [BOB]}), "a.csv", {_sha256(BOB)})
    assert result["output"] == "a.csv"
    assert (tmp_path / "a.csv").read_text() == f"Email\n{_sha256(BOB)}\n"


def test_only_e_mail_addresses_are_exported_even_with_a_granted_hash():
    """A phone number or a name typed into the address field is nobody's e-mail: it is
    neither flagged nor uploaded, whatever a decision under its hash says."""
    junk = ["+33 6 12 34 56 78", "not-an-address"]
    members = pl.DataFrame({"email": [*junk, BOB]})
    advertising = {_sha256(j.lower()) for j in junk} | {_sha256(BOB)}
    assert audience_csv(members, advertising) == f"Email\n{_sha256(BOB)}\n"
    flagged = with_advertising(members, advertising)
    assert flagged["advertising"].to_list() == [False, False, True]
    assert flagged.columns == ["email", "advertising"]


def test_a_segment_without_addresses_exports_only_the_header():
    members = pl.DataFrame({"email": [None, None]}, schema={"email": pl.Utf8})
    assert audience_csv(members, {_sha256(BOB)}, platform="meta") == "email\n"
    assert with_advertising(members, {_sha256(BOB)})["advertising"].to_list() == [False, False]


# --- where the decisions are read from ------------------------------------------------------

def test_the_consents_given_win_then_the_environment_then_a_database_of_events(monkeypatch):
    monkeypatch.delenv("ANALYTICS_CONSENTS_URL", raising=False)
    shop = "sqlite+aiosqlite:///var/shop.db"
    assert consents_source(shop, "consents.parquet") == "consents.parquet"
    assert consents_source(shop) == shop  # the shop's own database holds its decisions
    assert consents_source("events.parquet") is None  # a file of events holds none
    assert consents_source("file:///tmp/events.parquet") is None
    assert consents_source(None) is None
    monkeypatch.setenv("ANALYTICS_CONSENTS_URL", "postgresql://analytics@db/shop")
    assert consents_source("events.parquet") == "postgresql://analytics@db/shop"
    assert consents_source(shop) == "postgresql://analytics@db/shop"
    assert consents_source(shop, "mine.csv") == "mine.csv"


def test_without_a_source_nobody_has_granted_advertising(monkeypatch):
    monkeypatch.delenv("ANALYTICS_CONSENTS_URL", raising=False)
    empty = load_consents(None)
    assert empty.height == 0 and empty.schema == pl.Schema(CONSENT_SCHEMA)
    assert advertising_consents("events.parquet") == frozenset()


def _decisions_file(tmp_path, suffix: str) -> Path:
    frame = _decisions(_decision(ADA, "advertising", True, 0),
                       _decision(BOB, "advertising", True, 0),
                       _decision(BOB, "advertising", False, 1))
    frame = frame.with_columns(pl.lit("checkout").alias("source"))  # the shop's extra column
    path = tmp_path / f"consents{suffix}"
    frame.write_parquet(path) if suffix == ".parquet" else frame.write_csv(path)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_consents_file_is_read_with_the_tables_columns(tmp_path, monkeypatch, suffix):
    monkeypatch.delenv("ANALYTICS_CONSENTS_URL", raising=False)
    path = _decisions_file(tmp_path, suffix)
    for given in (str(path), f"file://{path}"):
        decisions = load_consents(given)
        assert decisions.schema == pl.Schema(CONSENT_SCHEMA)
        assert decisions["recorded_at"].to_list() == [T0, T0, T0 + timedelta(minutes=1)]
        assert decisions["granted"].to_list() == [True, True, False]
        assert advertising_consents("events.parquet", given) == {hash_email(ADA)}


def test_a_consents_file_that_cannot_be_read_is_named(tmp_path):
    missing = tmp_path / "nope.parquet"
    with pytest.raises(InputError) as refused:
        load_consents(str(missing))
    assert str(refused.value) == (f"there is no file {missing}; "
                                  "check the path given to --consents")
    with pytest.raises(InputError) as refused:
        load_consents(f"file://{missing}")
    assert str(refused.value).startswith(f"there is no file {missing};")
    other = tmp_path / "consents.json"
    other.write_text("[]")
    with pytest.raises(InputError) as refused:
        load_consents(str(other))
    assert str(refused.value) == f"{other}: consent files must be .parquet or .csv"
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("subject,granted\nemail:abc,true\n")
    with pytest.raises(InputError) as refused:
        load_consents(str(lacking))
    assert str(refused.value) == f"{lacking} lacks the consent columns purpose, recorded_at"


def test_decisions_at_the_same_instant_count_in_the_order_recorded():
    """Two decisions with one time (a file rounded to the second): the later row wins."""
    granted_then_refused = _decisions(_decision(ADA, "advertising", True, 0),
                                      _decision(ADA, "advertising", False, 0))
    refused_then_granted = _decisions(_decision(ADA, "advertising", False, 0),
                                      _decision(ADA, "advertising", True, 0))
    assert advertising_hashes(granted_then_refused) == frozenset()
    assert advertising_hashes(refused_then_granted) == {hash_email(ADA)}
    later_first = _decisions(_decision(BOB, "advertising", False, 5),
                             _decision(BOB, "advertising", True, 0))
    assert advertising_hashes(later_first) == frozenset()  # by time, not by row


def test_only_e_mail_subjects_go_into_an_audience():
    """A session or an account granting advertising names no address to upload."""
    decisions = pl.DataFrame([
        {"subject": "session:" + hash_email(ADA), "purpose": "advertising", "granted": True,
         "recorded_at": T0},
        {"subject": "customer:7", "purpose": "advertising", "granted": True,
         "recorded_at": T0},
        {"subject": "email:" + hash_email(BOB), "purpose": "advertising", "granted": True,
         "recorded_at": T0}], schema=CONSENT_SCHEMA)
    assert advertising_hashes(decisions) == {hash_email(BOB)}


def test_exports_of_other_tools_are_read_as_the_tables_types(tmp_path):
    """sqlite3's CSV export writes 1/0 and times with a space; pandas writes nanoseconds."""
    sqlite_csv = tmp_path / "sqlite.csv"
    sqlite_csv.write_text("id,subject,purpose,granted,recorded_at\n"
                          f"1,email:{hash_email(ADA)},advertising,1,2026-09-01 12:00:00\n"
                          f"2,email:{hash_email(BOB)},advertising,0,"
                          "2026-09-01 12:00:00.250000\n")
    pandas_parquet = tmp_path / "pandas.parquet"
    _decisions(_decision(ADA, "advertising", True, 0), _decision(BOB, "advertising", False, 0)
               ).with_columns(pl.col("recorded_at").cast(pl.Datetime("ns"))
                              ).write_parquet(pandas_parquet)
    for path in (sqlite_csv, pandas_parquet):
        decisions = load_consents(str(path))
        assert decisions.schema == pl.Schema(CONSENT_SCHEMA), path
        assert decisions["granted"].to_list() == [True, False], path
        assert advertising_hashes(decisions) == {hash_email(ADA)}, path
    assert load_consents(str(sqlite_csv))["recorded_at"].to_list() == [
        T0, T0 + timedelta(milliseconds=250)]


def test_the_hashes_are_a_text_column_named_hash_even_when_empty():
    members = pl.DataFrame({"email": [BOB, ADA]})
    for granted in ({_sha256(BOB), _sha256(ADA)}, frozenset()):
        hashes = audience_hashes(members, granted)
        assert (hashes.name, hashes.dtype) == ("hash", pl.String)
        assert hashes.to_list() == sorted(granted)
