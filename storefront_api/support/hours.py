"""The support team's opening hours (SUPPORT_HOURS): when a person can be asked for, and when
the team is back.

The format is one line a person can read: day ranges with a time range each, separated by
commas, and the team's time zone last::

    Mon-Fri 09:00-18:00 Europe/Paris
    Mon-Fri 09:00-18:00, Sat 10:00-14:00 America/New_York
    Mon,Wed,Fri 08:30-12:00 UTC

Times are the team's wall-clock time (daylight saving follows the zone). A range ends
before its end time (09:00-18:00 is open at 17:59, closed at 18:00); an end of 24:00 is
midnight. Empty or ``always`` means always open, and then only whether an agent is online
decides. A wrong value stops the server with one line saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(?P<days>[a-z,-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")
_EXAMPLE = 'e.g. SUPPORT_HOURS="Mon-Fri 09:00-18:00 Europe/Paris"'


@dataclass(frozen=True)
class OpeningRange:
    day: int  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight, up to 1440


@dataclass(frozen=True)
class SupportHours:
    """When the team works; ``ranges`` empty means always."""

    ranges: tuple[OpeningRange, ...] = ()
    zone: str = "UTC"
    text: str = ""  # as configured, for people

    @property
    def always(self) -> bool:
        return not self.ranges

    def is_open(self, moment: datetime) -> bool:
        """``moment``: an aware datetime, or naive UTC (as the shop's database keeps it)."""
        if self.always:
            return True
        local = _aware(moment).astimezone(ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        return any(r.day == local.weekday() and r.start <= minute < r.end
                   for r in self.ranges)

    def next_opening(self, moment: datetime) -> datetime | None:
        """The next moment the team opens after ``moment`` (aware, in the team's zone); None
        when it is open now or always open."""
        if self.always or self.is_open(moment):
            return None
        zone = ZoneInfo(self.zone)
        local = _aware(moment).astimezone(zone)
        for days_ahead in range(8):
            day = (local + timedelta(days=days_ahead)).date()
            starts = sorted(r.start for r in self.ranges if r.day == day.weekday())
            for start in starts:
                opening = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
                if opening > local:
                    return opening
        return None  # unreachable with at least one range

    def back_text(self, moment: datetime) -> str | None:
        """"Monday at 09:00 (Europe/Paris time)", "today at 14:00 (UTC)" or None."""
        opening = self.next_opening(moment)
        if opening is None:
            return None
        local_now = _aware(moment).astimezone(ZoneInfo(self.zone)).date()
        if opening.date() == local_now:
            day = "today"
        elif opening.date() == local_now + timedelta(days=1):
            day = "tomorrow"
        else:
            day = opening.strftime("%A")
        return f"{day} at {opening:%H:%M} ({self.zone} time)"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_support_hours(raw: str, name: str = "SUPPORT_HOURS") -> SupportHours:
    """SUPPORT_HOURS as SupportHours; SystemExit with one line for a wrong value."""
    text = " ".join(raw.split())
    if text.lower() in ("", "always", "24/7"):
        return SupportHours(text="always")
    head, _, zone = text.rpartition(" ")
    if not head:
        raise SystemExit(f"{name} needs days, hours and a time zone, not {raw!r} ({_EXAMPLE})")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(f"{name}: unknown time zone {zone!r} (an IANA name such as "
                         f"Europe/Paris or UTC; {_EXAMPLE})") from None
    ranges: list[OpeningRange] = []
    for part in re.split(r",\s+(?=[A-Za-z])", head):  # "Mon,Wed 9:00-12:00, Sat ..."
        ranges += _ranges(part.strip().lower(), name, raw)
    return SupportHours(tuple(ranges), zone, text)


def _ranges(part: str, name: str, raw: str) -> list[OpeningRange]:
    found = _RANGE.match(part)
    if not found:
        raise SystemExit(f"{name}: cannot read {part!r} in {raw!r} ({_EXAMPLE})")
    start, end = _minutes(found["start"], name), _minutes(found["end"], name)
    if end <= start:
        raise SystemExit(f"{name}: {found['start']}-{found['end']} ends before it starts "
                         "(a range past midnight is two ranges: Fri 22:00-24:00, Sat 00:00-02:00)")
    return [OpeningRange(day, start, end) for day in _days(found["days"], name)]


def _minutes(clock: str, name: str) -> int:
    hours, minutes = (int(n) for n in clock.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise SystemExit(f"{name}: {clock!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _days(spec: str, name: str) -> list[int]:
    days: list[int] = []
    for item in spec.split(","):
        first, _, last = item.partition("-")
        if first[:3] not in DAYS or (last and last[:3] not in DAYS):
            raise SystemExit(f"{name}: {item!r} is not a day or a range of days "
                             "(Mon, Tue, Wed, Thu, Fri, Sat, Sun; Mon-Fri)")
        begin = DAYS.index(first[:3])
        finish = DAYS.index(last[:3]) if last else begin
        span = (finish - begin) % 7
        days += [(begin + offset) % 7 for offset in range(span + 1)]
    return sorted(set(days))
