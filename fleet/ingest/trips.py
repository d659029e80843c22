"""POST /mds/agency/trips: the provider's own account of finished trips."""

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Mode
from app.core.mstime import from_ms
from fleet.ingest.common import PostedBatch, parse_or_reject, reject_unregistered
from fleet.ingest.rules import ZoneRules
from fleet.trips.measure import measure_trip, refresh_figures
from fleet.trips.models import Trip
from fleet.trips.route import RouteLimits
from fleet.trips.schema import Trip as MdsTrip
from fleet.trips.schema import trip_schema
from fleet.vehicles.directory import DeviceDirectory


def _row(provider_id: uuid.UUID, trip: MdsTrip) -> dict[str, object]:
    return {
        "trip_id": uuid.UUID(trip["trip_id"]),
        "provider_id": provider_id,
        "device_id": uuid.UUID(trip["device_id"]),
        "status": "closed",
        "start_at": from_ms(trip["start_time"]),
        "start_lat": trip["start_location"]["lat"],
        "start_lng": trip["start_location"]["lng"],
        "end_at": from_ms(trip["end_time"]),
        "end_lat": trip["end_location"]["lat"],
        "end_lng": trip["end_location"]["lng"],
        "operator_duration_s": trip["duration"],
        "operator_distance_m": trip["distance"],
        "operator_parking_category": trip.get("parking_category"),
        "details": {"agency": dict(trip)},
    }


@dataclass
class TripIngest:
    """The trips pipeline."""

    directory: DeviceDirectory
    rules: ZoneRules
    # How far the operator's and fleetbed's figures may differ unflagged.
    discrepancy_share: float
    limits: RouteLimits = field(default_factory=RouteLimits)

    async def ingest(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        provider_id: uuid.UUID,
        mode: Mode,
        batch: PostedBatch,
    ) -> int:
        """Validate and store the operator's figures beside fleetbed's measurement; a trip
        already built from events keeps its ends and gains the provider's record
        (journey, attributes, fares)."""
        trips = parse_or_reject(batch, trip_schema(str(provider_id), mode))
        async with sessionmaker.begin() as session:
            infos = await self.directory.resolve(
                session, provider_id=provider_id, device_ids={t["device_id"] for t in trips}
            )
            reject_unregistered(trips, infos)
            statement = insert(Trip).values([_row(provider_id, t) for t in trips])
            keep = ("start_at", "start_lat", "start_lng", "end_at", "end_lat", "end_lng")
            changes: dict[str, object] = {
                name: func.coalesce(getattr(Trip, name), statement.excluded[name]) for name in keep
            }
            for name in ("operator_duration_s", "operator_distance_m", "operator_parking_category"):
                changes[name] = statement.excluded[name]
            changes["details"] = Trip.details.op("||")(statement.excluded.details)
            changes["status"] = "closed"
            changes["updated_at"] = func.now()
            # Trip ids are chosen by providers: one naming another's trip changes nothing.
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[Trip.trip_id],
                    set_=changes,
                    where=Trip.provider_id == statement.excluded.provider_id,
                )
            )
            stored = await session.scalars(
                select(Trip)
                .where(
                    Trip.provider_id == provider_id,
                    Trip.trip_id.in_([uuid.UUID(t["trip_id"]) for t in trips]),
                )
                .execution_options(populate_existing=True)
            )
            parking = self.rules.parking_check(provider_id, infos)
            for trip in stored.all():
                # Measured once; telemetry arriving later re-measures the distance.
                if trip.measured_duration_s is None:
                    await measure_trip(
                        session,
                        trip=trip,
                        parking=parking,
                        limits=self.limits,
                        telemetry_required=True,
                    )
                refresh_figures(trip, self.discrepancy_share)
        return len(trips)
