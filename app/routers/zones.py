"""Zones for planners and operators (/v1/zones) and geofence checks for apps."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from geoalchemy2.shape import to_shape
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role, Scope
from app.core.bounded import QueryText
from app.core.errors import InvalidInput
from app.core.mds import VehicleType
from app.deps import PrincipalDep, SessionDep, get_resources, get_settings, require
from app.settings import GeofenceSettings
from app.visibility import sees_every_provider
from app.zone_sync import announce_change
from fleet.live.geo import parse_point
from geofencing import zones
from geofencing.geometry import to_geojson
from geofencing.models import Zone
from geofencing.registry import ZoneRegistry
from geofencing.rules import ParkingMode, ZoneKind
from geofencing.schemas import (
    GeofenceAnswer,
    GeofenceCheck,
    ZoneCreate,
    ZoneRead,
    ZoneRuleRead,
    ZoneUpdate,
)
from geofencing.zones import CompiledZone, ZoneLimits, ZoneScope

router = APIRouter(prefix="/v1", tags=["zones"])

Writer = Annotated[Principal, Depends(require(Scope.ZONES_WRITE))]


def zone_limits(settings: GeofenceSettings) -> ZoneLimits:
    """The compilation and validation limits the settings give."""
    return ZoneLimits(settings.resolution, settings.max_zone_area_km2, settings.city_bbox)


def zone_scope(principal: Principal) -> ZoneScope:
    """City-wide roles see every zone; operators their own and the city's."""
    if sees_every_provider(principal):
        return ZoneScope(None, may_write_citywide=principal.role is not Role.CITY_AUDITOR)
    return ZoneScope(principal.provider_id, may_write_citywide=False)


def zone_read(zone: Zone, cells: tuple[int, int]) -> ZoneRead:
    """The API view of a stored zone."""
    return ZoneRead(
        zone_id=zone.zone_id,
        lineage_id=zone.lineage_id,
        version=zone.version,
        name=zone.name,
        description=zone.description,
        kind=ZoneKind(zone.kind),
        provider_id=zone.provider_id,
        geometry=to_geojson(to_shape(zone.geometry)),
        max_speed_kph=zone.max_speed_kph,
        parking=ParkingMode(zone.parking) if zone.parking else None,
        vehicle_types=zone.vehicle_types,
        days=zone.days,
        start_time=zone.start_time,
        end_time=zone.end_time,
        resolution=zone.resolution,
        prev_zone_ids=zone.prev_zone_ids or [],
        published_at=zone.published_at,
        effective_at=zone.effective_at,
        retired_at=zone.retired_at,
        interior_cells=cells[0],
        boundary_cells=cells[1],
    )


async def _reads(session: AsyncSession, found: list[Zone]) -> list[ZoneRead]:
    counts = await zones.cell_counts(session, zone_ids=[z.zone_id for z in found])
    return [zone_read(z, counts.get(z.zone_id, (0, 0))) for z in found]


def _rule_read(zone: CompiledZone) -> ZoneRuleRead:
    return ZoneRuleRead(
        zone_id=zone.zone_id,
        name=zone.name,
        kind=zone.rule.kind,
        rule=zone.rule.describe(),
        max_speed_kph=zone.rule.max_speed_kph,
        parking=zone.rule.parking,
    )


@dataclass(frozen=True)
class Publishing:
    """Who publishes, with which compilation settings, and when."""

    scope: ZoneScope
    limits: ZoneLimits
    created_by: str
    now: datetime


ZoneChange = Callable[[AsyncSession, Publishing], Awaitable[Zone]]


async def _change(request: Request, principal: Principal, change: ZoneChange) -> ZoneRead:
    """Run a zone change in its own transaction; once committed, reload here at once and
    tell the other processes."""
    settings = get_settings(request).geofence
    publishing = Publishing(
        zone_scope(principal), zone_limits(settings), principal.key_id, datetime.now(UTC)
    )
    resources = get_resources(request)
    async with resources.sessionmaker.begin() as session:
        [read] = await _reads(session, [await change(session, publishing)])
    await request.app.state.zones.reload(resources.sessionmaker)
    await announce_change(resources.redis)
    return read


@router.post(
    "/zones",
    operation_id="v1_create_zone",
    summary="Publish a zone",
    status_code=201,
    response_model=ZoneRead,
)
async def create_zone(request: Request, data: ZoneCreate, principal: Writer) -> ZoneRead:
    """Planners and admins publish city-wide zones; operators zones for their own fleet."""

    async def create(session: AsyncSession, p: Publishing) -> Zone:
        return await zones.create_zone(
            session,
            data=data,
            scope=p.scope,
            limits=p.limits,
            created_by=p.created_by,
            now=p.now,
        )

    return await _change(request, principal, create)


@router.put(
    "/zones/{zone_id}",
    operation_id="v1_update_zone",
    summary="Publish a new version of a zone",
    status_code=201,
    response_model=ZoneRead,
)
async def update_zone(
    request: Request, zone_id: uuid.UUID, data: ZoneUpdate, principal: Writer
) -> ZoneRead:
    """The old version is retired and named in the new one's `prev_zone_ids`."""

    async def update(session: AsyncSession, p: Publishing) -> Zone:
        return await zones.update_zone(
            session,
            zone_id=zone_id,
            data=data,
            scope=p.scope,
            limits=p.limits,
            created_by=p.created_by,
            now=p.now,
        )

    return await _change(request, principal, update)


@router.delete(
    "/zones/{zone_id}",
    operation_id="v1_retire_zone",
    summary="Retire a zone (it stays readable)",
    response_model=ZoneRead,
)
async def retire_zone(request: Request, zone_id: uuid.UUID, principal: Writer) -> ZoneRead:
    """A retired zone no longer applies; history keeps it."""

    async def retire(session: AsyncSession, p: Publishing) -> Zone:
        return await zones.retire_zone(session, zone_id=zone_id, scope=p.scope, now=p.now)

    return await _change(request, principal, retire)


@router.get(
    "/zones",
    operation_id="v1_list_zones",
    summary="Zones, or the zones and rules that apply at a point now",
    response_model=list[ZoneRead] | list[ZoneRuleRead],
)
async def list_zones(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    at: Annotated[QueryText | None, Query(description="LAT,LNG: rules in force there now")] = None,
    vehicle_type: Annotated[VehicleType | None, Query()] = None,
    include_retired: Annotated[bool, Query()] = False,
) -> list[ZoneRead] | list[ZoneRuleRead]:
    """Without `at`: the zones the caller may see. With `at`: what applies there now."""
    if at is None:
        found = await zones.list_zones(
            session, scope=zone_scope(principal), include_retired=include_retired
        )
        return await _reads(session, list(found))
    try:
        lat, lng = parse_point(at)
    except ValueError as exc:
        raise InvalidInput(f"at: {exc}", fields=("at",)) from exc
    registry: ZoneRegistry = request.app.state.zones
    here = registry.zones_at(
        lat,
        lng,
        when=datetime.now(UTC),
        vehicle_type=vehicle_type.value if vehicle_type else None,
        provider_id=principal.provider_id,
    )
    return [_rule_read(z) for z in here]


@router.get(
    "/zones/{zone_id}",
    operation_id="v1_get_zone",
    summary="One zone version",
    response_model=ZoneRead,
)
async def get_zone(session: SessionDep, principal: PrincipalDep, zone_id: uuid.UUID) -> ZoneRead:
    """Retired versions too; another operator's zone is 404."""
    zone = await zones.get_zone(session, zone_id=zone_id, scope=zone_scope(principal))
    [read] = await _reads(session, [zone])
    return read


@router.post(
    "/geofence/check",
    operation_id="v1_geofence_check",
    summary="Zones and rules at each of a batch of points",
    response_model=GeofenceAnswer,
)
async def geofence_check(
    request: Request, check: GeofenceCheck, principal: PrincipalDep
) -> GeofenceAnswer:
    """So an app can say "no parking here" before a trip ends."""
    registry: ZoneRegistry = request.app.state.zones
    lats = np.array([p.lat for p in check.points], dtype=np.float64)
    lngs = np.array([p.lng for p in check.points], dtype=np.float64)
    when = check.at or datetime.now(UTC)
    per_point = registry.zones_of_points(
        lats,
        lngs,
        when=when,
        vehicle_type=check.vehicle_type.value if check.vehicle_type else None,
        provider_id=principal.provider_id,
    )
    return GeofenceAnswer(results=[[_rule_read(z) for z in found] for found in per_point])
