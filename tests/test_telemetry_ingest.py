"""POST /mds/agency/telemetry: validation, all or nothing, durability, idempotency, order."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from telemetry.hotstate.store import HotState
from telemetry.models import TelemetryPoint
from telemetry.partitions import partition_name
from tests.conftest import Tenant, TenantFactory
from tests.mds_schemas import assert_valid, model_validator
from tests.payloads import at_run_time, ms_from_now, now_ms, point, register

TELEMETRY = "/mds/agency/telemetry"


async def stored(session: AsyncSession, tenant: Tenant) -> int:
    query = select(func.count()).where(TelemetryPoint.provider_id == tenant.provider_id)
    return int((await session.execute(query)).scalar_one())


def assert_failures_valid(body: dict[str, Any]) -> None:
    assert_valid(model_validator("models/response/bulk.yaml"), body)
    for failure in body["failures"]:
        schema = f"models/response/error_{failure['error']}.yaml"
        assert_valid(model_validator(schema), failure)


async def test_batch_is_stored_and_acknowledged(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 3)
    batch = [point(gateway, d, timestamp=now_ms() - 1000 * i) for d in devices for i in range(4)]
    response = await client.post(TELEMETRY, headers=gateway.headers, json=batch)
    assert response.status_code == 201, response.text
    assert response.json()["success"] == 12
    assert response.json()["total"] == 12
    assert await stored(session, gateway) == 12
    row = (
        await session.execute(
            select(TelemetryPoint).where(
                TelemetryPoint.telemetry_id == uuid.UUID(batch[5]["telemetry_id"])
            )
        )
    ).scalar_one()
    assert row.recorded_at == datetime.fromtimestamp(batch[5]["timestamp"] / 1000, UTC)
    assert (row.lat, row.lng, row.battery_percent) == (56.0465, 12.6945, 80)


async def test_points_land_in_daily_partitions_made_on_demand(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    old = datetime(2019, 3, 14, 12, tzinfo=UTC)
    batch = [point(gateway, device, timestamp=int(old.timestamp() * 1000))]
    assert (await client.post(TELEMETRY, headers=gateway.headers, json=batch)).status_code == 201
    where = (
        await session.execute(
            text("SELECT tableoid::regclass::text FROM telemetry WHERE device_id = :d"),
            {"d": uuid.UUID(device)},
        )
    ).scalar_one()
    assert where == partition_name(old.date())


async def test_replays_are_acknowledged_and_stored_once(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 2)
    batch = [point(gateway, d, timestamp=now_ms() - 5000 - i) for i, d in enumerate(devices)]
    for _ in range(3):
        response = await client.post(TELEMETRY, headers=gateway.headers, json=batch)
        assert response.status_code == 201
    # Same device and timestamp under a new telemetry_id is the same point again.
    again = [{**batch[0], "telemetry_id": str(uuid.uuid4())}, batch[1], batch[1]]
    assert (await client.post(TELEMETRY, headers=gateway.headers, json=again)).status_code == 201
    assert await stored(session, gateway) == 2


async def test_late_points_go_to_history_but_live_state_only_moves_forward(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    t = now_ms() - 60_000
    newest = point(gateway, device, timestamp=t, location={"lat": 56.05, "lng": 12.70})
    late = point(gateway, device, timestamp=t - 30_000, location={"lat": 56.01, "lng": 12.71})
    for batch in ([newest], [late]):
        assert (
            await client.post(TELEMETRY, headers=gateway.headers, json=batch)
        ).status_code == 201
    assert await stored(session, gateway) == 2
    [live] = await HotState(redis).vehicles(gateway.provider_id or "", [device])
    assert live is not None
    assert (live.lat, live.lng, live.ts_ms) == (56.05, 12.70, t)
    # Within one batch too, the newest point wins whatever its position in the batch.
    newer = point(gateway, device, timestamp=t + 5000, location={"lat": 56.06, "lng": 12.72})
    older = point(gateway, device, timestamp=t + 1000, location={"lat": 56.00, "lng": 12.60})
    await client.post(TELEMETRY, headers=gateway.headers, json=[newer, older])
    [live] = await HotState(redis).vehicles(gateway.provider_id or "", [device])
    assert live is not None
    assert (live.lat, live.ts_ms) == (56.06, t + 5000)


@pytest.mark.parametrize(
    "field",
    ["device_id", "provider_id", "telemetry_id", "timestamp", "trip_ids", "journey_id", "location"],
)
async def test_each_missing_required_key_is_missing_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, field: str
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    bad = point(gateway, device)
    del bad[field]
    response = await client.post(
        TELEMETRY,
        headers=gateway.headers,
        json=[point(gateway, device, timestamp=1_600_000_000_000), bad],
    )
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0
    assert body["total"] == 2
    [failure] = body["failures"]
    assert failure["error"] == "missing_param"
    assert failure["error_details"] == [field]
    assert failure["item"] == bad
    assert_failures_valid(body)
    assert await stored(session, gateway) == 0


def _bad_cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("device_id", {"device_id": str(uuid.uuid4()).upper()}),
        ("telemetry_id", {"telemetry_id": "x"}),
        ("provider_id", {"provider_id": str(uuid.uuid4())}),
        ("timestamp", {"timestamp": 1_500_000_000_000}),
        ("timestamp", {"timestamp": 1_600_000_000_000.5}),
        ("timestamp", {"timestamp": "1600000000000"}),
        ("timestamp", {"timestamp": ms_from_now(10 * 60_000)}),
        ("trip_ids", {"trip_ids": []}),
        ("trip_ids.0", {"trip_ids": ["nope"]}),
        ("journey_id", {"journey_id": 5}),
        ("location.lat", {"location": {"lat": 90.5, "lng": 12.7}}),
        ("location.lng", {"location": {"lat": 56.0, "lng": -180.1}}),
        ("location.lat", {"location": {"lat": "56", "lng": 12.7}}),
        ("location.speed", {"location": {"lat": 56.0, "lng": 12.7, "speed": "fast"}}),
        ("location.speed", {"location": {"lat": 56.0, "lng": 12.7, "speed": None}}),
        ("location.lng", {"location": {"lat": 56.0}}),
        # Fields MDS does not define are kept, so they must be storable.
        ("location.bearing", {"location": {"lat": 56.0, "lng": 12.7, "bearing": 2**64}}),
        ("battery_percent", {"battery_percent": 101}),
        ("battery_percent", {"battery_percent": -1}),
        ("battery_percent", {"battery_percent": 50.5}),
        ("fuel_percent", {"fuel_percent": 200}),
        ("location_type", {"location_type": "roof"}),
        ("tipped_over", {"tipped_over": "yes"}),
        ("colour", {"colour": "r\u0000ed"}),
    ]


@pytest.mark.parametrize(("field", "change"), _bad_cases())
async def test_each_bad_value_is_rejected_naming_the_field(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    field: str,
    change: dict[str, Any],
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    bad = point(gateway, device, **at_run_time(change))
    response = await client.post(
        TELEMETRY, headers=gateway.headers, json=[point(gateway, device), bad]
    )
    assert response.status_code == 400, response.text
    body = response.json()
    [failure] = body["failures"]
    assert failure["error"] in {"bad_param", "missing_param"}
    assert field in failure["error_details"]
    assert failure["item"]["telemetry_id"] == bad["telemetry_id"]
    assert_failures_valid(body)
    assert await stored(session, gateway) == 0


async def test_every_bad_item_is_listed(client: AsyncClient, tenant: TenantFactory) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    batch = [
        point(gateway, device, battery_percent=300),
        point(gateway, device),
        point(gateway, device, timestamp=now_ms() + 3_600_000),
        "not an object",
    ]
    response = await client.post(TELEMETRY, headers=gateway.headers, json=batch)
    assert response.status_code == 400
    details = [f["error_details"] for f in response.json()["failures"]]
    assert details == [["battery_percent"], ["timestamp"], ["item"]]


async def test_unknown_and_foreign_devices_are_unregistered_and_nothing_is_stored(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    other = await tenant()
    [mine] = await register(client, gateway)
    [theirs] = await register(client, other)
    foreign = point(gateway, theirs)
    unknown = point(gateway, str(uuid.uuid4()))
    response = await client.post(
        TELEMETRY, headers=gateway.headers, json=[point(gateway, mine), foreign, unknown]
    )
    assert response.status_code == 404
    body = response.json()
    assert [f["item"]["device_id"] for f in body["failures"]] == [theirs, unknown["device_id"]]
    assert {f["error"] for f in body["failures"]} == {"unregistered"}
    assert_failures_valid(body)
    assert await stored(session, gateway) == 0
    assert await stored(session, other) == 0


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"device_id": 1}', b"7"])
async def test_body_that_is_not_a_non_empty_array_is_400(
    client: AsyncClient, tenant: TenantFactory, content: bytes
) -> None:
    gateway = await tenant()
    json_headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await client.post(TELEMETRY, headers=json_headers, content=content)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_param"
    assert response.json()["error_details"] == ["body"]


async def test_batch_over_the_limit_is_413(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    t = now_ms() - 3_600_000
    batch = [point(gateway, device, timestamp=t + i) for i in range(5001)]
    response = await client.post(TELEMETRY, headers=gateway.headers, json=batch)
    assert response.status_code == 413
    assert "at most 5000" in response.json()["error_description"]
    assert await stored(session, gateway) == 0


@pytest.mark.parametrize("role", [Role.FIELD_AGENT, Role.OPERATOR_MANAGER, Role.CITY_AUDITOR])
async def test_only_gateways_post_telemetry(
    client: AsyncClient, tenant: TenantFactory, role: Role
) -> None:
    caller = await tenant(role)
    response = await client.post(TELEMETRY, headers=caller.headers, json=[{}])
    assert response.status_code == 403


async def test_timestamps_near_the_skew_limit(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    soon = int((datetime.now(UTC) + timedelta(minutes=4)).timestamp() * 1000)
    response = await client.post(
        TELEMETRY, headers=gateway.headers, json=[point(gateway, device, timestamp=soon)]
    )
    assert response.status_code == 201
    assert await stored(session, gateway) == 1
