"""Plans computed off the event loop: in a process pool, each recorded when it ends."""

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.rebalancing.model import PlanningError, Problem
from fleet.rebalancing.pool import plan_off_loop
from fleet.rebalancing.service import TypeTargets, finish_plan, plan_result

log = logging.getLogger("fleetbed.rebalancing")


class PlanRunner:
    """Runs plans in `executor` and stores each result (or failure) in its own transaction."""

    def __init__(
        self, executor: Executor, sessions: Callable[[], async_sessionmaker[AsyncSession]]
    ) -> None:
        self.executor = executor
        self.sessions = sessions
        self._running: set[asyncio.Task[None]] = set()

    async def run(
        self,
        plan_id: uuid.UUID,
        problem: Problem,
        targets: TypeTargets,
        *,
        started_at: datetime,
        answer_within_s: float,
    ) -> bool:
        """Start computing the plan; True if it was stored within `answer_within_s`."""
        task = asyncio.create_task(self._compute(plan_id, problem, targets, started_at))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        done, _ = await asyncio.wait({task}, timeout=answer_within_s)
        return bool(done)

    async def _compute(
        self, plan_id: uuid.UUID, problem: Problem, targets: TypeTargets, started_at: datetime
    ) -> None:
        result, error = None, None
        try:
            plan = await plan_off_loop(problem, executor=self.executor)
            result = plan_result(plan, targets, started_at)
        except PlanningError as exc:
            error = str(exc)
        except Exception as exc:  # the plan is marked failed, the service goes on
            log.exception("planning failed", extra={"plan_id": str(plan_id)})
            error = f"the planner failed: {type(exc).__name__}"
        async with self.sessions().begin() as session:
            await finish_plan(
                session, plan_id=plan_id, result=result, error=error, now=datetime.now(UTC)
            )

    async def settled(self) -> None:
        """Wait until every plan started so far is stored."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        """Stop the plans being computed (they stay `computing` and are reported lost)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
