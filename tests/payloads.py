"""Builders of valid MDS payloads for tests; keyword arguments override fields."""

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from httpx import AsyncClient

from tests.conftest import Tenant

HELSINGBORG = (56.0465, 12.6945)


def now_ms() -> int:
    """The current time in integer milliseconds."""
    return int(time.time() * 1000)


def ms_from_now(offset_ms: int) -> Callable[[], int]:
    """A time `offset_ms` from when a test runs (not from when cases were collected)."""
    return lambda: now_ms() + offset_ms


def at_run_time(change: Mapping[str, Any]) -> dict[str, Any]:
    """A parametrized change with its `ms_from_now` values taken now."""
    return {k: v() if callable(v) else v for k, v in change.items()}


def vehicle(tenant: Tenant, /, **fields: Any) -> dict[str, Any]:
    """A valid MDS vehicle of `tenant` (any mode: no mode-specific attributes)."""
    record: dict[str, Any] = {
        "device_id": str(uuid.uuid4()),
        "provider_id": str(tenant.provider_id),
        "vehicle_id": f"HBG-{uuid.uuid4().hex[:6]}",
        "vehicle_type": "scooter_standing",
        "propulsion_types": ["electric"],
    }
    record.update(fields)
    return record


def point(tenant: Tenant, device_id: str, /, **fields: Any) -> dict[str, Any]:
    """A valid MDS telemetry point of `tenant`'s device, taken a minute ago."""
    record: dict[str, Any] = {
        "device_id": device_id,
        "provider_id": str(tenant.provider_id),
        "telemetry_id": str(uuid.uuid4()),
        "timestamp": now_ms() - 60_000,
        "trip_ids": None,
        "journey_id": None,
        "location": {"lat": HELSINGBORG[0], "lng": HELSINGBORG[1], "speed": 0.0},
        "battery_percent": 80,
    }
    record.update(fields)
    return record


def event(tenant: Tenant, device_id: str, /, **fields: Any) -> dict[str, Any]:
    """A valid MDS event of `tenant`'s device (micromobility: provider drop-off)."""
    record: dict[str, Any] = {
        "device_id": device_id,
        "provider_id": str(tenant.provider_id),
        "event_id": str(uuid.uuid4()),
        "vehicle_state": "available",
        "event_types": ["provider_drop_off"],
        "timestamp": now_ms() - 60_000,
        "location": {"lat": HELSINGBORG[0], "lng": HELSINGBORG[1]},
    }
    record.update(fields)
    return record


async def register(client: AsyncClient, tenant: Tenant, count: int = 1, **fields: Any) -> list[str]:
    """Register `count` vehicles for `tenant`; returns their device ids."""
    records = [vehicle(tenant, **fields) for _ in range(count)]
    response = await client.post("/mds/agency/vehicles", headers=tenant.headers, json=records)
    assert response.status_code == 201, response.text
    return [r["device_id"] for r in records]


def trip(tenant: Tenant, device: str, /, **fields: Any) -> dict[str, Any]:
    """A valid MDS trip of `tenant`'s device: ten minutes, ended five minutes ago."""
    start = now_ms() - 900_000
    record: dict[str, Any] = {
        "provider_id": str(tenant.provider_id),
        "device_id": device,
        "trip_id": str(uuid.uuid4()),
        "start_time": start,
        "end_time": start + 600_000,
        "start_location": {"lat": HELSINGBORG[0], "lng": HELSINGBORG[1]},
        "end_location": {"lat": 56.0520, "lng": 12.6990},
        "duration": 600,
        "distance": 1400,
    }
    record.update(fields)
    return record


async def post(client: AsyncClient, who: Tenant, path: str, items: list[dict[str, Any]]) -> None:
    """POST `items` to the Agency endpoint `path` as `who`; they must all be taken (201)."""
    response = await client.post(f"/mds/agency/{path}", headers=who.headers, json=items)
    assert response.status_code == 201, response.text


def metrics_query(**fields: Any) -> dict[str, Any]:
    """A valid MDS Metrics query body (trip starts per hour); keyword arguments override."""
    body: dict[str, Any] = {
        "measures": ["trips.start_loc.count"],
        "interval": "PT1H",
        "start_date": "2025-03-10T10:00",
    }
    body.update(fields)
    return body
