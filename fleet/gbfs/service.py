"""GBFS systems in the record, and the data each file is built from (PostgreSQL, Redis and
the zones in force)."""

import logging
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from geoalchemy2.shape import to_shape
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, InvalidInput, NotFound
from fleet.gbfs.feeds import Closure, Hub, Region, SystemView, region_of
from fleet.gbfs.geofencing import FenceZone
from fleet.gbfs.models import GbfsSystem
from fleet.gbfs.schemas import GbfsSystemBody
from fleet.gbfs.vehicle_types import GbfsType, gbfs_type
from fleet.tenancy.models import Provider
from geofencing.models import Zone
from geofencing.rules import ZoneKind
from geofencing.schedule import active_at
from geofencing.zones import CompiledZone

log = logging.getLogger("fleetbed.gbfs")

# Modes whose vehicles are rented by the public; pods and robots are dispatched, not rented.
RENTAL_MODES = ("micromobility", "car-share")
SECRET_BYTES = 32
# Closure zones announced in system_alerts, with their summary per language.
CLOSURES = {
    ZoneKind.NO_RIDE: {"en": "Closed to riding: {}", "sv": "Stängt för åkning: {}"},
    ZoneKind.NO_PARKING: {"en": "No parking: {}", "sv": "Parkering förbjuden: {}"},
    ZoneKind.RESTRICTED: {
        "en": "Closed to some vehicles: {}",
        "sv": "Stängt för vissa fordon: {}",
    },
}


@dataclass(frozen=True)
class Defaults:
    """What a system publishes where its operator set nothing."""

    languages: tuple[str, ...]
    feed_contact_email: str
    timezone: str


def default_system_id(name: str) -> str:
    """A recognisable GBFS id from the provider's name: lower case, `_` between words."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:48]
    return slug or "system"


def _settings(row: GbfsSystem) -> GbfsSystemBody:
    try:
        return GbfsSystemBody.model_validate(row.settings)
    except ValidationError as exc:
        # A row an older version stored and this one finds odd: defaults, never an outage.
        log.error(
            "gbfs settings unreadable: defaults used",
            extra={"provider_id": str(row.provider_id), "error": str(exc)},
        )
        return GbfsSystemBody()


def _view(row: GbfsSystem, provider: Provider, defaults: Defaults) -> SystemView:
    body = _settings(row)
    return SystemView(
        provider_id=str(row.provider_id),
        system_id=row.system_id,
        provider_name=provider.name,
        body=body,
        languages=tuple(body.languages or defaults.languages),
        feed_contact_email=body.feed_contact_email or defaults.feed_contact_email,
        timezone=defaults.timezone,
        secret=row.id_secret,
    )


async def ensure_systems(session: AsyncSession, *, now: datetime) -> None:
    """Give every rental provider without a GBFS system one with the defaults."""
    missing = (
        await session.execute(
            select(Provider.provider_id, Provider.name)
            .outerjoin(GbfsSystem, GbfsSystem.provider_id == Provider.provider_id)
            .where(GbfsSystem.provider_id.is_(None), Provider.mode.in_(RENTAL_MODES))
            .order_by(Provider.provider_id)
        )
    ).all()
    if not missing:
        return
    taken = set((await session.execute(select(GbfsSystem.system_id))).scalars())
    for provider_id, name in missing:
        system_id = default_system_id(name)
        if system_id in taken:
            system_id = f"{system_id}_{provider_id.hex[:8]}"
        taken.add(system_id)
        # Another process may be making the same row: the first one stays.
        await session.execute(
            insert(GbfsSystem)
            .values(
                provider_id=provider_id,
                system_id=system_id,
                settings={},
                id_secret=secrets.token_bytes(SECRET_BYTES),
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )


async def published_systems(
    session: AsyncSession, *, defaults: Defaults, now: datetime
) -> list[SystemView]:
    """Every published system of a rental provider."""
    await ensure_systems(session, now=now)
    rows = (
        await session.execute(
            select(GbfsSystem, Provider)
            .join(Provider, Provider.provider_id == GbfsSystem.provider_id)
            .where(Provider.mode.in_(RENTAL_MODES))
        )
    ).all()
    views = [_view(system, provider, defaults) for system, provider in rows]
    return [v for v in views if v.body.published]


async def find_system(
    session: AsyncSession, *, system_id: str, defaults: Defaults, now: datetime
) -> SystemView:
    """A published system by its id; NotFound for any other."""
    for view in await published_systems(session, defaults=defaults, now=now):
        if view.system_id == system_id:
            return view
    raise NotFound(f"no GBFS system {system_id}")


async def system_of(
    session: AsyncSession, *, provider_id: uuid.UUID, defaults: Defaults, now: datetime
) -> SystemView:
    """The provider's system (made with the defaults when it has none yet)."""
    await ensure_systems(session, now=now)
    found = (
        await session.execute(
            select(GbfsSystem, Provider)
            .join(Provider, Provider.provider_id == GbfsSystem.provider_id)
            .where(GbfsSystem.provider_id == provider_id)
        )
    ).first()
    if found is None:
        raise NotFound("this provider's vehicles are not rented by the public: it has no GBFS")
    return _view(found[0], found[1], defaults)


async def put_system(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    body: GbfsSystemBody,
    defaults: Defaults,
    actor: str,
    now: datetime,
) -> SystemView:
    """Replace the provider's settings; its id changes only when `system_id` is given."""
    current = await system_of(session, provider_id=provider_id, defaults=defaults, now=now)
    problem = body.untranslated(body.languages or defaults.languages)
    if problem is not None:
        raise InvalidInput(problem)
    system_id = body.system_id or current.system_id
    owner = await session.scalar(
        select(GbfsSystem.provider_id).where(GbfsSystem.system_id == system_id)
    )
    if owner is not None and owner != provider_id:
        raise Conflict(f"system_id {system_id} is taken by another system")
    row = await session.get(GbfsSystem, provider_id)
    assert row is not None  # system_of made it
    row.system_id = system_id
    row.settings = body.model_dump(mode="json", exclude_none=True)
    row.updated_by, row.updated_at = actor, now
    await session.flush()
    return await system_of(session, provider_id=provider_id, defaults=defaults, now=now)


_FLEET_TYPES = text(
    """
    SELECT device_id, vehicle_type,
           COALESCE(record -> 'propulsion_types', '[]'::jsonb) AS propulsions
    FROM vehicles WHERE provider_id = :provider_id
    """
)


async def fleet_types(session: AsyncSession, *, provider_id: uuid.UUID) -> dict[str, GbfsType]:
    """The GBFS type of each of the provider's registered vehicles."""
    rows = await session.execute(_FLEET_TYPES, {"provider_id": provider_id})
    known: dict[tuple[str, tuple[str, ...]], GbfsType] = {}
    types: dict[str, GbfsType] = {}
    for device_id, vehicle_type, propulsions in rows:
        key = (vehicle_type, tuple(p for p in propulsions if isinstance(p, str)))
        kind = known.get(key)
        if kind is None:
            kind = known[key] = gbfs_type(*key)
        types[str(device_id)] = kind
    return types


def type_ids_by_mds(kinds: Iterable[GbfsType]) -> dict[str, list[str]]:
    """The system's GBFS type ids per MDS vehicle type."""
    found: dict[str, set[str]] = {}
    for kind in kinds:
        found.setdefault(kind.mds_type, set()).add(kind.vehicle_type_id)
    return {mds: sorted(ids) for mds, ids in found.items()}


@dataclass(frozen=True)
class SystemZones:
    """The zones in force that a system's feeds show."""

    zones: tuple[CompiledZone, ...]
    tz: ZoneInfo
    now: datetime

    @classmethod
    def of(
        cls, zones: Sequence[CompiledZone], *, provider_id: str, tz: ZoneInfo, now: datetime
    ) -> "SystemZones":
        """The city's zones and the provider's own, on the schedule they keep today."""
        mine = tuple(
            z
            for z in zones
            if z.rule.provider_id in (None, provider_id)
            and active_at(
                max(now, z.effective_at),
                tz,
                days=z.rule.days,
                start=z.rule.start_time,
                end=z.rule.end_time,
            )
        )
        return cls(mine, tz, now)

    def in_force(self) -> list[CompiledZone]:
        """Zones in effect now."""
        return [z for z in self.zones if z.effective_at <= self.now]

    def fences(self) -> list[FenceZone]:
        """Zones in effect now, and those published to take effect later (with a start)."""
        return [
            FenceZone(
                zone_id=str(z.lineage_id or z.zone_id),
                name=z.name,
                kind=z.rule.kind,
                geometry=z.geometry,
                vehicle_types=z.rule.vehicle_types,
                max_speed_kph=z.rule.max_speed_kph,
                parking=z.rule.parking,
                start=z.effective_at if z.effective_at > self.now else None,
            )
            for z in self.zones
        ]

    def hubs(self, by_mds: dict[str, list[str]], regions: Sequence[Region]) -> list[Hub]:
        """Parking hubs in effect for some vehicle type of the system, as stations."""
        hubs = []
        for z in self.in_force():
            if z.rule.kind is not ZoneKind.PARKING:
                continue
            bound = z.rule.vehicle_types
            types = sorted(
                t for mds, ids in by_mds.items() if bound is None or mds in bound for t in ids
            )
            if bound is not None and not types:
                continue
            point = z.geometry.representative_point()
            hubs.append(
                Hub(
                    station_id=str(z.lineage_id or z.zone_id),
                    name=z.name,
                    geometry=z.geometry,
                    vehicle_type_ids=tuple(types),
                    region_id=region_of((point.y, point.x), regions),
                )
            )
        return sorted(hubs, key=lambda h: (h.name, h.station_id))

    def closures(self, recent: timedelta) -> list[Closure]:
        """Closure zones that took effect lately or will: announced as alerts."""
        found = []
        for z in self.zones:
            texts = CLOSURES.get(z.rule.kind)
            if texts is None or z.effective_at < self.now - recent:
                continue
            summary = {lang: template.format(z.name) for lang, template in texts.items()}
            found.append(Closure(f"zone_{z.lineage_id or z.zone_id}", summary, z.effective_at))
        return sorted(found, key=lambda c: (c.start, c.alert_id))


async def regions(session: AsyncSession, *, provider_id: uuid.UUID, now: datetime) -> list[Region]:
    """The districts in effect, the city's and the provider's own."""
    rows = (
        await session.execute(
            select(Zone.lineage_id, Zone.name, Zone.geometry)
            .where(
                Zone.kind == ZoneKind.DISTRICT.value,
                Zone.retired_at.is_(None),
                Zone.effective_at <= now,
                (Zone.provider_id.is_(None)) | (Zone.provider_id == provider_id),
            )
            .order_by(Zone.name, Zone.lineage_id)
        )
    ).all()
    found = []
    for lineage_id, name, geometry in rows:
        shape: Any = to_shape(geometry)
        found.append(Region(str(lineage_id), name, shape))
    return found
