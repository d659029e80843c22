"""The zones in force in this process: an in-memory `ZoneIndex` rebuilt when zones change."""

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.mstime import to_ms
from geofencing.covers import Cover, compile_cover
from geofencing.violations import ZoneFacts
from geofencing.zone_index import ZoneIndex
from geofencing.zones import CompiledZone, SkippedZone, load_active

log = logging.getLogger("fleetbed.zones")


@dataclass(frozen=True)
class Snapshot:
    """An immutable pair of index and zones: swapped whole, so readers never see a mix."""

    index: ZoneIndex[int] | None
    zones: tuple[CompiledZone, ...]
    # Derived once per snapshot, not per batch: zone ids as text, rules, and boundaries
    # (for the hysteresis depth).
    ids: tuple[str, ...] = field(init=False)
    facts: dict[str, ZoneFacts] = field(init=False)
    edges: dict[str, BaseGeometry] = field(init=False)
    # Zones whose rule binds every vehicle at every time (no types, days, hours, owner)
    # once in effect, and when each zone took effect.
    unconditional: frozenset[int] = field(init=False)
    effective_ms: tuple[int, ...] = field(init=False)
    # Zones a point can break a rule in (speed, riding, vehicle type).
    policed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        ids = tuple(str(z.zone_id) for z in self.zones)
        object.__setattr__(self, "ids", ids)
        facts = {i: ZoneFacts(i, z.rule) for i, z in zip(ids, self.zones, strict=True)}
        object.__setattr__(self, "facts", facts)
        edges = {i: z.geometry.boundary for i, z in zip(ids, self.zones, strict=True)}
        object.__setattr__(self, "edges", edges)
        unconditional = frozenset(n for n, z in enumerate(self.zones) if z.rule.unconditional())
        object.__setattr__(self, "unconditional", unconditional)
        effective = tuple(to_ms(z.effective_at) for z in self.zones)
        object.__setattr__(self, "effective_ms", effective)
        policed = frozenset(i for i, z in zip(ids, self.zones, strict=True) if z.rule.policed())
        object.__setattr__(self, "policed", policed)


@dataclass
class ZoneRegistry:
    """Holds the current snapshot of the zones in force (every active zone but districts);
    `reload` builds a new one off the event loop.

    A stored zone that cannot be indexed (odd row, geometry or cover) is left out, logged
    and listed in `skipped`; the others are served.
    """

    resolution: int
    tz: ZoneInfo
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(None, ()))
    skipped: tuple[SkippedZone, ...] = ()
    # False until a reload succeeded: the index is then empty for want of the database,
    # not for want of zones.
    loaded: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reload(self, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        """Load the active zones and their covers from the record; returns how many."""
        async with self._lock:
            async with sessionmaker() as session:
                active, unreadable = await load_active(session)
            # Districts carry no rule: they are not zones in force.
            stored = [zone for zone in active if zone.rule.in_force()]
            snapshot, unusable = await asyncio.to_thread(self._build, stored)
            skipped = (*unreadable, *unusable)
            for zone in skipped:
                log.error(
                    "zone skipped: it cannot be indexed",
                    extra={"zone_id": str(zone.zone_id), "error": zone.error},
                )
            self.snapshot, self.skipped, self.loaded = snapshot, skipped, True
        return len(snapshot.zones)

    def _build(self, stored: list[CompiledZone]) -> tuple[Snapshot, list[SkippedZone]]:
        usable: list[tuple[CompiledZone, Cover]] = []
        skipped: list[SkippedZone] = []
        for zone in stored:
            try:
                usable.append((zone, self._checked_cover(zone)))
            except Exception as exc:  # any zone that fails here is skipped, never fatal
                skipped.append(SkippedZone(zone.zone_id, repr(exc)))
        zones = tuple(zone for zone, _ in usable)
        index = (
            ZoneIndex.build(
                [(i, zone.geometry, cover) for i, (zone, cover) in enumerate(usable)],
                self.resolution,
            )
            if usable
            else None
        )
        return Snapshot(index, zones), skipped

    def _checked_cover(self, zone: CompiledZone) -> Cover:
        """The zone's cover at this resolution, once the zone passed every check the
        snapshot and the index make, so that building them from checked zones cannot fail."""
        # Zones published under another resolution setting are compiled again here.
        cover = (
            zone.cover
            if zone.cover.resolution == self.resolution
            else compile_cover(zone.geometry, self.resolution)
        )
        ZoneIndex.check_zone(zone.zone_id, zone.geometry, cover, self.resolution)
        Snapshot(None, (zone,))
        return cover

    def applies(
        self, zone: CompiledZone, when: datetime, vehicle_type: str | None, provider: str | None
    ) -> bool:
        """Whether a zone's rule binds this vehicle type and provider at `when`."""
        return zone.effective_at <= when and zone.rule.applies(
            when, self.tz, vehicle_type, provider
        )

    def zones_at(
        self,
        lat: float,
        lng: float,
        *,
        when: datetime,
        vehicle_type: str | None = None,
        provider_id: uuid.UUID | None = None,
    ) -> list[CompiledZone]:
        """Zones containing the point whose rules apply at `when`."""
        snap = self.snapshot
        if snap.index is None:
            return []
        provider = str(provider_id) if provider_id else None
        return [
            snap.zones[i]
            for i in snap.index.zones_at(lat, lng)
            if self.applies(snap.zones[i], when, vehicle_type, provider)
        ]

    def zones_of_points(
        self,
        lats: np.ndarray,
        lngs: np.ndarray,
        *,
        when: datetime,
        vehicle_type: str | None = None,
        provider_id: uuid.UUID | None = None,
    ) -> list[list[CompiledZone]]:
        """For each point, the zones containing it whose rules apply at `when`."""
        snap = self.snapshot
        result: list[list[CompiledZone]] = [[] for _ in range(len(lats))]
        if snap.index is None:
            return result
        provider = str(provider_id) if provider_id else None
        membership = snap.index.classify(lats, lngs)
        applies = [self.applies(z, when, vehicle_type, provider) for z in snap.zones]
        pairs = zip(membership.point_index.tolist(), membership.zone_index.tolist(), strict=True)
        for point, zone in pairs:
            if applies[zone]:
                result[point].append(snap.zones[zone])
        return result
