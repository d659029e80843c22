"""Zones and observations of one vehicle for the pure violation and GPS-quality tests."""

from geofencing.rules import ZoneKind, ZoneRule
from geofencing.violations import Observation, ZoneFacts

ZONES = {
    "area": ZoneFacts("area", ZoneRule(ZoneKind.SERVICE_AREA)),
    "slow": ZoneFacts("slow", ZoneRule(ZoneKind.SLOW, max_speed_kph=10)),
    "noride": ZoneFacts("noride", ZoneRule(ZoneKind.NO_RIDE)),
    "nomoped": ZoneFacts(
        "nomoped", ZoneRule(ZoneKind.RESTRICTED, vehicle_types=frozenset({"moped"}))
    ),
}


def obs(ts_s: float, zones: set[str], speed: float | None = 1.0, trip: bool = True) -> Observation:
    """Device d1 at second `ts_s`, inside `zones`."""
    return Observation("d1", int(ts_s * 1000), 56.0, 12.7, speed, trip, frozenset(zones))
