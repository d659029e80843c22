"""MDS Agency vehicle status: each vehicle's newest event and telemetry, tenancy, paging."""

import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from app.core.auth import Mode
from tests.conftest import Tenant, TenantFactory
from tests.mds_schemas import assert_valid, response_validator
from tests.payloads import event, now_ms, point, post, register

STATUS = "/mds/agency/vehicles/status"

# Per mode, an event into non_operational and one into available that need no trip_ids.
STATE_EVENTS: dict[Mode, tuple[list[str], list[str]]] = {
    Mode.MICROMOBILITY: (["battery_low"], ["battery_charged"]),
    Mode.DELIVERY_ROBOTS: (["service_end"], ["service_start"]),
    Mode.PASSENGER_SERVICES: (["service_end"], ["service_start"]),
    Mode.CAR_SHARE: (["service_end"], ["service_start"]),
}


def _up(tenant: Tenant) -> dict[str, Any]:
    """Fields of an event into `available` in the tenant's mode."""
    return {"vehicle_state": "available", "event_types": STATE_EVENTS[tenant.mode][1]}


async def give_status(
    client: AsyncClient, tenant: Tenant, devices: list[str]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Post three events and three points per device, out of order over two requests.

    Returns device_id → (newest event, newest point).
    """
    down, up = STATE_EVENTS[tenant.mode]
    now = now_ms()
    newest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    late_events: list[dict[str, Any]] = []
    late_points: list[dict[str, Any]] = []
    first_events: list[dict[str, Any]] = []
    first_points: list[dict[str, Any]] = []
    for device in devices:
        last_event = event(
            tenant, device, vehicle_state="available", event_types=up, timestamp=now - 100_000
        )
        last_point = point(tenant, device, timestamp=now - 60_000, battery_percent=55)
        first_events.append(last_event)
        first_points.append(last_point)
        for age in (400_000, 200_000):
            late_events.append(
                event(
                    tenant,
                    device,
                    vehicle_state="non_operational",
                    event_types=down,
                    timestamp=now - age,
                )
            )
            late_points.append(point(tenant, device, timestamp=now - age, battery_percent=90))
        newest[device] = (last_event, last_point)
    await post(client, tenant, "events", first_events)
    await post(client, tenant, "telemetry", first_points)
    await post(client, tenant, "events", late_events)
    await post(client, tenant, "telemetry", late_points)
    return newest


@pytest.mark.parametrize("mode", list(Mode))
async def test_status_is_the_newest_event_and_telemetry_of_each_vehicle(
    client: AsyncClient, tenant: TenantFactory, mode: Mode
) -> None:
    gateway = await tenant(mode=mode)
    other = await tenant(mode=mode)
    devices = await register(client, gateway, 3)
    expected = await give_status(client, gateway, devices)
    await give_status(client, other, await register(client, other))
    # Vehicles lacking an event, telemetry, or both have no status.
    only_event, only_point, neither = await register(client, gateway, 3)
    await post(client, gateway, "events", [event(gateway, only_event, **_up(gateway))])
    await post(client, gateway, "telemetry", [point(gateway, only_point)])

    listing = await client.get(STATUS, headers=gateway.headers)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert_valid(response_validator("agency", "/vehicles/status", "get", 200, mode.value), body)
    assert body["version"].startswith("2.0.")
    statuses = body["vehicles_status"]
    assert [s["device_id"] for s in statuses] == sorted(devices)
    for status in statuses:
        last_event, last_point = expected[status["device_id"]]
        assert status == {
            "device_id": status["device_id"],
            "provider_id": str(gateway.provider_id),
            "last_event": last_event,
            "last_telemetry": last_point,
        }

    single_route = response_validator(
        "agency", "/vehicles/status/{device_id}", "get", 200, mode.value
    )
    for status in statuses:
        one = await client.get(f"{STATUS}/{status['device_id']}", headers=gateway.headers)
        assert one.status_code == 200, one.text
        assert_valid(single_route, one.json())
        assert one.json()["vehicles_status"] == [status]

    for device in (only_event, only_point, neither):
        missing = await client.get(f"{STATUS}/{device}", headers=gateway.headers)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"


async def test_a_newer_event_replaces_the_status(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    await give_status(client, gateway, [device])
    newer = event(
        gateway,
        device,
        vehicle_state="non_operational",
        event_types=["maintenance"],
        timestamp=now_ms() - 1000,
    )
    await post(client, gateway, "events", [newer])
    status = (await client.get(f"{STATUS}/{device}", headers=gateway.headers)).json()
    assert status["vehicles_status"][0]["last_event"] == newer


async def test_another_providers_vehicle_is_404_like_an_unknown_one(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    other = await tenant()
    [theirs] = await register(client, other)
    await give_status(client, other, [theirs])
    assert (await client.get(f"{STATUS}/{theirs}", headers=other.headers)).status_code == 200

    foreign = await client.get(f"{STATUS}/{theirs}", headers=gateway.headers)
    unknown_id = str(uuid.uuid4())
    unknown = await client.get(f"{STATUS}/{unknown_id}", headers=gateway.headers)
    assert foreign.status_code == unknown.status_code == 404

    def masked(body: dict[str, Any], device: str) -> dict[str, Any]:
        return {
            "error": body["error"],
            "error_description": body["error_description"].replace(device, "<id>"),
            "error_details": [d.replace(device, "<id>") for d in body["error_details"]],
        }

    assert foreign.json().keys() == unknown.json().keys()
    assert masked(foreign.json(), theirs) == masked(unknown.json(), unknown_id)
    listing = (await client.get(STATUS, headers=gateway.headers)).json()
    assert listing["vehicles_status"] == []


async def test_device_id_must_be_a_lowercase_uuid(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    await give_status(client, gateway, [device])
    response = await client.get(f"{STATUS}/{device.upper()}", headers=gateway.headers)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_param"
    assert response.json()["error_details"] == ["device_id"]


async def test_pagination_walks_every_vehicle_with_a_status_exactly_once(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 5)
    await give_status(client, gateway, devices)
    await register(client, gateway, 2)  # no status: never listed
    seen: list[str] = []
    url: str | None = f"{STATUS}?limit=2"
    pages = 0
    while url:
        page = await client.get(url, headers=gateway.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert_valid(response_validator("agency", "/vehicles/status", "get", 200), body)
        assert 1 <= len(body["vehicles_status"]) <= 2
        seen.extend(s["device_id"] for s in body["vehicles_status"])
        url = body["links"]["next"]
        pages += 1
        assert pages <= 3
    assert pages == 3
    assert seen == sorted(devices)


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "after=nope"])
async def test_bad_paging_parameters_are_400(
    client: AsyncClient, tenant: TenantFactory, query: str
) -> None:
    gateway = await tenant()
    response = await client.get(f"{STATUS}?{query}", headers=gateway.headers)
    assert response.status_code == 400
    assert response.json()["error_details"] == [query.split("=")[0]]
