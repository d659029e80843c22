"""Daily range partitions of the telemetry table: naming is pure, DDL takes a connection,
upkeep (made ahead, expired ones dropped) an engine."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

PARENT = "telemetry"
_PREFIX = f"{PARENT}_p"
MS_PER_DAY = 86_400_000


def partition_name(day: date) -> str:
    """Name of the partition holding `day` (UTC)."""
    return f"{_PREFIX}{day:%Y%m%d}"


def day_of_name(name: str) -> date | None:
    """The day a partition name stands for, or None for other tables."""
    digits = name.removeprefix(_PREFIX)
    if digits == name or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def days_of(timestamps_ms: Iterable[int]) -> set[date]:
    """UTC days touched by a set of millisecond timestamps."""
    epoch = date(1970, 1, 1)
    return {epoch + timedelta(days=day) for day in {ts // MS_PER_DAY for ts in timestamps_ms}}


def days_ahead(today: date, ahead: int) -> list[date]:
    """Yesterday through `ahead` days after today: what the maintainer keeps ready."""
    return [today + timedelta(days=offset) for offset in range(-1, ahead + 1)]


def expired(days: Iterable[date], today: date, retention_days: int) -> list[date]:
    """Partition days wholly older than the retention window."""
    cutoff = today - timedelta(days=retention_days)
    return sorted(day for day in days if day < cutoff)


async def existing_days(conn: AsyncConnection) -> set[date]:
    """Days that have a partition."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    )
    return {day for (name,) in rows if (day := day_of_name(name)) is not None}


async def create_partitions(conn: AsyncConnection, days: Iterable[date]) -> None:
    """Create partitions for `days` unless they exist."""
    for day in sorted(days):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        await conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )


async def drop_partitions(conn: AsyncConnection, days: Iterable[date]) -> None:
    """Drop the partitions of `days` with their points."""
    for day in days:
        await conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))


@dataclass(frozen=True)
class PartitionPolicy:
    """How many days of partitions to keep ready, and how long to keep history."""

    days_ahead: int
    retention_days: int | None


async def maintain_partitions(
    engine: AsyncEngine, policy: PartitionPolicy, today: date
) -> tuple[list[date], list[date]]:
    """Create the coming days' partitions and drop expired ones: (created, dropped)."""
    async with engine.begin() as conn:
        have = await existing_days(conn)
        wanted = [d for d in days_ahead(today, policy.days_ahead) if d not in have]
        await create_partitions(conn, wanted)
        retention = policy.retention_days
        doomed = expired(have, today, retention) if retention is not None else []
        await drop_partitions(conn, doomed)
    return wanted, doomed
