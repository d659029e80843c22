"""Trips with the city's, the operator's and fleetbed's figures: GET /v1/trips."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.auditor_reads import ReadsDep
from app.core.bounded import UtcDateTime
from app.paging import PageDep
from fleet.trips.models import Trip

router = APIRouter(prefix="/v1", tags=["trips"])


class Location(BaseModel):
    """Where a trip started or ended."""

    lat: float
    lng: float


class Figures(BaseModel):
    """A trip's duration, distance and parking category; null where unknown."""

    duration_s: int | None
    distance_m: int | None
    parking_category: str | None


class Measurement(Figures):
    """Fleetbed's measurement: the route's kept points and whether it had gaps, too."""

    route_points: int | None
    has_gaps: bool | None


class LateMeasurement(BaseModel):
    """A measurement made after the trip's end hour was served as settled."""

    distance_m: int | None
    route_points: int | None
    has_gaps: bool | None
    measured_at: datetime


class TripRead(BaseModel):
    """One trip: `city` holds the figures the city is given (the operator's where it
    reported them, else fleetbed's); `discrepancies` names those that disagree."""

    trip_id: uuid.UUID
    provider_id: uuid.UUID
    device_id: uuid.UUID
    status: str
    start_at: datetime | None
    end_at: datetime | None
    start_location: Location | None
    end_location: Location | None
    city: Figures
    operator: Figures
    measured: Measurement
    late_measurement: LateMeasurement | None
    discrepancies: list[str]
    flagged: bool


class PageLinks(BaseModel):
    """The first page, and the next one (null on the last)."""

    first: str
    next: str | None


class TripList(BaseModel):
    """A page of trips, by end time."""

    trips: list[TripRead]
    links: PageLinks


def _location(lat: float | None, lng: float | None) -> Location | None:
    return Location(lat=lat, lng=lng) if lat is not None and lng is not None else None


def trip_read(trip: Trip) -> TripRead:
    """A trip as read by /v1."""
    late = None
    if trip.late_measured_at is not None:
        late = LateMeasurement(
            distance_m=trip.late_distance_m,
            route_points=trip.late_route_points,
            has_gaps=trip.late_has_gaps,
            measured_at=trip.late_measured_at,
        )
    return TripRead(
        trip_id=trip.trip_id,
        provider_id=trip.provider_id,
        device_id=trip.device_id,
        status=trip.status,
        start_at=trip.start_at,
        end_at=trip.end_at,
        start_location=_location(trip.start_lat, trip.start_lng),
        end_location=_location(trip.end_lat, trip.end_lng),
        city=Figures(
            duration_s=trip.duration_s,
            distance_m=trip.distance_m,
            parking_category=trip.parking_category,
        ),
        operator=Figures(
            duration_s=trip.operator_duration_s,
            distance_m=trip.operator_distance_m,
            parking_category=trip.operator_parking_category,
        ),
        measured=Measurement(
            duration_s=trip.measured_duration_s,
            distance_m=trip.measured_distance_m,
            parking_category=trip.measured_parking_category,
            route_points=trip.measured_route_points,
            has_gaps=trip.measured_has_gaps,
        ),
        late_measurement=late,
        discrepancies=list(trip.discrepancies),
        flagged=bool(trip.discrepancies),
    )


@router.get(
    "/trips",
    operation_id="v1_list_trips",
    summary="Closed trips with both sets of figures, by end time",
    response_model=TripList,
)
async def trips(
    reads: ReadsDep,
    page: PageDep,
    flagged: Annotated[
        bool | None, Query(description="Only trips whose figures disagree (true) or agree")
    ] = None,
    device_id: Annotated[uuid.UUID | None, Query()] = None,
    provider_id: Annotated[uuid.UUID | None, Query(description="City-wide roles only")] = None,
    ended_from: Annotated[
        UtcDateTime | None, Query(description="RFC 3339 with offset, included")
    ] = None,
    ended_to: Annotated[
        UtcDateTime | None, Query(description="RFC 3339 with offset, excluded")
    ] = None,
) -> TripList:
    """Operators see their own trips, city-wide roles every provider's; audited."""
    found = await reads.trips(
        provider_id,
        device_id=device_id,
        flagged=flagged,
        ended_from=ended_from,
        ended_to=ended_to,
        limit=page.size,
        after=page.after,
    )
    return TripList(
        trips=[trip_read(t) for t in found.trips],
        links=PageLinks.model_validate(page.links(found.next_after)),
    )


@router.get(
    "/trips/{trip_id}",
    operation_id="v1_get_trip",
    summary="One trip with both sets of figures",
    response_model=TripRead,
)
async def trip(reads: ReadsDep, trip_id: uuid.UUID) -> TripRead:
    """404 alike for unknown trips and other providers' trips; audited."""
    return trip_read(await reads.trip(trip_id))
