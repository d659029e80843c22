"""Background upkeep of one API process: history partitions and the live state."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from redis.exceptions import RedisError
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
    """Runs partition maintenance and live-state catch-up on their intervals."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    live: LiveFeed
    policy: PartitionPolicy
    partition_interval_s: float
    tick_s: float
    abandon_after_s: float

    async def run(self) -> None:
        """Loop until cancelled; failures are logged and retried on the next tick."""
        next_partitions = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() >= next_partitions:
                try:
                    await maintain_partitions(self.engine, self.policy, datetime.now(UTC).date())
                    async with self.sessionmaker.begin() as session:
                        await close_abandoned(
                            session, now=datetime.now(UTC), after_s=self.abandon_after_s
                        )
                    next_partitions = loop.time() + self.partition_interval_s
                except Exception:
                    log.exception("partition maintenance failed")
            try:
                await catch_up(self.live, self.sessionmaker)
            except (RedisError, OSError) as exc:
                self.live.stale = True
                log.warning("hot state catch-up waits for Redis", extra={"error": repr(exc)})
            except Exception:
                log.exception("hot state catch-up failed")
            await asyncio.sleep(self.tick_s)
