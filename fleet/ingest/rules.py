"""Zone rules on the ingest path: classify a batch, track sides, raise alerts."""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import from_ms
from fleet.alerts.models import AlertRecord
from fleet.alerts.store import store_alerts, stream_entry
from fleet.events.schema import Event
from fleet.trips.measure import ParkingCheck
from fleet.vehicles.directory import DeviceInfo
from geofencing.registry import Snapshot, ZoneRegistry
from geofencing.rules import ParkingMode, ZoneKind
from geofencing.violations import (
    AlertLimits,
    Observation,
    ParkingVerdict,
    Track,
    ZoneFacts,
    boundary_depth_m,
    evaluate,
    parking_alerts,
    parking_verdict,
    violations_of,
)
from geofencing.zones import CompiledZone
from telemetry.hotstate.store import HotState
from telemetry.quality import known
from telemetry.schema import Telemetry

log = logging.getLogger("fleetbed.rules")

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Outcome:
    """What a batch raised, and the tracking state to save once the batch is committed."""

    alerts: list[AlertRecord]
    tracks: dict[str, tuple[bytes, str]]


@dataclass
class ZoneRules:
    """Evaluates the zones in force on telemetry and trip ends."""

    registry: ZoneRegistry
    hot: HotState
    limits: AlertLimits

    def _applying(
        self,
        snap: Snapshot,
        points: Sequence[Telemetry],
        infos: dict[str, DeviceInfo],
        provider_id: uuid.UUID,
    ) -> list[frozenset[str]]:
        """Per point, the ids of the zones containing it whose rules apply then."""
        assert snap.index is not None
        lats = np.fromiter((p["location"]["lat"] for p in points), np.float64, len(points))
        lngs = np.fromiter((p["location"]["lng"] for p in points), np.float64, len(points))
        membership = snap.index.classify(lats, lngs)
        found: list[set[str]] = [set() for _ in points]
        # Rules depend on the minute and the vehicle type only: decide each once. Zones
        # without any condition (most of them) need no decision at all.
        decided: dict[tuple[int, int, str], bool] = {}
        provider = str(provider_id)
        pairs = zip(membership.point_index.tolist(), membership.zone_index.tolist(), strict=True)
        unconditional, effective = snap.unconditional, snap.effective_ms
        for i, z in pairs:
            point = points[i]
            if z in unconditional:
                if point["timestamp"] >= effective[z]:
                    found[i].add(snap.ids[z])
                continue
            vtype = infos[point["device_id"]].vehicle_type
            key = (z, point["timestamp"] // MINUTE_MS, vtype)
            if key not in decided:
                decided[key] = self.registry.applies(
                    snap.zones[z], from_ms(point["timestamp"]), vtype, provider
                )
            if decided[key]:
                found[i].add(snap.ids[z])
        return [frozenset(f) for f in found]

    async def on_telemetry(
        self,
        session: AsyncSession,
        *,
        provider_id: uuid.UUID,
        points: Sequence[Telemetry],
        infos: dict[str, DeviceInfo],
    ) -> Outcome:
        """Alerts of new points, stored in the caller's transaction."""
        snap = self.registry.snapshot
        if snap.index is None or not points:
            return Outcome([], {})
        zones_of = self._applying(snap, points, infos, provider_id)
        observations = [
            Observation(
                device_id=p["device_id"],
                ts_ms=p["timestamp"],
                lat=p["location"]["lat"],
                lng=p["location"]["lng"],
                speed=known(p["location"].get("speed")),
                on_trip=p["trip_ids"] is not None,
                zones=zones_of[i],
            )
            for i, p in enumerate(points)
        ]
        vehicle_types = {o.device_id: infos[o.device_id].vehicle_type for o in observations}
        newest: dict[str, Observation] = {}
        forced: set[str] = set()
        for obs in observations:
            seen = newest.get(obs.device_id)
            if seen is not None and seen.zones != obs.zones:
                forced.add(obs.device_id)  # zones changed within the batch
            if seen is None or obs.ts_ms > seen.ts_ms:
                newest[obs.device_id] = obs
            if obs.zones & snap.policed and violations_of(
                obs, snap.facts, vehicle_types[obs.device_id]
            ):
                forced.add(obs.device_id)  # de-duplication needs the stored state
        rows = [(d, ",".join(sorted(o.zones)), d in forced) for d, o in newest.items()]
        try:
            stored = await self.hot.tracks_due(provider_id, rows)
        except (RedisError, OSError) as exc:
            # Without tracks no side can be judged; the next batch starts them afresh.
            log.warning("zone tracking skipped: Redis unavailable", extra={"error": repr(exc)})
            return Outcome([], {})
        tracks = {d: Track.decode(raw) for d, raw in stored.items()}

        def depth(zone_id: str, lat: float, lng: float) -> float:
            distance = shapely.distance(snap.edges[zone_id], shapely.Point(lng, lat))
            return boundary_depth_m(float(distance), lat)

        alerts = evaluate(
            [o for o in observations if o.device_id in tracks],
            tracks,
            snap.facts,
            vehicle_types,
            depth,
            self.limits,
        )
        changed = {
            d: (track.encode(), track.signature(newest[d].zones)) for d, track in tracks.items()
        }
        return Outcome(await store_alerts(session, provider_id=provider_id, alerts=alerts), changed)

    def _hubs_apply(
        self, zones: Sequence[CompiledZone], when: datetime, vtype: str, provider: str
    ) -> bool:
        return any(
            z.rule.kind is ZoneKind.PARKING
            and z.rule.parking is ParkingMode.MANDATORY
            and self.registry.applies(z, when, vtype, provider)
            for z in zones
        )

    def parking_check(self, provider_id: uuid.UUID, infos: dict[str, DeviceInfo]) -> ParkingCheck:
        """The parking category of trips of `provider_id`'s devices ending somewhere."""

        def category(lat: float, lng: float, when: datetime, device_id: str) -> str:
            vehicle_type = infos[device_id].vehicle_type
            return self.parking(lat, lng, when, vehicle_type, provider_id).category

        return category

    def parking(
        self, lat: float, lng: float, when: datetime, vehicle_type: str, provider_id: uuid.UUID
    ) -> ParkingVerdict:
        """How a trip of this vehicle ending here parked, by the zones in force."""
        here = self.registry.zones_at(
            lat, lng, when=when, vehicle_type=vehicle_type, provider_id=provider_id
        )
        hubs_apply = self._hubs_apply(
            self.registry.snapshot.zones, when, vehicle_type, str(provider_id)
        )
        return parking_verdict([ZoneFacts(str(z.zone_id), z.rule) for z in here], hubs_apply)

    async def on_trip_ends(
        self,
        session: AsyncSession,
        *,
        provider_id: uuid.UUID,
        events: Sequence[Event],
        infos: dict[str, DeviceInfo],
    ) -> list[AlertRecord]:
        """Parking alerts for trips that ended in a no-parking zone or outside every
        mandatory hub that applies to the vehicle."""
        alerts = []
        for event in events:
            location = event.get("location")
            if "trip_end" not in event["event_types"] or location is None:
                continue
            lat, lng = location["lat"], location["lng"]
            verdict = self.parking(
                lat,
                lng,
                from_ms(event["timestamp"]),
                infos[event["device_id"]].vehicle_type,
                provider_id,
            )
            alerts += parking_alerts(event["device_id"], event["timestamp"], lat, lng, verdict)
        return await store_alerts(session, provider_id=provider_id, alerts=alerts)

    async def publish(self, provider_id: uuid.UUID, outcome: Outcome) -> None:
        """After the commit: save tracking state and stream the alerts."""
        try:
            if outcome.tracks:
                await self.hot.save_tracks(provider_id, outcome.tracks)
            if outcome.alerts:
                await self.hot.publish_alerts([stream_entry(a) for a in outcome.alerts])
        except (RedisError, OSError) as exc:
            log.warning("alerts not streamed: Redis unavailable", extra={"error": repr(exc)})
