"""The MDS Agency items a simulated gateway sends: telemetry, events, trips (pure)."""

import random
import uuid
from typing import Any

# Seven decimals of a degree: about a centimetre.
DIGITS = 7


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng`, so that seeded runs repeat their ids."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def gps(lat: float, lng: float, **extra: float) -> dict[str, Any]:
    """An MDS GPS object."""
    return {"lat": round(lat, DIGITS), "lng": round(lng, DIGITS), **extra}


def telemetry(
    *,
    device_id: str,
    provider_id: str,
    telemetry_id: str,
    ts_ms: int,
    location: dict[str, Any],
    battery: float,
    trip_ids: list[str] | None,
    journey_id: str | None,
) -> dict[str, Any]:
    """An MDS Telemetry point; `trip_ids` and `journey_id` are null outside trips."""
    return {
        "device_id": device_id,
        "provider_id": provider_id,
        "telemetry_id": telemetry_id,
        "timestamp": ts_ms,
        "trip_ids": trip_ids,
        "journey_id": journey_id,
        "location": location,
        "battery_percent": percent(battery),
    }


def event(
    *,
    device_id: str,
    provider_id: str,
    event_id: str,
    ts_ms: int,
    vehicle_state: str,
    event_types: list[str],
    location: dict[str, Any],
    battery: float,
    trip_ids: list[str] | None,
) -> dict[str, Any]:
    """An MDS Event; `trip_ids` only when given."""
    item: dict[str, Any] = {
        "device_id": device_id,
        "provider_id": provider_id,
        "event_id": event_id,
        "vehicle_state": vehicle_state,
        "event_types": event_types,
        "timestamp": ts_ms,
        "location": location,
        "battery_percent": percent(battery),
    }
    if trip_ids:
        item["trip_ids"] = trip_ids
    return item


def percent(value: float) -> int:
    """A battery level as MDS wants it: a whole percent in 0-100."""
    return max(0, min(100, round(value)))


def agency_trip(
    *,
    provider_id: str,
    device_id: str,
    trip_id: str,
    journey_id: str,
    trip_type: str,
    start_ms: int,
    end_ms: int,
    start: dict[str, Any],
    end: dict[str, Any],
    distance_m: float,
    trip_attributes: dict[str, Any],
    fare_attributes: dict[str, Any],
    journey_attributes: dict[str, Any] | None = None,
    cost: int | None = None,
) -> dict[str, Any]:
    """An MDS Trip as a pod operator reports it (`POST /mds/agency/trips`); cost in öre."""
    item: dict[str, Any] = {
        "provider_id": provider_id,
        "device_id": device_id,
        "trip_id": trip_id,
        "journey_id": journey_id,
        "trip_type": [trip_type],
        "trip_attributes": trip_attributes,
        "fare_attributes": fare_attributes,
        "start_time": start_ms,
        "end_time": end_ms,
        "start_location": start,
        "end_location": end,
        "duration": max(1, round((end_ms - start_ms) / 1000)),
        "distance": max(1, round(distance_m)),
    }
    if journey_attributes is not None:
        item["journey_attributes"] = journey_attributes
    if cost is not None:
        item.update(actual_cost=cost, standard_cost=cost, currency="SEK")
    return item
