"""Re-optimisation of the pods' schedules, off the event loop, without blocking bookings.

Each round reads a provider's schedules, lets the solver improve them in a worker process
(under a time limit), and stores the result only if no booking or event changed the
schedules meanwhile (their versions); otherwise the next round starts from the new ones.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.commands.service import Change
from fleet.dispatch import planner
from fleet.dispatch.model import Problem, Schedule
from fleet.dispatch.models import ACTIVE_STATES, DispatchRequest
from fleet.dispatch.service import Fleet, load_fleet, problem_of, store_schedules, trips_of
from telemetry.hotstate.store import HotState

log = logging.getLogger("fleetbed.dispatch")

Publish = Callable[[Sequence[Change]], Awaitable[None]]


class Reoptimiser:
    """Re-plans every provider with active requests, every `interval_s` or when asked."""

    def __init__(
        self,
        *,
        executor: Callable[[], Executor],
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        hot: HotState,
        time_limit_s: float,
        interval_s: float,
        publish: Publish,
    ) -> None:
        self.executor = executor
        self.sessions = sessions
        self.hot = hot
        self.time_limit_s = time_limit_s
        self.interval_s = interval_s
        self.publish = publish
        self._wake = asyncio.Event()

    def soon(self) -> None:
        """Ask for a round now (after a booking, a cancellation, an event)."""
        self._wake.set()

    async def announce(self, changes: Sequence[Change]) -> None:
        """After a committed change: wake the pods' gateways for their new routes, and
        ask for a round (which then reads what was committed)."""
        await self.publish(changes)
        self.soon()

    async def step(self) -> None:
        """Wait for a request or the interval, then re-plan every provider with work."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.interval_s)
        self._wake.clear()
        async with self.sessions().begin() as session:
            providers = (
                await session.scalars(
                    select(DispatchRequest.provider_id)
                    .where(DispatchRequest.state.in_(ACTIVE_STATES))
                    .distinct()
                )
            ).all()
        for provider_id in providers:
            await self.reoptimise(provider_id, now=datetime.now(UTC))

    async def reoptimise(self, provider_id: uuid.UUID, *, now: datetime) -> bool:
        """One round for one provider; True if better schedules were stored."""
        fleet = await self.read(provider_id, now=now)
        problem = problem_of(fleet)
        if not problem.requests:
            return False
        loop = asyncio.get_running_loop()
        schedules = await loop.run_in_executor(
            self.executor(), _reoptimise, problem, self.time_limit_s
        )
        return await self.store(fleet, problem, schedules)

    async def read(self, provider_id: uuid.UUID, *, now: datetime) -> Fleet:
        """The provider's pods and requests as the round starts."""
        async with self.sessions().begin() as session:
            return await load_fleet(session, self.hot, provider_id=provider_id, now=now, lock=False)

    async def store(self, read: Fleet, problem: Problem, schedules: Mapping[str, Schedule]) -> bool:
        """Store the new schedules unless a booking or an event changed the fleet's since
        `read`; send them to the pods. True if anything changed."""
        async with self.sessions().begin() as session:
            current = await load_fleet(
                session, self.hot, provider_id=read.provider_id, now=read.clock.now, lock=True
            )
            if not unchanged(read, current):
                log.info(
                    "schedules changed while re-planning", extra={"provider": str(read.provider_id)}
                )
                return False
            changes = await store_schedules(
                session,
                fleet=current,
                schedules=schedules.values(),
                requests=problem.requests,
                trips=trips_of(current),
            )
        await self.publish(changes)
        return bool(changes)


def unchanged(before: Fleet, after: Fleet) -> bool:
    """True when no schedule got a new version and no request came or went between."""
    versions = {d: s.version for d, s in before.schedules.items()}
    return versions == {d: s.version for d, s in after.schedules.items()} and set(
        before.requests
    ) == set(after.requests)


def _reoptimise(problem: Problem, seconds: float) -> dict[str, Schedule]:
    return planner.reoptimise(problem, time_limit_s=seconds)
