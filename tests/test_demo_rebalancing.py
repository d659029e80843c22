"""The simulator's rebalancing van against the real app in-process: the manager's plan is
dispatched, the agent works its tasks, and the vehicles the van moved stand available
where the plan left them; the demo summary shows the operator's last plan.

One micromobility operator of the demo city whose riders, over the past four weeks, set
off from Berga every hour, where its simulated vehicles hardly stand.
"""

import asyncio
import dataclasses
import hashlib
from datetime import UTC, datetime

import h3.api.basic_int as h3
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from demo import city
from demo.city import Operator
from demo.simulator.crew import Crew
from demo.simulator.gateway import Credentials
from demo.simulator.misbehaviour import Rates
from demo.simulator.rebalancing import VanOptions
from demo.simulator.runner import RunOptions, Scenario, Simulation
from demo.summary_queries import fleet_summary
from fleet.rebalancing.models import RebalancingPlan
from tests.conftest import TenantFactory, auth
from tests.rows import hourly_trips
from tests.test_simulator import GEODATA, city_since_yesterday

BERGA = next((h.lat, h.lng) for h in city.HOTSPOTS if h.name == "Berga")
CENTRE = (city.HOTSPOTS[0].lat, city.HOTSPOTS[0].lng)
HOURS_OF_HISTORY = 4 * 7 * 24


def cell(lat: float, lng: float) -> str:
    return str(h3.int_to_str(h3.latlng_to_cell(lat, lng, 8)))


@pytest.fixture
def operator(request: pytest.FixtureRequest) -> Operator:
    """Sundsvik under a key of the test's own (its device ids the test's alone)."""
    tag = hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    return dataclasses.replace(city.OPERATORS[0], key=f"sundsvik-{tag}", share=1.0)


async def until_a_shift_is_driven(simulation: Simulation, stop: asyncio.Event) -> None:
    """Stop the run once the first shift is over, before a second plan could move the
    same vehicles again; a run shows its vans' progress only in its report."""
    while not simulation.report.rebalancing["shifts_done"]:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    stop.set()


async def test_the_van_moves_vehicles_to_the_cell_short_of_them_and_its_agent_closes_the_tasks(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    tenant: TenantFactory,
    operator: Operator,
) -> None:
    if not GEODATA.is_file():
        pytest.skip(f"no Helsingborg outline at {GEODATA}")
    now = datetime.now(UTC)
    await city_since_yesterday(app, client, tenant)
    gateway = await tenant(Role.GATEWAY, mode=operator.mode)
    provider_id = gateway.provider_id
    assert provider_id is not None
    same = {"provider_id": provider_id}
    manager = await tenant(Role.OPERATOR_MANAGER, **same)
    agent = await tenant(Role.FIELD_AGENT, **same)
    options = RunOptions(
        seed=3,
        speed=0,
        vehicles=14,
        duration_s=3 * 3600,
        step_s=60,
        trips_per_day=0.01,
        rates=Rates.uniform(0.0),
        parallel=False,  # the app's sessions share the test's connection
        vans=VanOptions(time_limit_s=1),
    )
    simulation = Simulation(
        options,
        Scenario.helsingborg(GEODATA, [operator]),
        {operator.key: Credentials(str(provider_id), gateway.key)},
        client,
        crews={operator.key: Crew(manager.key, agent.key)},
    )
    await simulation.register()
    scooter = next(v for v in simulation.fleet if v.vehicle_type is operator.main_vehicle_type)
    await hourly_trips(
        session,
        provider_id,
        scooter.device_id,
        start=BERGA,
        end=CENTRE,
        hours=HOURS_OF_HISTORY,
        minutes=12,
        distance_m=3500,
    )

    stop = asyncio.Event()
    await asyncio.gather(simulation.run(stop), until_a_shift_is_driven(simulation, stop))

    report = simulation.report
    assert report.ok, simulation.render()
    assert report.rebalancing["problems"] == 0, report.rebalancing_problems
    plan_id = await session.scalar(
        select(RebalancingPlan.plan_id).where(RebalancingPlan.provider_id == provider_id)
    )
    read = await client.get(f"/v1/rebalancing/plans/{plan_id}", headers=auth(manager))
    plan = read.json()
    assert plan["state"] == "dispatched"
    assert plan["after"]["cells_in_deficit"] < plan["before"]["cells_in_deficit"]
    tasks = [
        (await client.get(f"/v1/tasks/{t}", headers=auth(agent))).json() for t in plan["task_ids"]
    ]
    # A vehicle rented (or taken in) before the van came is cancelled by the manager.
    not_done = [t for t in tasks if t["state"] != "done"]
    assert len(not_done) == report.rebalancing["vehicles_not_found"]
    assert all(t["state"] == "cancelled" and t["kind"] == "rebalance_pickup" for t in not_done)
    loaded = {t["device_id"] for t in tasks if t["kind"] == "rebalance_pickup"} - {
        t["device_id"] for t in not_done
    }
    assert len(loaded) == report.rebalancing["vehicles_moved"] > 0

    [route] = plan["routes"]
    dropoffs = [s for s in route["stops"] if s["kind"] == "dropoff"]
    assert cell(*BERGA) in {s["cell"] for s in dropoffs}
    picked_in = {d: s["cell"] for s in route["stops"] for d in s["picked"]}
    for s in dropoffs:
        found = await client.get(
            "/v1/vehicles",
            params={"near": f"{s['lat']},{s['lng']}", "radius_m": 200},
            headers=auth(manager),
        )
        here = {v["device_id"]: v for v in found.json()["vehicles"]}
        for device in loaded & set(s["dropped"]):
            assert here[device]["state"] == "available"
            assert cell(here[device]["lat"], here[device]["lng"]) == s["cell"] != picked_in[device]

    summary = await fleet_summary(session, since=now, recent_since=now, provider_ids=[provider_id])
    [line] = summary.rebalancing
    assert (line.deficit_before, line.deficit_after) == (
        plan["before"]["cells_in_deficit"],
        plan["after"]["cells_in_deficit"],
    )
    assert line.moved == line.moved_since_start == len(loaded)
