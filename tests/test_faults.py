"""Faults: PostgreSQL cut, refused or killed, odd zone rows, dying tasks. The process
answers 503 with Retry-After while a dependency is gone, reports it in /readyz, and comes
back by itself."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from app.core.auth import Role
from app.main import create_app
from app.settings import Settings
from tests.conftest import Tenant
from tests.faults import (
    committed_tenants,
    eventually,
    fault_settings,
    insert_zone,
    proxy,
    sql,
    terminate_backends,
)
from tests.payloads import now_ms, point, register
from tests.zones import CENTRE


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """An app with its lifespan running, and a client talking to it in-process."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield app, http


async def readyz(http: AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await http.get("/readyz")).json()
    return body


async def post_points(http: AsyncClient, gateway: Tenant, devices: list[str]) -> Response:
    return await http.post(
        "/mds/agency/telemetry",
        headers=gateway.headers,
        json=[point(gateway, device) for device in devices],
    )


async def test_refused_database_answers_503_with_retry_after_and_recovers() -> None:
    async with (
        proxy() as pg,
        committed_tenants(Role.GATEWAY, Role.OPERATOR_MANAGER) as (gateway, manager),
        serving(fault_settings(database_url=pg.database_url)) as (app, http),
    ):
        devices = await register(http, gateway, 2)
        assert (await post_points(http, gateway, devices)).status_code == 201

        await pg.stop()
        ingest = await post_points(http, gateway, devices)
        assert ingest.status_code == 503, ingest.text
        assert int(ingest.headers["retry-after"]) > 0
        assert ingest.json()["error"] == "unavailable"
        # Key lookup (the key cache is off in tests): a /v1 route answers problem+json.
        lookup = await http.get("/v1/zones", headers={"Authorization": f"Bearer {manager.key}"})
        assert lookup.status_code == 503, lookup.text
        assert lookup.headers["content-type"] == "application/problem+json"
        assert "retry-after" in lookup.headers

        async def zone_sync_reported() -> bool:
            body = await readyz(http)
            return {"postgresql", "task:zone-sync"} <= set(body["failing"])

        # Longer than the resync interval and the tasks' staleness allowance.
        await eventually(zone_sync_reported, what="/readyz naming the stuck zone sync")

        await pg.start()

        async def recovered() -> bool:
            failing: list[str] = (await readyz(http))["failing"]
            return not failing

        await eventually(recovered, what="readiness after the database came back")
        assert (await post_points(http, gateway, devices)).status_code == 201
        assert app.state.zones.loaded


async def test_killed_connections_under_ingest_load_lose_no_acknowledged_point() -> None:
    async with (
        committed_tenants(Role.GATEWAY) as (gateway,),
        serving(fault_settings()) as (app, http),
    ):
        devices = await register(http, gateway, 5)
        acknowledged: set[str] = set()
        statuses: list[int] = []

        async def gateway_load() -> None:
            start = now_ms() - 120_000
            for n in range(25):
                # Distinct times: a repeated (device, timestamp) is one point, stored once.
                batch = [
                    point(gateway, device, timestamp=start + n * 100 + k)
                    for device in devices
                    for k in range(20)
                ]
                response = await http.post(
                    "/mds/agency/telemetry", headers=gateway.headers, json=batch
                )
                statuses.append(response.status_code)
                if response.status_code == 201:
                    acknowledged.update(p["telemetry_id"] for p in batch)

        async def killer() -> None:
            for _ in range(5):
                await asyncio.sleep(0.05)
                await terminate_backends()

        await asyncio.gather(gateway_load(), killer())
        assert set(statuses) <= {201, 503}, statuses
        assert acknowledged
        stored = await sql(
            "SELECT count(*) FROM telemetry WHERE telemetry_id = ANY($1::uuid[])",
            [uuid.UUID(t) for t in acknowledged],
        )
        assert stored == len(acknowledged)

        # The zone sync lived through the kills: a zone written behind its back (no
        # announcement) reaches the index by the periodic check.
        await terminate_backends()
        zone_id = await insert_zone("unannounced", provider_id=gateway.provider_id)

        async def indexed() -> bool:
            return any(z.zone_id == zone_id for z in app.state.zones.snapshot.zones)

        await eventually(indexed, what="the unannounced zone in the index")
        assert (await readyz(http))["failing"] == []


async def test_odd_zone_rows_are_skipped_reported_and_never_fatal() -> None:
    async with committed_tenants(Role.GATEWAY) as (gateway,):
        owner = gateway.provider_id
        good = await insert_zone("good", provider_id=owner)
        odd = [
            # What `"effective_at": "0001-01-01T00:00:00Z"` was stored as through the API.
            await insert_zone("year one", effective_at="-infinity", provider_id=owner),
            # A time before year 1 once in UTC: the driver cannot decode the row at all.
            await insert_zone(
                "year zero", effective_at="0001-01-01T00:00:00+01", provider_id=owner
            ),
            await insert_zone("ancient", effective_at="1900-01-01T00:00:00Z", provider_id=owner),
            # A bow tie: an invalid geometry, which no cover or index can take.
            await insert_zone(
                "bow tie",
                wkt="MULTIPOLYGON(((12.69 56.04,12.70 56.05,12.70 56.04,12.69 56.05,12.69 56.04)))",
                provider_id=owner,
            ),
        ]
        async with serving(fault_settings()) as (app, http):
            body = await readyz(http)
            assert body["failing"] == [], body
            detail = body["checks"]["zones"]["detail"]
            assert detail.startswith(f"{len(odd)} zones skipped")
            assert all(str(zone_id) in detail for zone_id in odd)
            registry = app.state.zones
            assert {z.zone_id for z in registry.skipped} == set(odd)
            here = registry.zones_at(*CENTRE, when=datetime.now(UTC), provider_id=owner)
            assert good in {z.zone_id for z in here}
            # A reload with the odd rows still there works and skips them again.
            await registry.reload(app.state.resources.sessionmaker)
            assert {z.zone_id for z in registry.skipped} == set(odd)
            assert good in {z.zone_id for z in registry.snapshot.zones}


class Doom(BaseException):
    """Escapes every `except Exception`: kills the task it is raised in."""


async def test_shutdown_after_a_task_died_is_clean_and_closes_resources() -> None:
    app = create_app(fault_settings())
    async with app.router.lifespan_context(app):

        async def doomed() -> None:
            raise Doom

        supervisor = app.state.background
        supervisor.start("doomed", doomed, interval_s=1)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:

            async def reported() -> bool:
                return "task:doomed" in (await readyz(http))["failing"]

            await eventually(reported, what="/readyz naming the dead task")
        resources = app.state.resources
        # Background tasks may hold every connection at this instant; count both.
        pool = resources.engine.pool
        assert pool.checkedin() + pool.checkedout() > 0
    # The lifespan exited without raising; the pool and the Redis client are closed.
    assert pool.checkedin() == 0
    assert pool.checkedout() == 0
    assert not any(c.is_connected for c in resources.redis.connection_pool._available_connections)
