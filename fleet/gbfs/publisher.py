"""Builds each GBFS file from the record, the hot state and the zones in force, and keeps
it in the cache for its ttl."""

import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import NotFound
from app.core.mstime import to_ms
from fleet.gbfs import feeds
from fleet.gbfs.cache import CachedFile, FeedCache
from fleet.gbfs.feeds import Hub, Parked, SystemView
from fleet.gbfs.geofencing import geofencing_data
from fleet.gbfs.ids import public_vehicle_id
from fleet.gbfs.schemas import FeedTtls
from fleet.gbfs.service import (
    Defaults,
    SystemZones,
    find_system,
    fleet_types,
    published_systems,
    regions,
    system_of,
    type_ids_by_mds,
)
from geofencing.registry import ZoneRegistry
from telemetry.hotstate.store import HotState

MANIFEST = "manifest"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class GbfsPublisher:
    """The public feeds of every system."""

    sessions: Callable[[], async_sessionmaker[AsyncSession]]
    hot: HotState
    zones: ZoneRegistry
    defaults: Defaults
    stale_after_s: float
    alert_recent_s: float
    clock: Callable[[], datetime] = _now
    cache: FeedCache = field(default_factory=FeedCache)

    async def manifest(self, base_url: str) -> CachedFile:
        """manifest.json of the deployment."""
        return await self.cache.get((MANIFEST, base_url), lambda: self._manifest(base_url))

    async def system_file(self, system_id: str, name: str, base_url: str) -> CachedFile:
        """One file of one system (NotFound for an unknown or unpublished system)."""
        key = (system_id, name, base_url)
        return await self.cache.get(key, lambda: self._system_file(system_id, name, base_url))

    async def device_of(
        self, session: AsyncSession, *, provider_id: uuid.UUID, vehicle_id: str
    ) -> str:
        """The device a public id of the provider's stands for now; NotFound once the
        vehicle has been rented since (its id rotated) or for another provider's id."""
        system = await system_of(
            session, provider_id=provider_id, defaults=self.defaults, now=self.clock()
        )
        for vehicle in await self.hot.fleet(provider_id):
            if (
                public_vehicle_id(system.secret, vehicle.device_id, vehicle.trip_ts_ms)
                == vehicle_id
            ):
                return vehicle.device_id
        raise NotFound(f"no vehicle of yours is published as {vehicle_id} now")

    def forget(self, *system_ids: str) -> None:
        """Drop what was built for these systems, and the manifest."""
        names = {MANIFEST, *system_ids}

        def matches(key: Hashable) -> bool:
            return isinstance(key, tuple) and key[0] in names

        self.cache.forget(matches)

    async def _manifest(self, base_url: str) -> tuple[bytes, int]:
        now = self.clock()
        async with self.sessions().begin() as session:
            systems = await published_systems(session, defaults=self.defaults, now=now)
        ttl = FeedTtls().manifest
        data = feeds.manifest_data(systems, base_url)
        return orjson.dumps(feeds.envelope(data, now=now, ttl=ttl)), ttl

    async def _system_file(self, system_id: str, name: str, base_url: str) -> tuple[bytes, int]:
        now = self.clock()
        async with self.sessions().begin() as session:
            system = await find_system(
                session, system_id=system_id, defaults=self.defaults, now=now
            )
            data = await _BUILDERS[name](self, session, system=system, base_url=base_url, now=now)
        ttl: int = getattr(system.body.ttl, name)
        return orjson.dumps(feeds.envelope(data, now=now, ttl=ttl)), ttl

    def _zones(self, system: SystemView, now: datetime) -> SystemZones:
        return SystemZones.of(
            self.zones.snapshot.zones, provider_id=system.provider_id, tz=self.zones.tz, now=now
        )

    async def _parked(
        self, session: AsyncSession, *, system: SystemView, now: datetime
    ) -> tuple[list[Hub], list[Parked]]:
        provider_id = uuid.UUID(system.provider_id)
        kinds = await fleet_types(session, provider_id=provider_id)
        hubs = self._zones(system, now).hubs(type_ids_by_mds(kinds.values()), [])
        live = await self.hot.fleet(provider_id)
        items = feeds.parked(
            live,
            kinds,
            hubs,
            now_ms=to_ms(now),
            stale_ms=round(self.stale_after_s * 1000),
        )
        return hubs, items

    async def _gbfs(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        return feeds.gbfs_data(system, base_url)

    async def _versions(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        return feeds.versions_data(system, base_url)

    async def _information(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        return feeds.system_information_data(system, base_url)

    async def _vehicle_types(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        kinds = await fleet_types(session, provider_id=uuid.UUID(system.provider_id))
        return feeds.vehicle_types_data(list(set(kinds.values())), system)

    async def _vehicle_status(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        _, items = await self._parked(session, system=system, now=now)
        return feeds.vehicle_status_data(items, system)

    async def _station_information(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        provider_id = uuid.UUID(system.provider_id)
        kinds = await fleet_types(session, provider_id=provider_id)
        districts = await regions(session, provider_id=provider_id, now=now)
        hubs = self._zones(system, now).hubs(type_ids_by_mds(kinds.values()), districts)
        return feeds.station_information_data(hubs, system)

    async def _station_status(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        hubs, items = await self._parked(session, system=system, now=now)
        return feeds.station_status_data(hubs, items, now=now)

    async def _geofencing(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        kinds = await fleet_types(session, provider_id=uuid.UUID(system.provider_id))
        by_mds = type_ids_by_mds(kinds.values())
        fences = self._zones(system, now).fences()
        return geofencing_data(fences, by_mds, system.languages, now=now)

    async def _regions(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        districts = await regions(session, provider_id=uuid.UUID(system.provider_id), now=now)
        return feeds.regions_data(districts, system)

    async def _alerts(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        closures = self._zones(system, now).closures(timedelta(seconds=self.alert_recent_s))
        return feeds.alerts_data(system, closures, now=now)

    async def _pricing_plans(
        self, session: AsyncSession, *, system: SystemView, base_url: str, now: datetime
    ) -> dict[str, Any]:
        return feeds.pricing_plans_data(system)


class _Builder(Protocol):
    """How each file's data is built."""

    def __call__(
        self,
        publisher: GbfsPublisher,
        session: AsyncSession,
        /,
        *,
        system: SystemView,
        base_url: str,
        now: datetime,
    ) -> Awaitable[dict[str, Any]]: ...


_BUILDERS: dict[str, _Builder] = {
    "gbfs": GbfsPublisher._gbfs,
    "gbfs_versions": GbfsPublisher._versions,
    "system_information": GbfsPublisher._information,
    "vehicle_types": GbfsPublisher._vehicle_types,
    "vehicle_status": GbfsPublisher._vehicle_status,
    "station_information": GbfsPublisher._station_information,
    "station_status": GbfsPublisher._station_status,
    "geofencing_zones": GbfsPublisher._geofencing,
    "system_regions": GbfsPublisher._regions,
    "system_alerts": GbfsPublisher._alerts,
    "system_pricing_plans": GbfsPublisher._pricing_plans,
}
# Every file of a system, as served under /gbfs/{system_id}/.
FILES = tuple(_BUILDERS)
