"""MDS Provider data by hour: trips that ended, events that occurred, telemetry recorded."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mds_types import unknown_fields
from app.core.mstime import sql_ms, to_ms
from fleet.reporting.hours import HOUR
from fleet.trips.models import Trip, reported
from fleet.trips.schema import TRIP_FIELDS
from telemetry.records import telemetry_record

# The provider's own record adds these to the trip's figures.
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


def _measured(trip: Trip) -> dict[str, Any]:
    return {
        "duration": trip.measured_duration_s,
        "distance": trip.measured_distance_m,
        "parking_category": trip.measured_parking_category,
        "route_points": trip.measured_route_points,
        "has_gaps": trip.measured_has_gaps,
    }


def _late(trip: Trip) -> dict[str, Any] | None:
    if trip.late_measured_at is None:
        return None
    return {
        "distance": trip.late_distance_m,
        "route_points": trip.late_route_points,
        "has_gaps": trip.late_has_gaps,
        "measured_at": to_ms(trip.late_measured_at),
    }


def fleetbed_figures(trip: Trip) -> dict[str, Any]:
    """Fleetbed's own measurement of a trip beside the figures the city is given."""
    return {
        "measured": _measured(trip),
        "late_measurement": _late(trip),
        "discrepancies": list(trip.discrepancies),
        "flagged": bool(trip.discrepancies),
    }


def mds_trip(trip: Trip) -> dict[str, Any]:
    """A closed trip as an MDS Trip: the operator's figures where given, else fleetbed's;
    the provider's extras and unknown fields; fleetbed's measurement in the `fleetbed`
    extension."""
    assert trip.start_at is not None
    assert trip.end_at is not None
    record: dict[str, Any] = {
        "provider_id": str(trip.provider_id),
        "device_id": str(trip.device_id),
        "trip_id": str(trip.trip_id),
        "start_time": to_ms(trip.start_at),
        "end_time": to_ms(trip.end_at),
        "start_location": {"lat": trip.start_lat, "lng": trip.start_lng},
        "end_location": {"lat": trip.end_lat, "lng": trip.end_lng},
        "duration": trip.duration_s or 0,
        "distance": trip.distance_m or 0,
    }
    if trip.parking_category:
        record["parking_category"] = trip.parking_category
    agency = trip.details.get("agency") or {}
    record.update({k: agency[k] for k in _FROM_AGENCY if k in agency})
    # Fields MDS does not define go back as the operator sent them; fleetbed's own
    # extension comes last, so that a field of that name cannot stand in for it.
    record.update(unknown_fields(agency, TRIP_FIELDS))
    record["fleetbed"] = fleetbed_figures(trip)
    return record


async def trips_ended_in(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, hour: datetime
) -> list[dict[str, Any]]:
    """Closed trips with an end time in [hour, hour + 1 h) and both ends located."""
    query = select(Trip).where(
        text(reported("trips")), Trip.end_at >= hour, Trip.end_at < hour + HOUR
    )
    if provider_ids is not None:
        query = query.where(Trip.provider_id.in_(provider_ids))
    rows = (await session.execute(query.order_by(Trip.end_at, Trip.trip_id))).scalars().all()
    return [mds_trip(t) for t in rows]


_EVENTS = text(
    """
    SELECT record FROM events
    WHERE occurred_at >= :start AND occurred_at < :end
      AND (CAST(:providers AS uuid[]) IS NULL OR provider_id = ANY(:providers))
    ORDER BY occurred_at, seq
    """
)

_TELEMETRY = text(
    f"""
    SELECT *, {sql_ms("recorded_at")} AS ts_ms FROM telemetry
    WHERE recorded_at >= :start AND recorded_at < :end
      AND (CAST(:providers AS uuid[]) IS NULL OR provider_id = ANY(:providers))
    ORDER BY recorded_at, device_id
    """  # noqa: S608 (constants only)
)


def _window(provider_ids: Sequence[uuid.UUID] | None, hour: datetime) -> dict[str, Any]:
    return {
        "start": hour,
        "end": hour + HOUR,
        "providers": list(provider_ids) if provider_ids is not None else None,
    }


async def events_in(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, hour: datetime
) -> list[dict[str, Any]]:
    """Events that occurred in [hour, hour + 1 h), as received."""
    rows = await session.execute(_EVENTS, _window(provider_ids, hour))
    return [record for (record,) in rows]


async def telemetry_in(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, hour: datetime
) -> list[dict[str, Any]]:
    """Telemetry recorded in [hour, hour + 1 h), as MDS Telemetry."""
    rows = await session.execute(_TELEMETRY, _window(provider_ids, hour))
    return [telemetry_record(dict(row._mapping)) for row in rows]
