"""Durable telemetry history: one binary COPY per batch, replays ignored by key."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.mstime import sql_from_ms, sql_ms
from telemetry.partitions import create_partitions, days_of, existing_days
from telemetry.schema import Telemetry, extras

_COLUMNS = (
    "device_id",
    "ts_ms",
    "provider_id",
    "telemetry_id",
    "lat",
    "lng",
    "altitude",
    "heading",
    "speed",
    "horizontal_accuracy",
    "vertical_accuracy",
    "satellites",
    "battery_percent",
    "fuel_percent",
    "trip_ids",
    "journey_id",
    "stop_id",
    "data_provider_id",
    "location_type",
    "tipped_over",
    "extras",
)
_STORED = ", ".join(c for c in _COLUMNS if c != "ts_ms")

# Per connection, emptied at every commit. Timestamps travel as integer milliseconds and
# are converted in SQL, which is exact and spares building a datetime per point.
_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_staging (
    device_id uuid, ts_ms bigint, provider_id uuid, telemetry_id uuid,
    lat double precision, lng double precision, altitude float8, heading float8, speed float8,
    horizontal_accuracy float8, vertical_accuracy float8, satellites bigint,
    battery_percent smallint, fuel_percent smallint, trip_ids uuid[], journey_id uuid,
    stop_id uuid, data_provider_id uuid, location_type varchar(16), tipped_over boolean,
    extras jsonb
) ON COMMIT DELETE ROWS
"""

# Built from the constant column list above, never from input.
_MOVE = f"""
WITH moved AS (DELETE FROM telemetry_staging RETURNING *)
INSERT INTO telemetry (recorded_at, {_STORED})
SELECT {sql_from_ms("ts_ms")}, {_STORED} FROM moved
ON CONFLICT DO NOTHING
RETURNING device_id::text, {sql_ms("recorded_at")}
"""  # noqa: S608


def _json(value: dict[str, Any] | None) -> str | None:
    # asyncpg's COPY takes jsonb as text.
    return None if value is None else orjson.dumps(value).decode()


def copy_records(points: Sequence[Telemetry]) -> list[tuple[Any, ...]]:
    """Rows for the staging table, in `_COLUMNS` order."""
    rows = []
    for p in points:
        loc = p["location"]
        get = loc.get
        rows.append(
            (
                p["device_id"],
                p["timestamp"],
                p["provider_id"],
                p["telemetry_id"],
                loc["lat"],
                loc["lng"],
                get("altitude"),
                get("heading"),
                get("speed"),
                get("horizontal_accuracy"),
                get("vertical_accuracy"),
                get("satellites"),
                p.get("battery_percent"),
                p.get("fuel_percent"),
                p["trip_ids"],
                p["journey_id"],
                p.get("stop_id"),
                p.get("data_provider_id"),
                p.get("location_type"),
                p.get("tipped_over"),
                _json(extras(p)),
            )
        )
    return rows


@dataclass
class HistoryWriter:
    """Writes batches into the partitioned history; remembers partitions known to exist."""

    known_days: set[date] = field(default_factory=set)

    async def ensure_partitions(self, conn: AsyncConnection, days: set[date]) -> None:
        """Make sure every day has a partition, inside the caller's transaction."""
        missing = days - self.known_days
        if not missing:
            return
        # Only committed partitions are remembered: one made here may still roll back.
        self.known_days |= await existing_days(conn) & missing
        await create_partitions(conn, missing - self.known_days)

    async def write(
        self, session: AsyncSession, *, points: Sequence[Telemetry]
    ) -> set[tuple[str, int]]:
        """Store a validated batch; returns the (device_id, timestamp) of the new points."""
        conn = await session.connection()
        await self.ensure_partitions(conn, days_of(p["timestamp"] for p in points))
        await conn.execute(text(_STAGING_DDL))
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.copy_records_to_table(
            "telemetry_staging", records=copy_records(points), columns=_COLUMNS
        )
        result = await conn.execute(text(_MOVE))
        return {(device_id, int(ts_ms)) for device_id, ts_ms in result}
