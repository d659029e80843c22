"""GBFS 3.0 feeds: every file valid against the official schemas, ids that rotate after
each trip, no vehicle on a trip, nothing of another operator, caching and settings."""

import asyncio
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.core.auth import Mode, Role
from fleet.gbfs.cache import FeedCache
from fleet.gbfs.publisher import FILES
from tests.conftest import Tenant, TenantFactory, auth
from tests.gbfs_schemas import assert_gbfs_valid
from tests.payloads import event, now_ms, point, post, register
from tests.zones import CENTRE, disc, publish

# A vehicle's state posted by event, with the event types that lead to it.
STATES = {
    "available": ["provider_drop_off"],
    "reserved": ["reservation_start"],
    "on_trip": ["trip_start"],
    "non_operational": ["battery_low"],
}


@pytest.fixture(autouse=True)
def fresh_cache(app: FastAPI) -> None:
    """Each test starts with nothing built (the app outlives tests and their data)."""
    app.state.gbfs.cache = FeedCache()


@pytest.fixture
async def manager(tenant: TenantFactory) -> Tenant:
    return await tenant(Role.OPERATOR_MANAGER)


@pytest.fixture
async def gateway(tenant: TenantFactory, manager: Tenant) -> Tenant:
    return await tenant(Role.GATEWAY, provider_id=manager.provider_id)


@pytest.fixture
async def planner(tenant: TenantFactory) -> Tenant:
    return await tenant(Role.CITY_PLANNER)


async def system_id(client: AsyncClient, manager: Tenant) -> str:
    response = await client.get("/v1/gbfs/system", headers=auth(manager))
    assert response.status_code == 200, response.text
    value: str = response.json()["system_id"]
    return value


async def feed(client: AsyncClient, system: str, name: str, *, fresh: bool = True) -> Any:
    """One file, validated against its official schema."""
    if fresh:
        client_app: Any = client._transport.app  # type: ignore[attr-defined]
        client_app.state.gbfs.cache = FeedCache()
    response = await client.get(f"/gbfs/{system}/{name}.json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert_gbfs_valid(name, body)
    return body


async def place(
    client: AsyncClient,
    gateway: Tenant,
    device: str,
    state: str,
    *,
    at: tuple[float, float] = CENTRE,
    ts: int | None = None,
    battery: int | None = 80,
    trip: str | None = None,
) -> None:
    """A point and an event putting `device` at `at` in `state`."""
    t = ts if ts is not None else now_ms() - 60_000
    location = {"lat": at[0], "lng": at[1]}
    trip_ids = [trip] if trip else ([str(uuid.uuid4())] if state == "on_trip" else None)
    fields: dict[str, Any] = {"trip_ids": trip_ids} if trip_ids else {}
    fix = point(gateway, device, timestamp=t, battery_percent=battery, location=location, **fields)
    if battery is None:
        del fix["battery_percent"]
    await post(client, gateway, "telemetry", [fix])
    types = ["trip_end"] if trip and state == "available" else STATES[state]
    await post(
        client,
        gateway,
        "events",
        [
            event(
                gateway,
                device,
                timestamp=t,
                vehicle_state=state,
                event_types=types,
                location=location,
                **fields,
            )
        ],
    )


def offset(metres_north: float, metres_east: float = 0.0) -> tuple[float, float]:
    """A point this far from the centre."""
    return CENTRE[0] + metres_north / 111_320, CENTRE[1] + metres_east / 62_300


def texts(text: str) -> list[dict[str, str]]:
    """A text in the demo's two languages."""
    return [{"text": text, "language": "sv"}, {"text": f"{text} (en)", "language": "en"}]


async def test_every_file_validates_with_a_fleet_zones_and_hubs(
    client: AsyncClient, manager: Tenant, gateway: Tenant, planner: Tenant
) -> None:
    scooters = await register(client, gateway, 4)
    bikes = await register(
        client, gateway, 2, vehicle_type="bicycle", propulsion_types=["human", "electric_assist"]
    )
    await register(client, gateway, 1, vehicle_type="cargo_bicycle", propulsion_types=["human"])
    await publish(
        client, planner, name="City", kind="service_area", max_speed_kph=None, geometry=disc(3000)
    )
    await publish(
        client,
        planner,
        name="Square",
        kind="no_parking",
        max_speed_kph=None,
        geometry=disc(400, hole_m=150),
    )
    await publish(
        client, planner, name="Harbour", kind="slow", max_speed_kph=10, geometry=disc(900)
    )
    await publish(
        client,
        planner,
        name="Park",
        kind="restricted",
        max_speed_kph=None,
        vehicle_types=["scooter_standing"],
        geometry=disc(200, centre=offset(1500)),
    )
    await publish(
        client,
        planner,
        name="Station hub",
        kind="parking",
        parking="preferred",
        max_speed_kph=None,
        geometry=disc(60),
    )
    await publish(
        client, planner, name="Centrum", kind="district", max_speed_kph=None, geometry=disc(2500)
    )
    await place(client, gateway, scooters[0], "available")  # in the hub
    await place(client, gateway, scooters[1], "reserved", at=offset(700))
    await place(client, gateway, scooters[2], "on_trip", at=offset(800))
    await place(client, gateway, scooters[3], "non_operational", at=offset(900))
    await place(client, gateway, bikes[0], "available", at=offset(1000), battery=None)
    await place(client, gateway, bikes[1], "available", at=offset(20), battery=50)

    system = await system_id(client, manager)
    files = {name: await feed(client, system, name) for name in FILES}
    manifest = (await client.get("/gbfs/manifest.json")).json()
    assert_gbfs_valid("manifest", manifest)

    listed = [f["name"] for f in files["gbfs"]["data"]["feeds"]]
    assert "system_pricing_plans" not in listed  # the operator gave no plans
    assert set(listed) == set(FILES) - {"gbfs", "system_pricing_plans"}
    assert all(f["url"].startswith("http://test/gbfs/") for f in files["gbfs"]["data"]["feeds"])
    info = files["system_information"]["data"]
    assert info["languages"] == ["sv", "en"]
    assert {t["language"] for t in info["name"]} == {"sv", "en"}

    types = {t["vehicle_type_id"]: t for t in files["vehicle_types"]["data"]["vehicle_types"]}
    assert types["scooter_standing_electric"]["form_factor"] == "scooter_standing"
    assert types["bicycle_electric_assist"]["propulsion_type"] == "electric_assist"
    assert types["bicycle_electric_assist"]["max_range_meters"] > 0
    assert "max_range_meters" not in types["cargo_bicycle_human"]

    vehicles = files["vehicle_status"]["data"]["vehicles"]
    assert len(vehicles) == 4  # available and reserved only: no trip, no broken vehicle
    assert sorted(v["is_reserved"] for v in vehicles) == [False, False, False, True]
    assert not any(v["vehicle_id"] in scooters + bikes for v in vehicles)
    unknown_battery = [v for v in vehicles if "current_fuel_percent" not in v]
    assert len(unknown_battery) == 1
    assert "current_range_meters" not in unknown_battery[0]
    half = next(v for v in vehicles if v.get("current_fuel_percent") == 0.5)
    assert half["current_range_meters"] == pytest.approx(
        0.5 * types[half["vehicle_type_id"]]["max_range_meters"]
    )

    stations = files["station_information"]["data"]["stations"]
    assert [s["name"][0]["text"] for s in stations] == ["Station hub"]
    assert stations[0]["station_area"]["type"] == "MultiPolygon"
    assert stations[0]["region_id"] == files["system_regions"]["data"]["regions"][0]["region_id"]
    status = files["station_status"]["data"]["stations"][0]
    assert status["num_vehicles_available"] == 2  # the scooter and the bike in the hub
    in_hub = [v for v in vehicles if v.get("station_id") == stations[0]["station_id"]]
    assert len(in_hub) == 2

    fences = files["geofencing_zones"]["data"]
    names = [f["properties"]["name"][0]["text"] for f in fences["geofencing_zones"]["features"]]
    assert "Centrum" not in names
    assert {"City", "Square", "Harbour", "Park", "Station hub"} <= set(names)
    assert files["system_regions"]["data"]["regions"][0]["name"][0]["text"] == "Centrum"
    assert [d["system_id"] for d in manifest["data"]["datasets"]].count(system) == 1


async def test_a_system_without_vehicles_zones_or_hubs_is_valid_and_empty(
    client: AsyncClient, manager: Tenant
) -> None:
    system = await system_id(client, manager)
    for name in FILES:
        await feed(client, system, name)
    assert (await feed(client, system, "vehicle_status"))["data"]["vehicles"] == []
    assert (await feed(client, system, "vehicle_types"))["data"]["vehicle_types"] == []
    assert (await feed(client, system, "station_information"))["data"]["stations"] == []
    zones = (await feed(client, system, "geofencing_zones"))["data"]
    assert zones["geofencing_zones"]["features"] == []
    assert zones["global_rules"] == [
        {"ride_start_allowed": True, "ride_end_allowed": True, "ride_through_allowed": True}
    ]


async def test_ids_rotate_after_each_trip_and_stay_while_parked(
    client: AsyncClient, manager: Tenant, gateway: Tenant
) -> None:
    (device,) = await register(client, gateway)
    system = await system_id(client, manager)
    t0 = now_ms() - 600_000
    ids = []
    await place(client, gateway, device, "available", ts=t0)
    for trip_number in range(2):
        parked = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
        again = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
        assert [v["vehicle_id"] for v in parked] == [v["vehicle_id"] for v in again]
        ids.append(parked[0]["vehicle_id"])
        trip = str(uuid.uuid4())
        start = t0 + 100_000 * (2 * trip_number + 1)
        await place(client, gateway, device, "on_trip", ts=start, trip=trip)
        assert (await feed(client, system, "vehicle_status"))["data"]["vehicles"] == []
        await place(client, gateway, device, "available", ts=start + 50_000, trip=trip)
    ids.append((await feed(client, system, "vehicle_status"))["data"]["vehicles"][0]["vehicle_id"])
    assert len(set(ids)) == 3
    # A battery event while parked is no trip: the id stays.
    await place(client, gateway, device, "available", ts=now_ms() - 1000, battery=40)
    assert (await feed(client, system, "vehicle_status"))["data"]["vehicles"][0][
        "vehicle_id"
    ] == ids[-1]


async def test_a_trip_reported_late_still_rotates_the_id(
    client: AsyncClient, manager: Tenant, gateway: Tenant
) -> None:
    (device,) = await register(client, gateway)
    system = await system_id(client, manager)
    now = now_ms()
    await place(client, gateway, device, "available", ts=now - 60_000)
    before = (await feed(client, system, "vehicle_status"))["data"]["vehicles"][0]["vehicle_id"]
    # Its events arrive after the newer "available": the state stays, the trip counts.
    trip = str(uuid.uuid4())
    await place(client, gateway, device, "on_trip", ts=now - 300_000, trip=trip)
    await place(client, gateway, device, "available", ts=now - 200_000, trip=trip)
    after = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
    assert len(after) == 1
    assert after[0]["vehicle_id"] != before


async def test_ids_survive_a_rebuild_of_the_hot_state(
    client: AsyncClient, manager: Tenant, gateway: Tenant, app: FastAPI, session: Any
) -> None:
    from fleet.live.rebuild import rebuild_provider

    (device,) = await register(client, gateway)
    system = await system_id(client, manager)
    trip = str(uuid.uuid4())
    t = now_ms() - 300_000
    await place(client, gateway, device, "on_trip", ts=t, trip=trip)
    await place(client, gateway, device, "available", ts=t + 60_000, trip=trip)
    before = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
    assert gateway.provider_id is not None
    await rebuild_provider(session, app.state.live.hot, provider_id=gateway.provider_id)
    after = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
    assert [v["vehicle_id"] for v in after] == [v["vehicle_id"] for v in before]


async def test_a_feed_shows_nothing_of_another_operator(
    client: AsyncClient, manager: Tenant, gateway: Tenant, tenant: TenantFactory
) -> None:
    other_manager = await tenant(Role.OPERATOR_MANAGER)
    other = await tenant(Role.GATEWAY, provider_id=other_manager.provider_id)
    (mine,) = await register(client, gateway)
    (theirs,) = await register(client, other, vehicle_type="moped", propulsion_types=["electric"])
    await place(client, gateway, mine, "available")
    await place(client, other, theirs, "available", at=offset(30))
    response = await client.post(
        "/v1/zones",
        headers=auth(other_manager),
        json={"name": "Their hub", "kind": "parking", "parking": "preferred", "geometry": disc(80)},
    )
    assert response.status_code == 201, response.text
    system, their_system = await system_id(client, manager), await system_id(client, other_manager)
    assert system != their_system
    vehicles = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
    assert [v["vehicle_type_id"] for v in vehicles] == ["scooter_standing_electric"]
    types = (await feed(client, system, "vehicle_types"))["data"]["vehicle_types"]
    assert [t["vehicle_type_id"] for t in types] == ["scooter_standing_electric"]
    assert (await feed(client, system, "station_information"))["data"]["stations"] == []
    features = (await feed(client, system, "geofencing_zones"))["data"]["geofencing_zones"][
        "features"
    ]
    assert features == []
    theirs_feed = (await feed(client, their_system, "station_information"))["data"]["stations"]
    assert [s["name"][0]["text"] for s in theirs_feed] == ["Their hub"]


async def manifest_ids(client: AsyncClient, app: FastAPI) -> list[str]:
    app.state.gbfs.cache = FeedCache()
    response = await client.get("/gbfs/manifest.json")
    assert_gbfs_valid("manifest", response.json())
    return [d["system_id"] for d in response.json()["data"]["datasets"]]


async def test_pods_and_robots_have_no_gbfs(
    client: AsyncClient, tenant: TenantFactory, app: FastAPI
) -> None:
    before = await manifest_ids(client, app)
    scooters = await tenant(Role.OPERATOR_MANAGER)
    for mode in (Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS):
        dispatched = await tenant(Role.OPERATOR_MANAGER, mode=mode)
        response = await client.get("/v1/gbfs/system", headers=auth(dispatched))
        assert response.status_code == 404, response.text
    after = await manifest_ids(client, app)
    assert set(after) - set(before) == {await system_id(client, scooters)}
    assert (await client.get("/gbfs/no_such_system/gbfs.json")).status_code == 404


async def test_etag_304_and_cache_headers(
    client: AsyncClient, manager: Tenant, gateway: Tenant
) -> None:
    system = await system_id(client, manager)
    first = await client.get(f"/gbfs/{system}/vehicle_status.json")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert 0 <= int(first.headers["cache-control"].rsplit("=", 1)[1]) <= first.json()["ttl"]
    assert first.headers["access-control-allow-origin"] == "*"
    again = await client.get(f"/gbfs/{system}/vehicle_status.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(
        f"/gbfs/{system}/vehicle_status.json", headers={"If-None-Match": '"x"'}
    )
    assert other.status_code == 200
    # gzip and identity are two representations of one build, each with its own tag.
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["vary"] == "Accept-Encoding"
    plain = await client.get(
        f"/gbfs/{system}/vehicle_status.json", headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    assert plain.content == first.content  # httpx decoded the gzipped one
    assert plain.headers["etag"] != etag
    refused = await client.get(
        f"/gbfs/{system}/vehicle_status.json", headers={"Accept-Encoding": "gzip;q=0"}
    )
    assert "content-encoding" not in refused.headers


async def test_a_burst_of_readers_costs_one_build(
    client: AsyncClient, manager: Tenant, gateway: Tenant, app: FastAPI
) -> None:
    devices = await register(client, gateway, 3)
    for i, device in enumerate(devices):
        await place(client, gateway, device, "available", at=offset(100 * i))
    system = await system_id(client, manager)
    cache = app.state.gbfs.cache = FeedCache()
    answers = await asyncio.gather(
        *(client.get(f"/gbfs/{system}/vehicle_status.json") for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert cache.builds == 1


async def test_operator_settings_are_published(
    client: AsyncClient, manager: Tenant, gateway: Tenant
) -> None:
    (device,) = await register(client, gateway)
    await place(client, gateway, device, "available")
    body = {
        "system_id": f"hbg_{uuid.uuid4().hex[:8]}",
        "name": texts("Sparkcyklar"),
        "operator": texts("Operatören AB"),
        "feed_contact_email": "data@operator.example",
        "license_id": "CC-BY-4.0",
        "phone_number": "+46421234567",
        "rental_uris": {
            "web": "https://rent.example/v/{vehicle_id}",
            "ios": "opapp://v/{vehicle_id}",
        },
        "pricing_plans": [
            {
                "plan_id": "standard",
                "name": texts("Standard"),
                "currency": "SEK",
                "price": 10,
                "is_taxable": False,
                "description": texts("10 kr + 3 kr/min"),
                "per_min_pricing": [{"start": 0, "rate": 3, "interval": 1}],
            }
        ],
        "vehicle_types": [
            {"vehicle_type_id": "scooter_standing_electric", "max_range_meters": 35000}
        ],
        "alerts": [
            {
                "alert_id": "old",
                "summary": texts("Over"),
                "times": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}],
            },
            {
                "alert_id": "now",
                "summary": texts("Demo day"),
                "times": [{"start": "2026-01-01T00:00:00Z"}],
            },
        ],
        "ttl": {"vehicle_status": 5},
    }
    response = await client.put("/v1/gbfs/system", headers=auth(manager), json=body)
    assert response.status_code == 200, response.text
    system = response.json()["system_id"]
    assert system == body["system_id"]
    assert response.json()["gbfs_url"].endswith(f"/gbfs/{system}/gbfs.json")
    info = (await feed(client, system, "system_information"))["data"]
    assert info["name"] == body["name"]
    assert info["license_id"] == "CC-BY-4.0"
    assert info["feed_contact_email"] == "data@operator.example"
    status = await feed(client, system, "vehicle_status")
    assert status["ttl"] == 5
    vehicle = status["data"]["vehicles"][0]
    assert vehicle["rental_uris"]["web"] == f"https://rent.example/v/{vehicle['vehicle_id']}"
    assert device not in str(vehicle)
    kinds = (await feed(client, system, "vehicle_types"))["data"]["vehicle_types"]
    assert kinds[0]["max_range_meters"] == 35000
    assert kinds[0]["default_pricing_plan_id"] == "standard"
    plans = (await feed(client, system, "system_pricing_plans"))["data"]["plans"]
    assert plans[0]["plan_id"] == "standard"
    listed = [f["name"] for f in (await feed(client, system, "gbfs"))["data"]["feeds"]]
    assert "system_pricing_plans" in listed
    alerts = (await feed(client, system, "system_alerts"))["data"]["alerts"]
    assert [a["alert_id"] for a in alerts] == ["now"]

    unpublished = await client.put(
        "/v1/gbfs/system", headers=auth(manager), json={"published": False}
    )
    assert unpublished.status_code == 200
    assert (
        await client.get(f"/gbfs/{unpublished.json()['system_id']}/gbfs.json")
    ).status_code == 404


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": [{"text": "Bara svenska", "language": "sv"}]}, "languages"),
        ({"license_id": "CC0-1.0", "license_url": "https://x.example/l"}, "license"),
        (
            {
                "terms_url": [
                    {"text": "https://x.example/t", "language": "sv"},
                    {"text": "https://x.example/t", "language": "en"},
                ]
            },
            "terms_last_updated",
        ),
        ({"rental_uris": {"web": "https://x.example/{device_id}"}}, "placeholder"),
        ({"system_id": "has space"}, "system_id"),
        ({"system_id": "a/b"}, "system_id"),
        ({"phone_number": "042-123"}, "phone_number"),
        ({"ttl": {"vehicle_status": -1}}, "vehicle_status"),
        (
            {"vehicle_types": [{"vehicle_type_id": "x", "default_pricing_plan_id": "nope"}]},
            "pricing plan",
        ),
        (
            {"name": [{"text": "a\x00b", "language": "sv"}, {"text": "ab", "language": "en"}]},
            "name",
        ),
    ],
)
async def test_bad_settings_are_422_and_change_nothing(
    client: AsyncClient, manager: Tenant, change: dict[str, Any], words: str
) -> None:
    before = (await client.get("/v1/gbfs/system", headers=auth(manager))).json()
    response = await client.put("/v1/gbfs/system", headers=auth(manager), json=change)
    assert response.status_code == 422, response.text
    assert words in response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/gbfs/system", headers=auth(manager))).json() == before


async def test_a_system_id_of_another_system_is_409(
    client: AsyncClient, manager: Tenant, tenant: TenantFactory
) -> None:
    other = await tenant(Role.OPERATOR_MANAGER)
    taken = await system_id(client, other)
    response = await client.put("/v1/gbfs/system", headers=auth(manager), json={"system_id": taken})
    assert response.status_code == 409, response.text


async def test_only_operator_managers_set_their_system(
    client: AsyncClient, manager: Tenant, tenant: TenantFactory
) -> None:
    for role in (Role.FIELD_AGENT, Role.GATEWAY, Role.CITY_AUDITOR, Role.ADMIN):
        who = await tenant(
            role,
            provider_id=manager.provider_id if role in {Role.FIELD_AGENT, Role.GATEWAY} else None,
        )
        response = await client.put("/v1/gbfs/system", headers=auth(who), json={})
        assert response.status_code == 403, (role, response.text)


async def test_an_operator_maps_a_public_id_back_until_the_next_trip(
    client: AsyncClient, manager: Tenant, gateway: Tenant, tenant: TenantFactory
) -> None:
    (device,) = await register(client, gateway)
    system = await system_id(client, manager)
    t = now_ms() - 300_000
    await place(client, gateway, device, "available", ts=t)
    (listed,) = (await feed(client, system, "vehicle_status"))["data"]["vehicles"]
    agent = await tenant(Role.FIELD_AGENT, provider_id=manager.provider_id)
    path = f"/v1/gbfs/vehicles/{listed['vehicle_id']}"
    for who in (manager, agent):
        response = await client.get(path, headers=auth(who))
        assert response.status_code == 200, response.text
        assert response.json() == {"vehicle_id": listed["vehicle_id"], "device_id": device}
    other = await tenant(Role.OPERATOR_MANAGER)
    assert (await client.get(path, headers=auth(other))).status_code == 404
    trip = str(uuid.uuid4())
    await place(client, gateway, device, "on_trip", ts=t + 10_000, trip=trip)
    await place(client, gateway, device, "available", ts=t + 60_000, trip=trip)
    assert (await client.get(path, headers=auth(manager))).status_code == 404
    assert (
        await client.get("/v1/gbfs/vehicles/bad%20id", headers=auth(manager))
    ).status_code == 422
