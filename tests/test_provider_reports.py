"""MDS Provider monthly reports: CSV per spec, local months, k-anonymity, tenancy, audit."""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.auth import Role
from app.main import create_app
from app.settings import ProviderApiSettings
from tests.conftest import Tenant, TenantFactory, bound_to, make_settings
from tests.payloads import register, trip
from tests.zones import CENTRE, disc, publish

REPORTS = "/mds/provider/reports"
HEADER = (
    "provider_id,start_date,duration,special_group_type,geography_id,vehicle_type,"
    "trip_count,rider_count"
)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NORTH = (CENTRE[0] + 0.02, CENTRE[1])  # about 2.2 km north of the centre
ELSEWHERE = (CENTRE[0] - 0.05, CENTRE[1])  # in no zone


def local(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Integer ms of a wall-clock time in Helsingborg."""
    return int(datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM).timestamp() * 1000)


async def post_trips(
    client: AsyncClient,
    gateway: Tenant,
    device: str,
    starts: list[int],
    at: tuple[float, float] = CENTRE,
    **fields: Any,
) -> None:
    records = [
        trip(
            gateway,
            device,
            start_time=start,
            end_time=start + 600_000,
            start_location={"lat": at[0], "lng": at[1]},
            **fields,
        )
        for start in starts
    ]
    response = await client.post("/mds/agency/trips", headers=gateway.headers, json=records)
    assert response.status_code == 201, response.text


async def city_zone(client: AsyncClient, planner: Tenant, centre: tuple[float, float]) -> str:
    created = await publish(
        client, planner, geometry=disc(500, centre=centre), effective_at="2024-01-01T00:00:00Z"
    )
    return str(created["zone_id"])


def rows_of(response: Any, provider: uuid.UUID | None) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/vnd.mds+csv;version=2.0")
    assert response.text.splitlines()[0] == HEADER
    return [
        r for r in csv.DictReader(io.StringIO(response.text)) if r["provider_id"] == str(provider)
    ]


def counts(rows: list[dict[str, str]]) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {
        (r["geography_id"], r["vehicle_type"], r["special_group_type"]): (
            int(r["trip_count"]),
            int(r["rider_count"]),
        )
        for r in rows
    }


async def test_trips_are_counted_by_start_zone_type_and_group_with_k_of_10(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    centre, north = (
        await city_zone(client, planner, CENTRE),
        await city_zone(client, planner, NORTH),
    )
    gateway = await tenant()
    [scooter] = await register(client, gateway)
    [adaptive] = await register(client, gateway, accessibility_attributes=["adaptive"])
    [bicycle] = await register(client, gateway, vehicle_type="bicycle")
    mid_month = [local(2025, 11, 12, 8, minute) for minute in range(10)]
    await post_trips(client, gateway, scooter, mid_month)  # 10: shown as 10
    await post_trips(client, gateway, scooter, mid_month[:3], trip_type=["rebalance"])  # no riders
    await post_trips(client, gateway, scooter, mid_month[:2], at=ELSEWHERE)  # in no zone
    await post_trips(client, gateway, bicycle, mid_month[:9])  # 9: suppressed
    await post_trips(client, gateway, adaptive, mid_month, at=NORTH)
    other = await tenant()
    [theirs] = await register(client, other)
    await post_trips(client, other, theirs, mid_month)

    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    response = await client.get(f"{REPORTS}/2025-11.csv", headers=manager.headers)
    mine = rows_of(response, gateway.provider_id)
    assert {(r["start_date"], r["duration"]) for r in mine} == {("2025-11-01", "P1M")}
    assert counts(mine) == {
        (centre, "bicycle", "all_riders"): (-1, -1),
        (centre, "scooter_standing", "all_riders"): (10, -1),
        (centre, "scooter_standing", "adaptive_scooter"): (-1, -1),
        (north, "bicycle", "all_riders"): (-1, -1),
        (north, "scooter_standing", "all_riders"): (10, -1),
        (north, "scooter_standing", "adaptive_scooter"): (10, -1),
    }
    assert rows_of(response, other.provider_id) == []

    auditor = await tenant(Role.CITY_AUDITOR)
    everyone = await client.get(f"{REPORTS}/2025-11.csv", headers=auditor.headers)
    assert rows_of(everyone, gateway.provider_id) == mine
    assert counts(rows_of(everyone, other.provider_id))[
        (centre, "scooter_standing", "all_riders")
    ] == (
        10,
        -1,
    )
    narrowed = await client.get(
        f"{REPORTS}/2025-11.csv",
        headers=auditor.headers,
        params={"provider_id": str(other.provider_id)},
    )
    assert rows_of(narrowed, gateway.provider_id) == []
    assert rows_of(narrowed, other.provider_id) != []

    admin = await tenant(Role.ADMIN)
    log = (await client.get("/v1/audit-log", headers=admin.headers)).json()
    pulls = [e for e in log if e["action"] == "mds_provider.reports"]
    assert [(e["key_id"], e["params"]) for e in pulls[:3]] == [
        (auditor.key_id, {"month": "2025-11", "provider_id": str(other.provider_id)}),
        (auditor.key_id, {"month": "2025-11", "provider_id": None}),
        (manager.key_id, {"month": "2025-11", "provider_id": None}),
    ]
    assert pulls[2]["rows"] == len(mine)


@pytest.fixture
async def k1_app(connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """An app that reports every count of one or more, so single trips show."""
    app = create_app(make_settings(provider=ProviderApiSettings(report_k_anonymity=1)))
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            yield app


async def test_months_are_the_citys_local_months(
    client: AsyncClient, tenant: TenantFactory, k1_app: FastAPI
) -> None:
    gateway = await tenant()
    [scooter] = await register(client, gateway)
    # Winter time, UTC+1: the middle two start on another UTC day than the local one.
    starts = [
        local(2025, 10, 31, 23, 30),  # October (22:30 UTC)
        local(2025, 11, 1, 0, 30),  # November (31 October 23:30 UTC)
        local(2025, 11, 30, 23, 30),  # November
        local(2025, 12, 1, 0, 10),  # December (30 November 23:10 UTC)
    ]
    await post_trips(client, gateway, scooter, starts)
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    found: dict[str, dict[tuple[str, str, str], tuple[int, int]]] = {}
    async with AsyncClient(transport=ASGITransport(app=k1_app), base_url="http://t") as http:
        for month in ("2025-09", "2025-10", "2025-11", "2025-12"):
            response = await http.get(f"{REPORTS}/{month}.csv", headers=manager.headers)
            found[month] = counts(rows_of(response, gateway.provider_id))

    # No geography is published in this test: counts cover the whole area, id null.
    def whole_area(trips: int) -> dict[tuple[str, str, str], tuple[int, int]]:
        return {
            ("", "scooter_standing", "all_riders"): (trips, -1),
            ("", "scooter_standing", "adaptive_scooter"): (-1, -1),
        }

    # September had no operations: no rows at all.
    assert found == {
        "2025-09": {},
        "2025-10": whole_area(1),
        "2025-11": whole_area(2),
        "2025-12": whole_area(1),
    }


@pytest.mark.parametrize(
    "name", ["2025-13.csv", "2025-00.csv", "2025-11", "2025-11.json", "25-11.csv", "november.csv"]
)
async def test_malformed_names_are_400(
    client: AsyncClient, tenant: TenantFactory, name: str
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.get(f"{REPORTS}/{name}", headers=auditor.headers)
    assert response.status_code == 400
    assert response.json()["error_details"] == ["filename"]


async def test_current_and_future_months_are_404_and_past_novembers_200(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    today = datetime.now(STOCKHOLM)
    later = (today.replace(day=1) + timedelta(days=40)).strftime("%Y-%m")
    for month in (today.strftime("%Y-%m"), later):
        response = await client.get(f"{REPORTS}/{month}.csv", headers=auditor.headers)
        assert response.status_code == 404, month
        assert response.json()["error"] == "not_found"
    response = await client.get(f"{REPORTS}/2019-11.csv", headers=auditor.headers)
    assert response.status_code == 200
    assert response.text.splitlines() == [HEADER]


async def test_gateways_may_not_read_reports(client: AsyncClient, tenant: TenantFactory) -> None:
    gateway = await tenant()
    response = await client.get(f"{REPORTS}/2025-11.csv", headers=gateway.headers)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_utc_would_have_counted_differently() -> None:
    # Guards the month test above: its trips straddle UTC and local month boundaries.
    assert datetime.fromtimestamp(local(2025, 11, 1, 0, 30) / 1000, UTC).month == 10
    assert datetime.fromtimestamp(local(2025, 12, 1, 0, 10) / 1000, UTC).month == 11
