"""The Redis hot state is derived: rebuilt exactly from PostgreSQL, and ingest survives
Redis going away."""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.main import create_app
from fleet.live.catch_up import catch_up
from fleet.live.rebuild import rebuild_provider
from telemetry.hotstate import keys
from telemetry.hotstate.store import HotState
from tests.conftest import Tenant, TenantFactory, bound_to, make_settings
from tests.payloads import event, now_ms, point, register
from tests.processes import RedisProcess


async def snapshot(redis: Redis, provider_id: uuid.UUID | None) -> dict[str, Any]:
    """Every hot-state key of a provider with its full content."""
    state: dict[str, Any] = {}
    async for raw in redis.scan_iter(f"fb:{{{provider_id}}}:*"):
        key = raw.decode()
        if key == keys.geo_key(str(provider_id)):
            state[key] = await redis.zrange(key, 0, -1, withscores=True)
        else:
            state[key] = await redis.hgetall(key)
    return state


def batches(gateway: Tenant, devices: list[str], start: int) -> tuple[list[Any], list[Any]]:
    """Telemetry with gaps and late points, and events, for a few vehicles."""
    points = []
    events = []
    for i, device in enumerate(devices):
        for step in (3, 1, 2):  # out of order on purpose
            points.append(
                point(
                    gateway,
                    device,
                    timestamp=start + step * 1000 + i,
                    location={"lat": 56.04 + step * 0.001 + i * 0.0001, "lng": 12.69 + i * 0.001},
                    **({"battery_percent": 50 + step} if step != 2 else {}),
                )
            )
        state, types = [("available", ["provider_drop_off"]), ("non_operational", ["battery_low"])][
            i % 2
        ]
        events.append(
            event(gateway, device, timestamp=start + i, vehicle_state=state, event_types=types)
        )
    return points, events


async def post_all(
    http: AsyncClient, gateway: Tenant, points: list[Any], events: list[Any]
) -> None:
    for path, batch in (("telemetry", points), ("events", events)):
        response = await http.post(f"/mds/agency/{path}", headers=gateway.headers, json=batch)
        assert response.status_code == 201, response.text


async def test_rebuild_reproduces_the_live_state_exactly(
    client: AsyncClient, tenant: TenantFactory, redis: Redis, session: AsyncSession
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 6)
    for start in (now_ms() - 100_000, now_ms() - 200_000):
        await post_all(client, gateway, *batches(gateway, devices, start))
    before = await snapshot(redis, gateway.provider_id)
    assert len(before) == 6 + 3  # vehicles, geo set, two supply hashes
    await redis.flushdb()
    assert gateway.provider_id is not None
    rebuilt = await rebuild_provider(session, HotState(redis), provider_id=gateway.provider_id)
    assert rebuilt == 6
    assert await snapshot(redis, gateway.provider_id) == before


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    server = RedisProcess()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def outage_app(
    redis_process: RedisProcess, connection: AsyncConnection
) -> AsyncIterator[FastAPI]:
    """An app on its own Redis, its sessions inside the test's transaction."""
    await redis_process.start()
    app = create_app(make_settings(redis_url=redis_process.url))
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            yield app


async def test_ingest_survives_redis_loss_and_catch_up_restores_the_state(
    client: AsyncClient,
    tenant: TenantFactory,
    redis: Redis,
    redis_process: RedisProcess,
    outage_app: FastAPI,
    connection: AsyncConnection,
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 4)
    early = batches(gateway, devices, now_ms() - 300_000)
    late = batches(gateway, devices, now_ms() - 100_000)
    # The reference: the same data through the suite's app, whose Redis never goes away;
    # its rows are rolled back so that the outage run below ingests them anew.
    reference_rows = await connection.begin_nested()
    await post_all(client, gateway, *early)
    await post_all(client, gateway, *late)
    reference = await snapshot(redis, gateway.provider_id)
    assert len(reference) == 4 + 3  # vehicles, geo set, two supply hashes
    await reference_rows.rollback()
    async with AsyncClient(transport=ASGITransport(app=outage_app), base_url="http://t") as http:
        await post_all(http, gateway, *early)
        redis_process.stop()
        # Redis is gone: ingest still stores and acknowledges.
        await post_all(http, gateway, *late)
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert set(ready.json()["failing"]) == {"redis", "hotstate"}
        live = outage_app.state.live
        assert live.stale
        await redis_process.start()
        assert await catch_up(live, outage_app.state.resources.sessionmaker)
        assert not live.stale
        assert (await http.get("/readyz")).status_code == 200
    restored_redis = Redis.from_url(redis_process.url)
    try:
        assert await snapshot(restored_redis, gateway.provider_id) == reference
    finally:
        await restored_redis.aclose()


async def test_catch_up_rebuilds_when_redis_lost_its_data_silently(
    tenant: TenantFactory, client: AsyncClient, outage_app: FastAPI, redis_process: RedisProcess
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 2)
    live = outage_app.state.live
    async with AsyncClient(transport=ASGITransport(app=outage_app), base_url="http://t") as http:
        await post_all(http, gateway, *batches(gateway, devices, now_ms() - 50_000))
    sessionmaker = outage_app.state.resources.sessionmaker
    assert await catch_up(live, sessionmaker)  # first run: no intact marker yet
    before = await snapshot(live.hot.redis, gateway.provider_id)
    assert not await catch_up(live, sessionmaker)  # nothing lost, nothing to do
    redis_process.stop()
    await redis_process.start()  # a restart without persistence: everything is gone
    assert await snapshot(live.hot.redis, gateway.provider_id) == {}
    assert await catch_up(live, sessionmaker)
    assert await snapshot(live.hot.redis, gateway.provider_id) == before
