"""The periodic jobs of one API process, one step each; `app.main` runs every job as a
supervised task (`task:<name>` in /readyz) that repeats it and retries failures."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fleet.ingest.live import LiveFeed
from fleet.live.catch_up import catch_up
from fleet.tasks.feed import TaskFeed
from fleet.tasks.service import expire_overdue, inspect_silent
from fleet.trips.lifecycle import close_abandoned
from telemetry.partitions import PartitionPolicy, maintain_partitions


@dataclass
class BackgroundJobs:
    """History partitions, abandoned trips and the live state's catch-up."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    live: LiveFeed
    partitions: PartitionPolicy
    abandon_after_s: float

    async def keep_partitions(self) -> None:
        """Make the coming days' history partitions and drop expired ones."""
        await maintain_partitions(self.engine, self.partitions, datetime.now(UTC).date())

    async def abandon_trips(self) -> None:
        """Mark trips open longer than `abandon_after_s` without an end as abandoned."""
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


# Most tasks one upkeep step touches: a backlog is worked off over several steps.
UPKEEP_BATCH = 1000


@dataclass
class TaskUpkeep:
    """Field-task upkeep: overdue tasks expire, silent vehicles get an inspection."""

    sessionmaker: async_sessionmaker[AsyncSession]
    feed: TaskFeed

    async def expire_tasks(self) -> None:
        """Expire open and assigned tasks past their due time."""
        async with self.sessionmaker.begin() as session:
            changed = await expire_overdue(session, now=datetime.now(UTC), limit=UPKEEP_BATCH)
        await self.feed.publish(changed)

    async def inspect_silent(self) -> None:
        """Open an inspection for each vehicle whose telemetry stopped."""
        async with self.sessionmaker.begin() as session:
            changed = await inspect_silent(session, now=datetime.now(UTC), limit=UPKEEP_BATCH)
        await self.feed.publish(changed)
