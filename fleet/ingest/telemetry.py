"""POST /mds/agency/telemetry: all or nothing, durable before acknowledged, idempotent."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import (
    BulkFailure,
    BulkRejected,
    BulkUnregistered,
    InvalidInput,
    PayloadTooLarge,
)
from app.core.mds_batch import BatchLimits, NotAnArray, TooMany, parse_batch
from fleet.ingest.live import LiveFeed
from fleet.vehicles.directory import DeviceDirectory, DeviceInfo
from telemetry.history import HistoryWriter
from telemetry.hotstate.store import PositionUpdate
from telemetry.schema import Telemetry, telemetry_schema


@dataclass(frozen=True)
class IngestResult:
    """What a batch did."""

    total: int
    stored: int


def latest_positions(
    points: Sequence[Telemetry], infos: dict[str, DeviceInfo]
) -> list[PositionUpdate]:
    """The newest point of each device in a batch, as hot-state updates."""
    newest: dict[str, Telemetry] = {}
    for point in points:
        seen = newest.get(point["device_id"])
        if seen is None or point["timestamp"] > seen["timestamp"]:
            newest[point["device_id"]] = point
    return [
        PositionUpdate(
            device_id=device_id,
            ts_ms=p["timestamp"],
            lat=p["location"]["lat"],
            lng=p["location"]["lng"],
            battery=p.get("battery_percent"),
            speed=p["location"].get("speed"),
            vehicle_type=infos[device_id].vehicle_type,
        )
        for device_id, p in newest.items()
    ]


def unregistered(
    points: Sequence[Telemetry], infos: dict[str, DeviceInfo], provider_id: uuid.UUID
) -> list[BulkFailure]:
    """Failures for points of devices the provider has not registered."""
    return [
        BulkFailure(dict(p), "unregistered", "This device_id is unregistered", ["device_id"])
        for p in points
        if (info := infos.get(p["device_id"])) is None or info.provider_id != provider_id
    ]


@dataclass
class TelemetryIngest:
    """The pipeline with its process-wide parts."""

    directory: DeviceDirectory
    writer: HistoryWriter
    live: LiveFeed

    async def ingest(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        provider_id: uuid.UUID,
        body: bytes,
        limits: BatchLimits,
    ) -> IngestResult:
        """Validate, store in one transaction, then update the live state."""
        try:
            parsed = parse_batch(body, telemetry_schema(str(provider_id)), limits)
        except NotAnArray as exc:
            raise InvalidInput(str(exc), fields=("body",)) from exc
        except TooMany as exc:
            raise PayloadTooLarge(str(exc)) from exc
        if parsed.failures:
            raise BulkRejected(parsed.total, parsed.failures)
        points = parsed.items
        async with sessionmaker.begin() as session:
            infos = await self.directory.resolve(session, {p["device_id"] for p in points})
            missing = unregistered(points, infos, provider_id)
            if missing:
                raise BulkUnregistered(len(points), missing)
            stored = await self.writer.write(session, points)
        await self.live.positions(provider_id, latest_positions(points, infos))
        return IngestResult(total=len(points), stored=stored)
