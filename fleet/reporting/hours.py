"""MDS Provider hours (`YYYY-MM-DDTHH`, UTC) and whether an hour can be served (pure)."""

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum

HOUR = timedelta(hours=1)
_HOUR_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})$")


class HourState(StrEnum):
    """Future hours are 404, hours still settling 202, closed hours 200."""

    FUTURE = "future"
    SETTLING = "settling"
    CLOSED = "closed"


def parse_hour(text: str) -> datetime:
    """The start of the UTC hour `YYYY-MM-DDTHH`; ValueError when malformed."""
    match = _HOUR_RE.match(text)
    if match is None:
        raise ValueError("expected an hour as YYYY-MM-DDTHH (UTC)")
    year, month, day, hour = (int(g) for g in match.groups())
    if hour > 23:
        raise ValueError("the hour must be 00 to 23")
    return datetime(year, month, day, hour, tzinfo=UTC)


def hour_state(start: datetime, now: datetime, lateness: timedelta) -> HourState:
    """An hour is closed once it has ended and late data has had `lateness` to arrive."""
    end = start + HOUR
    if end > now:
        return HourState.FUTURE
    if end + lateness > now:
        return HourState.SETTLING
    return HourState.CLOSED
