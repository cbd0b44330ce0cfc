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

from analytics.audience import audience_csv, hash_email, with_advertising, write_audience
from analytics.consent import (CONSENT_SCHEMA, advertising_consents, advertising_hashes,
                               load_consents)
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
