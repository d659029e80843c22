"""Telemetry that arrives after its trip closed re-measures the trip until its end hour
is served as settled; afterwards the city's figure stays and the late one sits beside it."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.core.auth import Role
from app.core.mstime import to_ms
from fleet.trips.late_telemetry import LateTelemetry, trips_holding
from fleet.trips.models import Trip
from tests.conftest import Tenant, TenantFactory
from tests.payloads import now_ms, post, register
from tests.rides import STEP, ride_along
from tests.rows import add_trip, trip_row

CORNER = (56.0465, 12.6945)
EAST_STEP = STEP / math.cos(math.radians(CORNER[0]))  # about 44 m of longitude here
LEG = 12  # fixes north, then as many east: about 1,070 m; the cut corner about 750 m


def corner_ride(gateway: Tenant, device: str, trip: str, t: int) -> dict[str, Any]:
    """A ride north, then east, one fix every 10 s: its events, its points, its length."""
    path = [(CORNER[0] + STEP * i, CORNER[1]) for i in range(LEG + 1)]
    path += [(path[-1][0], CORNER[1] + EAST_STEP * i) for i in range(1, LEG + 1)]
    points, events, length = ride_along(gateway, device, trip, t, path)
    return {
        "events": events,
        "points": points,
        # The gateway's late batch: the fixes around the corner.
        "early": points[:3] + points[-3:],
        "late": points[3:-3],
        "length": length,
    }


async def fresh(session: AsyncSession, trip: str) -> Trip:
    row = await trip_row(session, trip)
    await session.refresh(row)
    return row


def hour_ago(hours: int) -> int:
    """A time `hours` whole hours before this hour began, in ms (its hour settled long ago)."""
    start = datetime.now(UTC).replace(minute=5, second=0, microsecond=0)
    return to_ms(start - timedelta(hours=hours))


async def test_telemetry_before_the_end_measures_the_whole_route(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    ride = corner_ride(gateway, device, trip, now_ms() - 400_000)
    await post(client, gateway, "telemetry", ride["points"])
    await post(client, gateway, "events", ride["events"])
    row = await fresh(session, trip)
    assert row.distance_m == row.measured_distance_m == round(ride["length"])
    assert row.late_measured_at is None


async def test_a_late_batch_re_measures_a_closed_trip(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    ride = corner_ride(gateway, device, trip, now_ms() - 400_000)
    await post(client, gateway, "telemetry", ride["early"])
    await post(client, gateway, "events", ride["events"])
    closed = await fresh(session, trip)
    cut, cut_points = closed.distance_m, closed.measured_route_points
    assert cut is not None
    assert cut < 0.8 * ride["length"]
    await post(client, gateway, "telemetry", ride["late"])
    row = await fresh(session, trip)
    assert row.distance_m == row.measured_distance_m == round(ride["length"])
    assert cut_points is not None
    assert row.measured_route_points == cut_points + len(ride["late"])
    assert row.late_measured_at is None
    assert row.discrepancies == []


async def test_a_late_batch_arriving_twice_changes_nothing_more(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    ride = corner_ride(gateway, device, trip, now_ms() - 400_000)
    await post(client, gateway, "events", ride["events"])
    await post(client, gateway, "telemetry", ride["points"])
    first = await fresh(session, trip)
    before = (first.distance_m, first.measured_route_points, first.measured_has_gaps)
    await post(client, gateway, "telemetry", ride["points"])
    again = await fresh(session, trip)
    assert (again.distance_m, again.measured_route_points, again.measured_has_gaps) == before
    assert again.distance_m == round(ride["length"])


async def test_a_batch_after_the_hour_settled_is_recorded_beside_the_city_figure(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    auditor = await tenant(Role.CITY_AUDITOR)
    [device] = await register(client, gateway)
    trip = str(uuid.uuid4())
    start = hour_ago(3)
    ride = corner_ride(gateway, device, trip, start)
    await post(client, gateway, "telemetry", ride["early"])
    await post(client, gateway, "events", ride["events"])
    closed = await fresh(session, trip)
    given, given_points = closed.distance_m, closed.measured_route_points
    assert given is not None
    assert given < 0.8 * ride["length"]
    assert given_points is not None
    await post(client, gateway, "telemetry", ride["late"])
    row = await fresh(session, trip)
    assert (row.distance_m, row.measured_distance_m) == (given, given)
    assert row.late_distance_m == round(ride["length"])
    assert row.late_route_points == given_points + len(ride["late"])
    assert row.measured_route_points == given_points
    assert row.late_measured_at is not None
    recorded = row.late_measured_at

    hour = datetime.fromtimestamp(start / 1000, UTC).strftime("%Y-%m-%dT%H")
    response = await client.get(
        "/mds/provider/trips", headers=auditor.headers, params={"end_time": hour}
    )
    assert response.status_code == 200, response.text
    [served] = [t for t in response.json()["trips"] if t["trip_id"] == trip]
    assert served["distance"] == given
    assert served["fleetbed"]["measured"]["distance"] == given
    assert served["fleetbed"]["late_measurement"]["distance"] == round(ride["length"])

    await post(client, gateway, "telemetry", ride["late"])  # the same batch once more
    assert (await fresh(session, trip)).late_measured_at == recorded


async def test_another_providers_telemetry_does_not_touch_the_trip(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway, other = await tenant(), await tenant()
    [device] = await register(client, gateway)
    await register(client, other, device_id=device)  # the same id in another fleet
    trip = str(uuid.uuid4())
    ride = corner_ride(gateway, device, trip, now_ms() - 400_000)
    await post(client, gateway, "telemetry", ride["early"])
    await post(client, gateway, "events", ride["events"])
    cut = (await fresh(session, trip)).distance_m
    theirs = [{**p, "provider_id": str(other.provider_id)} for p in ride["late"]]
    await post(client, other, "telemetry", theirs)
    assert (await fresh(session, trip)).distance_m == cut


async def test_a_failed_re_measure_is_counted_and_does_not_raise() -> None:
    failures: list[int] = []
    engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    late = LateTelemetry(
        lateness=timedelta(minutes=15), share=0.25, count_failure=lambda: failures.append(1)
    )
    try:
        done = await late.remeasure(async_sessionmaker(engine), trip_ids=[uuid.uuid4()])
    finally:
        await engine.dispose()
    assert (done, failures) == (0, [1])


async def test_the_points_a_closed_trip_holds_are_found_by_its_span(
    tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway, other = await tenant(), await tenant()
    provider = gateway.provider_id
    assert provider is not None
    device, elsewhere = uuid.uuid4(), uuid.uuid4()
    end_at = datetime(2026, 3, 2, 8, 10, tzinfo=UTC)
    closed = await add_trip(session, provider, device, end_at=end_at, duration_s=600)
    await add_trip(session, provider, device, end_at=end_at, status="open")
    # The same device id in another fleet has a trip of the same span: not ours.
    await add_trip(session, other.provider_id, device, end_at=end_at, duration_s=600)
    end = to_ms(end_at)
    start = end - 600_000

    async def holding(*points: tuple[uuid.UUID, int]) -> list[uuid.UUID]:
        asked = [(str(d), ts) for d, ts in points]
        return await trips_holding(session, provider_id=provider, points=asked)

    for inside in (start, start + 1, end - 1, end):
        assert await holding((device, inside)) == [closed.trip_id], inside
    assert await holding((device, start - 1), (device, end + 1), (elsewhere, start + 1)) == []
    # Several points in one span name the trip once.
    assert await holding((device, start + 1), (device, end - 1)) == [closed.trip_id]
    assert await holding() == []
