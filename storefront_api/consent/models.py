"""The ``consents`` table: one row per decision, never updated (the latest one wins)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class ConsentDecision(Base):
    """A subject granted or refused one purpose, at ``recorded_at``, through ``source``.

    subject: ``customer:<id>``, ``email:<sha256 of the trimmed, lower-cased address>``,
    ``session:<X-Session-Id>`` or ``conversation:<Rasa sender id>``. The address itself is
    never stored here: its hash is what the ad platforms match on anyway.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(160))
    purpose: Mapped[str] = mapped_column(String(16))  # analytics | marketing | advertising
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(20))  # checkout, signup, chat, api, ...
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_consents_subject_purpose", "subject", "purpose", "recorded_at"),
        Index("ix_consents_purpose_recorded", "purpose", "recorded_at"),
    )
