"""MDS Provider recent events, vehicles and vehicle status: windows, tenancy, privacy,
paging, schema, freshness fields and the audit log."""

import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from app.core.auth import Role
from tests.conftest import Tenant, TenantFactory
from tests.mds_schemas import assert_valid, response_validator
from tests.payloads import event, now_ms, point, post, register

RECENT = "/mds/provider/events/recent"
VEHICLES = "/mds/provider/vehicles"
STATUS = "/mds/provider/vehicles/status"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


async def pulls(client: AsyncClient, tenant: TenantFactory, action: str) -> list[dict[str, Any]]:
    """Audit entries of one action, newest first."""
    admin = await tenant(Role.ADMIN)
    log = (await client.get("/v1/audit-log", headers=admin.headers)).json()
    return [e for e in log if e["action"] == action]


async def walk(client: AsyncClient, url: str, headers: dict[str, str], key: str) -> list[Any]:
    """Every item of a paginated feed, following `links.next`."""
    items: list[Any] = []
    next_url: str | None = url
    pages = 0
    while next_url:
        page = await client.get(next_url, headers=headers)
        assert page.status_code == 200, page.text
        items.extend(page.json()[key])
        next_url = page.json()["links"]["next"]
        pages += 1
        assert pages <= 20
    return items


# Recent events


async def test_recent_events_of_a_window_oldest_first_per_tenant_and_audited(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway, other = await tenant(), await tenant()
    [device] = await register(client, gateway)
    [theirs] = await register(client, other)
    now = now_ms()
    # Posted newest first: the feed orders by event time, not arrival.
    mine = [event(gateway, device, timestamp=now - age * HOUR_MS) for age in (1, 2, 3)]
    await post(client, gateway, "events", mine)
    their_event = event(other, theirs, timestamp=now - 2 * HOUR_MS)
    await post(client, other, "events", [their_event])
    window = {"start_time": str(now - 2 * HOUR_MS - 1), "end_time": str(now - HOUR_MS)}

    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    response = await client.get(RECENT, headers=manager.headers, params=window)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid(response_validator("provider", "/events/recent", "get", 200), body)
    # [start, end): the event at end_time is not in the window.
    assert body["events"] == [mine[1]]
    assert body["links"]["next"] is None

    auditor = await tenant(Role.CITY_AUDITOR)
    everyone = await client.get(RECENT, headers=auditor.headers, params=window)
    ids = {e["event_id"] for e in everyone.json()["events"]}
    assert {mine[1]["event_id"], their_event["event_id"]} <= ids
    narrowed = await client.get(
        RECENT, headers=auditor.headers, params={**window, "provider_id": str(other.provider_id)}
    )
    assert narrowed.json()["events"] == [their_event]
    foreign = await client.get(
        RECENT, headers=manager.headers, params={**window, "provider_id": str(other.provider_id)}
    )
    assert foreign.json()["events"] == []

    entries = await pulls(client, tenant, "mds_provider.events_recent")
    assert [(e["key_id"], e["rows"]) for e in entries[:4]] == [
        (manager.key_id, 0),
        (auditor.key_id, 1),
        (auditor.key_id, len(ids)),
        (manager.key_id, 1),
    ]
    assert entries[1]["params"] == {
        **window,
        "provider_id": str(other.provider_id),
        "after": None,
    }


async def test_recent_events_paginate_keeping_the_window(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 2)
    now = now_ms()
    posted = [event(gateway, devices[i % 2], timestamp=now - HOUR_MS + i * 1000) for i in range(5)]
    # Two events at the same instant: arrival order breaks the tie.
    posted.append(event(gateway, devices[0], timestamp=posted[-1]["timestamp"]))
    await post(client, gateway, "events", posted)
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    url = f"{RECENT}?start_time={now - 2 * HOUR_MS}&end_time={now}&limit=2"
    first = (await client.get(url, headers=manager.headers)).json()
    assert_valid(response_validator("provider", "/events/recent", "get", 200), first)
    assert f"start_time={now - 2 * HOUR_MS}" in first["links"]["next"]
    assert await walk(client, url, manager.headers, "events") == posted


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end_time": "{now}"}, "start_time"),
        ({"start_time": "{hour_ago}"}, "end_time"),
        ({"start_time": "yesterday", "end_time": "{now}"}, "start_time"),
        ({"start_time": "{hour_ago}", "end_time": "2026-11-26T10"}, "end_time"),
        ({"start_time": "{fifteen_days_ago}", "end_time": "{now}"}, "start_time"),
        ({"start_time": "{now}", "end_time": "{hour_ago}"}, "end_time"),
        ({"start_time": "{hour_ago}", "end_time": "{in_an_hour}"}, "end_time"),
        ({"start_time": "{hour_ago}", "end_time": "{now}", "after": str(uuid.uuid4())}, "after"),
        ({"start_time": "{hour_ago}", "end_time": "{now}", "limit": "0"}, "limit"),
    ],
)
async def test_bad_recent_windows_are_400_naming_the_parameter(
    client: AsyncClient, tenant: TenantFactory, params: dict[str, str], field: str
) -> None:
    now = now_ms()
    times = {
        "now": now,
        "hour_ago": now - HOUR_MS,
        "fifteen_days_ago": now - 15 * DAY_MS,
        "in_an_hour": now + HOUR_MS,
    }
    auditor = await tenant(Role.CITY_AUDITOR)
    query = {name: value.format(**times) for name, value in params.items()}
    response = await client.get(RECENT, headers=auditor.headers, params=query)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_param"
    assert response.json()["error_details"] == [field]


async def test_a_window_reaching_back_nearly_two_weeks_is_served(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    old = event(gateway, device, timestamp=now_ms() - 13 * DAY_MS)
    await post(client, gateway, "events", [old])
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    params = {"start_time": str(now_ms() - 14 * DAY_MS + 60_000), "end_time": str(now_ms())}
    response = await client.get(RECENT, headers=manager.headers, params=params)
    assert response.status_code == 200, response.text
    assert response.json()["events"] == [old]


# Vehicles


async def test_vehicles_deployed_in_the_last_30_days_and_any_by_id(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway, other = await tenant(), await tenant()
    active, dormant, never = await register(client, gateway, 3)
    [theirs] = await register(client, other)
    await post(client, gateway, "events", [event(gateway, active)])
    await post(
        client, gateway, "events", [event(gateway, dormant, timestamp=now_ms() - 40 * DAY_MS)]
    )
    await post(client, other, "events", [event(other, theirs)])

    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    before = now_ms()
    response = await client.get(VEHICLES, headers=manager.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid(response_validator("provider", "/vehicles", "get", 200), body)
    assert [v["device_id"] for v in body["vehicles"]] == [active]
    assert body["vehicles"][0]["provider_id"] == str(gateway.provider_id)
    assert before <= body["last_updated"] <= now_ms()
    assert body["ttl"] == 0

    single = response_validator("provider", "/vehicles/{device_id}", "get", 200)
    for device in (active, dormant, never):
        one = await client.get(f"{VEHICLES}/{device}", headers=manager.headers)
        assert one.status_code == 200, one.text
        assert_valid(single, one.json())
        assert [v["device_id"] for v in one.json()["vehicles"]] == [device]
    for device in (theirs, str(uuid.uuid4())):
        missing = await client.get(f"{VEHICLES}/{device}", headers=manager.headers)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
    upper = await client.get(f"{VEHICLES}/{active.upper()}", headers=manager.headers)
    assert upper.status_code == 400
    assert upper.json()["error_details"] == ["device_id"]

    auditor = await tenant(Role.CITY_AUDITOR)
    assert (await client.get(f"{VEHICLES}/{theirs}", headers=auditor.headers)).status_code == 200
    listed = (await client.get(VEHICLES, headers=auditor.headers)).json()["vehicles"]
    assert {active, theirs} <= {v["device_id"] for v in listed}
    narrowed = await client.get(
        VEHICLES, headers=auditor.headers, params={"provider_id": str(other.provider_id)}
    )
    assert [v["device_id"] for v in narrowed.json()["vehicles"]] == [theirs]

    entries = await pulls(client, tenant, "mds_provider.vehicles")
    assert [(e["key_id"], e["params"]) for e in entries[:2]] == [
        (auditor.key_id, {"provider_id": str(other.provider_id), "after": None}),
        (auditor.key_id, {"provider_id": None, "after": None}),
    ]


async def test_vehicle_pages_keep_the_provider_filter(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway, other = await tenant(), await tenant()
    devices = await register(client, gateway, 5)
    [theirs] = await register(client, other)
    await post(client, gateway, "events", [event(gateway, d) for d in devices])
    await post(client, other, "events", [event(other, theirs)])
    auditor = await tenant(Role.CITY_AUDITOR)
    url = f"{VEHICLES}?provider_id={gateway.provider_id}&limit=2"
    first = (await client.get(url, headers=auditor.headers)).json()
    assert_valid(response_validator("provider", "/vehicles", "get", 200), first)
    assert f"provider_id={gateway.provider_id}" in first["links"]["next"]
    walked = await walk(client, url, auditor.headers, "vehicles")
    assert [v["device_id"] for v in walked] == sorted(devices)


# Vehicle status


def trip_start(tenant: Tenant, device: str) -> dict[str, Any]:
    return event(
        tenant,
        device,
        vehicle_state="on_trip",
        event_types=["trip_start"],
        trip_ids=[str(uuid.uuid4())],
    )


def removed(tenant: Tenant, device: str, minutes_ago: int) -> dict[str, Any]:
    return event(
        tenant,
        device,
        vehicle_state="removed",
        event_types=["rebalance_pick_up"],
        timestamp=now_ms() - minutes_ago * 60_000,
    )


async def test_status_hides_trips_from_city_staff_and_long_removed_vehicles(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway, other = await tenant(), await tenant()
    parked, riding, just_removed, long_removed = await register(client, gateway, 4)
    [theirs] = await register(client, other)
    events = [
        event(gateway, parked),
        trip_start(gateway, riding),
        removed(gateway, just_removed, 60),
        removed(gateway, long_removed, 120),
    ]
    await post(client, gateway, "events", events)
    await post(client, gateway, "telemetry", [point(gateway, d) for d in (parked, riding)])
    await post(
        client,
        gateway,
        "telemetry",
        [
            point(gateway, just_removed, timestamp=now_ms() - 61 * 60_000),
            point(gateway, long_removed, timestamp=now_ms() - 121 * 60_000),
        ],
    )
    await post(client, other, "events", [event(other, theirs)])
    await post(client, other, "telemetry", [point(other, theirs)])

    def shown(body: dict[str, Any]) -> set[str]:
        return {s["device_id"] for s in body["vehicles_status"]}

    listing = response_validator("provider", "/vehicles/status", "get", 200)
    single = response_validator("provider", "/vehicles/status/{device_id}", "get", 200)
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    auditor = await tenant(Role.CITY_AUDITOR)
    admin = await tenant(Role.ADMIN)
    seen: dict[Role, set[str]] = {}
    for who, role in (
        (manager, Role.OPERATOR_MANAGER),
        (auditor, Role.CITY_AUDITOR),
        (admin, Role.ADMIN),
    ):
        response = await client.get(STATUS, headers=who.headers)
        assert response.status_code == 200, response.text
        assert_valid(listing, response.json())
        assert response.json()["ttl"] == 0
        assert response.json()["last_updated"] <= now_ms()
        seen[role] = shown(response.json())
    # Operators see their own vehicles on a trip; admins everyone's; auditors no trip.
    assert seen[Role.OPERATOR_MANAGER] == {parked, riding, just_removed}
    assert seen[Role.CITY_AUDITOR] >= {parked, just_removed, theirs}
    assert riding not in seen[Role.CITY_AUDITOR]
    assert seen[Role.ADMIN] >= {parked, riding, just_removed, theirs}
    assert long_removed not in seen[Role.CITY_AUDITOR] | seen[Role.ADMIN]

    one = await client.get(f"{STATUS}/{parked}", headers=auditor.headers)
    assert one.status_code == 200, one.text
    assert_valid(single, one.json())
    [status] = one.json()["vehicles_status"]
    assert status["last_event"] == events[0]
    assert status["provider_id"] == str(gateway.provider_id)
    assert (await client.get(f"{STATUS}/{riding}", headers=admin.headers)).status_code == 200
    hidden = await client.get(f"{STATUS}/{riding}", headers=auditor.headers)
    unknown_id = str(uuid.uuid4())
    unknown = await client.get(f"{STATUS}/{unknown_id}", headers=auditor.headers)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error_description"].replace(riding, "<id>") == unknown.json()[
        "error_description"
    ].replace(unknown_id, "<id>")
    for device, who in ((long_removed, admin), (theirs, manager)):
        assert (await client.get(f"{STATUS}/{device}", headers=who.headers)).status_code == 404

    narrowed = await client.get(
        STATUS, headers=auditor.headers, params={"provider_id": str(other.provider_id)}
    )
    assert shown(narrowed.json()) == {theirs}
    entries = await pulls(client, tenant, "mds_provider.vehicles_status")
    assert (entries[0]["key_id"], entries[0]["rows"]) == (auditor.key_id, 1)


async def test_status_pages_merge_providers_in_device_order(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateways = [await tenant(), await tenant(), await tenant()]
    mine: list[str] = []
    for gateway in gateways:
        devices = await register(client, gateway, 3)
        await post(client, gateway, "events", [event(gateway, d) for d in devices])
        await post(client, gateway, "telemetry", [point(gateway, d) for d in devices])
        mine += devices
    auditor = await tenant(Role.CITY_AUDITOR)
    walked = await walk(client, f"{STATUS}?limit=2", auditor.headers, "vehicles_status")
    ids = [s["device_id"] for s in walked]
    assert len(ids) == len(set(ids))
    assert [d for d in ids if d in mine] == sorted(mine)


async def test_gateways_may_not_read_provider_feeds(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    for path in (VEHICLES, STATUS, f"{RECENT}?start_time=1&end_time=2"):
        response = await client.get(path, headers=gateway.headers)
        assert response.status_code == 403, path
