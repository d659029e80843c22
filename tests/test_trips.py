"""Trips from events: opened, closed in any order, measured along telemetry, parked."""

import itertools
import uuid
from datetime import UTC, datetime

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.live.geo import haversine_m
from fleet.trips.lifecycle import close_abandoned
from tests.conftest import TenantFactory
from tests.payloads import event, now_ms, post, register
from tests.rides import ride
from tests.rows import trip_row
from tests.zones import disc, publish


async def test_a_trip_is_measured_along_its_telemetry(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    t = now_ms() - 200_000
    points, (start, end), length = ride(gateway, device, trip, t, 10)
    await post(client, gateway, "events", [start])
    assert (await trip_row(session, trip)).status == "open"
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", [end])
    row = await trip_row(session, trip)
    await session.refresh(row)
    assert row.status == "closed"
    assert row.duration_s == 100
    assert row.distance_m == round(length)
    assert row.provider_id == gateway.provider_id
    assert row.parking_category == "other_valid"
    assert not row.measured_has_gaps


async def test_an_end_before_its_start_closes_when_the_start_arrives(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    points, (start, end), length = ride(gateway, device, trip, now_ms() - 200_000, 5)
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", [end])
    assert (await trip_row(session, trip)).status == "ending"
    await post(client, gateway, "events", [start])
    row = await trip_row(session, trip)
    await session.refresh(row)
    assert row.status == "closed"
    assert row.distance_m == round(length)


async def test_a_cancelled_trip_is_not_measured(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    t = now_ms() - 100_000
    _, (start, _end), _ = ride(gateway, device, trip, t, 1)
    cancel = event(
        gateway,
        device,
        timestamp=t + 5_000,
        vehicle_state="available",
        event_types=["trip_cancel"],
        trip_ids=[trip],
    )
    await post(client, gateway, "events", [start, cancel])
    row = await trip_row(session, trip)
    assert row.status == "cancelled"
    assert row.distance_m is None


async def test_a_trip_ending_in_a_no_parking_zone_is_invalid_parking(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    t = now_ms() + 2_000  # after the zone took effect
    points, (start, end), _ = ride(gateway, device, trip, t, 3)
    end_location = end["location"]
    centre = (end_location["lat"], end_location["lng"])
    await publish(
        client, planner, kind="no_parking", max_speed_kph=None, geometry=disc(60, centre=centre)
    )
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", [start, end])
    assert (await trip_row(session, trip)).parking_category == "invalid"


async def test_replayed_events_do_not_touch_a_closed_trip(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    points, events, _ = ride(gateway, device, trip, now_ms() - 200_000, 4)
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", events)
    first = await trip_row(session, trip)
    measured = (first.distance_m, first.updated_at)
    await post(client, gateway, "events", events)
    again = await trip_row(session, trip)
    await session.refresh(again)
    assert (again.distance_m, again.updated_at) == measured


async def test_trips_without_an_end_are_abandoned_after_a_while(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    old_device, new_device = await register(client, gateway, 2)
    old_trip, new_trip = str(uuid.uuid4()), str(uuid.uuid4())
    hours = 3_600_000
    _, (old_start, _), _ = ride(gateway, old_device, old_trip, now_ms() - 7 * hours, 1)
    _, (new_start, _), _ = ride(gateway, new_device, new_trip, now_ms() - 1 * hours, 1)
    await post(client, gateway, "events", [old_start, new_start])
    closed = await close_abandoned(session, now=datetime.now(UTC), after_s=6 * 3600)
    assert closed == 1
    assert (await trip_row(session, old_trip)).status == "abandoned"
    assert (await trip_row(session, new_trip)).status == "open"


async def test_a_trip_through_the_city_is_measured_between_the_borders(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    t = now_ms() - 300_000
    points, (start, end), _ = ride(gateway, device, trip, t, 8)
    inside = points[2:7]
    enter = start | {
        "timestamp": inside[0]["timestamp"],
        "vehicle_state": "on_trip",
        "event_types": ["trip_enter_jurisdiction"],
        "location": inside[0]["location"],
    }
    leave = end | {
        "timestamp": inside[-1]["timestamp"],
        "vehicle_state": "elsewhere",
        "event_types": ["trip_leave_jurisdiction"],
        "location": inside[-1]["location"],
    }
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", [leave, enter])
    row = await trip_row(session, trip)
    await session.refresh(row)
    border = [(p["location"]["lat"], p["location"]["lng"]) for p in inside]
    assert row.status == "closed"
    assert row.distance_m == round(sum(haversine_m(*a, *b) for a, b in itertools.pairwise(border)))
    assert row.duration_s == 40
    assert (row.start_lat, row.end_lat) == (border[0][0], border[-1][0])
    assert row.details["jurisdiction"] == {
        "trip_enter_jurisdiction": True,
        "trip_leave_jurisdiction": True,
    }


async def test_a_trip_leaving_the_city_ends_at_the_border(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    points, (start, end), _ = ride(gateway, device, trip, now_ms() - 300_000, 6)
    leave = end | {
        "timestamp": points[3]["timestamp"],
        "vehicle_state": "elsewhere",
        "event_types": ["trip_leave_jurisdiction"],
        "location": points[3]["location"],
    }
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", [start, leave])
    row = await trip_row(session, trip)
    await session.refresh(row)
    assert (row.status, row.duration_s, row.end_lat) == ("closed", 30, points[3]["location"]["lat"])
    assert row.details["jurisdiction"] == {"trip_leave_jurisdiction": True}
