"""POST /mds/agency/trips: the provider's own account of finished trips."""

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Mode
from app.core.mstime import from_ms
from fleet.ingest.common import PostedBatch, parse_or_reject, reject_unregistered
from fleet.trips.models import Trip
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
        "duration_s": trip["duration"],
        "distance_m": trip["distance"],
        "parking_category": trip.get("parking_category"),
        "details": {"agency": dict(trip)},
    }


@dataclass
class TripIngest:
    """The trips pipeline."""

    directory: DeviceDirectory

    async def ingest(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        provider_id: uuid.UUID,
        mode: Mode,
        batch: PostedBatch,
    ) -> int:
        """Validate and store; a trip already built from events keeps its own measurements
        and gains the provider's record (journey, attributes, fares) beside them."""
        trips = parse_or_reject(batch, trip_schema(str(provider_id), mode))
        async with sessionmaker.begin() as session:
            infos = await self.directory.resolve(
                session, provider_id=provider_id, device_ids={t["device_id"] for t in trips}
            )
            reject_unregistered(trips, infos)
            statement = insert(Trip).values([_row(provider_id, t) for t in trips])
            keep = ("start_at", "start_lat", "start_lng", "end_at", "end_lat", "end_lng")
            fill = ("duration_s", "distance_m", "parking_category")
            changes: dict[str, object] = {
                name: func.coalesce(getattr(Trip, name), statement.excluded[name])
                for name in (*keep, *fill)
            }
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
        return len(trips)
