"""Telemetry that arrives after its trip closed re-measures the trip.

Gateways send batches late, so a trip closed by its end event may lack points of its
span. While a batch is stored, one query finds the closed trips whose span holds one of
its points (almost always none: live points come after their trip's end); after the
batch is committed those trips are locked and measured again from all stored telemetry.
Until the trip's end hour is served as settled the new measurement replaces fleetbed's
figure (and the city's, where the operator gave none); afterwards the city keeps what it
was given and the measurement is recorded beside it.
"""

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.mstime import sql_from_ms
from fleet.trips.measure import (
    record_late_measurement,
    record_measurement,
    refresh_figures,
    route_of,
)
from fleet.trips.models import Trip
from fleet.trips.route import RouteLimits
from fleet.trips.settling import end_hour_settled

log = logging.getLogger(__name__)

_POINT_AT = sql_from_ms("q.ts_ms")
# One index probe per point (ix_trips_closed_device_end): closed trips of the device
# that end at or after the point and started at or before it.
_HOLDING = text(
    f"""
    SELECT DISTINCT t.trip_id
    FROM unnest(CAST(string_to_array(:devices, ',') AS uuid[]),
                CAST(string_to_array(:times, ',') AS bigint[])) AS q(device_id, ts_ms)
    JOIN trips t ON t.provider_id = :provider_id AND t.device_id = q.device_id
    WHERE t.status = 'closed' AND t.end_at >= {_POINT_AT} AND t.start_at <= {_POINT_AT}
    """  # noqa: S608 (constants only)
)


async def trips_holding(
    session: AsyncSession, *, provider_id: uuid.UUID, points: Sequence[tuple[str, int]]
) -> list[uuid.UUID]:
    """The closed trips whose span holds one of the (device_id, timestamp ms) points."""
    if not points:
        return []
    # As text: asyncpg encodes a list element by element, several type checks each,
    # which cost more than the query itself for a batch of points.
    devices = ",".join(device for device, _ in points)
    times = ",".join(str(ts) for _, ts in points)
    found = await session.scalars(
        _HOLDING, {"provider_id": provider_id, "devices": devices, "times": times}
    )
    return list(found)


@dataclass
class LateTelemetry:
    """Re-measures closed trips after a telemetry batch is stored."""

    # How long after its end an hour is served as settled (the Provider API's setting).
    lateness: timedelta
    # How far the operator's and fleetbed's figures may differ unflagged.
    share: float
    # Told when a re-measure failed (the batch stays acknowledged: its points are stored).
    count_failure: Callable[[], None]
    limits: RouteLimits = field(default_factory=RouteLimits)

    async def remeasure(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, trip_ids: Sequence[uuid.UUID]
    ) -> int:
        """Re-measure the trips (found by `trips_holding`); returns how many. Never raises."""
        if not trip_ids:
            return 0
        try:
            async with sessionmaker.begin() as session:
                return await self._remeasure(session, trip_ids=trip_ids)
        except Exception:
            log.exception("re-measuring trips after late telemetry failed")
            self.count_failure()
            return 0

    async def _remeasure(self, session: AsyncSession, *, trip_ids: Sequence[uuid.UUID]) -> int:
        # Locked in trip order, so that two batches re-measuring the same trips wait
        # instead of deadlocking; a trip reopened meanwhile is left to its lifecycle.
        query = (
            select(Trip)
            .where(Trip.trip_id.in_(trip_ids), Trip.status == "closed")
            .order_by(Trip.trip_id)
            .with_for_update()
        )
        trips = (await session.scalars(query)).all()
        now = datetime.now(UTC)
        for trip in trips:
            assert trip.end_at is not None
            route, _ = await route_of(session, trip=trip, limits=self.limits)
            if end_hour_settled(trip.end_at, now, self.lateness):
                record_late_measurement(trip, route, now)
            else:
                record_measurement(trip, route)
                refresh_figures(trip, self.share)
        return len(trips)
