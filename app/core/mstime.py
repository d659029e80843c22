"""MDS time: integer milliseconds since the Unix epoch ↔ aware UTC datetimes.

Integer arithmetic throughout: `datetime.timestamp() * 1000` goes through a float, which
holds only about 15 significant digits and so can be a millisecond off; these cannot.
"""

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def as_utc(when: datetime) -> datetime:
    """`when` converted to UTC; ValueError for a naive datetime, whose zone is unknown."""
    if when.utcoffset() is None:
        raise ValueError("a naive datetime has no time zone; give an aware one")
    return when.astimezone(UTC)


def to_ms(when: datetime) -> int:
    """Milliseconds since the epoch of aware `when`, rounded down (floor) to the ms."""
    return (as_utc(when) - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of `ms` milliseconds since the epoch."""
    return EPOCH + ms * MILLISECOND


def now_ms() -> int:
    """The wall clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rfc3339_ms(ms: int) -> str:
    """`ms` as RFC 3339 UTC with milliseconds, e.g. 2026-10-25T01:02:03.004Z."""
    return f"{from_ms(ms):%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def sql_ms(expr: str) -> str:
    """SQL giving integer milliseconds since the epoch of a timestamptz expression,
    rounded down like `to_ms` (extract yields an exact numeric, not a float)."""
    return f"floor(extract(epoch FROM {expr}) * 1000)::bigint"


def sql_from_ms(expr: str) -> str:
    """SQL giving the exact timestamptz of an integer-milliseconds expression."""
    return f"(timestamptz 'epoch' + ({expr}) * interval '1 millisecond')"
