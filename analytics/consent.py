"""Consent decisions as analytics reads them: whose e-mail may go into an ad audience.

The shop records every decision in its ``consents`` table (storefront_api/consent): subject,
purpose (analytics, marketing, advertising), granted, source, recorded_at; the latest
decision per subject and purpose wins. An audience export reads the *advertising* purpose
of ``email:<hash>`` subjects only, the hash being the one uploaded (audience.hash_email):
consent to analytics (the ``consent`` column of events) or to marketing e-mail does not put
anyone into an ad audience.

Where decisions come from: ``--consents`` (a shop database URL, or a .csv/.parquet file
with the table's columns), else $ANALYTICS_CONSENTS_URL, else the events source when it is a
database. With none of those, nobody has granted advertising and nobody is exported.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl

from .schema import InputError

CONSENT_SCHEMA = {"subject": pl.Utf8, "purpose": pl.Utf8, "granted": pl.Boolean,
                  "recorded_at": pl.Datetime("us")}
EMAIL_SUBJECT = "email:"


def consents_source(events_source: str | None, given: str | None = None) -> str | None:
    """Where the decisions are read from (see the module docstring), or None."""
    from .loaders import is_database_url
    if given:
        return given
    if os.environ.get("ANALYTICS_CONSENTS_URL"):
        return os.environ["ANALYTICS_CONSENTS_URL"]
    return events_source if events_source and is_database_url(events_source) else None


def load_consents(source: str | None) -> pl.DataFrame:
    """Every decision (CONSENT_SCHEMA) of a database's ``consents`` table or of a file."""
    from .loaders import _read_sql, is_database_url
    if source is None:
        return pl.DataFrame(schema=CONSENT_SCHEMA)
    if is_database_url(source):
        from sqlalchemy import Boolean, DateTime
        return _read_sql(source, "SELECT subject, purpose, granted, recorded_at FROM consents",
                         {}, CONSENT_SCHEMA, {"granted": Boolean(), "recorded_at": DateTime()})
    path = Path(source.removeprefix("file://"))
    if not path.exists():
        raise InputError(f"there is no file {path}; check the path given to --consents")
    if path.suffix not in (".parquet", ".csv"):
        raise InputError(f"{path}: consent files must be .parquet or .csv")
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(
        path, try_parse_dates=True)
    missing = [c for c in CONSENT_SCHEMA if c not in frame.columns]
    if missing:
        raise InputError(f"{path} lacks the consent columns {', '.join(missing)}")
    return frame.select(list(CONSENT_SCHEMA)).cast(CONSENT_SCHEMA)


def latest(decisions: pl.DataFrame, purpose: str) -> pl.DataFrame:
    """Per subject, the decision in force on ``purpose``: subject, granted."""
    return (decisions.filter(pl.col("purpose") == purpose)
            .with_row_index("order").sort("recorded_at", "order")
            .group_by("subject").agg(pl.col("granted").last()))


def advertising_hashes(decisions: pl.DataFrame) -> frozenset[str]:
    """E-mail hashes whose latest advertising decision grants it."""
    granted = latest(decisions.filter(pl.col("subject").str.starts_with(EMAIL_SUBJECT)),
                     "advertising").filter(pl.col("granted"))
    return frozenset(s.removeprefix(EMAIL_SUBJECT) for s in granted["subject"].to_list())


def advertising_consents(events_source: str | None, given: str | None = None) -> frozenset[str]:
    """The hashes of e-mails that may go into an ad audience, read from where
    ``consents_source`` says."""
    return advertising_hashes(load_consents(consents_source(events_source, given)))


def synthetic_decisions(events: pl.DataFrame) -> pl.DataFrame:
    """Advertising decisions for the synthetic shoppers' e-mails (demo data): about two in
    three granted, each at the shopper's first event that carries the address. Deterministic:
    the same events give the same decisions."""
    first = (events.filter(pl.col("email").is_not_null()).group_by("email")
             .agg(pl.col("ts").min().alias("recorded_at")).sort("email"))
    rows = []
    for email, at in first.iter_rows():
        digest = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
        rows.append((EMAIL_SUBJECT + digest, "advertising", int(digest[:2], 16) % 3 != 0, at))
    return pl.DataFrame(rows, schema=CONSENT_SCHEMA, orient="row")
