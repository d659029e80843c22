"""Device ids are unique per provider: two providers may register the same one, and each
sees only its own vehicle, telemetry, events, trips, status, alerts and live state."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.live.rebuild import rebuild_provider
from fleet.trips.models import Trip
from fleet.vehicles.directory import DeviceDirectory, DeviceInfo
from telemetry.hotstate.store import HotState
from tests.conftest import Tenant, TenantFactory, auth
from tests.hours import closed_hour, hour_text
from tests.payloads import HELSINGBORG, event, now_ms, point, post, register, vehicle
from tests.zones import disc, zone

AGENCY = "/mds/agency"


@pytest.fixture
async def twins(client: AsyncClient, tenant: TenantFactory) -> tuple[Tenant, Tenant, str]:
    """Two gateways of different providers, each with a vehicle of the same device id."""
    first, second = await tenant(), await tenant()
    device = str(uuid.uuid4())
    for who in (first, second):
        response = await client.post(
            f"{AGENCY}/vehicles", headers=who.headers, json=[vehicle(who, device_id=device)]
        )
        assert response.status_code == 201, response.text
    return first, second, device


async def test_the_same_device_id_registers_for_each_provider_but_not_twice_for_one(
    client: AsyncClient, twins: tuple[Tenant, Tenant, str]
) -> None:
    first, second, device = twins
    for who in (first, second):
        again = await client.post(
            f"{AGENCY}/vehicles", headers=who.headers, json=[vehicle(who, device_id=device)]
        )
        assert again.status_code == 409
        assert again.json()["failures"][0]["error"] == "already_registered"
        mine = await client.get(f"{AGENCY}/vehicles/{device}", headers=who.headers)
        assert [v["provider_id"] for v in mine.json()["vehicles"]] == [str(who.provider_id)]


async def test_a_foreign_device_id_registers_exactly_as_a_fresh_one(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    holder, newcomer = await tenant(), await tenant()
    taken = vehicle(holder)
    await post(client, holder, "vehicles", [taken])
    answers = [
        await client.post(f"{AGENCY}/vehicles", headers=newcomer.headers, json=[record])
        for record in (vehicle(newcomer, device_id=taken["device_id"]), vehicle(newcomer))
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].content == answers[1].content


async def test_each_provider_reads_only_its_own_data_of_a_shared_device_id(
    client: AsyncClient, tenant: TenantFactory, twins: tuple[Tenant, Tenant, str]
) -> None:
    first, second, device = twins
    hour = closed_hour()
    at = int((hour + timedelta(minutes=10)).timestamp() * 1000)
    posted: dict[uuid.UUID | None, dict[str, Any]] = {}
    for n, who in enumerate((first, second)):
        trip = [str(uuid.uuid4())]
        location = {"lat": HELSINGBORG[0] + n / 100, "lng": HELSINGBORG[1]}
        points = [
            point(who, device, timestamp=at + s * 60_000, battery_percent=50 + n, trip_ids=trip)
            for s in range(0, 11, 5)
        ]
        events = [
            event(
                who,
                device,
                timestamp=at,
                vehicle_state="on_trip",
                event_types=["trip_start"],
                trip_ids=trip,
                location=location,
            ),
            event(
                who,
                device,
                timestamp=at + 600_000,
                vehicle_state="available",
                event_types=["trip_end"],
                trip_ids=trip,
                location=location,
            ),
        ]
        await post(client, who, "telemetry", points)
        await post(client, who, "events", events)
        posted[who.provider_id] = {"points": points, "events": events, "trip": trip[0]}

    for who in (first, second):
        mine = posted[who.provider_id]
        manager = await tenant(Role.OPERATOR_MANAGER, provider_id=who.provider_id)
        status = await client.get(f"{AGENCY}/vehicles/status/{device}", headers=who.headers)
        assert status.status_code == 200, status.text
        [found] = status.json()["vehicles_status"]
        assert found["provider_id"] == str(who.provider_id)
        assert found["last_event"]["event_id"] == mine["events"][-1]["event_id"]
        assert found["last_telemetry"]["telemetry_id"] == mine["points"][-1]["telemetry_id"]

        telemetry = await client.get(
            "/mds/provider/telemetry",
            headers=manager.headers,
            params={"telemetry_time": hour_text(hour)},
        )
        ids = [t["telemetry_id"] for t in telemetry.json()["telemetry"]]
        assert ids == [p["telemetry_id"] for p in mine["points"]]

        trips = await client.get(
            "/mds/provider/trips", headers=manager.headers, params={"end_time": hour_text(hour)}
        )
        assert [t["trip_id"] for t in trips.json()["trips"]] == [mine["trip"]]
        [measured] = trips.json()["trips"]
        assert measured["device_id"] == device
        assert measured["provider_id"] == str(who.provider_id)

        live = await client.get(f"/v1/vehicles/{device}", headers=auth(manager))
        assert live.status_code == 200, live.text
        assert live.json()["vehicle"]["provider_id"] == str(who.provider_id)
        assert live.json()["live"]["battery_percent"] == mine["points"][-1]["battery_percent"]
        assert live.json()["last_event"]["event_id"] == mine["events"][-1]["event_id"]

    auditor = await tenant(Role.CITY_AUDITOR)
    both = await client.get(f"/mds/provider/vehicles/{device}", headers=auditor.headers)
    assert both.status_code == 200, both.text
    assert sorted(v["provider_id"] for v in both.json()["vehicles"]) == sorted(
        str(who.provider_id) for who in (first, second)
    )
    for who in (first, second):
        named = await client.get(
            f"/v1/vehicles/{device}",
            headers=auth(auditor),
            params={"provider_id": str(who.provider_id)},
        )
        assert named.json()["vehicle"]["provider_id"] == str(who.provider_id)
    statuses = await client.get(f"/mds/provider/vehicles/status/{device}", headers=auditor.headers)
    assert sorted(s["provider_id"] for s in statuses.json()["vehicles_status"]) == sorted(
        str(who.provider_id) for who in (first, second)
    )


async def test_another_provider_with_vehicles_of_its_own_still_gets_404(
    client: AsyncClient, tenant: TenantFactory, twins: tuple[Tenant, Tenant, str]
) -> None:
    _, _, device = twins
    outsider = await tenant()
    await post(client, outsider, "vehicles", [vehicle(outsider)])
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=outsider.provider_id)
    for path in (f"{AGENCY}/vehicles/{device}", f"{AGENCY}/vehicles/status/{device}"):
        response = await client.get(path, headers=outsider.headers)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    for path in (f"/mds/provider/vehicles/{device}", f"/mds/provider/vehicles/status/{device}"):
        assert (await client.get(path, headers=manager.headers)).status_code == 404
    assert (await client.get(f"/v1/vehicles/{device}", headers=auth(manager))).status_code == 404


async def test_a_trip_id_of_another_provider_changes_nothing_of_their_trip(
    client: AsyncClient, session: AsyncSession, twins: tuple[Tenant, Tenant, str]
) -> None:
    first, second, device = twins
    trip = str(uuid.uuid4())
    at = now_ms() - 600_000
    start = event(
        first,
        device,
        timestamp=at,
        vehicle_state="on_trip",
        event_types=["trip_start"],
        trip_ids=[trip],
    )
    await post(client, first, "events", [start])
    end = event(
        second,
        device,
        timestamp=at + 60_000,
        vehicle_state="available",
        event_types=["trip_end"],
        trip_ids=[trip],
    )
    await post(client, second, "events", [end])
    stored = (
        await session.execute(select(Trip).where(Trip.trip_id == uuid.UUID(trip)))
    ).scalar_one()
    assert (stored.provider_id, stored.status, stored.end_at) == (first.provider_id, "open", None)


async def test_alerts_of_a_shared_device_id_stay_with_their_provider(
    client: AsyncClient, tenant: TenantFactory, twins: tuple[Tenant, Tenant, str]
) -> None:
    first, second, device = twins
    planner = await tenant(Role.CITY_PLANNER)
    created = await client.post("/v1/zones", headers=auth(planner), json=zone(geometry=disc(300)))
    assert created.status_code == 201, created.text
    t = now_ms() + 2_000  # after the zone took effect
    centre = {"lat": HELSINGBORG[0], "lng": HELSINGBORG[1]}
    await post(
        client,
        first,
        "telemetry",
        [point(first, device, timestamp=t, location={**centre, "speed": 9.0})],
    )
    await post(
        client,
        second,
        "telemetry",
        [point(second, device, timestamp=t, location={**centre, "speed": 1.0})],
    )
    for who, kinds in ((first, ["speeding"]), (second, [])):
        manager = await tenant(Role.OPERATOR_MANAGER, provider_id=who.provider_id)
        seen = await client.get(f"/v1/alerts?device_id={device}", headers=auth(manager))
        assert seen.status_code == 200, seen.text
        assert [a["kind"] for a in seen.json()] == kinds
        assert all(a["provider_id"] == str(who.provider_id) for a in seen.json())


async def walk(client: AsyncClient, url: str, headers: dict[str, str], key: str) -> list[Any]:
    """Every item of a paginated feed, following `links.next`."""
    items: list[Any] = []
    next_url: str | None = url
    while next_url:
        page = await client.get(next_url, headers=headers)
        assert page.status_code == 200, page.text
        items.extend(page.json()[key])
        next_url = page.json()["links"]["next"]
        assert len(items) <= 20
    return items


@pytest.mark.parametrize(
    ("path", "key"),
    [("/mds/provider/vehicles", "vehicles"), ("/mds/provider/vehicles/status", "vehicles_status")],
)
async def test_city_wide_pages_never_split_a_shared_device_id(
    client: AsyncClient,
    tenant: TenantFactory,
    twins: tuple[Tenant, Tenant, str],
    path: str,
    key: str,
) -> None:
    first, second, device = twins
    third = await tenant()
    await post(client, third, "vehicles", [vehicle(third, device_id=device)])
    for who in (first, second, third):
        await post(client, who, "telemetry", [point(who, device)])
        await post(client, who, "events", [event(who, device)])
    auditor = await tenant(Role.CITY_AUDITOR)
    items = await walk(client, f"{path}?limit=1", auditor.headers, key)
    owners = [i["provider_id"] for i in items if i["device_id"] == device]
    assert sorted(owners) == sorted(str(who.provider_id) for who in (first, second, third))


async def test_another_providers_event_is_no_cursor_of_recent_events(
    client: AsyncClient, tenant: TenantFactory, twins: tuple[Tenant, Tenant, str]
) -> None:
    first, second, device = twins
    theirs = event(second, device)
    await post(client, second, "events", [theirs])
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=first.provider_id)
    window = {"start_time": str(now_ms() - 3_600_000), "end_time": str(now_ms())}
    answers = [
        await client.get(
            "/mds/provider/events/recent",
            headers=manager.headers,
            params={**window, "after": after},
        )
        for after in (theirs["event_id"], str(uuid.uuid4()))
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert [a.json()["error_details"] for a in answers] == [["after"], ["after"]]


async def test_rebuilt_live_state_of_a_shared_device_id_is_the_providers_own(
    client: AsyncClient, session: AsyncSession, redis: Redis, twins: tuple[Tenant, Tenant, str]
) -> None:
    first, second, device = twins
    at = now_ms() - 60_000
    await post(client, first, "telemetry", [point(first, device, timestamp=at, battery_percent=11)])
    await post(client, first, "events", [event(first, device, timestamp=at)])
    later = {"timestamp": at + 30_000, "vehicle_state": "non_operational"}
    await post(client, second, "telemetry", [point(second, device, timestamp=at + 30_000)])
    await post(
        client, second, "events", [event(second, device, **later, event_types=["battery_low"])]
    )
    hot = HotState(redis)
    for who in (first, second):
        assert who.provider_id is not None
        await rebuild_provider(session, hot, provider_id=who.provider_id)
    [mine] = await hot.vehicles(str(first.provider_id), [device])
    [theirs] = await hot.vehicles(str(second.provider_id), [device])
    assert mine is not None
    assert theirs is not None
    assert (mine.battery, mine.state, mine.ts_ms) == (11, "available", at)
    assert (theirs.state, theirs.ts_ms) == ("non_operational", at + 30_000)


async def test_the_directory_remembers_a_device_for_its_provider_only(
    client: AsyncClient, session: AsyncSession, tenant: TenantFactory
) -> None:
    holder, other = await tenant(), await tenant()
    assert holder.provider_id is not None
    assert other.provider_id is not None
    [device] = await register(client, holder, vehicle_type="bicycle")
    directory = DeviceDirectory()
    assert await directory.resolve(
        session, provider_id=holder.provider_id, device_ids=[device]
    ) == {device: DeviceInfo("bicycle")}
    assert (
        await directory.resolve(session, provider_id=other.provider_id, device_ids=[device]) == {}
    )
    await register(client, other, device_id=device, vehicle_type="moped")
    assert await directory.resolve(session, provider_id=other.provider_id, device_ids=[device]) == {
        device: DeviceInfo("moped")
    }
    assert await directory.resolve(
        session, provider_id=holder.provider_id, device_ids=[device]
    ) == {device: DeviceInfo("bicycle")}
