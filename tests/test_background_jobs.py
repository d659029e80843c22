"""The background jobs against the real database: partitions made ahead and expired,
open trips abandoned, and every job a supervised task that /readyz names."""

import uuid
from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from fleet.background_jobs import BackgroundJobs
from fleet.trips.models import Trip
from telemetry.partitions import (
    PartitionPolicy,
    create_partitions,
    existing_days,
    maintain_partitions,
)
from tests.conftest import TenantFactory
from tests.faults import fault_settings
from tests.payloads import event, now_ms, register

HOUR_MS = 3_600_000


async def test_maintenance_creates_ahead_and_drops_expired(app: FastAPI) -> None:
    engine = app.state.resources.engine
    today = datetime.now(UTC).date()
    ancient = date(2001, 1, 1)
    async with engine.begin() as conn:
        await create_partitions(conn, [ancient])
    created, dropped = await maintain_partitions(
        engine, PartitionPolicy(days_ahead=5, retention_days=3650), today
    )
    assert ancient in dropped
    async with engine.connect() as conn:
        have = await existing_days(conn)
    assert ancient not in have
    assert {today + timedelta(days=d) for d in range(-1, 6)} <= have
    assert set(created) <= have
    again, none = await maintain_partitions(
        engine, PartitionPolicy(days_ahead=5, retention_days=None), today
    )
    assert again == []
    assert none == []


async def test_the_abandonment_job_closes_only_trips_open_too_long(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    old_device, new_device = await register(client, gateway, 2)
    trips = {"old": uuid.uuid4(), "new": uuid.uuid4()}
    starts = [
        event(
            gateway,
            device,
            timestamp=now_ms() - hours * HOUR_MS,
            vehicle_state="on_trip",
            event_types=["trip_start"],
            trip_ids=[str(trips[age])],
        )
        for age, device, hours in (("old", old_device, 3), ("new", new_device, 1))
    ]
    response = await client.post("/mds/agency/events", headers=gateway.headers, json=starts)
    assert response.status_code == 201, response.text
    resources = app.state.resources
    jobs = BackgroundJobs(
        engine=resources.engine,
        sessionmaker=resources.sessionmaker,
        live=app.state.live,
        partitions=PartitionPolicy(days_ahead=3, retention_days=None),
        abandon_after_s=2 * 3600,
    )

    await jobs.abandon_trips()

    rows = await session.execute(
        select(Trip.trip_id, Trip.status).where(Trip.trip_id.in_(trips.values()))
    )
    statuses = {row.trip_id: row.status for row in rows}
    assert statuses == {trips["old"]: "abandoned", trips["new"]: "open"}


async def test_readyz_names_every_background_job() -> None:
    app = create_app(fault_settings())
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http,
    ):
        checks = (await http.get("/readyz")).json()["checks"]
    jobs = {
        "task:partitions",
        "task:trip-abandonment",
        "task:hotstate-catchup",
        "task:task-expiry",
        "task:silent-vehicle-inspection",
    }
    assert jobs <= set(checks)
