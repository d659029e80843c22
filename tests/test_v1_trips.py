"""GET /v1/trips: both sets of figures, filters, keyset paging, bad input, tenancy, audit."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.reporting.models import AuditEntry
from tests.conftest import Tenant, TenantFactory
from tests.payloads import now_ms, register, trip

TRIPS = "/v1/trips"
MINUTE_MS = 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def post_trips(client: AsyncClient, gateway: Tenant, records: list[dict[str, Any]]) -> None:
    response = await client.post("/mds/agency/trips", headers=gateway.headers, json=records)
    assert response.status_code == 201, response.text


async def fleet(client: AsyncClient, gateway: Tenant) -> dict[str, Any]:
    """Four trips of two vehicles, ending a minute apart; the third claims ten minutes
    for a ride that lasted one, so it is flagged."""
    devices = await register(client, gateway, 2)
    end = now_ms() - 30 * MINUTE_MS
    records = [
        trip(
            gateway,
            devices[i % 2],
            trip_type=["rider"],
            start_time=end + i * MINUTE_MS - MINUTE_MS,
            end_time=end + i * MINUTE_MS,
            duration=600 if i == 2 else 60,
        )
        for i in range(4)
    ]
    await post_trips(client, gateway, records)
    return {"devices": devices, "records": records, "end": end}


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["trip_id"] for t in response.json()["trips"]]


async def test_a_trip_reads_with_the_citys_the_operators_and_fleetbeds_figures(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    made = await fleet(client, gateway)
    flagged = made["records"][2]
    response = await client.get(f"{TRIPS}/{flagged['trip_id']}", headers=manager.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    # The operator's figures where it gave them, fleetbed's parking where it gave none.
    assert body["operator"] == {"duration_s": 600, "distance_m": 1400, "parking_category": None}
    assert body["city"] == {**body["operator"], "parking_category": "other_valid"}
    assert body["measured"] == {
        "duration_s": 60,
        "distance_m": None,  # no telemetry of its span
        "parking_category": "other_valid",
        "route_points": None,
        "has_gaps": None,
    }
    assert (body["discrepancies"], body["flagged"]) == (["duration"], True)
    assert body["late_measurement"] is None
    assert body["end_location"] == flagged["end_location"]


async def test_filters_narrow_the_list(client: AsyncClient, tenant: TenantFactory) -> None:
    gateway = await tenant()
    auditor = await tenant(Role.CITY_AUDITOR)
    made = await fleet(client, gateway)
    mine = [r["trip_id"] for r in made["records"]]
    everything = {"provider_id": str(gateway.provider_id)}

    async def listed(**params: Any) -> list[str]:
        response = await client.get(TRIPS, headers=auditor.headers, params={**everything, **params})
        return ids(response)

    assert await listed() == mine  # by end time
    assert await listed(flagged="true") == [mine[2]]
    assert await listed(flagged="false") == [mine[0], mine[1], mine[3]]
    assert await listed(device_id=made["devices"][1]) == [mine[1], mine[3]]
    end = made["end"]
    window = {"ended_from": iso(end + MINUTE_MS), "ended_to": iso(end + 3 * MINUTE_MS)}
    assert await listed(**window) == [mine[1], mine[2]]  # from included, to excluded
    assert await listed(provider_id=str(uuid.uuid4())) == []


async def test_pages_follow_each_other_without_gaps_or_repeats(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    made = await fleet(client, gateway)
    seen: list[str] = []
    url: str | None = f"{TRIPS}?limit=3"
    pages = 0
    while url is not None:
        response = await client.get(url, headers=manager.headers)
        seen += ids(response)
        url = response.json()["links"]["next"]
        pages += 1
    assert seen == [r["trip_id"] for r in made["records"]]
    assert pages == 2


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"ended_from": "2026-12-03T10:00:00Z", "ended_to": "2026-12-03T10:00:00Z"}, 422),
        ({"after": "00000000-0000-4000-8000-000000000000"}, 422),
        ({"flagged": "perhaps"}, 422),
        ({"ended_from": "2026-12-03T10:00:00"}, 422),  # no offset
        ({"device_id": "not-a-uuid"}, 422),
        ({"limit": "0"}, 422),
    ],
)
async def test_bad_parameters_are_problems(
    client: AsyncClient, tenant: TenantFactory, params: dict[str, str], status: int
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.get(TRIPS, headers=auditor.headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_another_operator_sees_none_of_a_tenants_trips(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    owner, other = await tenant(), await tenant()
    made = await fleet(client, owner)
    theirs = await tenant(Role.OPERATOR_MANAGER, provider_id=other.provider_id)
    first = made["records"][0]["trip_id"]
    assert ids(await client.get(TRIPS, headers=theirs.headers)) == []
    filtered = {"provider_id": str(owner.provider_id)}
    assert ids(await client.get(TRIPS, headers=theirs.headers, params=filtered)) == []
    one = await client.get(f"{TRIPS}/{first}", headers=theirs.headers)
    assert one.status_code == 404
    assert one.headers["content-type"] == "application/problem+json"
    unknown = await client.get(f"{TRIPS}/{uuid.uuid4()}", headers=theirs.headers)
    assert (unknown.status_code, unknown.json()["title"]) == (404, one.json()["title"])
    cursor = await client.get(TRIPS, headers=theirs.headers, params={"after": first})
    assert cursor.status_code == 422  # as if it did not exist
    gateway_read = await client.get(TRIPS, headers=owner.headers)
    assert gateway_read.status_code == 403


async def test_an_auditors_read_is_in_the_audit_log(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    auditor = await tenant(Role.CITY_AUDITOR)
    made = await fleet(client, gateway)
    params = {"provider_id": str(gateway.provider_id), "flagged": "true"}
    assert len(ids(await client.get(TRIPS, headers=auditor.headers, params=params))) == 1
    one = made["records"][0]["trip_id"]
    assert (await client.get(f"{TRIPS}/{one}", headers=auditor.headers)).status_code == 200
    entries = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.key_id == auditor.key_id)
            .order_by(AuditEntry.entry_id)
        )
    ).all()
    assert [(e.action, e.params, e.rows) for e in entries] == [
        ("v1.trips", params, 1),
        ("v1.trip", {"trip_id": one}, 1),
    ]
