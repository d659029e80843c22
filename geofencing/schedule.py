"""When a time-windowed rule applies, in the city's local time (pure)."""

from collections.abc import Collection
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def active_at(
    when: datetime,
    tz: ZoneInfo,
    *,
    days: Collection[str] | None = None,
    start: time | None = None,
    end: time | None = None,
) -> bool:
    """Whether a rule with these local days and hours applies at the instant `when`.

    `when` must be timezone-aware. A window whose end is not after its start runs past
    midnight, and then belongs to the day it starts on. Wall-clock times are compared,
    so a 02:00-04:00 window lasts one hour on the night clocks go forward and three on
    the night they go back, as a local sign would read.
    """
    local = when.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    day = DAYS[local.weekday()]
    previous_day = DAYS[(local.weekday() - 1) % 7]
    if start is None and end is None:
        return days is None or day in days
    begin = start or time.min
    finish = end or time.max
    if begin < finish:
        return begin <= clock < finish and (days is None or day in days)
    # Past midnight: the evening part counts for today, the early part for yesterday.
    if clock >= begin:
        return days is None or day in days
    return clock < finish and (days is None or previous_day in days)
