"""Audience CSV: hashed, normalised, consented, unique."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import polars as pl

from analytics.audience import audience_csv, hash_email, write_audience

ROOT = Path(__file__).resolve().parents[2]


def _members():
    return pl.DataFrame({
        "user_id": ["a", "b", "c", "d", "e"],
        "email": ["  Ada.Lovelace+shop@GMail.com ", "ada.lovelace+shop@gmail.com",
                  "bob@example.com", None, "not-an-address"],
        "consent": [True, True, False, True, True],
    })


def test_known_address_hashes_like_hashlib():
    expected = hashlib.sha256(b"ada.lovelace+shop@gmail.com").hexdigest()
    assert hash_email("  Ada.Lovelace+shop@GMail.com ") == expected


def test_csv_keeps_consented_unique_addresses_only():
    lines = audience_csv(_members()).splitlines()
    # dots and +tags stay: trim and lower-case only, as the platforms document
    assert lines == ["Email", hashlib.sha256(b"ada.lovelace+shop@gmail.com").hexdigest()]
    assert audience_csv(_members(), platform="meta").splitlines()[0] == "email"


def test_write_audience_reports_what_was_left_out(tmp_path):
    path = tmp_path / "audience.csv"
    result = write_audience(_members(), path, segment="champions")
    assert (result["members"], result["exported"], result["left_out"]) == (5, 1, 4)
    assert path.read_text().count("\n") == 2


def test_cli_refuses_an_audience_without_output(tmp_path):
    done = subprocess.run([sys.executable, "-m", "analytics", "segments", "--audience",
                           "champions", "--events", str(tmp_path / "none.parquet")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--output" in done.stderr
