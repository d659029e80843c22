"""Rebalancing: the demand forecast (/v1/demand/forecast), targets per cell
(/v1/rebalancing/targets) and van plans (/v1/rebalancing/plans), dispatched as tasks."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from app.core.auth import Principal, Scope
from app.core.bounded import UtcDateTime
from app.core.errors import InvalidInput, NotFound
from app.core.mds import VehicleType
from app.deps import SessionDep, get_settings, require
from app.paging import PageDep
from app.visibility import live_scope
from fleet.ingest.rules import ZoneRules
from fleet.live.queries import providers_in
from fleet.rebalancing import service
from fleet.rebalancing.model import Place
from fleet.rebalancing.models import RebalancingPlan
from fleet.rebalancing.runner import PlanRunner
from fleet.rebalancing.schemas import (
    MAX_HORIZON_H,
    BalanceRead,
    CellForecast,
    CellTargetRead,
    ForecastRead,
    PlanCreate,
    PlanPage,
    PlanRead,
    RouteRead,
    StopRead,
    TargetsRead,
)
from fleet.rebalancing.service import Horizon, PlanCosts, VanSpec
from fleet.rebalancing.sites import site_id
from fleet.tasks.feed import TaskFeed

router = APIRouter(prefix="/v1", tags=["rebalancing"])

Reader = Annotated[Principal, Depends(require(Scope.REBALANCING_READ))]
Planner = Annotated[Principal, Depends(require(Scope.REBALANCING_PLAN, provider_bound=True))]
GEOJSON = "application/geo+json"
MAX_FORECAST_H = 168


def _horizon(request: Request, resolution: int) -> Horizon:
    settings = get_settings(request)
    return Horizon(
        now=datetime.now(UTC),
        history_weeks=settings.rebalancing.history_weeks,
        resolution=resolution,
        tz=ZoneInfo(settings.city_timezone),
    )


def _costs(request: Request) -> PlanCosts:
    r = get_settings(request).rebalancing
    return PlanCosts(
        r.van_speed_kmh, r.detour_factor, r.stop_s, r.handle_s, r.swap_s, r.unserved_penalty_s
    )


async def _providers(
    session: SessionDep, principal: Principal, wanted: uuid.UUID | None
) -> list[uuid.UUID]:
    """The providers a read covers; asking for another operator's reads as not found."""
    found = list(await providers_in(session, scope=live_scope(principal, wanted)))
    if wanted is not None and not found:
        raise NotFound(f"no provider {wanted}")
    return found


@router.get(
    "/demand/forecast",
    operation_id="v1_demand_forecast",
    summary="Expected trip starts and ends per H3 cell and hour",
    response_model=ForecastRead,
)
async def demand_forecast(
    request: Request,
    session: SessionDep,
    principal: Reader,
    from_: Annotated[UtcDateTime | None, Query(alias="from")] = None,
    to: Annotated[UtcDateTime | None, Query()] = None,
    resolution: Annotated[int, Query(ge=7, le=9)] = 8,
    vehicle_type: Annotated[VehicleType | None, Query()] = None,
    provider_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ForecastRead:
    """Hours from `from` (default: the current hour) to `to` (default: a day later), at
    most a week; operators see their own demand, city planners every operator's."""
    horizon = _horizon(request, resolution)
    start = (from_ or horizon.until).replace(minute=0, second=0, microsecond=0)
    end = to or start + timedelta(hours=24)
    hours = int((end - start) / service.HOUR + 0.999999)
    if not 1 <= hours <= MAX_FORECAST_H:
        raise InvalidInput(
            f"from and to must be 1 to {MAX_FORECAST_H} hours apart", fields=("from", "to")
        )
    providers = await _providers(session, principal, provider_id)
    forecast = await service.forecast(
        session,
        provider_ids=providers,
        vehicle_type=vehicle_type.value if vehicle_type else None,
        horizon=horizon,
        hours=[start + i * service.HOUR for i in range(hours)],
    )
    return ForecastRead(
        resolution=resolution,
        vehicle_type=vehicle_type,
        history_from=horizon.since,
        history_to=horizon.until,
        hours=list(forecast.hours),
        cells=[
            CellForecast(
                cell=site_id(cell),
                starts=[round(float(v), 4) for v in forecast.starts[i]],
                ends=[round(float(v), 4) for v in forecast.ends[i]],
            )
            for i, cell in enumerate(forecast.cells)
        ],
    )


@router.get(
    "/rebalancing/targets",
    operation_id="v1_rebalancing_targets",
    summary="Vehicles each cell should hold for the next hours, against the live supply",
    response_model=TargetsRead,
    responses={200: {"content": {GEOJSON: {}}}},
)
async def rebalancing_targets(
    request: Request,
    session: SessionDep,
    principal: Reader,
    horizon_h: Annotated[int, Query(ge=1, le=MAX_HORIZON_H)] = 4,
    service_level: Annotated[float, Query(gt=0, lt=1)] = 0.9,
    resolution: Annotated[int, Query(ge=7, le=9)] = 8,
    vehicle_type: Annotated[VehicleType | None, Query()] = None,
    provider_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Any:
    """Per cell and vehicle type, summed over the operators the caller sees; GeoJSON
    (cell polygons) with `Accept: application/geo+json`."""
    horizon = _horizon(request, resolution)
    rows: dict[tuple[int, str], CellTargetRead] = {}
    for provider in await _providers(session, principal, provider_id):
        types = (
            [vehicle_type.value]
            if vehicle_type
            else await service.vehicle_types(session, provider_id=provider)
        )
        for vtype in types:
            targets = await service.type_targets(
                session,
                request.app.state.live.hot,
                zone_rules=_zone_rules(request),
                provider_id=provider,
                vehicle_type=vtype,
                horizon=horizon,
                horizon_h=horizon_h,
                service_level=service_level,
            )
            for c in targets.cells:
                _add(rows, c, vtype, c.cell in targets.parking.hubs)
    cells = sorted(rows.values(), key=lambda r: (r.cell, r.vehicle_type))
    body = TargetsRead(
        horizon_h=horizon_h,
        service_level=service_level,
        resolution=resolution,
        computed_at=horizon.now,
        supply=sum(r.supply for r in cells),
        target=sum(r.target for r in cells),
        cells_in_deficit=len({r.cell for r in cells if r.surplus < 0}),
        cells=cells,
    )
    if GEOJSON in request.headers.get("accept", ""):
        return JSONResponse(_geojson(body), media_type=GEOJSON)
    return body


def _zone_rules(request: Request) -> ZoneRules:
    rules: ZoneRules = request.app.state.zone_rules
    return rules


def _add(rows: dict[tuple[int, str], CellTargetRead], c: Any, vtype: str, hub: bool) -> None:
    """Sum one operator's cell into the answer's row of that cell and type."""
    row = rows.get((c.cell, vtype))
    if row is None:
        rows[(c.cell, vtype)] = CellTargetRead(
            cell=site_id(c.cell),
            vehicle_type=VehicleType(vtype),
            supply=c.supply,
            target=c.target,
            surplus=c.surplus,
            expected_starts=round(c.starts, 4),
            expected_ends=round(c.ends, 4),
            hub=hub,
        )
        return
    row.supply += c.supply
    row.target += c.target
    row.surplus += c.surplus
    row.expected_starts = round(row.expected_starts + c.starts, 4)
    row.expected_ends = round(row.expected_ends + c.ends, 4)
    row.hub = row.hub or hub


def _geojson(body: TargetsRead) -> dict[str, Any]:
    def polygon(cell: str) -> dict[str, Any]:
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(h3.str_to_int(cell))]
        return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}

    summary = body.model_dump(mode="json", exclude={"cells"})
    return {
        "type": "FeatureCollection",
        "properties": summary,
        "features": [
            {
                "type": "Feature",
                "geometry": polygon(row.cell),
                "properties": row.model_dump(mode="json"),
            }
            for row in body.cells
        ],
    }


def _plan_read(
    plan: RebalancingPlan, task_ids: list[uuid.UUID] | None = None, *, routes: bool = True
) -> PlanRead:
    """A stored plan as the API shows it; `routes` False leaves the routes out."""
    result = plan.result or {}
    started = datetime.fromisoformat(result["started_at"]) if plan.result else None
    agents = {v["van_id"]: v.get("agent_id") for v in plan.request["vans"]}
    shown = None
    if started is not None and routes:
        shown = [
            RouteRead(
                van_id=route["van_id"],
                agent_id=agents.get(route["van_id"]),
                stops=[
                    StopRead(
                        **{k: v for k, v in stop.items() if k not in {"arrive_s", "depart_s"}},
                        arrive_at=started + timedelta(seconds=stop["arrive_s"]),
                        depart_at=started + timedelta(seconds=stop["depart_s"]),
                    )
                    for stop in route["stops"]
                ],
            )
            for route in result["routes"]
        ]
    return PlanRead(
        plan_id=plan.plan_id,
        provider_id=plan.provider_id,
        state=plan.state,
        created_by=plan.created_by,
        created_at=plan.created_at,
        request=plan.request,
        error=plan.error,
        routes=shown,
        travel_s=result.get("travel_s"),
        unserved=result.get("unserved"),
        objective=result.get("objective"),
        solver=result.get("solver"),
        before=BalanceRead(**result["before"]) if "before" in result else None,
        after=BalanceRead(**result["after"]) if "after" in result else None,
        dispatched_at=plan.dispatched_at,
        task_ids=task_ids if plan.state == "dispatched" else None,
    )


@router.post(
    "/rebalancing/plans",
    operation_id="v1_create_rebalancing_plan",
    summary="Plan the vans' routes that restore the targets",
    response_model=PlanRead,
    status_code=201,
    responses={202: {"model": PlanRead, "description": "Still computing; poll its URL."}},
)
async def create_plan(
    request: Request, response: Response, session: SessionDep, principal: Planner, body: PlanCreate
) -> PlanRead:
    """201 with the plan when it is done within `FLEETBED_REBALANCING__ANSWER_WITHIN_S`,
    else 202 with its id while it computes. A van is refused (422, naming it) when its
    shift has ended or cannot take it back to its depot, or it starts outside the
    service area."""
    settings = get_settings(request).rebalancing
    if body.time_limit_s > settings.max_time_limit_s:
        raise InvalidInput(
            f"time_limit_s: at most {settings.max_time_limit_s} s", fields=("time_limit_s",)
        )
    provider_id, _ = principal.acting_for()
    vehicle_type = await _plan_type(session, provider_id, body.vehicle_type)
    horizon = _horizon(request, body.resolution)
    costs = _costs(request)
    vans = [
        VanSpec(
            v.van_id,
            v.agent_id,
            Place(v.start.lat, v.start.lng),
            Place(*((v.depot or v.start).lat, (v.depot or v.start).lng)),
            v.capacity,
            v.shift_end,
            v.batteries,
        )
        for v in body.vans
    ]
    if len({v.van_id for v in vans}) < len(vans):
        raise InvalidInput("vans: every van_id must be unique", fields=("vans",))
    service.check_vans(
        vans,
        _zone_rules(request),
        provider_id=provider_id,
        vehicle_type=vehicle_type,
        costs=costs,
        now=horizon.now,
    )
    await service.check_agents(session, provider_id=provider_id, vans=vans)
    targets = await service.type_targets(
        session,
        request.app.state.live.hot,
        zone_rules=_zone_rules(request),
        provider_id=provider_id,
        vehicle_type=vehicle_type,
        horizon=horizon,
        horizon_h=body.horizon_h,
        service_level=body.service_level,
    )
    problem = service.problem_of(
        vans,
        targets,
        resolution=body.resolution,
        costs=costs,
        time_limit_s=body.time_limit_s,
        now=horizon.now,
    )
    stored = body.model_dump(mode="json") | {"vehicle_type": vehicle_type}
    sessions = request.app.state.resources.sessionmaker
    async with sessions.begin() as own:
        plan = await service.store_plan(
            own, provider_id=provider_id, request=stored, actor=principal.key_id, now=horizon.now
        )
    runner: PlanRunner = request.app.state.plan_runner
    done = await runner.run(
        plan.plan_id,
        problem,
        targets,
        started_at=horizon.now,
        answer_within_s=settings.answer_within_s,
    )
    found, _ = await service.read_plan(
        session, provider_ids=[provider_id], plan_id=plan.plan_id, now=datetime.now(UTC)
    )
    response.headers["Location"] = f"/v1/rebalancing/plans/{plan.plan_id}"
    if not done:
        response.status_code = 202
    return _plan_read(found)


async def _plan_type(
    session: SessionDep, provider_id: uuid.UUID, wanted: VehicleType | None
) -> str:
    """The vehicle type a plan moves: the one asked for, or the fleet's only one."""
    if wanted is not None:
        return wanted.value
    types = await service.vehicle_types(session, provider_id=provider_id)
    if len(types) != 1:
        raise InvalidInput(
            "vehicle_type: name the vehicle type to move "
            f"(the fleet has {len(types) or 'no'} types{': ' + ', '.join(types) if types else ''})",
            fields=("vehicle_type",),
        )
    return types[0]


@router.get(
    "/rebalancing/plans",
    operation_id="v1_list_rebalancing_plans",
    summary="Rebalancing plans, paged by id",
    response_model=PlanPage,
)
async def list_plans(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    state: Annotated[Literal["computing", "ready", "failed", "dispatched"] | None, Query()] = None,
) -> PlanPage:
    """Operators list their own plans, city planners every operator's; without routes."""
    providers = await providers_in(session, scope=live_scope(principal, None))
    plans = await service.list_plans(
        session, provider_ids=list(providers), state=state, after=page.after, limit=page.size
    )
    full = len(plans) == page.size
    return PlanPage(
        data=[_plan_read(p, routes=False) for p in plans],
        links=page.links(plans[-1].plan_id if full else None),
    )


@router.get(
    "/rebalancing/plans/{plan_id}",
    operation_id="v1_get_rebalancing_plan",
    summary="A rebalancing plan: computing, ready, failed or dispatched",
    response_model=PlanRead,
)
async def get_plan(session: SessionDep, principal: Reader, plan_id: uuid.UUID) -> PlanRead:
    """Operators read their own plans, city planners every operator's."""
    providers = await providers_in(session, scope=live_scope(principal, None))
    plan, task_ids = await service.read_plan(
        session, provider_ids=list(providers), plan_id=plan_id, now=datetime.now(UTC)
    )
    return _plan_read(plan, task_ids)


@router.post(
    "/rebalancing/plans/{plan_id}/dispatch",
    operation_id="v1_dispatch_rebalancing_plan",
    summary="Turn a ready plan into pickup and drop-off tasks for the vans' agents",
    response_model=PlanRead,
)
async def dispatch_plan(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: Planner,
    plan_id: uuid.UUID,
) -> PlanRead:
    """Once only: a plan that is not ready, or a vehicle of it that already has an
    active task of the kind, is a 409."""
    provider_id, _ = principal.acting_for()
    now = datetime.now(UTC)
    plan, changed = await service.dispatch_plan(
        session, provider_id=provider_id, plan_id=plan_id, actor=principal.key_id, now=now
    )
    feed: TaskFeed = request.app.state.task_feed
    background.add_task(feed.publish, changed)
    plan, task_ids = await service.read_plan(
        session, provider_ids=[provider_id], plan_id=plan_id, now=now
    )
    return _plan_read(plan, task_ids)
