"""Fleetbed's measurement of a trip from stored telemetry, and the city's figures from it."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import sql_ms, to_ms
from fleet.trips.figures import Figures, city_figures, discrepancies
from fleet.trips.models import Trip
from fleet.trips.route import Fix, Route, RouteLimits, measure_route
from telemetry.quality import known

# (lat, lng, when, device_id) -> MDS parking_category of a trip ending there.
ParkingCheck = Callable[[float, float, datetime, str], str]

_ROUTE = text(
    f"""
    SELECT {sql_ms("recorded_at")} AS ts_ms,
           lat, lng, horizontal_accuracy
    FROM telemetry
    WHERE provider_id = :provider_id AND device_id = :device_id
      AND recorded_at BETWEEN :start AND :end
    ORDER BY recorded_at
    """  # noqa: S608 (constants only)
)


async def route_of(session: AsyncSession, *, trip: Trip, limits: RouteLimits) -> tuple[Route, int]:
    """The trip's route along its stored telemetry and located ends, and how many
    telemetry points lay in its span."""
    assert trip.start_at is not None
    assert trip.end_at is not None
    rows = await session.execute(
        _ROUTE,
        {
            "provider_id": trip.provider_id,
            "device_id": trip.device_id,
            "start": trip.start_at,
            "end": trip.end_at,
        },
    )
    fixes = [Fix(r.ts_ms, r.lat, r.lng, known(r.horizontal_accuracy)) for r in rows]
    ends = [
        Fix(to_ms(t), lat, lng)
        for t, lat, lng in (
            (trip.start_at, trip.start_lat, trip.start_lng),
            (trip.end_at, trip.end_lat, trip.end_lng),
        )
        if lat is not None and lng is not None
    ]
    return measure_route(fixes + ends, limits), len(fixes)


def record_measurement(trip: Trip, route: Route) -> None:
    """Take `route` as fleetbed's measurement of the trip's distance."""
    trip.measured_distance_m = round(route.distance_m)
    trip.measured_route_points = len(route.points)
    trip.measured_has_gaps = route.has_gaps


def record_late_measurement(trip: Trip, route: Route, at: datetime) -> None:
    """Keep `route` beside the figures the city was given, which stay."""
    trip.late_distance_m = round(route.distance_m)
    trip.late_route_points = len(route.points)
    trip.late_has_gaps = route.has_gaps
    trip.late_measured_at = at


async def measure_trip(
    session: AsyncSession,
    *,
    trip: Trip,
    parking: ParkingCheck,
    limits: RouteLimits,
    telemetry_required: bool,
) -> None:
    """Fleetbed's measurement of a trip with both times known: duration from its times,
    parking from the zones at its end, distance along its stored telemetry and located
    ends (left unknown without telemetry when `telemetry_required`)."""
    assert trip.start_at is not None
    assert trip.end_at is not None
    trip.measured_duration_s = max(0, round((trip.end_at - trip.start_at).total_seconds()))
    if trip.end_lat is not None and trip.end_lng is not None:
        trip.measured_parking_category = parking(
            trip.end_lat, trip.end_lng, trip.end_at, str(trip.device_id)
        )
    route, points = await route_of(session, trip=trip, limits=limits)
    if points or not telemetry_required:
        record_measurement(trip, route)


def refresh_figures(trip: Trip, share: float) -> None:
    """Set the city's figures and the discrepancies from the operator's and measured ones."""
    operator = Figures(
        trip.operator_duration_s, trip.operator_distance_m, trip.operator_parking_category
    )
    measured = Figures(
        trip.measured_duration_s, trip.measured_distance_m, trip.measured_parking_category
    )
    city = city_figures(operator, measured)
    trip.duration_s, trip.distance_m = city.duration_s, city.distance_m
    trip.parking_category = city.parking_category
    trip.discrepancies = discrepancies(operator, measured, share)
