"""Background upkeep of one API process: history partitions and the live state."""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fleet.ingest.live import LiveFeed
from fleet.live.rebuild import rebuild_all
from fleet.trips.lifecycle import close_abandoned
from telemetry.partitions import (
    create_partitions,
    days_ahead,
    drop_partitions,
    existing_days,
    expired,
)

log = logging.getLogger("fleetbed.maintenance")


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


async def catch_up(live: LiveFeed, sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Rebuild the live state when it missed updates or Redis lost it; True if rebuilt."""
    if not live.stale and await live.hot.intact():
        return False
    # Cleared first: a failure during the rebuild marks it stale again.
    live.stale = False
    async with sessionmaker() as session:
        rebuilt = await rebuild_all(session, live.hot)
    await live.hot.mark_intact()
    log.info("hot state rebuilt", extra={"providers": len(rebuilt)})
    return True


@dataclass
class Upkeep:
    """Partition maintenance and live-state catch-up, one step each; the caller repeats
    them on their intervals and retries failures."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    live: LiveFeed
    policy: PartitionPolicy
    abandon_after_s: float

    async def partitions(self) -> None:
        """Make the coming days' partitions, drop expired ones, close abandoned trips."""
        await maintain_partitions(self.engine, self.policy, datetime.now(UTC).date())
        async with self.sessionmaker.begin() as session:
            await close_abandoned(session, now=datetime.now(UTC), after_s=self.abandon_after_s)

    async def catch_up(self) -> None:
        """Rebuild the live state if it missed updates; a failure leaves it marked stale."""
        try:
            await catch_up(self.live, self.sessionmaker)
        except BaseException:
            # Redis gone, or a rebuild cut short: the live state cannot be trusted.
            self.live.stale = True
            raise
