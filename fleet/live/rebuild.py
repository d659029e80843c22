"""Rebuild the Redis hot state from PostgreSQL, the record."""

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import sql_ms
from fleet.events.latest import last_event_sql
from fleet.events.rentals import PERTAINS_TO_TRIP_SQL
from fleet.tenancy.models import Provider
from telemetry.hotstate.store import HotState, PositionUpdate, StateUpdate
from telemetry.quality import known

_LAST_STATE = last_event_sql(
    f"{sql_ms('occurred_at')} AS ts_ms, vehicle_state",
    provider="v.provider_id",
    device="v.device_id",
)
_LAST_TRIP = last_event_sql(
    f"{sql_ms('occurred_at')} AS ts_ms",
    provider="v.provider_id",
    device="v.device_id",
    only_if=PERTAINS_TO_TRIP_SQL,
)
# Per registered vehicle: its newest point, its newest event (ties: later arrival) and
# its newest event pertaining to a trip.
_LATEST = text(
    f"""
    SELECT v.device_id, v.vehicle_type,
           t.ts_ms, t.lat, t.lng, t.battery_percent, t.speed,
           e.ts_ms AS state_ts_ms, e.vehicle_state, trip.ts_ms AS trip_ts_ms
    FROM vehicles v
    LEFT JOIN LATERAL (
        SELECT {sql_ms("recorded_at")} AS ts_ms,
               lat, lng, battery_percent, speed
        FROM telemetry WHERE provider_id = v.provider_id AND device_id = v.device_id
        ORDER BY recorded_at DESC LIMIT 1
    ) t ON true
    LEFT JOIN LATERAL ({_LAST_STATE}) e ON true
    LEFT JOIN LATERAL ({_LAST_TRIP}) trip ON true
    WHERE v.provider_id = :provider_id
    """  # noqa: S608 (constants only)
)


async def rebuild_provider(session: AsyncSession, hot: HotState, *, provider_id: uuid.UUID) -> int:
    """Replace a provider's hot state by what the record says; returns vehicles seen."""
    rows = (await session.execute(_LATEST, {"provider_id": provider_id})).all()
    positions = [
        PositionUpdate(
            str(r.device_id),
            r.ts_ms,
            r.lat,
            r.lng,
            r.battery_percent,
            known(r.speed),
            r.vehicle_type,
        )
        for r in rows
        if r.ts_ms is not None
    ]
    states = [
        StateUpdate(str(r.device_id), r.state_ts_ms, r.vehicle_state, r.vehicle_type, r.trip_ts_ms)
        for r in rows
        if r.state_ts_ms is not None
    ]
    # Updates racing with the rebuild are safe: both paths only move forward in time.
    await hot.clear(provider_id)
    await hot.apply_states(provider_id, states)
    await hot.apply_positions(provider_id, positions)
    return len(rows)


async def rebuild_all(session: AsyncSession, hot: HotState) -> dict[uuid.UUID, int]:
    """Rebuild every provider's hot state."""
    providers = (await session.execute(select(Provider.provider_id))).scalars().all()
    return {p: await rebuild_provider(session, hot, provider_id=p) for p in providers}
