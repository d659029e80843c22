"""`fleetbed simulate` against the real server: trips, alerts of every kind, nothing refused.

The simulator talks HTTP to the app in-process (the `client` fixture), with gateway keys
of providers made for the test, after a city planner published the demo city's zones.
"""

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode, Role
from demo import city
from demo.city import Operator
from demo.simulator.batches import Endpoint
from demo.simulator.gateway import Credentials
from demo.simulator.misbehaviour import Rates
from demo.simulator.runner import RunOptions, Scenario, Simulation
from telemetry.partitions import PartitionPolicy, maintain_partitions
from tests.conftest import Tenant, TenantFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GEODATA = PROJECT_ROOT / city.GEODATA
RULE_ALERTS = {
    "parked_in_no_parking_zone",
    "speeding",
    "riding_in_no_ride_zone",
    "left_service_area",
}


@pytest.fixture
def operators(request: pytest.FixtureRequest) -> tuple[Operator, ...]:
    """The demo operators under keys of the test's own, so that their device ids are the
    test's alone (the app caches device owners across rolled-back tests; a seed under test
    may hold the demo's ids), and fixed, so that a seed makes the same run every time.
    Equal shares give the pods enough trips."""
    tag = hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    return tuple(dataclasses.replace(op, key=f"{op.key}-{tag}", share=1.0) for op in city.OPERATORS)


@pytest.fixture
def scenario(operators: tuple[Operator, ...]) -> Scenario:
    """The Helsingborg scenario, or a skip when this clone has no shared geodata."""
    if not GEODATA.is_file():
        pytest.skip(f"no Helsingborg outline at {GEODATA}")
    return Scenario.helsingborg(GEODATA, operators)


async def publish_city(client: httpx.AsyncClient, planner: Tenant, since: datetime) -> None:
    """The demo zones and the service area, in force since `since`."""
    service_area = {
        "name": "Helsingborg",
        "kind": "service_area",
        "geometry": {"type": "Polygon", "coordinates": [city.service_area_ring(GEODATA)]},
    }
    for body in (service_area, *(z.create_body() for z in city.ZONES)):
        response = await client.post(
            "/v1/zones",
            headers=planner.headers,
            json={**body, "effective_at": since.isoformat()},
        )
        assert response.status_code == 201, response.text


async def count(session: AsyncSession, where: str, providers: list[uuid.UUID]) -> int:
    """How many closed trips of `providers` satisfy `where`."""
    # `where` is one of this file's constant conditions.
    query = "SELECT count(*) FROM trips WHERE provider_id = ANY(:p) AND status = 'closed' AND "
    query += where
    return int((await session.execute(text(query), {"p": providers})).scalar_one())


async def gateways(
    tenant: TenantFactory, operators: tuple[Operator, ...]
) -> dict[str, Credentials]:
    """A provider of each operator's mode with a gateway key, as the keys file gives them."""
    made = {op.key: await tenant(Role.GATEWAY, mode=op.mode) for op in operators}
    return {key: Credentials(str(t.provider_id), t.key) for key, t in made.items()}


async def city_since_yesterday(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFactory
) -> None:
    """The demo city published, in force since yesterday."""
    now = datetime.now(UTC)
    # Yesterday's partition is committed like conftest's: a run just after midnight
    # reaches back into it.
    await maintain_partitions(
        app.state.resources.engine,
        PartitionPolicy(days_ahead=1, retention_days=None),
        (now - timedelta(days=1)).date(),
    )
    await publish_city(client, await tenant(Role.CITY_PLANNER), now - timedelta(days=1))


@pytest.fixture
async def credentials(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFactory, operators: tuple[Operator, ...]
) -> dict[str, Credentials]:
    """The demo city published (in force since yesterday) and a gateway key per operator."""
    await city_since_yesterday(app, client, tenant)
    return await gateways(tenant, operators)


async def alert_kinds(session: AsyncSession, providers: list[uuid.UUID]) -> set[str]:
    """The kinds of alert raised for `providers`."""
    query = text("SELECT DISTINCT kind FROM alerts WHERE provider_id = ANY(:p)")
    return set((await session.execute(query, {"p": providers})).scalars())


async def test_a_short_run_makes_trips_and_every_kind_of_alert(
    client: httpx.AsyncClient,
    session: AsyncSession,
    scenario: Scenario,
    operators: tuple[Operator, ...],
    credentials: dict[str, Credentials],
) -> None:
    options = RunOptions(
        seed=7,
        speed=0,
        vehicles=50,
        duration_s=60 * 60,
        step_s=60,
        trips_per_day=60,
        steady=True,
        parallel=False,  # the app's sessions share the test's connection
        rates=Rates(
            parking=0.15,
            speeding=0.15,
            no_ride=0.12,
            leave_area=0.12,
            comms_loss=0.05,
            late_batch=0.05,
            duplicate_batch=0.1,
        ),
    )
    simulation = Simulation(options, scenario, credentials, client)

    report = await simulation.run()

    assert report.ok, simulation.render()
    assert report.sent(Endpoint.VEHICLES) == 50
    assert report.notes["duplicate"] > 0  # the same batch twice, 201 both times
    providers = [uuid.UUID(c.provider_id) for c in credentials.values()]
    assert await count(session, "distance_m > 0 AND duration_s > 0", providers) >= 20
    assert await alert_kinds(session, providers) >= RULE_ALERTS
    pods = {op.mode: uuid.UUID(credentials[op.key].provider_id) for op in operators}
    passengers = "(details #>> '{agency,trip_attributes,passenger_count}')::int >= 1"
    journeys = "details #>> '{agency,journey_id}' IS NOT NULL"
    payload = "details #>> '{agency,trip_attributes,has_payload}' = 'true'"
    assert await count(session, f"{passengers} AND {journeys}", [pods[Mode.PASSENGER_SERVICES]])
    assert await count(session, f"{payload} AND {journeys}", [pods[Mode.DELIVERY_ROBOTS]])


async def test_a_well_behaved_fleet_breaks_no_rule(
    client: httpx.AsyncClient,
    session: AsyncSession,
    scenario: Scenario,
    credentials: dict[str, Credentials],
) -> None:
    options = RunOptions(
        seed=8,
        speed=0,
        vehicles=30,
        duration_s=45 * 60,
        step_s=60,
        trips_per_day=60,
        steady=True,
        parallel=False,
        rates=Rates.uniform(0.0),
    )
    simulation = Simulation(options, scenario, credentials, client)

    report = await simulation.run()

    assert report.ok, simulation.render()
    assert simulation.world.tally()["trips_ended"] >= 10
    providers = [uuid.UUID(c.provider_id) for c in credentials.values()]
    assert not await alert_kinds(session, providers) & (
        RULE_ALERTS | {"parked_outside_mandatory_hub"}
    )
