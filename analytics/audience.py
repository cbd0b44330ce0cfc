"""Audience export for ad platforms' customer-list uploads (Google Customer Match, Meta
custom audiences): one column of SHA-256 hashes of normalised e-mail addresses.

Normalisation is the one both platforms document for e-mails: trim surrounding whitespace and
lower-case. Nothing else: dots and "+tags" in Gmail addresses are kept, because Meta does
not remove them and an address changed here would match nobody there. Only members whose
latest decision on the *advertising* purpose grants it (analytics.consent) are exported,
each address once; every function here takes those hashes, so no export can forget them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path

import polars as pl

from .schema import InputError

HEADERS = {"google": "Email", "meta": "email"}


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_email(email: str) -> str:
    """Hex SHA-256 of the normalised address (what the platforms match on)."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def with_advertising(frame: pl.DataFrame, advertising: Collection[str]) -> pl.DataFrame:
    """``frame`` (with an ``email`` column) plus ``advertising``: the member's address is
    one whose hash is in ``advertising`` (analytics.consent.advertising_consents)."""
    normalised = frame["email"].cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    granted = [e for e in normalised.drop_nulls().unique().to_list()
               if "@" in e and hashlib.sha256(e.encode("utf-8")).hexdigest() in advertising]
    return frame.with_columns(normalised.is_in(granted).fill_null(False).alias("advertising"))


def audience_hashes(segment_frame: pl.DataFrame, advertising: Collection[str]) -> pl.Series:
    """Sorted unique hashes of the members' e-mails that ``advertising`` holds. (polars has
    no SHA-256; the addresses are normalised and deduplicated first, so hashlib sees each
    one once.)"""
    normalised = (segment_frame["email"].cast(pl.Utf8).drop_nulls().str.strip_chars()
                  .str.to_lowercase().unique())
    normalised = normalised.filter(normalised.str.contains("@"))
    hashes = (hashlib.sha256(e.encode("utf-8")).hexdigest() for e in normalised.to_list())
    return pl.Series("hash", [h for h in hashes if h in advertising], dtype=pl.Utf8).sort()


def audience_csv(segment_frame: pl.DataFrame, advertising: Collection[str], *,
                 platform: str = "google") -> str:
    if platform not in HEADERS:
        raise InputError(f"platform must be one of {', '.join(HEADERS)}")
    hashes = audience_hashes(segment_frame, advertising)
    return "\n".join([HEADERS[platform], *hashes.to_list()]) + "\n"


def write_audience(segment_frame: pl.DataFrame, path: str | Path,
                   advertising: Collection[str], *, platform: str = "google",
                   segment: str = "") -> dict:
    text = audience_csv(segment_frame, advertising, platform=platform)
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"the folder {path.parent} does not exist")
    path.write_text(text)
    rows = text.count("\n") - 1
    return {"segment": segment, "members": segment_frame.height, "exported": rows,
            "left_out": segment_frame.height - rows, "output": str(path), "platform": platform}
