"""MDS Provider trips: closed trips that ended in an hour, as MDS Trip objects."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.reporting.hours import HOUR
from fleet.trips.models import Trip

# The provider's own record may add these to what fleetbed measured.
_FROM_AGENCY = (
    "data_provider_id",
    "journey_id",
    "journey_attributes",
    "trip_type",
    "trip_attributes",
    "fare_attributes",
    "accessibility_attributes",
    "parking_verification_url",
    "standard_cost",
    "actual_cost",
    "currency",
    "publication_time",
)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def mds_trip(trip: Trip) -> dict[str, Any]:
    """A closed trip as an MDS Trip: fleetbed's measurements, the provider's extras."""
    assert trip.start_at is not None
    assert trip.end_at is not None
    record: dict[str, Any] = {
        "provider_id": str(trip.provider_id),
        "device_id": str(trip.device_id),
        "trip_id": str(trip.trip_id),
        "start_time": _ms(trip.start_at),
        "end_time": _ms(trip.end_at),
        "start_location": {"lat": trip.start_lat, "lng": trip.start_lng},
        "end_location": {"lat": trip.end_lat, "lng": trip.end_lng},
        "duration": trip.duration_s or 0,
        "distance": trip.distance_m or 0,
    }
    if trip.parking_category:
        record["parking_category"] = trip.parking_category
    agency = trip.details.get("agency") or {}
    record.update({k: agency[k] for k in _FROM_AGENCY if k in agency})
    return record


async def trips_ended_in(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, hour: datetime
) -> list[dict[str, Any]]:
    """Closed trips with an end time in [hour, hour + 1 h) and both ends located."""
    query = select(Trip).where(
        Trip.status == "closed",
        Trip.end_at >= hour,
        Trip.end_at < hour + HOUR,
        Trip.start_lat.is_not(None),
        Trip.end_lat.is_not(None),
    )
    if provider_ids is not None:
        query = query.where(Trip.provider_id.in_(provider_ids))
    rows = (await session.execute(query.order_by(Trip.end_at, Trip.trip_id))).scalars().all()
    return [mds_trip(t) for t in rows]
