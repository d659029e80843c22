"""The GBFS 3.0 files, built from plain data (pure: no database, no Redis, no clock)."""

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon

from fleet.gbfs.geofencing import published_area
from fleet.gbfs.ids import public_vehicle_id
from fleet.gbfs.schemas import VEHICLE_ID_PLACEHOLDER, GbfsSystemBody, LocalizedText
from fleet.gbfs.vehicle_types import (
    GbfsType,
    max_range_m,
    settings_by_type,
    vehicle_type_record,
)
from telemetry.hotstate.store import LiveVehicle

VERSION = "3.0"
# Every file a system publishes, in the order gbfs.json lists them.
SYSTEM_FILES = (
    "system_information",
    "vehicle_types",
    "vehicle_status",
    "station_information",
    "station_status",
    "geofencing_zones",
    "system_regions",
    "system_alerts",
    "system_pricing_plans",
    "gbfs_versions",
)
# States in which a vehicle may be listed: rentable now, or held for a customer.
LISTED_STATES = {"available": False, "reserved": True}
DECIMALS = 6


def rfc3339(when: datetime) -> str:
    """An RFC 3339 timestamp to the second, in UTC."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def rfc3339_ms(ms: int) -> str:
    """An RFC 3339 timestamp to the second, in UTC, of milliseconds since the epoch (the
    hot path of vehicle_status: a third of the cost of going through a datetime)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def envelope(data: Mapping[str, Any], *, now: datetime, ttl: int) -> dict[str, Any]:
    """The header every GBFS file carries around its data."""
    return {"last_updated": rfc3339(now), "ttl": ttl, "version": VERSION, "data": data}


def localized(texts: Sequence[LocalizedText]) -> list[dict[str, str]]:
    """GBFS's `[{text, language}]`."""
    return [{"text": t.text, "language": t.language} for t in texts]


def same_in_each(text: str, languages: Sequence[str]) -> list[dict[str, str]]:
    """One text given in every language (names fleetbed holds in one language only)."""
    return [{"text": text, "language": lang} for lang in languages]


@dataclass(frozen=True)
class SystemView:
    """A system as published: the operator's settings with the defaults filled in."""

    provider_id: str
    system_id: str
    provider_name: str
    body: GbfsSystemBody
    languages: tuple[str, ...]
    feed_contact_email: str
    timezone: str
    secret: bytes

    def file_url(self, base_url: str, name: str) -> str:
        """The URL of one of the system's files."""
        return f"{base_url}/gbfs/{self.system_id}/{name}.json"

    def published_files(self) -> list[str]:
        """The files gbfs.json lists: pricing plans only when the operator gave some."""
        return [f for f in SYSTEM_FILES if f != "system_pricing_plans" or self.body.pricing_plans]


def gbfs_data(system: SystemView, base_url: str) -> dict[str, Any]:
    """gbfs.json: the system's files (never the manifest, as GBFS requires)."""
    return {
        "feeds": [
            {"name": name, "url": system.file_url(base_url, name)}
            for name in system.published_files()
        ]
    }


def versions_data(system: SystemView, base_url: str) -> dict[str, Any]:
    """gbfs_versions.json: fleetbed publishes GBFS 3.0 only."""
    return {"versions": [{"version": VERSION, "url": system.file_url(base_url, "gbfs")}]}


def manifest_data(systems: Sequence[SystemView], base_url: str) -> dict[str, Any]:
    """manifest.json: every published system of this deployment."""
    return {
        "datasets": [
            {
                "system_id": s.system_id,
                "versions": [{"version": VERSION, "url": s.file_url(base_url, "gbfs")}],
            }
            for s in sorted(systems, key=lambda s: s.system_id)
        ]
    }


def manifest_url(base_url: str) -> str:
    """Where the deployment's manifest is."""
    return f"{base_url}/gbfs/manifest.json"


def system_information_data(system: SystemView, base_url: str) -> dict[str, Any]:
    """system_information.json from the operator's settings and the defaults."""
    body = system.body
    data: dict[str, Any] = {
        "system_id": system.system_id,
        "languages": list(system.languages),
        "name": localized(body.name)
        if body.name
        else same_in_each(system.provider_name, system.languages),
        "opening_hours": body.opening_hours,
        "feed_contact_email": system.feed_contact_email,
        "timezone": system.timezone,
        "manifest_url": manifest_url(base_url),
    }
    for field in ("short_name", "operator", "terms_url", "privacy_url"):
        if (texts := getattr(body, field)) is not None:
            data[field] = [t.model_dump() for t in texts]
    for field in ("url", "purchase_url", "phone_number", "email", "license_id", "license_url"):
        if (value := getattr(body, field)) is not None:
            data[field] = value
    for field in ("start_date", "terms_last_updated", "privacy_last_updated"):
        if (day := getattr(body, field)) is not None:
            data[field] = day.isoformat()
    if body.rental_apps is not None:
        data["rental_apps"] = body.rental_apps.model_dump(exclude_none=True)
    return data


def vehicle_types_data(kinds: Sequence[GbfsType], system: SystemView) -> dict[str, Any]:
    """vehicle_types.json: one entry per type in the registered fleet."""
    settings = settings_by_type(system.body.vehicle_types)
    plans = system.body.pricing_plans
    default_plan = plans[0].plan_id if plans else None
    return {
        "vehicle_types": [
            vehicle_type_record(k, settings.get(k.vehicle_type_id), system.languages, default_plan)
            for k in sorted(kinds, key=lambda k: k.vehicle_type_id)
        ]
    }


def listed(vehicle: LiveVehicle, *, now_ms: int, stale_ms: int) -> bool:
    """Whether a vehicle belongs in vehicle_status: available or reserved, with a known
    position, heard of lately. A vehicle on a trip, broken or away is never listed."""
    if vehicle.state not in LISTED_STATES or vehicle.lat is None or vehicle.lng is None:
        return False
    heard = max(vehicle.ts_ms or 0, vehicle.state_ts_ms or 0)
    return now_ms - heard <= stale_ms


@dataclass(frozen=True)
class Hub:
    """A parking hub published as a virtual station."""

    station_id: str
    name: str
    geometry: MultiPolygon
    # The GBFS types the hub is for (its zone's vehicle types).
    vehicle_type_ids: tuple[str, ...]
    region_id: str | None = None


def hubs_at(hubs: Sequence[Hub], lats: np.ndarray, lngs: np.ndarray) -> list[str | None]:
    """For each point, the first hub containing it, or None."""
    found: list[str | None] = [None] * len(lats)
    for hub in hubs:
        inside = shapely.contains_xy(hub.geometry, lngs, lats)
        for i in np.flatnonzero(inside).tolist():
            if found[i] is None:
                found[i] = hub.station_id
    return found


@dataclass(frozen=True)
class Parked:
    """A listed vehicle with what the feed says of it."""

    vehicle: LiveVehicle
    kind: GbfsType
    station_id: str | None


def parked(
    vehicles: Sequence[LiveVehicle],
    kinds: Mapping[str, GbfsType],
    hubs: Sequence[Hub],
    *,
    now_ms: int,
    stale_ms: int,
) -> list[Parked]:
    """The listed vehicles of registered types, each with the hub it stands in."""
    shown = [
        v for v in vehicles if v.device_id in kinds and listed(v, now_ms=now_ms, stale_ms=stale_ms)
    ]
    lats = np.array([v.lat for v in shown], dtype=float)
    lngs = np.array([v.lng for v in shown], dtype=float)
    stations = hubs_at(hubs, lats, lngs) if shown else []
    return [
        Parked(v, kinds[v.device_id], station) for v, station in zip(shown, stations, strict=True)
    ]


def _rental_uris(system: SystemView, public_id: str) -> dict[str, str] | None:
    templates = system.body.rental_uris
    if templates is None:
        return None
    uris = {
        platform: template.replace(VEHICLE_ID_PLACEHOLDER, public_id)
        for platform, template in templates.model_dump(exclude_none=True).items()
    }
    return uris or None


def vehicle_record(item: Parked, system: SystemView, range_m: float) -> dict[str, Any]:
    """One vehicle of vehicle_status.json, under its public id of the moment."""
    v = item.vehicle
    public_id = public_vehicle_id(system.secret, v.device_id, v.trip_ts_ms)
    record: dict[str, Any] = {
        "vehicle_id": public_id,
        "lat": round(v.lat or 0.0, DECIMALS),
        "lon": round(v.lng or 0.0, DECIMALS),
        "is_reserved": LISTED_STATES[v.state or "available"],
        "is_disabled": False,
        "vehicle_type_id": item.kind.vehicle_type_id,
        "last_reported": rfc3339_ms(max(v.ts_ms or 0, v.state_ts_ms or 0)),
    }
    if v.battery is not None:
        share = min(max(v.battery, 0), 100) / 100
        record["current_fuel_percent"] = share
        if item.kind.motorised:
            record["current_range_meters"] = round(share * range_m, 1)
    if item.station_id is not None:
        record["station_id"] = item.station_id
    if (uris := _rental_uris(system, public_id)) is not None:
        record["rental_uris"] = uris
    return record


def vehicle_status_data(items: Sequence[Parked], system: SystemView) -> dict[str, Any]:
    """vehicle_status.json."""
    settings = settings_by_type(system.body.vehicle_types)
    ranges: dict[str, float] = {}
    vehicles = []
    for item in items:
        type_id = item.kind.vehicle_type_id
        if type_id not in ranges:
            ranges[type_id] = max_range_m(item.kind, settings.get(type_id))
        vehicles.append(vehicle_record(item, system, ranges[type_id]))
    return {"vehicles": vehicles}


def station_information_data(hubs: Sequence[Hub], system: SystemView) -> dict[str, Any]:
    """station_information.json: the parking hubs as virtual stations with their areas."""
    stations = []
    for hub in hubs:
        point = hub.geometry.representative_point()
        station: dict[str, Any] = {
            "station_id": hub.station_id,
            "name": same_in_each(hub.name, system.languages),
            "lat": round(point.y, DECIMALS),
            "lon": round(point.x, DECIMALS),
            "is_virtual_station": True,
            "station_area": published_area(hub.geometry),
        }
        if hub.region_id is not None:
            station["region_id"] = hub.region_id
        stations.append(station)
    return {"stations": stations}


def station_status_data(
    hubs: Sequence[Hub], items: Sequence[Parked], *, now: datetime
) -> dict[str, Any]:
    """station_status.json: available vehicles per hub and type (reserved ones are not)."""
    counts: dict[str, Counter[str]] = {hub.station_id: Counter() for hub in hubs}
    reported: dict[str, int] = {}
    for item in items:
        if item.station_id is None or item.vehicle.state != "available":
            continue
        counts[item.station_id][item.kind.vehicle_type_id] += 1
        heard = max(item.vehicle.ts_ms or 0, item.vehicle.state_ts_ms or 0)
        reported[item.station_id] = max(heard, reported.get(item.station_id, 0))
    stations = []
    for hub in hubs:
        per_type = counts[hub.station_id]
        type_ids = sorted(set(hub.vehicle_type_ids) | set(per_type))
        last = reported.get(hub.station_id)
        stations.append(
            {
                "station_id": hub.station_id,
                "num_vehicles_available": sum(per_type.values()),
                "vehicle_types_available": [
                    {"vehicle_type_id": t, "count": per_type[t]} for t in type_ids
                ],
                "is_installed": True,
                "is_renting": True,
                "is_returning": True,
                "last_reported": rfc3339_ms(last) if last is not None else rfc3339(now),
            }
        )
    return {"stations": stations}


@dataclass(frozen=True)
class Region:
    """A district of the city, published as a region."""

    region_id: str
    name: str
    geometry: MultiPolygon


def regions_data(regions: Sequence[Region], system: SystemView) -> dict[str, Any]:
    """system_regions.json: the city's districts."""
    return {
        "regions": [
            {"region_id": r.region_id, "name": same_in_each(r.name, system.languages)}
            for r in regions
        ]
    }


def region_of(point: tuple[float, float], regions: Sequence[Region]) -> str | None:
    """The first region containing (lat, lng), or None."""
    lat, lng = point
    for region in regions:
        if shapely.contains_xy(region.geometry, lng, lat):
            return region.region_id
    return None


@dataclass(frozen=True)
class Closure:
    """A zone that closes an area to riding or parking, announced as an alert."""

    alert_id: str
    summary: dict[str, str]
    start: datetime


def alerts_data(
    system: SystemView, closures: Sequence[Closure], *, now: datetime
) -> dict[str, Any]:
    """system_alerts.json: the operator's current alerts, then fleetbed's closures."""
    alerts: list[dict[str, Any]] = []
    for alert in system.body.alerts:
        if alert.times and all(t.end is not None and t.end <= now for t in alert.times):
            continue  # over: GBFS wants obsolete alerts removed
        record = alert.model_dump(mode="json", exclude_none=True)
        if alert.times:
            record["times"] = [
                {"start": rfc3339(t.start), **({"end": rfc3339(t.end)} if t.end else {})}
                for t in alert.times
            ]
        alerts.append(record)
    for closure in closures:
        alerts.append(
            {
                "alert_id": closure.alert_id,
                "type": "other",
                "times": [{"start": rfc3339(closure.start)}],
                "summary": [
                    {
                        "text": closure.summary.get(lang.split("-")[0], closure.summary["en"]),
                        "language": lang,
                    }
                    for lang in system.languages
                ],
            }
        )
    return {"alerts": alerts}


def pricing_plans_data(system: SystemView) -> dict[str, Any]:
    """system_pricing_plans.json, as the operator gave it."""
    return {
        "plans": [p.model_dump(mode="json", exclude_none=True) for p in system.body.pricing_plans]
    }
