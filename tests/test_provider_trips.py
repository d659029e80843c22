"""MDS Provider trips by hour: status codes, tenancy, schema, audit log."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.main import create_app
from app.settings import ProviderApiSettings
from tests.conftest import Tenant, TenantFactory, bound_to, make_settings
from tests.hours import closed_hour, hour_text
from tests.mds_schemas import assert_valid, response_validator
from tests.payloads import event, point, register, trip

TRIPS = "/mds/provider/trips"


async def post_trip_in(client: AsyncClient, gateway: Tenant, hour: datetime) -> dict[str, Any]:
    [device] = await register(client, gateway)
    end = int((hour + timedelta(minutes=30)).timestamp() * 1000)
    record = trip(gateway, device, trip_type=["rider"], start_time=end - 600_000, end_time=end)
    response = await client.post("/mds/agency/trips", headers=gateway.headers, json=[record])
    assert response.status_code == 201, response.text
    return record


async def test_trips_of_a_closed_hour_per_tenant_and_audited(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    first, second = await tenant(), await tenant()
    hour = closed_hour()
    mine = await post_trip_in(client, first, hour)
    theirs = await post_trip_in(client, second, hour)
    await post_trip_in(client, first, hour - timedelta(hours=1))  # another hour
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=first.provider_id)
    response = await client.get(
        TRIPS, headers=manager.headers, params={"end_time": hour_text(hour)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid(response_validator("provider", "/trips", "get", 200), body)
    assert [t["trip_id"] for t in body["trips"]] == [mine["trip_id"]]
    assert "links" not in body
    auditor = await tenant(Role.CITY_AUDITOR)
    everyone = await client.get(
        TRIPS, headers=auditor.headers, params={"end_time": hour_text(hour)}
    )
    ids = {t["trip_id"] for t in everyone.json()["trips"]}
    assert {mine["trip_id"], theirs["trip_id"]} <= ids
    narrowed = await client.get(
        TRIPS,
        headers=auditor.headers,
        params={"end_time": hour_text(hour), "provider_id": str(second.provider_id)},
    )
    assert [t["trip_id"] for t in narrowed.json()["trips"]] == [theirs["trip_id"]]
    admin = await tenant(Role.ADMIN)
    log = (await client.get("/v1/audit-log", headers=admin.headers)).json()
    pulls = [e for e in log if e["action"] == "mds_provider.trips"]
    assert [(e["key_id"], e["rows"]) for e in pulls[:3]] == [
        (auditor.key_id, 1),
        (auditor.key_id, len(ids)),
        (manager.key_id, 1),
    ]
    assert pulls[0]["params"] == {
        "end_time": hour_text(hour),
        "provider_id": str(second.provider_id),
    }
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text("DELETE FROM audit_log"))


async def test_empty_hours_answer_an_empty_list(client: AsyncClient, tenant: TenantFactory) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.get(
        TRIPS, headers=auditor.headers, params={"end_time": "2019-03-14T10"}
    )
    assert response.status_code == 200
    assert response.json()["trips"] == []


@pytest.mark.parametrize(
    "end_time", [None, "2026-11-26", "2026-11-26T24", "yesterday", "2026-02-30T01"]
)
async def test_missing_or_malformed_hours_are_400(
    client: AsyncClient, tenant: TenantFactory, end_time: str | None
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    params = {"end_time": end_time} if end_time is not None else {}
    response = await client.get(TRIPS, headers=auditor.headers, params=params)
    assert response.status_code == 400
    assert response.json()["error_details"] == ["end_time"]


async def test_future_hours_are_404(client: AsyncClient, tenant: TenantFactory) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    now = datetime.now(UTC)
    for hour in (now, now + timedelta(hours=5)):
        response = await client.get(
            TRIPS, headers=auditor.headers, params={"end_time": hour_text(hour)}
        )
        assert response.status_code == 404


@pytest.fixture
async def patient_app(connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """An app that waits three hours before it calls an hour closed."""
    app = create_app(make_settings(provider=ProviderApiSettings(hour_lateness_s=3 * 3600)))
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            yield app


async def test_hours_still_settling_are_202(tenant: TenantFactory, patient_app: FastAPI) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    hour = datetime.now(UTC) - timedelta(hours=2)
    async with AsyncClient(transport=ASGITransport(app=patient_app), base_url="http://t") as http:
        response = await http.get(
            TRIPS, headers=auditor.headers, params={"end_time": hour_text(hour)}
        )
    assert response.status_code == 202


async def test_gateways_and_other_versions_are_refused(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    params = {"end_time": hour_text(closed_hour())}
    assert (await client.get(TRIPS, headers=gateway.headers, params=params)).status_code == 403
    auditor = await tenant(Role.CITY_AUDITOR)
    old = {**auditor.headers, "Accept": "application/vnd.mds+json;version=1.2"}
    assert (await client.get(TRIPS, headers=old, params=params)).status_code == 406
    manager = await tenant(Role.OPERATOR_MANAGER)
    audit = await client.get("/v1/audit-log", headers=manager.headers)
    assert audit.status_code == 403


async def test_events_and_telemetry_of_a_closed_hour(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway, other = await tenant(), await tenant()
    [device] = await register(client, gateway)
    [their_device] = await register(client, other)
    hour = closed_hour()
    at = int((hour + timedelta(minutes=10)).timestamp() * 1000)
    points = [point(gateway, device, timestamp=at), point(other, their_device, timestamp=at)]
    for who, item in zip((gateway, other), points, strict=True):
        assert (
            await client.post("/mds/agency/telemetry", headers=who.headers, json=[item])
        ).status_code == 201
    drop = event(gateway, device, timestamp=at)
    assert (
        await client.post("/mds/agency/events", headers=gateway.headers, json=[drop])
    ).status_code == 201
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    params = {"telemetry_time": hour_text(hour)}
    telemetry = await client.get("/mds/provider/telemetry", headers=manager.headers, params=params)
    assert telemetry.status_code == 200, telemetry.text
    assert_valid(response_validator("provider", "/telemetry", "get", 200), telemetry.json())
    assert [t["telemetry_id"] for t in telemetry.json()["telemetry"]] == [points[0]["telemetry_id"]]
    events = await client.get(
        "/mds/provider/events/historical",
        headers=manager.headers,
        params={"event_time": hour_text(hour)},
    )
    assert events.status_code == 200, events.text
    assert events.json()["events"] == [drop]
    bad = await client.get(
        "/mds/provider/telemetry", headers=manager.headers, params={"telemetry_time": "2026-1-1T01"}
    )
    assert bad.status_code == 400
    assert bad.json()["error_details"] == ["telemetry_time"]


async def test_an_hour_holds_its_first_and_last_millisecond_in_november(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    auditor = await tenant(Role.CITY_AUDITOR)
    hour = datetime(2025, 11, 30, 23, tzinfo=UTC)  # the last hour of a November, UTC
    start_ms = int(hour.timestamp() * 1000)
    devices = await register(client, gateway, 3)
    records = [
        trip(gateway, device, trip_type=["rider"], start_time=end - 60_000, end_time=end)
        for device, end in zip(
            devices, (start_ms, start_ms + 3_600_000 - 1, start_ms + 3_600_000), strict=True
        )
    ]
    response = await client.post("/mds/agency/trips", headers=gateway.headers, json=records)
    assert response.status_code == 201, response.text
    pulled = await client.get(
        TRIPS,
        headers=auditor.headers,
        params={"end_time": "2025-11-30T23", "provider_id": str(gateway.provider_id)},
    )
    assert pulled.status_code == 200
    assert [t["trip_id"] for t in pulled.json()["trips"]] == [r["trip_id"] for r in records[:2]]
    following = await client.get(
        TRIPS,
        headers=auditor.headers,
        params={"end_time": "2025-12-01T00", "provider_id": str(gateway.provider_id)},
    )
    assert [t["trip_id"] for t in following.json()["trips"]] == [records[2]["trip_id"]]
