"""POST /mds/agency/trips: per-mode validation, all or nothing, idempotency, merging."""

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode
from fleet.trips.models import Trip
from tests.conftest import Tenant, TenantFactory
from tests.mds_schemas import assert_valid, model_validator
from tests.payloads import at_run_time, event, ms_from_now, now_ms, register, trip
from tests.rows import trip_row

TRIPS = "/mds/agency/trips"
POD_ATTRIBUTES = {
    "hail_type": "phone_dispatch",
    "passenger_count": 2,
    "requested_time": 1_790_000_000_000,
    "quoted_trip_start_time": 1_790_000_060_000,
}


async def count(session: AsyncSession, tenant: Tenant) -> int:
    query = select(func.count()).where(Trip.provider_id == tenant.provider_id)
    return int((await session.execute(query)).scalar_one())


async def test_micromobility_trips_are_stored_once_and_valid(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    record = trip(gateway, device, trip_type=["rider"], parking_category="rack")
    assert_valid(model_validator("models/trip.yaml", "micromobility"), record)
    for _ in range(2):
        response = await client.post(TRIPS, headers=gateway.headers, json=[record])
        assert response.status_code == 201, response.text
    assert await count(session, gateway) == 1
    row = await trip_row(session, record["trip_id"])
    assert (row.status, row.distance_m, row.duration_s, row.parking_category) == (
        "closed",
        1400,
        600,
        "rack",
    )
    assert row.details["agency"] == record


async def test_pod_trips_carry_journeys_and_passengers(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    pods = await tenant(mode=Mode.PASSENGER_SERVICES)
    [device] = await register(client, pods, vehicle_type="other")
    record = trip(
        pods,
        device,
        journey_id=str(uuid.uuid4()),
        trip_type=["shared"],
        trip_attributes=POD_ATTRIBUTES,
        fare_attributes={"payment_type": "account_number", "fare_type": "meter_fare"},
    )
    response = await client.post(TRIPS, headers=pods.headers, json=[record])
    assert response.status_code == 201, response.text
    assert await count(session, pods) == 1


async def test_goods_pods_carry_their_payload(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    pods = await tenant(mode=Mode.DELIVERY_ROBOTS)
    [device] = await register(client, pods, vehicle_type="delivery_robot")
    record = trip(
        pods,
        device,
        journey_id=str(uuid.uuid4()),
        trip_type=["delivery"],
        trip_attributes={"driver_type": "autonomous", "has_payload": True, "pod_bay": 2},
        fare_attributes={"payment_type": "mobile_app", "price": 4500},
        currency="SEK",
    )
    assert_valid(model_validator("models/trip.yaml", "delivery-robots"), record)
    response = await client.post(TRIPS, headers=pods.headers, json=[record])
    assert response.status_code == 201, response.text
    row = await trip_row(session, record["trip_id"])
    assert row.details["agency"]["trip_attributes"]["has_payload"] is True


@pytest.mark.parametrize(
    ("mode", "change", "error", "field"),
    [
        (Mode.PASSENGER_SERVICES, {}, "missing_param", "trip_type"),
        (
            Mode.PASSENGER_SERVICES,
            {"trip_type": ["rider"], "trip_attributes": POD_ATTRIBUTES},
            "bad_param",
            "trip_type",
        ),
        (
            Mode.PASSENGER_SERVICES,
            {"trip_type": ["shared"], "trip_attributes": {"hail_type": "x"}},
            "missing_param",
            "trip_attributes.passenger_count",
        ),
        (
            Mode.PASSENGER_SERVICES,
            {"trip_type": ["shared"], "trip_attributes": POD_ATTRIBUTES | {"passenger_count": -2}},
            "bad_param",
            "trip_attributes.passenger_count",
        ),
        (
            Mode.PASSENGER_SERVICES,
            {
                "trip_type": ["shared"],
                "trip_attributes": POD_ATTRIBUTES,
                "fare_attributes": {"payment_type": "gold", "fare_type": "flat_rate"},
            },
            "bad_param",
            "fare_attributes.payment_type",
        ),
        (
            Mode.PASSENGER_SERVICES,
            {
                "trip_type": ["shared"],
                "trip_attributes": POD_ATTRIBUTES,
                "fare_attributes": {"payment_type": "cash"},
            },
            "missing_param",
            "fare_attributes.fare_type",
        ),
        (
            Mode.PASSENGER_SERVICES,
            {
                "trip_type": ["shared"],
                "trip_attributes": POD_ATTRIBUTES,
                "journey_attributes": {"shift_id": "not-a-uuid"},
            },
            "bad_param",
            "journey_attributes.shift_id",
        ),
        (
            Mode.DELIVERY_ROBOTS,
            {"trip_type": ["delivery"], "trip_attributes": {"driver_type": "robot"}},
            "bad_param",
            "trip_attributes.driver_type",
        ),
        (
            Mode.DELIVERY_ROBOTS,
            {
                "trip_type": ["delivery"],
                "trip_attributes": {"driver_type": "autonomous", "has_payload": "yes"},
            },
            "bad_param",
            "trip_attributes.has_payload",
        ),
        (Mode.MICROMOBILITY, {"journey_id": "not-a-uuid"}, "bad_param", "journey_id"),
        (Mode.MICROMOBILITY, {"trip_type": ["rider", "rebalance"]}, "bad_param", "trip_type"),
        (
            Mode.MICROMOBILITY,
            {"end_time": 1_600_000_000_000, "start_time": 1_600_000_100_000},
            "bad_param",
            "end_time",
        ),
        (Mode.MICROMOBILITY, {"distance": -1}, "bad_param", "distance"),
        (Mode.MICROMOBILITY, {"duration": 1.5}, "bad_param", "duration"),
        (Mode.MICROMOBILITY, {"parking_category": "sidewalk"}, "bad_param", "parking_category"),
        (Mode.MICROMOBILITY, {"provider_id": str(uuid.uuid4())}, "bad_param", "provider_id"),
        (Mode.MICROMOBILITY, {"colour": "r\u0000ed"}, "bad_param", "colour"),
        (Mode.MICROMOBILITY, {"standard_cost": -1}, "bad_param", "standard_cost"),
        (Mode.MICROMOBILITY, {"end_time": ms_from_now(3_600_000)}, "bad_param", "end_time"),
    ],
)
async def test_bad_trips_are_rejected_naming_the_field(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    mode: Mode,
    change: dict[str, Any],
    error: str,
    field: str,
) -> None:
    gateway = await tenant(mode=mode)
    [device] = await register(client, gateway)
    good = trip(gateway, device, trip_type=["rider"]) if mode is Mode.MICROMOBILITY else None
    bad = trip(gateway, device, **at_run_time(change))
    response = await client.post(TRIPS, headers=gateway.headers, json=[x for x in (good, bad) if x])
    assert response.status_code == 400, response.text
    failures = response.json()["failures"]
    assert any(f["error"] == error and field in f["error_details"] for f in failures), failures
    assert await count(session, gateway) == 0


async def test_unregistered_devices_and_repeated_trip_ids(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway, other = await tenant(), await tenant()
    [mine] = await register(client, gateway)
    [theirs] = await register(client, other)
    response = await client.post(
        TRIPS, headers=gateway.headers, json=[trip(gateway, mine), trip(gateway, theirs)]
    )
    assert response.status_code == 404
    assert response.json()["failures"][0]["error"] == "unregistered"
    twice = trip(gateway, mine)
    response = await client.post(TRIPS, headers=gateway.headers, json=[twice, dict(twice)])
    assert response.status_code == 400
    assert response.json()["failures"][0]["error_details"] == ["trip_id"]
    assert await count(session, gateway) == 0


async def test_a_trip_known_from_events_keeps_its_measurement_beside_the_claim(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    t = now_ms() - 300_000
    start = event(
        gateway,
        device,
        timestamp=t,
        vehicle_state="on_trip",
        event_types=["trip_start"],
        trip_ids=[trip_id],
    )
    end = event(
        gateway,
        device,
        timestamp=t + 60_000,
        vehicle_state="available",
        event_types=["trip_end"],
        trip_ids=[trip_id],
    )
    assert (
        await client.post("/mds/agency/events", headers=gateway.headers, json=[start, end])
    ).status_code == 201
    record = trip(
        gateway,
        device,
        trip_id=trip_id,
        start_time=t,
        end_time=t + 60_000,
        duration=60,
        distance=99_999,
    )
    assert (await client.post(TRIPS, headers=gateway.headers, json=[record])).status_code == 201
    row = await trip_row(session, trip_id)
    await session.refresh(row)
    # The city is given the operator's claim; fleetbed's measurement (no telemetry, no
    # located ends: nothing) stays beside it, and the gap between them is flagged.
    assert (row.distance_m, row.measured_distance_m, row.operator_distance_m) == (99_999, 0, 99_999)
    assert row.discrepancies == ["distance"]
    assert row.details["agency"]["distance"] == 99_999
