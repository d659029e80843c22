"""Districts: zones without rules, for statistics and geographies. No alert, no effect on
rides or parking, no rule fields; listed, published and counted like other zones."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.trips.models import Trip
from tests.conftest import Tenant, TenantFactory, auth
from tests.mds_schemas import assert_valid, response_validator
from tests.metrics import HOUR, IN_A, add_trip, add_vehicle, ask, by, only, square
from tests.payloads import event, now_ms, point, register
from tests.zones import CENTRE, disc

INSIDE = {"lat": CENTRE[0], "lng": CENTRE[1]}
FAR = {"lat": 56.30, "lng": 12.90}


def district(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Söder", "kind": "district", "geometry": disc(800)}
    body.update(fields)
    return body


async def publish(client: AsyncClient, who: Tenant, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/zones", headers=auth(who), json=district(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def planner(tenant: TenantFactory) -> Tenant:
    return await tenant(Role.CITY_PLANNER)


async def post(client: AsyncClient, who: Tenant, path: str, items: list[dict[str, Any]]) -> None:
    response = await client.post(f"/mds/agency/{path}", headers=who.headers, json=items)
    assert response.status_code == 201, response.text


async def test_a_vehicle_entering_leaving_and_parking_in_a_district_raises_no_alert(
    client: AsyncClient, tenant: TenantFactory, planner: Tenant, session: AsyncSession
) -> None:
    await publish(client, planner)
    gateway = await tenant()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    [device] = await register(client, gateway)
    trip_ids = [str(uuid.uuid4())]
    t = now_ms() + 2_000  # after the district took effect
    # Inside, far outside (deep enough to count at once for a zone in force), inside again,
    # then a trip that ends inside.
    for offset, where in ((0, INSIDE), (9_000, FAR), (18_000, INSIDE)):
        await post(
            client,
            gateway,
            "telemetry",
            [point(gateway, device, timestamp=t + offset, location=where)],
        )
    start = {"vehicle_state": "on_trip", "event_types": ["trip_start"], "trip_ids": trip_ids}
    end = {"vehicle_state": "available", "event_types": ["trip_end"], "trip_ids": trip_ids}
    await post(
        client,
        gateway,
        "events",
        [
            event(gateway, device, timestamp=t + 20_000, location=INSIDE, **start),
            event(gateway, device, timestamp=t + 40_000, location=INSIDE, **end),
        ],
    )
    alerts = await client.get("/v1/alerts", headers=auth(manager))
    assert alerts.status_code == 200, alerts.text
    assert alerts.json() == []
    parked = await session.execute(
        select(Trip.parking_category).where(Trip.trip_id == uuid.UUID(trip_ids[0]))
    )
    assert parked.scalar_one() == "other_valid"


async def test_a_district_is_no_zone_in_force_at_a_point(
    client: AsyncClient, tenant: TenantFactory, planner: Tenant
) -> None:
    await publish(client, planner)
    gateway = await tenant()
    check = await client.post(
        "/v1/geofence/check",
        headers=auth(gateway),
        json={"points": [INSIDE], "vehicle_type": "scooter_standing"},
    )
    assert check.status_code == 200, check.text
    assert check.json()["results"] == [[]]
    here = await client.get(f"/v1/zones?at={INSIDE['lat']},{INSIDE['lng']}", headers=auth(planner))
    assert here.status_code == 200, here.text
    assert here.json() == []


async def test_a_district_is_listed_and_published_as_a_district_geography(
    client: AsyncClient, planner: Tenant
) -> None:
    created = await publish(client, planner, description="Statistical district")
    listed = await client.get("/v1/zones", headers=auth(planner))
    assert [(z["zone_id"], z["kind"]) for z in listed.json()] == [(created["zone_id"], "district")]
    body = (await client.get("/mds/geographies")).json()
    assert_valid(response_validator("geography", "/geographies", "get", 200), body)
    [found] = [g for g in body["geographies"] if g["geography_id"] == created["zone_id"]]
    assert found["geography_type"] == "district"
    assert found["geography_json"]["features"][0]["properties"] == {
        "kind": "district",
        "version": 1,
    }


@pytest.mark.parametrize(
    "rule",
    [
        {"max_speed_kph": 10},
        {"parking": "mandatory"},
        {"vehicle_types": ["scooter_standing"]},
        {"days": ["mon"]},
        {"start_time": "07:00", "end_time": "09:00"},
    ],
)
async def test_a_district_refuses_rule_fields(
    client: AsyncClient, planner: Tenant, rule: dict[str, Any]
) -> None:
    response = await client.post("/v1/zones", headers=auth(planner), json=district(**rule))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert next(iter(rule)) in response.json()["detail"]
    assert (await client.get("/v1/zones", headers=auth(planner))).json() == []
    # The same district without the rule field is fine.
    await publish(client, planner)


async def test_an_operators_district_is_its_own(client: AsyncClient, tenant: TenantFactory) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    other = await tenant(Role.OPERATOR_MANAGER)
    own = await publish(client, manager, name="Our statistics area")
    assert own["provider_id"] == str(manager.provider_id)
    hidden = await client.get(f"/v1/zones/{own['zone_id']}", headers=auth(other))
    assert hidden.status_code == 404
    assert (await client.get("/v1/zones", headers=auth(other))).json() == []
    assert (await client.get(f"/mds/geographies/{own['zone_id']}")).status_code == 404


async def test_metrics_count_by_district_and_policies_may_name_one(
    client: AsyncClient, tenant: TenantFactory, planner: Tenant, session: AsyncSession
) -> None:
    created = await publish(client, planner, geometry=square(12.69, 12.70))
    operator = await tenant()
    device = await add_vehicle(session, operator.provider_id)
    for i in range(10):
        await add_trip(session, operator.provider_id, device, HOUR + timedelta(minutes=i), IN_A)
    auditor = await tenant(Role.CITY_AUDITOR)
    body = await ask(
        client,
        auditor,
        measures=["trips.start_loc.count"],
        dimensions=["geography_id"],
        filters=only(operator),
    )
    assert by(body, "geography_id")[created["zone_id"]]["trips.start_loc.count"] == 10
    rule = {
        "name": "Cap",
        "rule_id": str(uuid.uuid4()),
        "rule_type": "count",
        "rule_units": "devices",
        "geographies": [created["zone_id"]],
        "states": {"available": []},
        "maximum": 300,
    }
    document = {
        "name": "District cap",
        "description": "At most 300 available vehicles per operator in Söder",
        "start_date": now_ms() + 3_600_000,
        "rules": [rule],
    }
    response = await client.post("/v1/policies", headers=auth(planner), json=document)
    assert response.status_code == 201, response.text
