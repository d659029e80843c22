"""Sentinel GPS values a real chipset sends: accepted as MDS allows, stored as given,
unknown to the live state, counted in /metrics."""

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from telemetry.models import TelemetryPoint
from tests.conftest import TenantFactory, auth
from tests.mds_schemas import assert_valid, model_validator
from tests.payloads import HELSINGBORG, event, now_ms, point, register
from tests.prometheus import sample

# Fields MDS's GPS object defines without a minimum, which fleetbed used to refuse below 0.
SENTINELS = [
    ("speed", -1.0),
    ("horizontal_accuracy", -3.0),
    ("vertical_accuracy", -1.0),
]


def _location(**fields: float) -> dict[str, Any]:
    return {"lat": HELSINGBORG[0], "lng": HELSINGBORG[1], **fields}


async def _sentinel_count(client: AsyncClient, field: str, kind: str = "telemetry") -> float:
    return await sample(client, f"fleetbed_{kind}_sentinel_values_total", field=field)


@pytest.mark.parametrize(("field", "value"), SENTINELS)
async def test_telemetry_with_a_sentinel_is_stored_as_given_and_counted(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, field: str, value: float
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    sent = point(gateway, device, location=_location(**{field: value}))
    good = point(gateway, device, timestamp=sent["timestamp"] - 1000)
    assert_valid(model_validator("models/telemetry.yaml"), sent)
    before = await _sentinel_count(client, field)
    response = await client.post(
        "/mds/agency/telemetry", headers=gateway.headers, json=[good, sent]
    )
    assert response.status_code == 201, response.text
    assert response.json()["success"] == 2
    row = (
        await session.execute(
            select(TelemetryPoint).where(
                TelemetryPoint.telemetry_id == uuid.UUID(sent["telemetry_id"])
            )
        )
    ).scalar_one()
    assert getattr(row, field) == value
    assert await _sentinel_count(client, field) == before + 1


async def test_a_replayed_sentinel_is_counted_once(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    batch = [point(gateway, device, location=_location(speed=-1.0))]
    before = await _sentinel_count(client, "speed")
    for _ in range(2):
        response = await client.post("/mds/agency/telemetry", headers=gateway.headers, json=batch)
        assert response.status_code == 201, response.text
    assert await _sentinel_count(client, "speed") == before + 1


async def test_the_live_state_shows_a_sentinel_speed_as_unknown(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    [device] = await register(client, gateway)
    t = now_ms() - 10_000
    speeds = []
    for offset, speed in ((0, 3.0), (1000, -1.0)):
        batch = [point(gateway, device, timestamp=t + offset, location=_location(speed=speed))]
        response = await client.post("/mds/agency/telemetry", headers=gateway.headers, json=batch)
        assert response.status_code == 201, response.text
        live = await client.get(f"/v1/vehicles/{device}", headers=auth(manager))
        assert live.status_code == 200, live.text
        speeds.append(live.json()["live"]["speed"])
    assert speeds == [3.0, None]


@pytest.mark.parametrize(("field", "value"), SENTINELS)
async def test_events_with_a_sentinel_location_are_accepted(
    client: AsyncClient, tenant: TenantFactory, field: str, value: float
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    sent = event(gateway, device, location=_location(**{field: value}))
    before = await _sentinel_count(client, field, "event")
    response = await client.post("/mds/agency/events", headers=gateway.headers, json=[sent])
    assert response.status_code == 201, response.text
    assert await _sentinel_count(client, field, "event") == before + 1
