"""Publish, version, retire and read zones; compile their H3 covers off the event loop."""

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import ColumnElement, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bounded import EARLIEST
from app.core.errors import Forbidden, InvalidInput, NotFound
from geofencing.covers import Cover, compile_cover
from geofencing.geometry import GeometryError, parse_geometry
from geofencing.models import Zone, ZoneCell
from geofencing.rules import ParkingMode, ZoneKind, ZoneRule
from geofencing.schemas import ZoneCreate, ZoneFields


@dataclass(frozen=True)
class ZoneScope:
    """Whose zones a caller sees and may change: None is the whole city."""

    provider_id: uuid.UUID | None
    may_write_citywide: bool


@dataclass(frozen=True)
class ZoneLimits:
    """How zones are compiled, and what is refused: too large, or outside the city."""

    resolution: int
    max_area_km2: float
    city_bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class CompiledZone:
    """A zone ready for the index: its id, rule, shape and cover."""

    zone_id: uuid.UUID
    name: str
    rule: ZoneRule
    effective_at: datetime
    geometry: MultiPolygon
    cover: Cover
    # The same across a zone's versions (public feeds name a zone by it).
    lineage_id: uuid.UUID | None = None


def zone_rule(zone: Zone) -> ZoneRule:
    """The rule a stored zone carries."""
    return ZoneRule(
        kind=ZoneKind(zone.kind),
        vehicle_types=frozenset(zone.vehicle_types) if zone.vehicle_types else None,
        days=frozenset(zone.days) if zone.days else None,
        start_time=zone.start_time,
        end_time=zone.end_time,
        max_speed_kph=zone.max_speed_kph,
        parking=ParkingMode(zone.parking) if zone.parking else None,
        provider_id=str(zone.provider_id) if zone.provider_id else None,
    )


def _visible(scope: ZoneScope) -> ColumnElement[bool]:
    if scope.provider_id is None:
        return true()
    return or_(Zone.provider_id.is_(None), Zone.provider_id == scope.provider_id)


def parse_zone_geometry(geometry: dict[str, object], limits: ZoneLimits) -> MultiPolygon:
    """The zone's shape, or InvalidInput naming what is wrong with it."""
    city_bbox = limits.city_bbox
    try:
        shape = parse_geometry(geometry, max_area_km2=limits.max_area_km2)
    except GeometryError as exc:
        raise InvalidInput(f"geometry: {exc}", fields=("geometry",)) from exc
    if not shapely.box(*city_bbox).covers(shape):
        raise InvalidInput(
            "geometry: the zone lies outside the city's area "
            f"(longitudes {city_bbox[0]} to {city_bbox[2]}, latitudes {city_bbox[1]} to "
            f"{city_bbox[3]}); positions must be [longitude, latitude]",
            fields=("geometry",),
        )
    return shape


async def _store_cover(session: AsyncSession, *, zone_id: uuid.UUID, cover: Cover) -> None:
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    records = [(zone_id, int(c), True) for c in cover.interior.tolist()]
    records += [(zone_id, int(c), False) for c in cover.boundary.tolist()]
    if records:
        await raw.copy_records_to_table(
            "zone_cells", records=records, columns=("zone_id", "cell", "interior")
        )


async def _publish(
    session: AsyncSession,
    *,
    fields: ZoneFields,
    provider_id: uuid.UUID | None,
    lineage: tuple[uuid.UUID, int, list[uuid.UUID]] | None,
    limits: ZoneLimits,
    created_by: str,
    now: datetime,
) -> Zone:
    geometry = parse_zone_geometry(fields.geometry, limits)
    cover = await asyncio.to_thread(compile_cover, geometry, limits.resolution)
    lineage_id, version, prev = lineage or (uuid.uuid4(), 1, [])
    zone = Zone(
        zone_id=uuid.uuid4(),
        lineage_id=lineage_id,
        version=version,
        name=fields.name,
        description=fields.description,
        kind=fields.kind.value,
        provider_id=provider_id,
        max_speed_kph=fields.max_speed_kph,
        parking=fields.parking.value if fields.parking else None,
        vehicle_types=[v.value for v in fields.vehicle_types] if fields.vehicle_types else None,
        days=list(fields.days) if fields.days else None,
        start_time=fields.start_time,
        end_time=fields.end_time,
        geometry=from_shape(geometry, srid=4326),
        resolution=limits.resolution,
        prev_zone_ids=prev or None,
        published_at=now,
        effective_at=fields.effective_at or now,
        created_by=created_by,
    )
    session.add(zone)
    await session.flush()
    await _store_cover(session, zone_id=zone.zone_id, cover=cover)
    return zone


def _owner(scope: ZoneScope, wanted: uuid.UUID | None) -> uuid.UUID | None:
    if scope.provider_id is not None:
        # Operators publish zones for their own fleet only.
        if wanted not in (None, scope.provider_id):
            raise Forbidden("operators may publish zones for their own fleet only")
        return scope.provider_id
    return wanted


async def create_zone(
    session: AsyncSession,
    *,
    data: ZoneCreate,
    scope: ZoneScope,
    limits: ZoneLimits,
    created_by: str,
    now: datetime,
) -> Zone:
    """Publish the first version of a zone."""
    return await _publish(
        session,
        fields=data,
        provider_id=_owner(scope, data.provider_id),
        lineage=None,
        limits=limits,
        created_by=created_by,
        now=now,
    )


async def _writable(session: AsyncSession, *, zone_id: uuid.UUID, scope: ZoneScope) -> Zone:
    zone = await get_zone(session, zone_id=zone_id, scope=scope)
    if zone.provider_id is None and not scope.may_write_citywide:
        raise Forbidden("only city planners and admins change city-wide zones")
    if zone.retired_at is not None:
        raise InvalidInput(f"zone {zone_id} is retired; versions are immutable")
    return zone


async def update_zone(
    session: AsyncSession,
    *,
    zone_id: uuid.UUID,
    data: ZoneFields,
    scope: ZoneScope,
    limits: ZoneLimits,
    created_by: str,
    now: datetime,
) -> Zone:
    """Publish a new version naming `zone_id` as its previous one, and retire that one."""
    old = await _writable(session, zone_id=zone_id, scope=scope)
    await session.execute(update(Zone).where(Zone.zone_id == old.zone_id).values(retired_at=now))
    return await _publish(
        session,
        fields=data,
        provider_id=old.provider_id,
        lineage=(old.lineage_id, old.version + 1, [old.zone_id]),
        limits=limits,
        created_by=created_by,
        now=now,
    )


async def retire_zone(
    session: AsyncSession, *, zone_id: uuid.UUID, scope: ZoneScope, now: datetime
) -> Zone:
    """Retire a zone: it stops applying but stays readable."""
    zone = await _writable(session, zone_id=zone_id, scope=scope)
    zone.retired_at = now
    await session.flush()
    return zone


async def get_zone(session: AsyncSession, *, zone_id: uuid.UUID, scope: ZoneScope) -> Zone:
    """A zone version the caller may see, else NotFound."""
    zone = (
        await session.execute(select(Zone).where(Zone.zone_id == zone_id, _visible(scope)))
    ).scalar_one_or_none()
    if zone is None:
        raise NotFound(f"zone {zone_id} not found")
    return zone


async def list_zones(
    session: AsyncSession, *, scope: ZoneScope, include_retired: bool, citywide_only: bool = False
) -> Sequence[Zone]:
    """Zones the caller may see, newest first."""
    query = select(Zone).where(_visible(scope))
    if not include_retired:
        query = query.where(Zone.retired_at.is_(None))
    if citywide_only:
        query = query.where(Zone.provider_id.is_(None))
    return (
        (await session.execute(query.order_by(Zone.published_at.desc(), Zone.zone_id)))
        .scalars()
        .all()
    )


async def cell_counts(
    session: AsyncSession, *, zone_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """(interior, boundary) cell counts per zone."""
    rows = await session.execute(
        select(
            ZoneCell.zone_id,
            func.count().filter(ZoneCell.interior),
            func.count().filter(~ZoneCell.interior),
        )
        .where(ZoneCell.zone_id.in_(zone_ids))
        .group_by(ZoneCell.zone_id)
    )
    return {zone_id: (int(i), int(b)) for zone_id, i, b in rows}


@dataclass(frozen=True)
class SkippedZone:
    """A stored zone the index cannot use, and why."""

    zone_id: uuid.UUID
    error: str


# What the driver raises for a stored value Python cannot represent (a date before year 1
# once converted to UTC); PostgreSQL itself answered, so the session is still usable.
_UNDECODABLE = (ValueError, ArithmeticError, TypeError)


def compile_stored(zone: Zone, interior: list[int], boundary: list[int]) -> CompiledZone:
    """A stored zone ready for the index; raises naming what is odd about the row."""
    effective_at = zone.effective_at
    if effective_at.tzinfo is None or effective_at < EARLIEST:
        # An earlier or unbounded (±infinity) stored instant is a row the API accepts no
        # longer, and a datetime Python cannot always do arithmetic on.
        raise ValueError(f"effective_at {effective_at} is not an instant from 2018 on")
    return CompiledZone(
        zone_id=zone.zone_id,
        name=zone.name,
        rule=zone_rule(zone),
        effective_at=effective_at,
        geometry=to_shape(zone.geometry),
        cover=Cover(
            resolution=zone.resolution,
            interior=np.array(interior, dtype=np.uint64),
            boundary=np.array(boundary, dtype=np.uint64),
        ),
        lineage_id=zone.lineage_id,
    )


async def _stored_active(session: AsyncSession, *, zone_id: uuid.UUID | None) -> Sequence[Zone]:
    query = select(Zone).where(Zone.retired_at.is_(None))
    if zone_id is not None:
        query = query.where(Zone.zone_id == zone_id)
    return (await session.execute(query)).scalars().all()


async def _readable_active(session: AsyncSession) -> tuple[list[Zone], list[SkippedZone]]:
    """Every active zone row the driver can decode; one that it cannot is skipped alone."""
    try:
        return list(await _stored_active(session, zone_id=None)), []
    except _UNDECODABLE:
        # One undecodable value fails the whole read: read the zones one by one instead.
        ids = (
            (await session.execute(select(Zone.zone_id).where(Zone.retired_at.is_(None))))
            .scalars()
            .all()
        )
    readable: list[Zone] = []
    skipped: list[SkippedZone] = []
    for zone_id in ids:
        try:
            readable.extend(await _stored_active(session, zone_id=zone_id))
        except _UNDECODABLE as exc:
            skipped.append(SkippedZone(zone_id, f"unreadable row: {exc!r}"))
    return readable, skipped


async def load_active(session: AsyncSession) -> tuple[list[CompiledZone], list[SkippedZone]]:
    """Every zone not retired, with its stored cover, for the zone index; and the zones
    whose rows cannot be used, so that one odd row never stops the others loading."""
    zones, skipped = await _readable_active(session)
    if not zones:
        return [], skipped
    cells = (
        await session.execute(
            select(ZoneCell.zone_id, ZoneCell.cell, ZoneCell.interior).where(
                ZoneCell.zone_id.in_([z.zone_id for z in zones])
            )
        )
    ).all()
    grouped: dict[uuid.UUID, tuple[list[int], list[int]]] = {z.zone_id: ([], []) for z in zones}
    for zone_id, cell, interior in cells:
        grouped[zone_id][0 if interior else 1].append(cell)
    compiled: list[CompiledZone] = []
    for zone in zones:
        try:
            compiled.append(compile_stored(zone, *grouped[zone.zone_id]))
        except Exception as exc:  # any odd row is skipped, never fatal
            skipped.append(SkippedZone(zone.zone_id, repr(exc)))
    return compiled, skipped
