"""The operator's trip figures are the city's; fleetbed's measurement sits beside them,
and trips whose two figures disagree beyond the configured share are flagged."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.main import create_app
from app.settings import TripSettings
from fleet.trips.models import Trip
from tests.conftest import Tenant, TenantFactory, bound_to, make_settings
from tests.mds_schemas import assert_valid, response_validator
from tests.payloads import now_ms, post, register, trip
from tests.rides import ride
from tests.rows import trip_row
from tests.zones import disc, publish


def claim(
    gateway: Tenant, device: str, trip_id: str, events: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    """The operator's MDS Trip for the ride the events describe; `fields` override."""
    start, end = events
    record = trip(
        gateway,
        device,
        trip_id=trip_id,
        trip_type=["rider"],
        start_time=start["timestamp"],
        end_time=end["timestamp"],
        start_location=start["location"],
        end_location=end["location"],
        duration=(end["timestamp"] - start["timestamp"]) // 1000,
    )
    record.update(fields)
    return record


async def fresh(session: AsyncSession, trip_id: str) -> Trip:
    row = await trip_row(session, trip_id)
    await session.refresh(row)
    return row


async def measured_then_claimed(
    client: AsyncClient, gateway: Tenant, t: int, **fields: Any
) -> tuple[str, float]:
    """A ride measured from events and telemetry, then posted by its operator."""
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    points, events, length = ride(gateway, device, trip_id, t, 10)
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", events)
    distance = fields.pop("distance", round(length))
    await post(
        client, gateway, "trips", [claim(gateway, device, trip_id, events, distance=distance)]
    )
    return trip_id, length


async def test_a_distance_beyond_the_share_is_flagged_and_the_operators_is_served(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    auditor = await tenant(Role.CITY_AUDITOR)
    hour = datetime.now(UTC).replace(minute=10, second=0, microsecond=0) - timedelta(hours=3)
    t = int(hour.timestamp() * 1000)
    trip_id, length = await measured_then_claimed(client, gateway, t, distance=2_000)
    row = await fresh(session, trip_id)
    assert (row.distance_m, row.operator_distance_m) == (2_000, 2_000)
    assert row.measured_distance_m == round(length)
    assert row.discrepancies == ["distance"]

    response = await client.get(
        "/mds/provider/trips",
        headers=auditor.headers,
        params={"end_time": hour.strftime("%Y-%m-%dT%H")},
    )
    assert response.status_code == 200, response.text
    assert_valid(response_validator("provider", "/trips", "get", 200), response.json())
    [served] = [t for t in response.json()["trips"] if t["trip_id"] == trip_id]
    assert served["distance"] == 2_000
    assert served["duration"] == 100
    assert served["fleetbed"] == {
        "measured": {
            "duration": 100,
            "distance": round(length),
            "parking_category": "other_valid",
            "route_points": row.measured_route_points,
            "has_gaps": False,
        },
        "late_measurement": None,
        "discrepancies": ["distance"],
        "flagged": True,
    }


@pytest.mark.parametrize(("factor", "flagged"), [(1.3, False), (1.34, True)])
async def test_the_share_is_of_the_larger_figure(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    factor: float,
    flagged: bool,
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    points, events, length = ride(gateway, device, trip_id, now_ms() - 200_000, 10)
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "events", events)
    # 1.3 times the measured distance differs by 23 % of the claim, 1.34 times by 25.4 %.
    record = claim(gateway, device, trip_id, events, distance=round(length * factor))
    await post(client, gateway, "trips", [record])
    assert (await fresh(session, trip_id)).discrepancies == (["distance"] if flagged else [])


async def test_a_claimed_duration_far_from_the_events_is_flagged(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    _, events, length = ride(gateway, device, trip_id, now_ms() - 200_000, 10)
    await post(client, gateway, "events", events)
    record = claim(gateway, device, trip_id, events, duration=300, distance=round(length))
    await post(client, gateway, "trips", [record])
    row = await fresh(session, trip_id)
    assert (row.duration_s, row.measured_duration_s) == (300, 100)
    assert row.discrepancies == ["duration"]


async def test_a_trip_posted_alone_is_measured_from_telemetry_already_stored(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    points, events, length = ride(gateway, device, trip_id, now_ms() - 200_000, 10)
    await post(client, gateway, "telemetry", points)
    await post(client, gateway, "trips", [claim(gateway, device, trip_id, events, distance=999)])
    row = await fresh(session, trip_id)
    assert (row.distance_m, row.measured_distance_m) == (999, round(length))
    assert row.measured_duration_s == 100
    assert row.discrepancies == ["distance"]


async def test_a_trip_posted_alone_is_measured_when_its_telemetry_comes_later(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    points, events, length = ride(gateway, device, trip_id, now_ms() - 200_000, 10)
    await post(client, gateway, "trips", [claim(gateway, device, trip_id, events, distance=999)])
    before = await fresh(session, trip_id)
    assert (before.distance_m, before.measured_distance_m, before.discrepancies) == (999, None, [])
    await post(client, gateway, "telemetry", points)
    row = await fresh(session, trip_id)
    assert (row.distance_m, row.measured_distance_m) == (999, round(length))
    assert row.discrepancies == ["distance"]


async def test_parking_the_zones_call_invalid_is_flagged(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip_id = str(uuid.uuid4())
    _, events, length = ride(gateway, device, trip_id, now_ms() + 2_000, 3)
    end = events[1]["location"]
    centre = (end["lat"], end["lng"])
    await publish(
        client, planner, kind="no_parking", max_speed_kph=None, geometry=disc(60, centre=centre)
    )
    record = claim(
        gateway, device, trip_id, events, distance=round(length), parking_category="rack"
    )
    await post(client, gateway, "trips", [record])
    row = await fresh(session, trip_id)
    assert (row.parking_category, row.measured_parking_category) == ("rack", "invalid")
    assert row.discrepancies == ["parking_category"]


@pytest.fixture
async def lenient_app(connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """An app that lets the two figures differ by up to 60 %."""
    app = create_app(make_settings(trips=TripSettings(discrepancy_share=0.6)))
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            yield app


async def test_the_share_setting_is_honoured(
    tenant: TenantFactory, session: AsyncSession, lenient_app: FastAPI
) -> None:
    gateway = await tenant()
    async with AsyncClient(transport=ASGITransport(app=lenient_app), base_url="http://t") as http:
        trip_id, _ = await measured_then_claimed(http, gateway, now_ms() - 200_000, distance=900)
    row = await fresh(session, trip_id)
    assert row.measured_distance_m is not None
    assert 0.25 < 1 - row.measured_distance_m / 900 < 0.6  # flagged by the default share
    assert row.discrepancies == []
