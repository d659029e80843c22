"""MDS Vehicle Status: each vehicle's last event and last telemetry, from the record."""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.mstime import sql_ms
from fleet.events.latest import last_event_sql
from fleet.vehicles.service import KeysetPage
from telemetry.records import telemetry_record

# Only vehicles with both an event and a telemetry point have a status: the MDS model
# requires both. Lateral joins read one row per vehicle through the (device, time) indexes.
_LAST_RECORD = last_event_sql("record", provider="v.provider_id", device="v.device_id")
_STATUS = text(
    f"""
    SELECT e.record AS last_event, t.*, {sql_ms("t.recorded_at")} AS ts_ms
    FROM vehicles v
    JOIN LATERAL ({_LAST_RECORD}) e ON true
    JOIN LATERAL (
        SELECT * FROM telemetry
        WHERE provider_id = v.provider_id AND device_id = v.device_id
        ORDER BY recorded_at DESC LIMIT 1
    ) t ON true
    WHERE v.provider_id = :provider_id
      AND (CAST(:device_id AS uuid) IS NULL OR v.device_id = :device_id)
      AND (CAST(:after AS uuid) IS NULL OR v.device_id > :after)
    ORDER BY v.device_id
    LIMIT :limit
    """  # noqa: S608 (constants only)
)


def _status(row: Any) -> dict[str, Any]:
    return {
        "device_id": str(row.device_id),
        "provider_id": str(row.provider_id),
        "last_event": row.last_event,
        "last_telemetry": telemetry_record(row._mapping),
    }


async def list_statuses(
    session: AsyncSession, *, provider_id: uuid.UUID, limit: int, after: uuid.UUID | None
) -> KeysetPage:
    """A page of statuses of `provider_id`'s vehicles after the cursor `after`."""
    rows = (
        await session.execute(
            _STATUS,
            {"provider_id": provider_id, "device_id": None, "after": after, "limit": limit + 1},
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return KeysetPage([_status(r) for r in rows], rows[-1].device_id if more else None)


async def get_status(
    session: AsyncSession, *, provider_id: uuid.UUID, device_id: uuid.UUID
) -> dict[str, Any]:
    """One vehicle's status; NotFound for others' vehicles and vehicles with no status yet."""
    row = (
        await session.execute(
            _STATUS,
            {"provider_id": provider_id, "device_id": device_id, "after": None, "limit": 1},
        )
    ).first()
    if row is None:
        raise NotFound(f"no status for vehicle {device_id}")
    return _status(row)
