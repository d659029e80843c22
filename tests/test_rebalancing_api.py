"""Rebalancing end to end: a cell with demand and no vehicles, one with vehicles and no
demand; the forecast, the targets, a van's plan between them, its dispatch as tasks,
other operators kept out, and bad input refused with nothing stored."""

import asyncio
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import h3.api.basic_int as h3
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.rebalancing import runner as runner_module
from fleet.rebalancing.model import Plan, Problem
from fleet.rebalancing.models import RebalancingPlan
from fleet.rebalancing.pool import plan_off_loop
from fleet.rebalancing.runner import PlanRunner
from tests.conftest import Tenant, TenantFactory, auth
from tests.payloads import event, now_ms, point, post, register
from tests.rows import hourly_trips
from tests.tasks import Crew, crew
from tests.zones import disc, publish

# Demand starts at Helsingborg C; the vehicles stand 1.8 km north-east, where none start.
BUSY = (56.0465, 12.6945)
IDLE = (56.0600, 12.7100)
ELSEWHERE = (56.0200, 12.7300)
VEHICLES = 8
HOURS_OF_HISTORY = 4 * 7 * 24


def cell(place: tuple[float, float]) -> str:
    return str(h3.int_to_str(h3.latlng_to_cell(*place, 8)))


def later(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


@dataclass(frozen=True)
class Fleet:
    """An operator whose trips start at BUSY every hour and whose vehicles stand at IDLE."""

    crew: Crew
    devices: list[str]


async def park(
    client: AsyncClient,
    gateway: Tenant,
    devices: list[str],
    place: tuple[float, float],
    battery: int,
) -> None:
    """The vehicles stand available at `place` with this battery."""
    at = {"lat": place[0], "lng": place[1]}
    t = now_ms() - 60_000
    await post(
        client,
        gateway,
        "telemetry",
        [point(gateway, d, timestamp=t, location=at, battery_percent=battery) for d in devices],
    )
    await post(
        client,
        gateway,
        "events",
        [event(gateway, d, timestamp=t + 1, location=at) for d in devices],
    )


@pytest.fixture
async def fleet(client: AsyncClient, session: AsyncSession, tenant: TenantFactory) -> Fleet:
    c = await crew(tenant)
    assert c.gateway.provider_id is not None
    devices = await register(client, c.gateway, VEHICLES + 1, vehicle_type="scooter_standing")
    await park(client, c.gateway, devices[:VEHICLES], IDLE, 90)
    await hourly_trips(
        session,
        c.gateway.provider_id,
        uuid.UUID(devices[VEHICLES]),
        start=BUSY,
        end=ELSEWHERE,
        hours=HOURS_OF_HISTORY,
    )
    return Fleet(c, devices[:VEHICLES])


def by_cell(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["cell"]: row for row in body["cells"]}


async def targets(client: AsyncClient, who: Tenant, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/rebalancing/targets", headers=auth(who), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def van(agent: Tenant | None, **fields: Any) -> dict[str, Any]:
    body = {
        "van_id": "van-1",
        "start": {"lat": IDLE[0], "lng": IDLE[1]},
        "capacity": 10,
        "shift_end": later(4),
        **fields,
    }
    if agent is not None:
        body["agent_id"] = agent.key_id
    return body


async def plan(client: AsyncClient, who: Tenant, **fields: Any) -> Any:
    body = {"vans": [van(None)], "time_limit_s": 1, **fields}
    return await client.post("/v1/rebalancing/plans", headers=auth(who), json=body)


async def test_the_forecast_expects_starts_where_trips_started(
    client: AsyncClient, fleet: Fleet
) -> None:
    response = await client.get(
        "/v1/demand/forecast", headers=auth(fleet.crew.manager), params={"to": later(6)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["hours"]) in (6, 7)
    cells = {c["cell"]: c for c in body["cells"]}
    busy = cells[cell(BUSY)]
    assert all(0.5 < s < 1.5 for s in busy["starts"])
    assert all(e < 0.2 for e in busy["ends"])
    assert sum(cells[cell(ELSEWHERE)]["ends"]) > sum(cells[cell(ELSEWHERE)]["starts"])


@pytest.mark.parametrize(
    "params",
    [{"resolution": 10}, {"resolution": 6}, {"to": "2020-01-01T00:00:00Z"}, {"from": "yesterday"}],
)
async def test_a_bad_forecast_request_is_422(
    client: AsyncClient, fleet: Fleet, params: dict[str, Any]
) -> None:
    response = await client.get(
        "/v1/demand/forecast", headers=auth(fleet.crew.manager), params=params
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_targets_ask_for_vehicles_where_demand_is_and_count_only_rentable_ones(
    client: AsyncClient, fleet: Fleet
) -> None:
    flat = await register(client, fleet.crew.gateway, 2, vehicle_type="scooter_standing")
    await park(client, fleet.crew.gateway, flat, BUSY, 5)
    body = await targets(client, fleet.crew.manager)
    cells = by_cell(body)
    busy, idle = cells[cell(BUSY)], cells[cell(IDLE)]
    # Four hours of about one start an hour: at the 0.9 level more than the mean.
    assert busy["supply"] == 0
    assert busy["target"] >= 5
    assert busy["surplus"] == -busy["target"]
    assert idle["supply"] == VEHICLES
    assert idle["surplus"] == VEHICLES - idle["target"] > 0
    assert body["supply"] == sum(r["supply"] for r in body["cells"])
    assert body["cells_in_deficit"] >= 1
    lower = by_cell(await targets(client, fleet.crew.manager, service_level=0.5))
    assert lower[cell(BUSY)]["target"] < busy["target"]


async def test_targets_as_geojson_are_cell_polygons(client: AsyncClient, fleet: Fleet) -> None:
    response = await client.get(
        "/v1/rebalancing/targets",
        headers={**auth(fleet.crew.manager), "Accept": "application/geo+json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    features = {f["properties"]["cell"]: f for f in response.json()["features"]}
    ring = features[cell(BUSY)]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) == 7
    lng, lat = ring[0]
    assert abs(lat - BUSY[0]) < 0.01
    assert abs(lng - BUSY[1]) < 0.01


async def test_no_vehicles_are_wanted_where_parking_is_forbidden(
    client: AsyncClient, fleet: Fleet, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    await publish(
        client,
        planner,
        name="Station square",
        kind="no_parking",
        max_speed_kph=None,
        geometry=disc(900, centre=BUSY),
    )
    cells = by_cell(await targets(client, fleet.crew.manager))
    assert cells.get(cell(BUSY), {"target": 0})["target"] == 0
    # The demand went to a cell nearby that may be parked in.
    moved = [r for c, r in cells.items() if c != cell(IDLE) and r["target"] > 0]
    assert moved
    assert all(
        h3.grid_distance(h3.str_to_int(r["cell"]), h3.str_to_int(cell(BUSY))) <= 3 for r in moved
    )


async def test_operators_see_their_own_targets_and_planners_every_operators(
    client: AsyncClient, fleet: Fleet, tenant: TenantFactory
) -> None:
    other = await crew(tenant)
    theirs = await register(client, other.gateway, 3, vehicle_type="scooter_standing")
    await park(client, other.gateway, theirs, IDLE, 90)
    mine = by_cell(await targets(client, fleet.crew.manager))
    assert mine[cell(IDLE)]["supply"] == VEHICLES
    assert cell(BUSY) not in by_cell(await targets(client, other.manager))
    refused = await client.get(
        "/v1/rebalancing/targets",
        headers=auth(other.manager),
        params={"provider_id": str(fleet.crew.gateway.provider_id)},
    )
    assert refused.status_code == 404
    planner = await tenant(Role.CITY_PLANNER)
    city = by_cell(await targets(client, planner))
    assert city[cell(IDLE)]["supply"] == VEHICLES + 3
    one = by_cell(await targets(client, planner, provider_id=str(other.gateway.provider_id)))
    assert one[cell(IDLE)]["supply"] == 3
    for who in (fleet.crew.agent, fleet.crew.gateway):
        response = await client.get("/v1/rebalancing/targets", headers=auth(who))
        assert response.status_code == 403


async def test_a_van_moves_vehicles_from_surplus_to_deficit_and_its_agent_gets_the_tasks(
    client: AsyncClient, fleet: Fleet
) -> None:
    c = fleet.crew
    response = await plan(client, c.manager, vans=[van(c.agent)])
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/rebalancing/plans/{body['plan_id']}"
    assert body["state"] == "ready"
    [route] = body["routes"]
    assert route["agent_id"] == c.agent.key_id
    kinds = [s["kind"] for s in route["stops"]]
    assert kinds[0] == "start"
    assert kinds[-1] == "depot"
    pickups = [s for s in route["stops"] if s["kind"] == "pickup"]
    dropoffs = [s for s in route["stops"] if s["kind"] == "dropoff"]
    assert {s["cell"] for s in pickups} == {cell(IDLE)}
    assert cell(BUSY) in {s["cell"] for s in dropoffs}
    picked = [d for s in pickups for d in s["picked"]]
    assert set(picked) <= set(fleet.devices)
    assert len(picked) == len(set(picked))
    assert all(0 <= s["load_after"] <= 10 for s in route["stops"])
    arrivals = [s["arrive_at"] for s in route["stops"]]
    assert arrivals == sorted(arrivals)
    assert body["after"]["deficit"] < body["before"]["deficit"]

    dispatched = await client.post(
        f"/v1/rebalancing/plans/{body['plan_id']}/dispatch", headers=auth(c.manager)
    )
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["state"] == "dispatched"
    task_ids = dispatched.json()["task_ids"]
    # A vehicle no cell needs is left at the depot: that is a drop-off too.
    leaving = [s for s in route["stops"] if s["dropped"] or s["dropped_stock"]]
    assert len(task_ids) == len(picked) + len(leaving)
    mine = await client.get(
        "/v1/tasks",
        headers=auth(c.agent),
        params={"assignee": c.agent.key_id, "plan_id": body["plan_id"]},
    )
    tasks = {t["task_id"]: t for t in mine.json()["data"]}
    assert set(task_ids) == set(tasks)
    ordered = sorted((tasks[t] for t in task_ids), key=lambda t: t["plan_stop"])
    assert ordered[0]["kind"] == "rebalance_pickup"
    assert {t["device_id"] for t in ordered if t["kind"] == "rebalance_pickup"} == set(picked)
    drops = [t for t in ordered if t["kind"] == "rebalance_dropoff"]
    assert sum(t["quantity"] for t in drops) == len(picked)
    assert all(t["state"] == "assigned" and t["plan_id"] == body["plan_id"] for t in ordered)
    again = await client.post(
        f"/v1/rebalancing/plans/{body['plan_id']}/dispatch", headers=auth(c.manager)
    )
    assert again.status_code == 409
    read = await client.get(f"/v1/rebalancing/plans/{body['plan_id']}", headers=auth(c.manager))
    assert read.json()["task_ids"] == task_ids


async def test_another_operators_plan_is_not_found(
    client: AsyncClient, fleet: Fleet, tenant: TenantFactory
) -> None:
    made = (await plan(client, fleet.crew.manager)).json()
    other = await crew(tenant)
    for method, path in (
        ("GET", f"/v1/rebalancing/plans/{made['plan_id']}"),
        ("POST", f"/v1/rebalancing/plans/{made['plan_id']}/dispatch"),
    ):
        response = await client.request(method, path, headers=auth(other.manager))
        assert response.status_code == 404, (path, response.text)
    planner = await tenant(Role.CITY_PLANNER)
    seen = await client.get(f"/v1/rebalancing/plans/{made['plan_id']}", headers=auth(planner))
    assert seen.status_code == 200
    refused = await client.post(
        f"/v1/rebalancing/plans/{made['plan_id']}/dispatch", headers=auth(planner)
    )
    assert refused.status_code == 403


async def test_plans_are_listed_for_their_operator_and_the_city(
    client: AsyncClient, fleet: Fleet, tenant: TenantFactory
) -> None:
    made = (await plan(client, fleet.crew.manager)).json()
    other = await crew(tenant)
    theirs = (await plan(client, other.manager, vehicle_type="scooter_standing")).json()

    async def listed(who: Tenant, **params: str) -> set[str]:
        response = await client.get("/v1/rebalancing/plans", headers=auth(who), params=params)
        assert response.status_code == 200, response.text
        assert all(p["routes"] is None for p in response.json()["data"])
        return {p["plan_id"] for p in response.json()["data"]}

    assert await listed(fleet.crew.manager) == {made["plan_id"]}
    assert await listed(other.manager) == {theirs["plan_id"]}
    assert await listed(fleet.crew.manager, state="dispatched") == set()
    assert await listed(fleet.crew.manager, state="ready") == {made["plan_id"]}
    city = await listed(await tenant(Role.CITY_PLANNER))
    assert {made["plan_id"], theirs["plan_id"]} <= city
    bad = await client.get(
        "/v1/rebalancing/plans", headers=auth(fleet.crew.manager), params={"state": "lost"}
    )
    assert bad.status_code == 422


async def count_plans(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(RebalancingPlan)) or 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vans": []}, "vans"),
        ({"vans": [van(None, capacity=0)]}, "vans.0.capacity"),
        ({"vans": [van(None, shift_end=later(-1))]}, "vans.0.shift_end"),
        (
            {"vans": [van(None, depot={"lat": 57.7, "lng": 11.97}, shift_end=later(1))]},
            "vans.0.shift_end",
        ),
        ({"vans": [van(None, agent_id="nobody")]}, "vans.0.agent_id"),
        ({"vans": [van(None), van(None)]}, "vans"),
        ({"horizon_h": 49}, "horizon_h"),
        ({"service_level": 1}, "service_level"),
        ({"time_limit_s": 3600}, "time_limit_s"),
        ({"vehicle_type": "spaceship"}, "vehicle_type"),
    ],
)
async def test_a_bad_plan_request_is_422_naming_the_field_and_stores_nothing(
    client: AsyncClient, session: AsyncSession, fleet: Fleet, change: dict[str, Any], field: str
) -> None:
    before = await count_plans(session)
    response = await plan(client, fleet.crew.manager, **change)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in str(problem), problem
    assert await count_plans(session) == before


async def test_a_van_outside_the_service_area_is_refused(
    client: AsyncClient, session: AsyncSession, fleet: Fleet, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    await publish(
        client,
        planner,
        name="Service area",
        kind="service_area",
        max_speed_kph=None,
        geometry=disc(5000, centre=BUSY),
    )
    outside = {"lat": 56.2, "lng": 12.9}
    response = await plan(
        client, fleet.crew.manager, vans=[van(None, start=outside, depot=outside)]
    )
    assert response.status_code == 422, response.text
    assert "vans.0.start" in response.text
    assert await count_plans(session) == 0


async def test_a_fleet_of_several_types_must_name_the_one_to_move(
    client: AsyncClient, fleet: Fleet
) -> None:
    await register(client, fleet.crew.gateway, 1, vehicle_type="bicycle")
    response = await plan(client, fleet.crew.manager)
    assert response.status_code == 422
    assert "vehicle_type" in response.text
    named = await plan(client, fleet.crew.manager, vehicle_type="scooter_standing")
    assert named.status_code == 201, named.text


async def test_a_slow_plan_answers_202_and_is_read_when_done(
    app: FastAPI, client: AsyncClient, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings.rebalancing, "answer_within_s", 0)
    # The planner starts once the answer went out: the test's one connection is then free.
    answered = asyncio.Event()

    async def after_the_answer(problem: Problem, *, executor: Executor) -> Plan:
        await answered.wait()
        return await plan_off_loop(problem, executor=executor)

    monkeypatch.setattr(runner_module, "plan_off_loop", after_the_answer)
    response = await plan(client, fleet.crew.manager)
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "computing"
    answered.set()
    runner: PlanRunner = app.state.plan_runner
    await runner.settled()
    read = await client.get(response.headers["location"], headers=auth(fleet.crew.manager))
    assert read.json()["state"] == "ready"
    assert read.json()["routes"]


async def test_a_plan_whose_process_stopped_reads_as_failed(
    client: AsyncClient, session: AsyncSession, fleet: Fleet
) -> None:
    assert fleet.crew.manager.provider_id is not None
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    lost = RebalancingPlan(
        plan_id=uuid.uuid4(),
        provider_id=fleet.crew.manager.provider_id,
        state="computing",
        request={"vans": [], "time_limit_s": 10},
        created_by=fleet.crew.manager.key_id,
        created_at=long_ago,
        updated_at=long_ago,
    )
    session.add(lost)
    await session.flush()
    read = await client.get(
        f"/v1/rebalancing/plans/{lost.plan_id}", headers=auth(fleet.crew.manager)
    )
    assert read.json()["state"] == "failed"
    assert "stopped" in read.json()["error"]
    refused = await client.post(
        f"/v1/rebalancing/plans/{lost.plan_id}/dispatch", headers=auth(fleet.crew.manager)
    )
    assert refused.status_code == 409


async def test_a_parking_hub_smaller_than_a_cell_marks_its_cell(
    client: AsyncClient, fleet: Fleet, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    spot = (BUSY[0] + 0.0004, BUSY[1] + 0.0004)
    await publish(
        client,
        planner,
        name="Bike corral",
        kind="parking",
        parking="preferred",
        max_speed_kph=None,
        geometry=disc(8, centre=spot),
    )
    cells = by_cell(await targets(client, fleet.crew.manager))
    assert cells[cell(spot)]["hub"] is True
    assert cells[cell(IDLE)]["hub"] is False
