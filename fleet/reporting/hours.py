"""MDS Provider time windows (pure): UTC hours (`YYYY-MM-DDTHH`), the city's local months
(`YYYY-MM`, for Reports), recent-event windows, and whether a period can be served."""

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.core.bounded import within_bounds
from app.core.mstime import from_ms

HOUR = timedelta(hours=1)
_HOUR_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
# At most 14 digits: far beyond any valid time, yet within what datetime can hold.
_MS_RE = re.compile(r"^\d{1,14}$")
# The spec's bound for /events/recent: neither side of the window may be older.
RECENT_EVENTS_MAX_AGE = timedelta(weeks=2)


class HourState(StrEnum):
    """Future hours are 404, hours still settling 202, closed hours 200."""

    FUTURE = "future"
    SETTLING = "settling"
    CLOSED = "closed"


def parse_hour(text: str) -> datetime:
    """The start of the UTC hour `YYYY-MM-DDTHH`; ValueError when malformed or out of range."""
    match = _HOUR_RE.match(text)
    if match is None:
        raise ValueError("expected an hour as YYYY-MM-DDTHH (UTC)")
    year, month, day, hour = (int(g) for g in match.groups())
    if hour > 23:
        raise ValueError("the hour must be 00 to 23")
    return within_bounds(datetime(year, month, day, hour, tzinfo=UTC))


def served_as_settled(hour_end: datetime, now: datetime, lateness: timedelta) -> bool:
    """A period ending at `hour_end` is served as settled once late data has had
    `lateness` to arrive after its end."""
    return hour_end + lateness <= now


def period_state(end: datetime, now: datetime, lateness: timedelta) -> HourState:
    """A period is closed once it has ended and is served as settled."""
    if end > now:
        return HourState.FUTURE
    if not served_as_settled(end, now, lateness):
        return HourState.SETTLING
    return HourState.CLOSED


def hour_containing(when: datetime) -> datetime:
    """The start of the UTC hour `when` lies in (the hour Provider serves it under)."""
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_state(start: datetime, now: datetime, lateness: timedelta) -> HourState:
    """The state of the hour starting at `start`."""
    return period_state(start + HOUR, now, lateness)


def parse_month(text: str) -> date:
    """The first day of the month `YYYY-MM`; ValueError when malformed."""
    match = _MONTH_RE.match(text)
    if match is None:
        raise ValueError("expected a month as YYYY-MM")
    year, month = (int(g) for g in match.groups())
    if not 1 <= month <= 12 or not 1970 <= year <= 9998:
        raise ValueError("expected a month between 1970-01 and 9998-12")
    return date(year, month, 1)


def month_bounds(first: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the month beginning on `first`, in the local time of `timezone`."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    zone = ZoneInfo(timezone)
    start, end = (datetime(d.year, d.month, d.day, tzinfo=zone) for d in (first, following))
    return start.astimezone(UTC), end.astimezone(UTC)


class WindowError(ValueError):
    """A bad recent-events window; `field` names the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _instant(text: str | None, field: str) -> datetime:
    if text is None:
        raise WindowError(field, f"{field} is required (integer milliseconds since 1970, UTC)")
    if _MS_RE.match(text) is None:
        raise WindowError(field, f"{field} must be integer milliseconds since 1970, UTC")
    return from_ms(int(text))


def recent_window(
    start: str | None, end: str | None, now: datetime, max_future: timedelta
) -> tuple[datetime, datetime]:
    """[start, end) of /events/recent: both given, start before end, neither side more than
    two weeks before `now` nor more than `max_future` after it; WindowError otherwise."""
    first, last = _instant(start, "start_time"), _instant(end, "end_time")
    if first < now - RECENT_EVENTS_MAX_AGE:
        raise WindowError("start_time", "start_time is more than two weeks ago")
    if last <= first:
        raise WindowError("end_time", "end_time must be after start_time")
    if last > now + max_future:
        raise WindowError("end_time", "end_time lies in the future")
    return first, last
