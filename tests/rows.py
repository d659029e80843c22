"""Rows written and read straight in the database, for tests that arrange or inspect
what the API would store."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.events.models import VehicleEvent
from fleet.trips.models import Trip
from fleet.vehicles.models import Vehicle

ORIGIN = (56.04651, 12.69453)


DESTINATION = (56.05127, 12.70118)


async def add_vehicle(
    session: AsyncSession, provider_id: uuid.UUID | None, vehicle_type: str = "bicycle"
) -> uuid.UUID:
    """A registered vehicle of `provider_id`."""
    device_id = uuid.uuid4()
    session.add(
        Vehicle(
            device_id=device_id,
            provider_id=provider_id,
            vehicle_id=f"EXP-{device_id.hex[:6]}",
            vehicle_type=vehicle_type,
            record={},
        )
    )
    await session.flush()
    return device_id


async def add_trip(
    session: AsyncSession,
    provider_id: uuid.UUID | None,
    device_id: uuid.UUID,
    *,
    end_at: datetime,
    start: tuple[float, float] = ORIGIN,
    end: tuple[float, float] = DESTINATION,
    duration_s: int = 629,
    distance_m: int = 1849,
    status: str = "closed",
) -> Trip:
    """A trip written as the trip lifecycle leaves it."""
    trip = Trip(
        trip_id=uuid.uuid4(),
        provider_id=provider_id,
        device_id=device_id,
        status=status,
        start_at=end_at - timedelta(seconds=duration_s),
        start_lat=start[0],
        start_lng=start[1],
        end_at=end_at,
        end_lat=end[0],
        end_lng=end[1],
        duration_s=duration_s,
        distance_m=distance_m,
        parking_category="rack",
        details={},
    )
    session.add(trip)
    await session.flush()
    return trip


async def hourly_trips(
    session: AsyncSession,
    provider_id: uuid.UUID,
    device_id: uuid.UUID,
    *,
    start: tuple[float, float],
    end: tuple[float, float],
    hours: int,
    minutes: int = 10,
    distance_m: int = 2000,
) -> None:
    """One closed trip from `start` to `end` in each of the last `hours` hours, 20 minutes
    past the hour, written in one statement."""
    top = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for h in range(1, hours + 1):
        began = top - timedelta(hours=h, minutes=-20)
        rows.append(
            {
                "trip_id": uuid.uuid4(),
                "provider_id": provider_id,
                "device_id": device_id,
                "status": "closed",
                "start_at": began,
                "start_lat": start[0],
                "start_lng": start[1],
                "end_at": began + timedelta(minutes=minutes),
                "end_lat": end[0],
                "end_lng": end[1],
                "duration_s": minutes * 60,
                "distance_m": distance_m,
                "details": {},
            }
        )
    await session.execute(insert(Trip), rows)


async def add_event(
    session: AsyncSession,
    provider_id: uuid.UUID | None,
    device_id: uuid.UUID,
    *,
    at: datetime,
    state: str = "available",
    types: Sequence[str] = ("provider_drop_off",),
    trip_ids: Sequence[uuid.UUID] | None = None,
    location: tuple[float, float] | None = ORIGIN,
) -> VehicleEvent:
    """A stored event."""
    record: dict[str, Any] = {"device_id": str(device_id), "vehicle_state": state}
    if location is not None:
        record["location"] = {"lat": location[0], "lng": location[1]}
    stored = VehicleEvent(
        event_id=uuid.uuid4(),
        device_id=device_id,
        provider_id=provider_id,
        occurred_at=at,
        vehicle_state=state,
        event_types=list(types),
        trip_ids=list(trip_ids) if trip_ids is not None else None,
        record=record,
    )
    session.add(stored)
    await session.flush()
    return stored


async def trip_row(session: AsyncSession, trip: str) -> Trip:
    """The stored trip `trip`."""
    return (await session.execute(select(Trip).where(Trip.trip_id == uuid.UUID(trip)))).scalar_one()
