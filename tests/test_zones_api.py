"""Zones: publishing, versions, tenancy, validation, point queries, MDS Geography, reload."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete

from app.core.auth import Role
from app.main import create_app
from app.settings import GeofenceSettings
from app.zone_sync import announce_change
from geofencing import zones
from geofencing.models import Zone
from geofencing.schemas import ZoneCreate
from geofencing.zones import ZoneLimits, ZoneScope
from tests.conftest import Tenant, TenantFactory, auth, make_settings
from tests.mds_schemas import assert_valid, response_validator
from tests.zones import CENTRE, disc, publish, ring, zone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
async def planner(tenant: TenantFactory) -> Tenant:
    return await tenant(Role.CITY_PLANNER)


async def test_planner_publishes_a_city_zone_with_a_cover(
    client: AsyncClient, planner: Tenant
) -> None:
    created = await publish(client, planner, geometry=disc(400, hole_m=100))
    assert created["provider_id"] is None
    assert created["version"] == 1
    assert created["interior_cells"] > 0
    assert created["boundary_cells"] > 0
    assert created["geometry"]["type"] == "MultiPolygon"
    fetched = (await client.get(f"/v1/zones/{created['zone_id']}", headers=auth(planner))).json()
    assert fetched == created
    listed = (await client.get("/v1/zones", headers=auth(planner))).json()
    assert created["zone_id"] in {z["zone_id"] for z in listed}


async def test_rules_at_a_point_respect_holes_types_and_time(
    client: AsyncClient, planner: Tenant
) -> None:
    await publish(client, planner, geometry=disc(400, hole_m=100))
    await publish(
        client,
        planner,
        name="No mopeds",
        kind="restricted",
        max_speed_kph=None,
        vehicle_types=["moped"],
        geometry=disc(400),
    )
    today = DAYS[datetime.now(ZoneInfo("Europe/Stockholm")).weekday()]
    await publish(
        client,
        planner,
        name="Not today",
        kind="no_parking",
        max_speed_kph=None,
        days=[d for d in DAYS if d != today],
        geometry=disc(400),
    )
    ring_point = f"{CENTRE[0] + 250 / 111_320},{CENTRE[1]}"

    async def kinds(at: str, vehicle_type: str | None = None) -> set[str]:
        query = f"/v1/zones?at={at}" + (f"&vehicle_type={vehicle_type}" if vehicle_type else "")
        response = await client.get(query, headers=auth(planner))
        assert response.status_code == 200, response.text
        return {z["kind"] for z in response.json()}

    assert await kinds(ring_point) == {"slow"}
    assert await kinds(ring_point, "moped") == {"slow", "restricted"}
    assert await kinds(f"{CENTRE[0]},{CENTRE[1]}") == set()  # in the hole
    assert await kinds("56.2,12.9") == set()
    slow = (await client.get(f"/v1/zones?at={ring_point}", headers=auth(planner))).json()[0]
    assert slow["rule"] == "speed limit 10 km/h"
    assert slow["max_speed_kph"] == 10


async def test_geofence_check_answers_per_point_in_order(
    client: AsyncClient, planner: Tenant, tenant: TenantFactory
) -> None:
    await publish(client, planner, kind="no_parking", max_speed_kph=None, geometry=disc(200))
    gateway = await tenant()
    points = [
        {"lat": CENTRE[0], "lng": CENTRE[1]},
        {"lat": 56.3, "lng": 12.9},
        {"lat": CENTRE[0] + 150 / 111_320, "lng": CENTRE[1]},
    ]
    response = await client.post(
        "/v1/geofence/check",
        headers=auth(gateway),
        json={"points": points, "vehicle_type": "scooter_standing"},
    )
    assert response.status_code == 200, response.text
    kinds = [[z["kind"] for z in found] for found in response.json()["results"]]
    assert kinds == [["no_parking"], [], ["no_parking"]]


@pytest.mark.parametrize(
    "body",
    [
        {"points": []},
        {"points": [{"lat": 91, "lng": 0}]},
        {"points": [{"lat": 56}]},
        {"points": [{"lat": 56, "lng": 12, "alt": 3}]},
        {"points": [{"lat": 56, "lng": 12}], "vehicle_type": "ufo"},
        {"points": [{"lat": 56, "lng": 12}], "at": "2026-11-26T12:00:00"},
    ],
)
async def test_geofence_check_rejects_bad_input(
    client: AsyncClient, planner: Tenant, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/geofence/check", headers=auth(planner), json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_operators_publish_for_their_own_fleet_only(
    client: AsyncClient, tenant: TenantFactory, planner: Tenant
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    other = await tenant(Role.OPERATOR_MANAGER)
    own = await publish(
        client, manager, name="Our depot", kind="parking", max_speed_kph=None, parking="mandatory"
    )
    assert own["provider_id"] == str(manager.provider_id)
    hidden = await client.get(f"/v1/zones/{own['zone_id']}", headers=auth(other))
    missing = await client.get(f"/v1/zones/{uuid.uuid4()}", headers=auth(other))
    assert hidden.status_code == missing.status_code == 404
    assert own["zone_id"] not in {
        z["zone_id"] for z in (await client.get("/v1/zones", headers=auth(other))).json()
    }
    assert (
        await client.get(f"/v1/zones/{own['zone_id']}", headers=auth(planner))
    ).status_code == 200
    foreign = await client.post(
        "/v1/zones", headers=auth(manager), json=zone(provider_id=str(other.provider_id))
    )
    assert foreign.status_code == 403
    city = await publish(client, planner)
    change = await client.put(f"/v1/zones/{city['zone_id']}", headers=auth(manager), json=zone())
    assert change.status_code == 403
    steal = await client.put(f"/v1/zones/{own['zone_id']}", headers=auth(other), json=zone())
    assert steal.status_code == 404
    geographies = (await client.get("/mds/geographies")).json()["geographies"]
    assert own["zone_id"] not in {g["geography_id"] for g in geographies}
    assert (await client.get(f"/mds/geographies/{own['zone_id']}")).status_code == 404


@pytest.mark.parametrize("role", [Role.GATEWAY, Role.FIELD_AGENT, Role.CITY_AUDITOR])
async def test_roles_without_zone_rights_cannot_publish(
    client: AsyncClient, tenant: TenantFactory, role: Role
) -> None:
    caller = await tenant(role)
    response = await client.post("/v1/zones", headers=auth(caller), json=zone())
    assert response.status_code == 403


def _bowtie() -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[12.69, 56.04], [12.71, 56.06], [12.71, 56.04], [12.69, 56.05], [12.69, 56.04]]
        ],
    }


@pytest.mark.parametrize(
    ("geometry", "words"),
    [
        (_bowtie(), "intersects itself"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[56.04, 12.69], [56.05, 112.69], [56.05, 12.70], [56.04, 12.69]]],
            },
            "longitude",
        ),
        (
            {"type": "Polygon", "coordinates": [[[12.69, 56.04], [12.70, 56.05], [12.70, 56.04]]]},
            "",
        ),
        ({"type": "Polygon", "coordinates": []}, ""),
        ({"type": "Point", "coordinates": [12.69, 56.04]}, "Polygon"),
        ({"type": "Polygon", "coordinates": [ring(*CENTRE, 200), ring(56.2, 12.9, 50)]}, "hole"),
        (disc(60_000), "large"),
        # [lat, lng] order within Helsingborg is in range both ways: the city area tells.
        (
            {"type": "Polygon", "coordinates": [[[p[1], p[0]] for p in ring(*CENTRE, 200)]]},
            "[longitude, latitude]",
        ),
        ({"type": "Polygon", "coordinates": "nope"}, ""),
    ],
)
async def test_bad_geometry_is_422_naming_the_problem(
    client: AsyncClient, planner: Tenant, geometry: dict[str, Any], words: str
) -> None:
    response = await client.post("/v1/zones", headers=auth(planner), json=zone(geometry=geometry))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith("geometry")
    assert words.lower() in body["detail"].lower()
    assert (await client.get("/v1/zones", headers=auth(planner))).json() == []


@pytest.mark.parametrize(
    "change",
    [
        {"max_speed_kph": None},
        {"kind": "parking", "max_speed_kph": None},
        {"kind": "restricted", "max_speed_kph": None},
        {"start_time": "07:00"},
        {"start_time": "07:00", "end_time": "07:00"},
        {"days": ["someday"]},
        {"vehicle_types": ["hovercraft"]},
        {"kind": "no_parking"},
        {"colour": "red"},
        {"name": ""},
    ],
)
async def test_inconsistent_zone_rules_are_422(
    client: AsyncClient, planner: Tenant, change: dict[str, Any]
) -> None:
    response = await client.post("/v1/zones", headers=auth(planner), json=zone(**change))
    assert response.status_code == 422, response.text


async def test_edits_publish_versions_and_retired_zones_stay_readable(
    client: AsyncClient, planner: Tenant
) -> None:
    first = await publish(client, planner)
    response = await client.put(
        f"/v1/zones/{first['zone_id']}",
        headers=auth(planner),
        json=zone(max_speed_kph=15, geometry=disc(500)),
    )
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["version"] == 2
    assert second["lineage_id"] == first["lineage_id"]
    assert second["prev_zone_ids"] == [first["zone_id"]]
    old = (await client.get(f"/v1/zones/{first['zone_id']}", headers=auth(planner))).json()
    assert old["retired_at"] is not None
    again = await client.put(f"/v1/zones/{first['zone_id']}", headers=auth(planner), json=zone())
    assert again.status_code == 422  # versions are immutable: edit the newest
    at = f"{CENTRE[0] + 450 / 111_320},{CENTRE[1]}"
    assert [
        z["zone_id"] for z in (await client.get(f"/v1/zones?at={at}", headers=auth(planner))).json()
    ] == [second["zone_id"]]
    retired = await client.delete(f"/v1/zones/{second['zone_id']}", headers=auth(planner))
    assert retired.status_code == 200
    assert (await client.get(f"/v1/zones?at={at}", headers=auth(planner))).json() == []
    active = (await client.get("/v1/zones", headers=auth(planner))).json()
    history = (await client.get("/v1/zones?include_retired=true", headers=auth(planner))).json()
    assert active == []
    assert {z["zone_id"] for z in history} == {first["zone_id"], second["zone_id"]}


async def test_mds_geographies_are_public_immutable_and_valid(
    client: AsyncClient, planner: Tenant
) -> None:
    first = await publish(client, planner, description="Pedestrian streets")
    second = (
        await client.put(
            f"/v1/zones/{first['zone_id']}", headers=auth(planner), json=zone(max_speed_kph=12)
        )
    ).json()
    listing = await client.get("/mds/geographies")
    assert listing.status_code == 200
    assert listing.headers["content-type"] == "application/vnd.mds+json;version=2.0"
    body = listing.json()
    assert_valid(response_validator("geography", "/geographies", "get", 200), body)
    by_id = {g["geography_id"]: g for g in body["geographies"]}
    assert "retire_date" in by_id[first["zone_id"]]
    assert by_id[second["zone_id"]]["prev_geographies"] == [first["zone_id"]]
    single = await client.get(f"/mds/geographies/{second['zone_id']}")
    assert_valid(
        response_validator("geography", "/geographies/{geography_id}", "get", 200), single.json()
    )
    assert single.json()["geography"] == by_id[second["zone_id"]]
    assert (await client.get(f"/mds/geographies/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/mds/geographies/NOT-A-UUID")).status_code == 400
    refused = await client.get(
        "/mds/geographies", headers={"Accept": "application/vnd.mds+json;version=1.1"}
    )
    assert refused.status_code == 406


async def test_a_second_instance_reloads_its_index_on_change() -> None:
    # Two apps sharing nothing but PostgreSQL and Redis, as two API processes would; the
    # zone is committed for real (and deleted afterwards), since the follower reads with
    # its own connections.
    follower: FastAPI = create_app(
        make_settings(geofence=GeofenceSettings(follow_changes=True, resync_interval_s=60))
    )
    async with follower.router.lifespan_context(follower):
        resources = follower.state.resources
        registry = follower.state.zones
        async with resources.sessionmaker.begin() as session:
            created = await zones.create_zone(
                session,
                data=ZoneCreate.model_validate(zone(kind="no_ride", max_speed_kph=None)),
                scope=ZoneScope(None, may_write_citywide=True),
                limits=ZoneLimits(registry.resolution, 5000, (12.0, 55.5, 13.5, 56.6)),
                created_by="test",
                now=datetime.now(UTC),
            )
        try:
            assert registry.zones_at(*CENTRE, when=datetime.now(UTC)) == []
            await announce_change(resources.redis)
            found: list[Any] = []
            deadline = datetime.now(UTC) + timedelta(seconds=10)
            while not found and datetime.now(UTC) < deadline:
                await asyncio.sleep(0.05)
                found = registry.zones_at(*CENTRE, when=datetime.now(UTC))
            assert [z.zone_id for z in found] == [created.zone_id]
        finally:
            async with resources.sessionmaker.begin() as session:
                await session.execute(delete(Zone).where(Zone.zone_id == created.zone_id))
