"""The operators' rebalancing vans on the simulated clock.

Every `VanOptions.every_min` minutes of simulated time, each operator with a depot and a
crew (manager and field agent keys) has its manager clear what an earlier run left
unfinished, ask for a plan for one van and dispatch it when it brings vehicles where some are
lacking (`rebalancing.worth_driving`). The agent then works the tasks stop by stop as the
simulated clock reaches them (`rebalancing.van_actions`), and the simulated vehicles ride
along: loaded at the pick-up, left at the drop-off, their events and telemetry posted like
any other. A pick-up whose vehicle is no longer idle there (rented meanwhile) is cancelled
by the manager. A van plans again only when it is back.

A request that fails is counted and kept in the report and the van tries again at its
next plan; it never stops the simulation.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from demo.city import Operator
from demo.simulator import crew as api
from demo.simulator.crew import Crew, CrewError
from demo.simulator.rebalancing import (
    MINUTE_MS,
    Action,
    FinishStop,
    Load,
    StartTasks,
    VanOptions,
    plan_request,
    van_actions,
    worth_driving,
)
from demo.simulator.report import Report
from demo.simulator.world import World

log = logging.getLogger("fleetbed.simulator.vans")

# The first plan waits until the server has seen the fleet; operators plan apart.
FIRST_PLAN_MS = 10 * MINUTE_MS
STAGGER_MS = 2 * MINUTE_MS


@dataclass(frozen=True)
class Dispatched:
    """A dispatched plan and the tasks its agent found assigned to them."""

    plan: dict[str, Any]
    tasks: list[dict[str, Any]]


@dataclass
class Van:
    """One operator's van: when it plans next, and the work of the shift it drives."""

    operator: Operator
    crew: Crew
    next_plan_ms: int | None = None
    actions: deque[Action] = field(default_factory=deque)
    loaded: set[str] = field(default_factory=set)
    planning: asyncio.Task[Dispatched | None] | None = None


class Vans:
    """Every operator's van; `advance` runs them up to a simulated time."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        operators: Sequence[Operator],
        crews: Mapping[str, Crew],
        options: VanOptions,
        report: Report,
        now_ms: Callable[[], int],
        background: bool = True,
    ) -> None:
        self.client = client
        self.options = options
        self.report = report
        self.now_ms = now_ms
        # Plans are asked for beside the simulation (they take seconds); inline when the
        # server shares one connection with the simulator (tests).
        self.background = background
        self.vans = [
            Van(op, crews[op.key])
            for op in operators
            if options.every_min > 0 and op.depot is not None and op.key in crews
        ]

    async def advance(self, t: int, world: World) -> None:
        """Take every van's plan that arrived, ask for those due, and work what is due
        by the simulated time `t` (before the world is advanced to `t`)."""
        for i, van in enumerate(self.vans):
            if van.planning is not None and van.planning.done():
                self._receive(van, van.planning.result(), t)
                van.planning = None
            if van.next_plan_ms is None:
                van.next_plan_ms = t + FIRST_PLAN_MS + i * STAGGER_MS
            if not van.actions and van.planning is None and t >= van.next_plan_ms:
                van.next_plan_ms = t + round(self.options.every_min * MINUTE_MS)
                if self.background:
                    van.planning = asyncio.create_task(self._plan(van))
                else:
                    self._receive(van, await self._plan(van), t)
            await self._work(van, t, world)

    async def close(self) -> None:
        """Give up the plans still being asked for (the run is ending)."""
        pending = [v.planning for v in self.vans if v.planning is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _problem(self, van: Van, what: str) -> None:
        log.warning("rebalancing %s: %s", van.operator.key, what)
        self.report.rebalancing_problem(van.operator.key, what)

    async def _plan(self, van: Van) -> Dispatched | None:
        """Clear leftovers, ask for a plan, dispatch it and list its tasks; None when
        there is nothing to do or a request failed."""
        try:
            cleared = await api.cancel_leftovers(self.client, van.crew)
            if cleared:
                log.info("rebalancing %s: cancelled %d leftover tasks", van.operator.key, cleared)
            body = plan_request(van.operator, van.crew.agent_id, self.options, self.now_ms())
            plan = await api.ask_for_plan(self.client, van.crew, body)
            self.report.rebalancing["plans"] += 1
            log.info(
                "rebalancing %s: plan %s, cells in deficit %s -> %s",
                van.operator.key,
                plan["plan_id"],
                plan["before"]["cells_in_deficit"],
                plan["after"]["cells_in_deficit"],
            )
            if not worth_driving(plan):
                return None
            plan = await api.dispatch(self.client, van.crew, plan["plan_id"])
            self.report.rebalancing["dispatched"] += 1
            return Dispatched(plan, await api.agent_tasks(self.client, van.crew, "assigned"))
        except CrewError as exc:
            self._problem(van, str(exc))
        except (LookupError, TypeError, ValueError) as exc:
            self._problem(van, f"unexpected answer: {exc!r}")
        return None

    def _receive(self, van: Van, dispatched: Dispatched | None, t: int) -> None:
        """The van sets out: its plan replayed from the simulated time `t`."""
        if dispatched is None:
            return
        try:
            actions = van_actions(dispatched.plan, dispatched.tasks, t)
        except (LookupError, TypeError, ValueError) as exc:
            self._problem(van, f"unreadable plan {dispatched.plan.get('plan_id')}: {exc!r}")
            return
        van.actions, van.loaded = deque(actions), set()

    async def _work(self, van: Van, t: int, world: World) -> None:
        """The van's actions due by `t`, in order."""
        if not van.actions:
            return
        while van.actions and van.actions[0].at_ms <= t:
            action = van.actions.popleft()
            if isinstance(action, StartTasks):
                for task_id in action.task_ids:
                    await self._try(van, api.start(self.client, van.crew, task_id))
            elif isinstance(action, Load):
                if world.carry(action.move):
                    van.loaded.add(action.move.device_id)
                    self.report.rebalancing["vehicles_moved"] += 1
            else:
                await self._finish(van, action)
        if not van.actions:
            self.report.rebalancing["shifts_done"] += 1

    async def _finish(self, van: Van, stop: FinishStop) -> None:
        """Complete what was done at the stop; the manager cancels what could not be."""
        for task_id, device in stop.pickups:
            if device in van.loaded:
                note = f"loaded into {stop.van_id}"
                await self._try(
                    van, api.complete(self.client, van.crew, task_id, stop.lat, stop.lng, note)
                )
            else:
                self.report.rebalancing["vehicles_not_found"] += 1
                await self._try(van, api.cancel(self.client, van.crew, task_id))
        if stop.dropoff is not None:
            task_id, devices = stop.dropoff
            left = sum(d in van.loaded for d in devices)
            if left:
                note = f"left {left} vehicles from {stop.van_id}"
                await self._try(
                    van, api.complete(self.client, van.crew, task_id, stop.lat, stop.lng, note)
                )
            else:
                await self._try(van, api.cancel(self.client, van.crew, task_id))

    async def _try(self, van: Van, call: Awaitable[None]) -> None:
        try:
            await call
        except CrewError as exc:
            self._problem(van, str(exc))
