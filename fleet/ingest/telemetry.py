"""POST /mds/agency/telemetry: all or nothing, durable before acknowledged, idempotent."""

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.ingest.common import PostedBatch, newest_per_device, parse_or_reject, reject_unregistered
from fleet.ingest.live import LiveFeed
from fleet.ingest.rules import ZoneRules
from fleet.ingest.tasks import TaskTriggers
from fleet.trips.late_telemetry import LateTelemetry, trips_holding
from fleet.vehicles.directory import DeviceDirectory, DeviceInfo
from telemetry.history import HistoryWriter
from telemetry.hotstate.store import PositionUpdate
from telemetry.quality import known, sentinel_counts
from telemetry.schema import Telemetry, telemetry_schema


def latest_positions(
    points: Sequence[Telemetry], infos: dict[str, DeviceInfo]
) -> list[PositionUpdate]:
    """The newest point of each device in a batch, as hot-state updates.

    Of two points with the same timestamp the first is kept, as history keeps the first.
    """
    return [
        PositionUpdate(
            device_id=device_id,
            ts_ms=p["timestamp"],
            lat=p["location"]["lat"],
            lng=p["location"]["lng"],
            battery=p.get("battery_percent"),
            speed=known(p["location"].get("speed")),
            vehicle_type=infos[device_id].vehicle_type,
        )
        for device_id, p in newest_per_device(points, later_wins_ties=False).items()
    ]


@dataclass
class TelemetryIngest:
    """The pipeline with its process-wide parts."""

    directory: DeviceDirectory
    writer: HistoryWriter
    live: LiveFeed
    rules: ZoneRules
    # Told how many stored points carried meaningless GPS values (for /metrics).
    count_sentinels: Callable[[Mapping[str, int]], None]
    late: LateTelemetry
    tasks: TaskTriggers

    async def ingest(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        provider_id: uuid.UUID,
        batch: PostedBatch,
    ) -> int:
        """Validate, store in one transaction (which also finds the closed trips the new
        points fall in), then update the live state and re-measure those trips (in a
        transaction of their own)."""
        points = parse_or_reject(batch, telemetry_schema(str(provider_id)))
        async with sessionmaker.begin() as session:
            infos = await self.directory.resolve(
                session, provider_id=provider_id, device_ids={p["device_id"] for p in points}
            )
            reject_unregistered(points, infos)
            stored = await self.writer.write(session, points=points)
            # Only what history holds may reach the live state and the rules: a replay
            # with other content at a known device and time was not stored.
            fresh = [p for p in points if (p["device_id"], p["timestamp"]) in stored]
            outcome = await self.rules.on_telemetry(
                session, provider_id=provider_id, points=fresh, infos=infos
            )
            late_for = await trips_holding(
                session,
                provider_id=provider_id,
                points=[(p["device_id"], p["timestamp"]) for p in fresh],
            )
            latest = latest_positions(fresh, infos)
            tasks = await self.tasks.on_telemetry(
                session, provider_id=provider_id, latest=latest, alerts=outcome.alerts
            )
        self.count_sentinels(sentinel_counts(p["location"] for p in fresh))
        await self.live.positions(provider_id, latest)
        await self.rules.publish(provider_id, outcome)
        await self.tasks.publish(tasks)
        await self.late.remeasure(sessionmaker, trip_ids=late_for)
        return len(points)
