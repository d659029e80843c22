"""Rules on the telemetry hot path: zone transitions with hysteresis and violations (pure).

Input is one batch of points with the zones each lies in (from the zone index), and each
vehicle's stored tracking state; output is the alerts and the new tracking state.

Hysteresis against GPS jitter: a vehicle's side of a zone boundary changes only when a
point on the other side is at least `min_depth_m` from the boundary, or when the other
side has been seen for at least `min_dwell_s`. A vehicle's first observation sets its
sides silently. Points older than the vehicle's newest tracked point do not move its
sides (they still count for violations).

Violations (speeding in a slow zone, riding in a no-ride zone, a restricted vehicle type
on a trip in a restricted zone) are raised at most once per vehicle, zone and kind
within `repeat_after_s`.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from geofencing.rules import ZoneKind, ZoneRule

# What a zone's transitions are called, and the extra alert leaving a service area gives.
ENTER, EXIT = "zone_enter", "zone_exit"
LEFT_SERVICE_AREA = "left_service_area"
SPEEDING = "speeding"
RIDING_IN_NO_RIDE_ZONE = "riding_in_no_ride_zone"
RESTRICTED_VEHICLE = "restricted_vehicle_in_zone"
PARKED_IN_NO_PARKING_ZONE = "parked_in_no_parking_zone"
PARKED_OUTSIDE_MANDATORY_HUB = "parked_outside_mandatory_hub"

ALERT_KINDS = (
    ENTER,
    EXIT,
    LEFT_SERVICE_AREA,
    SPEEDING,
    RIDING_IN_NO_RIDE_ZONE,
    RESTRICTED_VEHICLE,
    PARKED_IN_NO_PARKING_ZONE,
    PARKED_OUTSIDE_MANDATORY_HUB,
)

# Riding means moving on a trip; a vehicle on a trip standing still (GPS noise) is not.
MOVING_M_S = 0.5


@dataclass(frozen=True)
class AlertLimits:
    """Hysteresis and repetition limits."""

    min_depth_m: float = 10.0
    min_dwell_s: float = 20.0
    repeat_after_s: float = 300.0


class Observation(NamedTuple):
    """One telemetry point of a vehicle, with the zones (by id) whose rules apply there.

    A tuple, not a frozen dataclass: one is made per point on the hot path."""

    device_id: str
    ts_ms: int
    lat: float
    lng: float
    speed: float | None
    on_trip: bool
    zones: frozenset[str]


@dataclass(frozen=True)
class ZoneFacts:
    """What the evaluation needs to know about a zone."""

    zone_id: str
    rule: ZoneRule


@dataclass(frozen=True)
class Alert:
    """Something a city or operator should know about."""

    kind: str
    device_id: str
    zone_id: str | None
    ts_ms: int
    lat: float
    lng: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Track:
    """One vehicle's tracking state, as stored between batches.

    `signature()` names what must hold for a next batch to need no evaluation at all: the
    same zones as the newest point, and no pending change.

    `inside`: zones the vehicle is confirmed in; `pending`: zone -> when the other side
    was first seen; `alerted`: "zone|kind" -> when that violation was last raised;
    `last_ms`: the newest point that moved its sides (None: never observed).
    """

    inside: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)
    alerted: dict[str, int] = field(default_factory=dict)
    last_ms: int | None = None

    def signature(self, newest_zones: frozenset[str]) -> str:
        """The zones of the newest point, or "!" while a side change is pending."""
        return "!" if self.pending else ",".join(sorted(newest_zones))

    def encode(self) -> bytes:
        """The stored form: compact JSON."""
        return orjson.dumps(
            {"in": sorted(self.inside), "p": self.pending, "a": self.alerted, "last": self.last_ms}
        )

    @classmethod
    def decode(cls, raw: bytes | None) -> "Track":
        """The inverse of `encode`; no stored state is a vehicle never observed."""
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(set(data["in"]), dict(data["p"]), dict(data["a"]), data["last"])


def violations_of(
    obs: Observation, zones: Mapping[str, ZoneFacts], vehicle_type: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, zone, details) of every rule the point breaks, before de-duplication."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    moving = obs.speed is None or obs.speed > MOVING_M_S
    for zone_id in obs.zones:
        rule = zones[zone_id].rule
        if rule.kind is ZoneKind.SLOW and obs.speed is not None and rule.max_speed_kph:
            limit = rule.max_speed_kph / 3.6
            if obs.speed > limit:
                details = {
                    "speed_kph": round(obs.speed * 3.6, 1),
                    "max_speed_kph": rule.max_speed_kph,
                }
                found.append((SPEEDING, zone_id, details))
        elif rule.kind is ZoneKind.NO_RIDE and obs.on_trip and moving:
            found.append((RIDING_IN_NO_RIDE_ZONE, zone_id, {}))
        elif (
            rule.kind is ZoneKind.RESTRICTED
            and obs.on_trip
            and vehicle_type in (rule.vehicle_types or ())
        ):
            found.append((RESTRICTED_VEHICLE, zone_id, {"vehicle_type": vehicle_type}))
    return found


def _transitions(
    obs: Observation,
    track: Track,
    zones: Mapping[str, ZoneFacts],
    depth_m: Callable[[str, float, float], float],
    settings: AlertLimits,
) -> list[Alert]:
    alerts: list[Alert] = []
    for zone_id in sorted((track.inside ^ obs.zones) | (track.pending.keys() & zones.keys())):
        now_inside = zone_id in obs.zones
        if (zone_id in track.inside) == now_inside:
            track.pending.pop(zone_id, None)
            continue
        since = track.pending.setdefault(zone_id, obs.ts_ms)
        dwelled = obs.ts_ms - since >= settings.min_dwell_s * 1000
        if not (dwelled or depth_m(zone_id, obs.lat, obs.lng) >= settings.min_depth_m):
            continue
        del track.pending[zone_id]
        kind = zones[zone_id].rule.kind
        details = {"zone_kind": kind.value}
        if now_inside:
            track.inside.add(zone_id)
            alerts.append(
                Alert(ENTER, obs.device_id, zone_id, obs.ts_ms, obs.lat, obs.lng, details)
            )
        else:
            track.inside.discard(zone_id)
            alerts.append(Alert(EXIT, obs.device_id, zone_id, obs.ts_ms, obs.lat, obs.lng, details))
            if kind is ZoneKind.SERVICE_AREA:
                alerts.append(
                    Alert(
                        LEFT_SERVICE_AREA, obs.device_id, zone_id, obs.ts_ms, obs.lat, obs.lng, {}
                    )
                )
    return alerts


def evaluate(
    observations: Sequence[Observation],
    tracks: Mapping[str, Track],
    zones: Mapping[str, ZoneFacts],
    vehicle_types: Mapping[str, str],
    depth_m: Callable[[str, float, float], float],
    settings: AlertLimits,
) -> list[Alert]:
    """Alerts of a batch; `tracks` (one per device in the batch) are updated in place.

    `depth_m(zone_id, lat, lng)` is the distance from the point to the zone's boundary,
    asked only for points about to change a vehicle's side.
    """
    alerts: list[Alert] = []
    for obs in sorted(observations, key=lambda o: (o.device_id, o.ts_ms)):
        track = tracks[obs.device_id]
        # Zones that are gone (retired) are forgotten silently.
        track.inside &= zones.keys()
        for zone_id in [z for z in track.pending if z not in zones]:
            del track.pending[zone_id]
        if track.last_ms is None:
            track.inside = set(obs.zones)
            track.last_ms = obs.ts_ms
        elif obs.ts_ms > track.last_ms:
            alerts += _transitions(obs, track, zones, depth_m, settings)
            track.last_ms = obs.ts_ms
        for kind, zone_id, details in violations_of(obs, zones, vehicle_types[obs.device_id]):
            key = f"{zone_id}|{kind}"
            last = track.alerted.get(key)
            if last is not None and abs(obs.ts_ms - last) < settings.repeat_after_s * 1000:
                continue
            track.alerted[key] = obs.ts_ms
            alerts.append(Alert(kind, obs.device_id, zone_id, obs.ts_ms, obs.lat, obs.lng, details))
    return alerts


@dataclass(frozen=True)
class ParkingVerdict:
    """How a trip ending at a point parked: the MDS category and what was wrong."""

    category: str
    no_parking_zones: tuple[str, ...]
    outside_mandatory_hub: bool


def parking_verdict(here: Sequence[ZoneFacts], mandatory_hubs_apply: bool) -> ParkingVerdict:
    """Judge parking among the zones `here`: invalid in a no-parking zone, or outside every
    mandatory hub when such hubs apply to the vehicle; `corral` in a hub; else other_valid."""
    no_parking = tuple(z.zone_id for z in here if z.rule.kind is ZoneKind.NO_PARKING)
    hubs = [z for z in here if z.rule.kind is ZoneKind.PARKING]
    outside = mandatory_hubs_apply and not any(z.rule.parking == "mandatory" for z in hubs)
    category = "invalid" if no_parking or outside else "corral" if hubs else "other_valid"
    return ParkingVerdict(category, no_parking, outside)


def parking_alerts(
    device_id: str, ts_ms: int, lat: float, lng: float, verdict: ParkingVerdict
) -> list[Alert]:
    """The alerts a parking verdict raises."""
    alerts = [
        Alert(PARKED_IN_NO_PARKING_ZONE, device_id, zone_id, ts_ms, lat, lng, {})
        for zone_id in verdict.no_parking_zones
    ]
    if verdict.outside_mandatory_hub:
        alerts.append(Alert(PARKED_OUTSIDE_MANDATORY_HUB, device_id, None, ts_ms, lat, lng, {}))
    return alerts


def boundary_depth_m(distance_deg: float, lat: float) -> float:
    """Metres from a lon/lat distance, erring short: it counts degrees as longitude
    degrees at `lat`, which are the shorter ones, so hysteresis is never cut short."""
    return distance_deg * 111_320 * math.cos(math.radians(lat))
