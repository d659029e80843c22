"""Rebalancing in the database and the hot state: forecasts from the trip history, targets
against the live fleet, and plans stored, computed and dispatched as field tasks."""

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, InvalidInput, NotFound
from fleet.ingest.rules import ZoneRules
from fleet.rebalancing.forecast import Forecast, TripHistory, forecast_demand
from fleet.rebalancing.history import hourly_trip_counts
from fleet.rebalancing.model import Place, Plan, Problem, Van
from fleet.rebalancing.models import RebalancingPlan
from fleet.rebalancing.places import ParkingCells, parking_cells, zones_in_force
from fleet.rebalancing.sites import Parked, balance, balance_after, sites_of
from fleet.rebalancing.targets import CellTarget, fleet_targets
from fleet.rebalancing.travel import GreatCircle
from fleet.tasks.kinds import TaskKind
from fleet.tasks.models import Task
from fleet.tasks.service import (
    Changed,
    NewTask,
    PlannedTask,
    may_hold_tasks,
    open_planned,
    task_rules,
)
from fleet.vehicles.models import Vehicle
from geofencing.rules import ZoneKind
from telemetry.hotstate.store import HotState

HOUR = timedelta(hours=1)
AVAILABLE = "available"
# A plan computing this long past its time limit lost the process computing it.
LOST_AFTER_S = 120


@dataclass(frozen=True)
class Horizon:
    """What a forecast learns from and looks at: weeks of history before `now`, in the
    city's time zone, at a resolution."""

    now: datetime
    history_weeks: int
    resolution: int
    tz: ZoneInfo

    @property
    def until(self) -> datetime:
        """The end of the history: the start of the current hour."""
        return self.now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    @property
    def since(self) -> datetime:
        """The start of the history."""
        return self.until - timedelta(weeks=self.history_weeks)

    def next_hours(self, hours: int) -> list[datetime]:
        """The `hours` hours from the current one on."""
        return [self.until + i * HOUR for i in range(hours)]


async def forecast(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    vehicle_type: str | None,
    horizon: Horizon,
    hours: Sequence[datetime],
    extra_cells: Sequence[int] = (),
) -> Forecast:
    """Expected trip starts and ends per cell in each of `hours`, from the history."""
    counts = await hourly_trip_counts(
        session,
        provider_ids=provider_ids,
        vehicle_type=vehicle_type,
        since=horizon.since,
        until=horizon.until,
        resolution=horizon.resolution,
    )
    history = TripHistory.from_counts(
        counts,
        since=horizon.since,
        until=horizon.until,
        resolution=horizon.resolution,
        tz=horizon.tz,
    )
    # Fitting a city takes a good part of a second: not on the event loop.
    return await asyncio.to_thread(forecast_demand, history, hours, extra_cells=extra_cells)


async def vehicle_types(session: AsyncSession, *, provider_id: uuid.UUID) -> list[str]:
    """The vehicle types the provider has registered."""
    found = await session.scalars(
        select(Vehicle.vehicle_type).where(Vehicle.provider_id == provider_id).distinct()
    )
    return sorted(found.all())


@dataclass(frozen=True)
class TypeTargets:
    """One provider's vehicles of one type against their targets, per cell."""

    vehicle_type: str
    cells: list[CellTarget]
    parked: list[Parked]
    parking: ParkingCells


async def type_targets(
    session: AsyncSession,
    hot: HotState,
    *,
    zone_rules: ZoneRules,
    provider_id: uuid.UUID,
    vehicle_type: str,
    horizon: Horizon,
    horizon_h: int,
    service_level: float,
) -> TypeTargets:
    """Targets per cell of one type for the next `horizon_h` hours, against the available
    vehicles with battery enough to rent (the task rules' swap threshold)."""
    threshold = (await task_rules(session, provider_id=provider_id)).battery_threshold(vehicle_type)
    parked = [
        Parked(v.device_id, v.lat, v.lng, v.battery is None or v.battery >= threshold)
        for v in await hot.fleet(provider_id)
        if v.state == AVAILABLE
        and v.vehicle_type == vehicle_type
        and v.lat is not None
        and v.lng is not None
    ]
    supply: dict[int, int] = {}
    for p in parked:
        if p.charged:
            cell = h3.latlng_to_cell(p.lat, p.lng, horizon.resolution)
            supply[cell] = supply.get(cell, 0) + 1
    demand = await forecast(
        session,
        provider_ids=[provider_id],
        vehicle_type=vehicle_type,
        horizon=horizon,
        hours=horizon.next_hours(horizon_h),
        extra_cells=sorted(supply),
    )
    totals = demand.horizon_totals()
    parking = parking_cells(
        zone_rules,
        [*totals, *supply],
        resolution=horizon.resolution,
        provider_id=provider_id,
        vehicle_type=vehicle_type,
        when=horizon.now,
    )
    targets = fleet_targets(
        totals, supply, parking.allowed.keys(), parking.hubs, service_level=service_level
    )
    return TypeTargets(vehicle_type, list(targets.cells), parked, parking)


@dataclass(frozen=True)
class VanSpec:
    """A van as a plan request gives it."""

    van_id: str
    agent_id: str | None
    start: Place
    depot: Place
    capacity: int
    shift_end: datetime
    batteries: int


@dataclass(frozen=True)
class PlanCosts:
    """The planner's time model: van speed and detour, and seconds spent at stops."""

    van_speed_kmh: float
    detour_factor: float
    stop_s: int
    handle_s: int
    swap_s: int
    unserved_penalty_s: int

    @property
    def travel(self) -> GreatCircle:
        """Driving times between places by this speed and detour."""
        return GreatCircle(self.detour_factor, self.van_speed_kmh)


def check_vans(
    vans: Sequence[VanSpec],
    zone_rules: ZoneRules,
    *,
    provider_id: uuid.UUID,
    vehicle_type: str,
    costs: PlanCosts,
    now: datetime,
) -> None:
    """Refuse a van whose shift has ended or cannot take it back to its depot, or that
    starts outside the service area; the field is named."""
    areas = [
        z
        for z in zones_in_force(
            zone_rules, provider_id=provider_id, vehicle_type=vehicle_type, when=now
        )
        if z.rule.kind is ZoneKind.SERVICE_AREA
    ]
    travel = costs.travel
    for i, van in enumerate(vans):
        field = f"vans.{i}"
        left_s = (van.shift_end - now).total_seconds()
        if left_s <= 0:
            raise InvalidInput(
                f"{field}.shift_end: the shift has ended", fields=(f"{field}.shift_end",)
            )
        if float(travel.seconds([van.start], [van.depot])[0, 0]) > left_s:
            raise InvalidInput(
                f"{field}.shift_end: the van cannot reach its depot before its shift ends",
                fields=(f"{field}.shift_end",),
            )
        here = zone_rules.registry.zones_at(
            van.start.lat,
            van.start.lng,
            when=now,
            vehicle_type=vehicle_type,
            provider_id=provider_id,
        )
        if areas and not any(z.rule.kind is ZoneKind.SERVICE_AREA for z in here):
            raise InvalidInput(
                f"{field}.start: the van starts outside the service area",
                fields=(f"{field}.start",),
            )


async def check_agents(
    session: AsyncSession, *, provider_id: uuid.UUID, vans: Sequence[VanSpec]
) -> None:
    """Refuse a van whose agent is not a live agent key of the provider."""
    for i, van in enumerate(vans):
        if van.agent_id is not None and not await may_hold_tasks(
            session, provider_id=provider_id, key_id=van.agent_id
        ):
            field = f"vans.{i}.agent_id"
            raise InvalidInput(
                f"{field}: no agent key {van.agent_id} of this provider", fields=(field,)
            )


def problem_of(
    vans: Sequence[VanSpec],
    targets: TypeTargets,
    *,
    resolution: int,
    costs: PlanCosts,
    time_limit_s: float,
    now: datetime,
) -> Problem:
    """The planner's input: the cells' surpluses and deficits as sites, and the vans."""
    surplus = {c.cell: c.surplus for c in targets.cells}
    return Problem(
        vans=tuple(
            Van(
                van.van_id,
                van.start,
                van.depot,
                van.capacity,
                int((van.shift_end - now).total_seconds()),
                van.batteries,
                0,
                van.agent_id,
            )
            for van in vans
        ),
        sites=sites_of(surplus, targets.parked, targets.parking.allowed, resolution),
        travel=costs.travel,
        stop_s=costs.stop_s,
        handle_s=costs.handle_s,
        swap_s=costs.swap_s,
        unserved_penalty_s=costs.unserved_penalty_s,
        must_balance=False,
        free_start_load=False,
        time_limit_s=time_limit_s,
    )


def plan_result(plan: Plan, targets: TypeTargets, started_at: datetime) -> dict[str, Any]:
    """What is stored of a plan: its routes in seconds from `started_at`, the figures, and
    the balance of the cells before and after it."""
    surplus = {c.cell: c.surplus for c in targets.cells}
    charged = {p.device_id for p in targets.parked if p.charged}
    return {
        "started_at": started_at.isoformat(),
        "routes": [
            {
                "van_id": route.van_id,
                "stops": [
                    {
                        "kind": stop.kind,
                        "cell": stop.site_id,
                        "lat": stop.place.lat,
                        "lng": stop.place.lng,
                        "arrive_s": stop.arrive_s,
                        "depart_s": stop.depart_s,
                        "picked": list(stop.picked),
                        "dropped": list(stop.dropped),
                        "dropped_stock": stop.dropped_stock,
                        "swapped": list(stop.swapped),
                        "to_depot": list(stop.to_depot),
                        "load_after": stop.load_after,
                    }
                    for stop in route.stops
                ],
            }
            for route in plan.routes
        ],
        "travel_s": plan.travel_s,
        "unserved": plan.unserved,
        "objective": plan.objective,
        "solver": plan.solver,
        "before": balance(surplus),
        "after": balance(balance_after(surplus, plan, charged)),
    }


async def store_plan(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    request: dict[str, Any],
    actor: str,
    now: datetime,
) -> RebalancingPlan:
    """A plan being computed."""
    plan = RebalancingPlan(
        plan_id=uuid.uuid4(),
        provider_id=provider_id,
        state="computing",
        request=request,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(plan)
    await session.flush()
    return plan


async def finish_plan(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    result: dict[str, Any] | None,
    error: str | None,
    now: datetime,
) -> None:
    """Record what the planner answered (a result, or why there is none)."""
    plan = await session.get(RebalancingPlan, plan_id, with_for_update=True)
    if plan is None or plan.state != "computing":
        return
    plan.state, plan.result, plan.error, plan.updated_at = (
        ("ready", result, None, now) if result is not None else ("failed", None, error, now)
    )


async def get_plan(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, plan_id: uuid.UUID
) -> RebalancingPlan:
    """A plan of one of the providers (None: any); another provider's is not found."""
    query = select(RebalancingPlan).where(RebalancingPlan.plan_id == plan_id)
    if provider_ids is not None:
        query = query.where(RebalancingPlan.provider_id.in_(provider_ids))
    plan = await session.scalar(query)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    return plan


async def list_plans(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    state: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[RebalancingPlan]:
    """Plans of the providers (None: every provider), by id from the cursor on."""
    query = select(RebalancingPlan)
    if provider_ids is not None:
        query = query.where(RebalancingPlan.provider_id.in_(provider_ids))
    if state is not None:
        query = query.where(RebalancingPlan.state == state)
    if after is not None:
        query = query.where(RebalancingPlan.plan_id > after)
    found = await session.scalars(query.order_by(RebalancingPlan.plan_id).limit(limit))
    return list(found.all())


async def read_plan(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    plan_id: uuid.UUID,
    now: datetime,
) -> tuple[RebalancingPlan, list[uuid.UUID]]:
    """A plan and the tasks dispatched from it, in order. A plan still computing well past
    its time limit lost the process computing it, and is failed."""
    plan = await get_plan(session, provider_ids=provider_ids, plan_id=plan_id)
    deadline = plan.created_at + timedelta(seconds=plan.request["time_limit_s"] + LOST_AFTER_S)
    if plan.state == "computing" and now > deadline:
        plan.state, plan.error, plan.updated_at = "failed", "the process computing it stopped", now
    tasks = await session.scalars(
        select(Task.task_id)
        .where(Task.plan_id == plan_id)
        .order_by(Task.plan_stop, Task.kind, Task.task_id)
    )
    return plan, list(tasks.all())


def planned_tasks(result: dict[str, Any], agents: dict[str, str | None]) -> list[PlannedTask]:
    """A plan's routes as tasks, stop by stop: a pickup per vehicle loaded, a drop-off per
    place vehicles are left at (the depot included); each due when the van is to arrive.
    `plan_stop` numbers the stops of all routes, route after route."""
    started = datetime.fromisoformat(result["started_at"])
    planned = []
    sequence = 0
    for route in result["routes"]:
        agent = agents.get(route["van_id"])
        number = 0
        for stop in route["stops"]:
            left = len(stop["dropped"]) + stop["dropped_stock"]
            if stop["kind"] == "start" or (stop["kind"] == "depot" and not left):
                continue
            number += 1
            sequence += 1
            due = started + timedelta(seconds=stop["arrive_s"])
            swapped = set(stop["swapped"])
            for device in stop["picked"]:
                note = f"{route['van_id']}, stop {number}: load" + (
                    " and swap its battery" if device in swapped else ""
                )
                planned.append(
                    PlannedTask(
                        NewTask(
                            TaskKind.REBALANCE_PICKUP,
                            uuid.UUID(device),
                            stop["lat"],
                            stop["lng"],
                            2,
                            due,
                            note,
                        ),
                        agent,
                        sequence,
                    )
                )
            if left:
                note = f"{route['van_id']}, stop {number}: leave {left} vehicles"
                planned.append(
                    PlannedTask(
                        NewTask(
                            TaskKind.REBALANCE_DROPOFF, None, stop["lat"], stop["lng"], 2, due, note
                        ),
                        agent,
                        sequence,
                        left,
                    )
                )
    return planned


async def dispatch_plan(
    session: AsyncSession, *, provider_id: uuid.UUID, plan_id: uuid.UUID, actor: str, now: datetime
) -> tuple[RebalancingPlan, list[Changed]]:
    """Turn a ready plan into tasks assigned to its vans' agents; once only."""
    plan = await session.scalar(
        select(RebalancingPlan)
        .where(RebalancingPlan.plan_id == plan_id, RebalancingPlan.provider_id == provider_id)
        .with_for_update()
    )
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    if plan.state != "ready" or plan.result is None:
        raise Conflict(f"the plan is {plan.state}; only a ready plan can be dispatched")
    agents = {v["van_id"]: v.get("agent_id") for v in plan.request["vans"]}
    changed = await open_planned(
        session,
        provider_id=provider_id,
        plan_id=plan_id,
        planned=planned_tasks(plan.result, agents),
        actor=actor,
        now=now,
    )
    plan.state, plan.dispatched_by, plan.dispatched_at, plan.updated_at = (
        "dispatched",
        actor,
        now,
        now,
    )
    return plan, changed
