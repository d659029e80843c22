"""Telemetry that arrives after its trip closed re-measures the trip.

Gateways send batches late, so a trip closed by its end event may lack points of its
span. After a batch is stored, the closed trips whose span holds one of its points are
measured again from all stored telemetry. Until the trip's end hour is served as settled
the new measurement replaces fleetbed's figure (and the city's, where the operator gave
none); afterwards the city keeps what it was given and the measurement is recorded
beside it.
"""

import bisect
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.mstime import from_ms, to_ms
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

# Closed trips of the batch's devices overlapping each device's time range, locked in
# trip order so that two batches re-measuring the same trips wait instead of deadlocking.
_OVERLAPPING = text(
    """
    SELECT t.* FROM trips t
    JOIN unnest(CAST(:devices AS uuid[]), CAST(:firsts AS timestamptz[]),
                CAST(:lasts AS timestamptz[])) AS q(device_id, first_at, last_at)
      ON t.device_id = q.device_id
    WHERE t.provider_id = :provider_id AND t.status = 'closed'
      AND t.end_at >= q.first_at AND t.start_at <= q.last_at
    ORDER BY t.trip_id
    FOR UPDATE OF t
    """
)


def times_by_device(points: Iterable[tuple[str, int]]) -> dict[uuid.UUID, list[int]]:
    """The sorted timestamps (ms) of each device's (device_id, timestamp) points."""
    found: dict[uuid.UUID, list[int]] = {}
    for device_id, ts_ms in points:
        found.setdefault(uuid.UUID(device_id), []).append(ts_ms)
    return {device: sorted(times) for device, times in found.items()}


def holds_any(times: Sequence[int], start_ms: int, end_ms: int) -> bool:
    """Whether one of the sorted `times` lies in [start_ms, end_ms]."""
    i = bisect.bisect_left(times, start_ms)
    return i < len(times) and times[i] <= end_ms


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
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        provider_id: uuid.UUID,
        points: Mapping[uuid.UUID, Sequence[int]],
    ) -> int:
        """Re-measure the trips the points fall in; returns how many. Never raises."""
        if not points:
            return 0
        try:
            async with sessionmaker.begin() as session:
                return await self._remeasure(session, provider_id=provider_id, points=points)
        except Exception:
            log.exception("re-measuring trips after late telemetry failed")
            self.count_failure()
            return 0

    async def _remeasure(
        self,
        session: AsyncSession,
        *,
        provider_id: uuid.UUID,
        points: Mapping[uuid.UUID, Sequence[int]],
    ) -> int:
        devices = list(points)
        query = select(Trip).from_statement(_OVERLAPPING)
        candidates = await session.scalars(
            query,
            {
                "provider_id": provider_id,
                "devices": devices,
                "firsts": [from_ms(points[d][0]) for d in devices],
                "lasts": [from_ms(points[d][-1]) for d in devices],
            },
        )
        now = datetime.now(UTC)
        count = 0
        for trip in candidates.all():
            assert trip.start_at is not None
            assert trip.end_at is not None
            if not holds_any(points[trip.device_id], to_ms(trip.start_at), to_ms(trip.end_at)):
                continue
            route, _ = await route_of(session, trip=trip, limits=self.limits)
            if end_hour_settled(trip.end_at, now, self.lateness):
                record_late_measurement(trip, route, now)
            else:
                record_measurement(trip, route)
                refresh_figures(trip, self.share)
            count += 1
        return count
