"""Compliance of the live fleet with an MDS policy, from the hot state and the record."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import to_ms
from fleet.events.latest import last_event_sql
from geofencing.compliance import PolicyCompliance, VehicleSnapshot, evaluate_policy
from geofencing.models import Zone
from geofencing.policies import get_policy
from geofencing.policy import parse_policy
from telemetry.hotstate.store import HotState

_LAST_TYPES = last_event_sql("event_types", provider="v.provider_id", device="v.device_id")
# Registry facts and the types of each vehicle's last event (what set its state).
_FLEET = text(
    f"""
    SELECT v.device_id, v.provider_id, v.vehicle_type,
           v.record -> 'propulsion_types' AS propulsion_types, e.event_types
    FROM vehicles v
    LEFT JOIN LATERAL ({_LAST_TYPES}) e ON true
    WHERE v.provider_id = ANY(:providers)
    """  # noqa: S608 (constants only)
)


async def fleet_snapshot(
    session: AsyncSession, hot: HotState, *, provider_ids: Sequence[uuid.UUID]
) -> list[VehicleSnapshot]:
    """Every vehicle of the providers with a known position and state."""
    rows = (await session.execute(_FLEET, {"providers": list(provider_ids)})).all()
    snapshots = []
    for provider_id in provider_ids:
        mine = [r for r in rows if r.provider_id == provider_id]
        lives = await hot.vehicles(provider_id, [str(r.device_id) for r in mine])
        for row, live in zip(mine, lives, strict=True):
            if live is None or live.lat is None or live.lng is None or live.state is None:
                continue
            snapshots.append(
                VehicleSnapshot(
                    device_id=str(row.device_id),
                    provider_id=str(provider_id),
                    vehicle_type=row.vehicle_type,
                    propulsion_types=tuple(row.propulsion_types or ()),
                    state=live.state,
                    event_types=tuple(row.event_types or ()),
                    lat=live.lat,
                    lng=live.lng,
                    state_since_ms=live.state_ts_ms or 0,
                    speed=live.speed,
                )
            )
    return snapshots


async def membership(
    session: AsyncSession, *, geography_ids: set[uuid.UUID], vehicles: Sequence[VehicleSnapshot]
) -> dict[tuple[str, str], set[str]]:
    """(provider_id, device_id) -> the policy's geographies containing the vehicle (closed sets).

    Policies name geography versions, retired ones included, so the shapes come from the
    record rather than from the index of zones in force.
    """
    zones = (
        await session.execute(
            select(Zone.zone_id, Zone.geometry).where(Zone.zone_id.in_(geography_ids))
        )
    ).all()
    lats = np.array([v.lat for v in vehicles], dtype=np.float64)
    lngs = np.array([v.lng for v in vehicles], dtype=np.float64)
    inside: dict[tuple[str, str], set[str]] = {
        (v.provider_id, v.device_id): set() for v in vehicles
    }
    for zone_id, geometry in zones:
        hits = shapely.intersects_xy(to_shape(geometry), lngs, lats)
        for i in np.flatnonzero(hits).tolist():
            inside[vehicles[i].provider_id, vehicles[i].device_id].add(str(zone_id))
    return inside


async def policy_compliance(
    session: AsyncSession,
    hot: HotState,
    *,
    policy_id: uuid.UUID,
    provider_ids: Sequence[uuid.UUID],
    at: datetime,
    tz: ZoneInfo,
) -> PolicyCompliance:
    """Evaluate a published policy on the providers' live fleets at `at`."""
    policy = parse_policy(await get_policy(session, policy_id=policy_id))
    if policy.provider_ids:
        named = {uuid.UUID(str(p)) for p in policy.provider_ids}
        provider_ids = [p for p in provider_ids if p in named]
    vehicles = await fleet_snapshot(session, hot, provider_ids=provider_ids)
    geographies = {uuid.UUID(str(g)) for rule in policy.rules for g in rule.geographies}
    return evaluate_policy(
        policy,
        vehicles,
        now_ms=to_ms(at),
        tz=tz,
        geographies=await membership(session, geography_ids=geographies, vehicles=vehicles),
        providers=[str(p) for p in provider_ids],
    )
