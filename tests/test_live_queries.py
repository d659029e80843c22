"""Operator live queries checked against a brute-force computation on the same data."""

import random
import uuid
from dataclasses import dataclass
from typing import Any

import h3.api.basic_int as h3
import pytest
from httpx import AsyncClient

from app.core.auth import Role
from fleet.live.geo import haversine_m
from tests.conftest import Tenant, TenantFactory
from tests.payloads import event, now_ms, point, register

TYPES = ["scooter_standing", "bicycle", "cargo_bicycle"]
STATES = {
    "available": ["provider_drop_off"],
    "non_operational": ["battery_low"],
    "reserved": ["reservation_start"],
    "on_trip": ["trip_start"],
}


@dataclass
class Truth:
    """What was posted for one vehicle."""

    provider_id: str
    device_id: str
    vehicle_type: str
    lat: float
    lng: float
    battery: int
    state: str


async def populate(client: AsyncClient, tenant: Tenant, rng: random.Random, n: int) -> list[Truth]:
    truths = []
    for vtype in TYPES:
        for device in await register(client, tenant, n // len(TYPES), vehicle_type=vtype):
            state = rng.choice(list(STATES))
            truths.append(
                Truth(
                    str(tenant.provider_id),
                    device,
                    vtype,
                    round(56.03 + rng.random() * 0.04, 6),
                    round(12.68 + rng.random() * 0.05, 6),
                    rng.randint(0, 100),
                    state,
                )
            )
    t = now_ms() - 120_000
    points = [
        point(
            tenant,
            v.device_id,
            timestamp=t,
            battery_percent=v.battery,
            location={"lat": v.lat, "lng": v.lng},
        )
        for v in truths
    ]
    events = [
        event(
            tenant,
            v.device_id,
            timestamp=t,
            vehicle_state=v.state,
            event_types=STATES[v.state],
            **({"trip_ids": [str(uuid.uuid4())]} if v.state in {"on_trip", "reserved"} else {}),
        )
        for v in truths
    ]
    for path, batch in (("telemetry", points), ("events", events)):
        response = await client.post(f"/mds/agency/{path}", headers=tenant.headers, json=batch)
        assert response.status_code == 201, response.text
    return truths


@dataclass
class City:
    """Two providers' fleets, with an operator manager's key for each."""

    first: Tenant
    second: Tenant
    truths: list[Truth]
    first_reader: Tenant
    second_reader: Tenant

    def fleet(self, tenant: Tenant) -> list[Truth]:
        """What was posted for `tenant`'s provider."""
        return [v for v in self.truths if v.provider_id == str(tenant.provider_id)]


@pytest.fixture
async def city(client: AsyncClient, tenant: TenantFactory) -> City:
    rng = random.Random(7)
    first, second = await tenant(), await tenant()
    truths = await populate(client, first, rng, 45) + await populate(client, second, rng, 30)
    return City(
        first,
        second,
        truths,
        await tenant(Role.OPERATOR_MANAGER, provider_id=first.provider_id),
        await tenant(Role.OPERATOR_MANAGER, provider_id=second.provider_id),
    )


def _ids(body: dict[str, Any]) -> list[str]:
    return [v["device_id"] for v in body["vehicles"]]


def _nearest(truths: list[Truth], lat: float, lng: float, radius: float) -> list[str]:
    near = [(haversine_m(lat, lng, v.lat, v.lng), v.device_id) for v in truths]
    return [device for d, device in sorted(near) if d <= radius]


@pytest.mark.parametrize("radius", [150.0, 800.0, 2500.0])
async def test_nearest_matches_brute_force(client: AsyncClient, city: City, radius: float) -> None:
    first, mine = city.first_reader, city.fleet(city.first)
    lat, lng = 56.048, 12.70
    response = await client.get(
        f"/v1/vehicles?near={lat},{lng}&radius_m={radius}&limit=1000", headers=first.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert _ids(body) == _nearest(mine, lat, lng, radius)
    distances = [v["distance_m"] for v in body["vehicles"]]
    assert distances == sorted(distances)
    assert body["count"] == len(body["vehicles"])


async def test_filters_and_limit_match_brute_force(client: AsyncClient, city: City) -> None:
    first, mine = city.first_reader, city.fleet(city.first)
    lat, lng = 56.05, 12.70
    query = "state=available&vehicle_type=bicycle&min_battery=20&max_battery=90"
    response = await client.get(
        f"/v1/vehicles?near={lat},{lng}&radius_m=5000&{query}", headers=first.headers
    )
    wanted = [
        v
        for v in mine
        if v.state == "available" and v.vehicle_type == "bicycle" and 20 <= v.battery <= 90
    ]
    assert _ids(response.json()) == _nearest(wanted, lat, lng, 5000)
    limited = await client.get(
        f"/v1/vehicles?near={lat},{lng}&radius_m=5000&limit=3", headers=first.headers
    )
    assert _ids(limited.json()) == _nearest(mine, lat, lng, 5000)[:3]


async def test_bbox_matches_brute_force(client: AsyncClient, city: City) -> None:
    first, mine = city.first_reader, city.fleet(city.first)
    box = (12.69, 56.04, 12.715, 56.06)
    response = await client.get(
        "/v1/vehicles?bbox=" + ",".join(map(str, box)) + "&limit=1000", headers=first.headers
    )
    expected = sorted(
        v.device_id for v in mine if box[1] <= v.lat <= box[3] and box[0] <= v.lng <= box[2]
    )
    assert expected
    assert _ids(response.json()) == expected


@pytest.mark.parametrize("resolution", [8, 9])
async def test_supply_matches_brute_force(client: AsyncClient, city: City, resolution: int) -> None:
    first = city.first_reader
    expected: dict[str, dict[str, int]] = {}
    for v in city.fleet(city.first):
        if v.state == "available":
            cell = h3.int_to_str(h3.latlng_to_cell(v.lat, v.lng, resolution))
            expected.setdefault(cell, {}).setdefault(v.vehicle_type, 0)
            expected[cell][v.vehicle_type] += 1
    response = await client.get(f"/v1/supply?resolution={resolution}", headers=first.headers)
    assert response.status_code == 200
    cells = response.json()["cells"]
    assert {c["h3_cell"]: c["by_vehicle_type"] for c in cells} == expected
    for c in cells:
        assert c["total"] == sum(c["by_vehicle_type"].values())
        assert (c["lat"], c["lng"]) == pytest.approx(h3.cell_to_latlng(h3.str_to_int(c["h3_cell"])))


async def test_supply_follows_state_changes_and_moves(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    reader = await tenant(Role.FIELD_AGENT, provider_id=gateway.provider_id)
    [device] = await register(client, gateway, vehicle_type="bicycle")
    t = now_ms() - 100_000
    here, there = (56.046, 12.694), (56.10, 12.80)

    async def supply() -> dict[str, int]:
        cells = (await client.get("/v1/supply", headers=reader.headers)).json()["cells"]
        return {c["h3_cell"]: c["total"] for c in cells}

    async def post(path: str, item: dict[str, Any]) -> None:
        response = await client.post(f"/mds/agency/{path}", headers=gateway.headers, json=[item])
        assert response.status_code == 201, response.text

    cell = h3.int_to_str(h3.latlng_to_cell(*here, 8))
    await post(
        "telemetry", point(gateway, device, timestamp=t, location={"lat": here[0], "lng": here[1]})
    )
    assert await supply() == {}
    await post("events", event(gateway, device, timestamp=t + 1))
    assert await supply() == {cell: 1}
    await post(
        "telemetry",
        point(gateway, device, timestamp=t + 2, location={"lat": there[0], "lng": there[1]}),
    )
    assert await supply() == {h3.int_to_str(h3.latlng_to_cell(*there, 8)): 1}
    await post(
        "events",
        event(
            gateway,
            device,
            timestamp=t + 3,
            vehicle_state="non_operational",
            event_types=["battery_low"],
        ),
    )
    assert await supply() == {}


async def test_operators_see_only_their_fleet_and_auditors_all_but_trips(
    client: AsyncClient, city: City, tenant: TenantFactory
) -> None:
    first, second, truths = city.first, city.second, city.truths
    everywhere = "/v1/vehicles?near=56.05,12.70&radius_m=50000&limit=1000"
    manager = city.first_reader
    own = _ids((await client.get(everywhere, headers=manager.headers)).json())
    assert set(own) == {v.device_id for v in city.fleet(first)}
    asked_other = await client.get(
        f"{everywhere}&provider_id={second.provider_id}", headers=manager.headers
    )
    assert _ids(asked_other.json()) == []
    auditor = await tenant(Role.CITY_AUDITOR)
    seen = _ids((await client.get(everywhere, headers=auditor.headers)).json())
    # Committed data of other tests' providers may exist too; ours must be exactly right.
    ours = {v.device_id for v in truths}
    assert set(seen) & ours == {v.device_id for v in truths if v.state != "on_trip"}
    filtered = await client.get(
        f"{everywhere}&provider_id={second.provider_id}", headers=auditor.headers
    )
    assert set(_ids(filtered.json())) == {
        v.device_id
        for v in truths
        if v.provider_id == str(second.provider_id) and v.state != "on_trip"
    }


async def test_vehicle_detail_is_tenant_scoped_and_hides_trips_from_auditors(
    client: AsyncClient, city: City, tenant: TenantFactory
) -> None:
    riding = next(v for v in city.fleet(city.first) if v.state == "on_trip")
    manager = city.first_reader
    detail = (await client.get(f"/v1/vehicles/{riding.device_id}", headers=manager.headers)).json()
    assert detail["vehicle"]["device_id"] == riding.device_id
    assert (detail["live"]["lat"], detail["live"]["lng"]) == (riding.lat, riding.lng)
    assert detail["live"]["state"] == "on_trip"
    assert detail["last_event"]["event_types"] == ["trip_start"]
    other_manager = city.second_reader
    hidden = await client.get(f"/v1/vehicles/{riding.device_id}", headers=other_manager.headers)
    unknown = await client.get(f"/v1/vehicles/{uuid.uuid4()}", headers=other_manager.headers)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    auditor = await tenant(Role.CITY_AUDITOR)
    seen = (await client.get(f"/v1/vehicles/{riding.device_id}", headers=auditor.headers)).json()
    assert seen["live"]["state"] == "on_trip"
    assert seen["live"]["lat"] is None
    assert "location" not in seen["last_event"]


async def test_geojson_when_asked(client: AsyncClient, city: City) -> None:
    truths = city.fleet(city.first)
    response = await client.get(
        "/v1/vehicles?near=56.05,12.70&radius_m=50000&limit=1000",
        headers={**city.first_reader.headers, "Accept": "application/geo+json"},
    )
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    by_id = {v.device_id: v for v in truths}
    for feature in body["features"]:
        truth = by_id[feature["id"]]
        assert feature["geometry"] == {"type": "Point", "coordinates": [truth.lng, truth.lat]}
        assert feature["properties"]["state"] == truth.state


@pytest.mark.parametrize(
    "query",
    [
        "",
        "near=56.0,12.7&bbox=12,56,13,57",
        "near=56.0",
        "near=abc,def",
        "near=91,12",
        "near=56,12&radius_m=0",
        "near=56,12&radius_m=60000",
        "bbox=13,56,12,57",
        "bbox=1,2,3",
        "bbox=12,56,13,nan",
        "near=56,12&vehicle_type=hovercraft",
        "near=56,12&min_battery=101",
        "near=56,12&limit=0",
        "near=56,12&provider_id=nope",
    ],
)
async def test_bad_query_parameters_are_422_problems(
    client: AsyncClient, tenant: TenantFactory, query: str
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    response = await client.get(f"/v1/vehicles?{query}", headers=manager.headers)
    assert response.status_code == 422, query
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


@pytest.mark.parametrize("query", ["resolution=7", "resolution=x", "bbox=0,0,0,0"])
async def test_bad_supply_parameters_are_422(
    client: AsyncClient, tenant: TenantFactory, query: str
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    response = await client.get(f"/v1/supply?{query}", headers=manager.headers)
    assert response.status_code == 422


async def test_gateways_cannot_query_the_live_fleet(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    response = await client.get("/v1/vehicles?near=56,12", headers=gateway.headers)
    assert response.status_code == 403
