"""MDS hours for tests of the hourly Provider and Metrics reads."""

from datetime import UTC, datetime, timedelta


def hour_text(when: datetime) -> str:
    """The MDS hour parameter (`YYYY-MM-DDTHH`, UTC) of `when`."""
    return when.strftime("%Y-%m-%dT%H")


def closed_hour() -> datetime:
    """The start of an hour long enough ago that the Provider API serves it (200)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
