"""Malformed values of every class (times out of range, integers beyond 64 bits, NUL in
strings) get a 4xx naming the field on every endpoint family, and nothing is stored."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.main import create_app
from app.settings import ApiSettings
from tests.conftest import Tenant, TenantFactory, auth, bound_to, make_settings
from tests.payloads import event, now_ms, point, register, trip, vehicle
from tests.zones import zone

HUGE = 10**30
NUL = "HBG\u00001"
NOW = "2026-01-01T00:00:00Z"


async def rows(session: AsyncSession, table: str, provider_id: uuid.UUID | None) -> int:
    """Rows of `table` belonging to the provider."""
    query = text(f"SELECT count(*) FROM {table} WHERE provider_id = :p")  # noqa: S608
    return int((await session.execute(query, {"p": provider_id})).scalar_one())


def failed_fields(body: dict[str, Any]) -> set[str]:
    """Every field an MDS bulk failure body names."""
    return {name for f in body["failures"] for name in f["error_details"]}


def valid_item(endpoint: str, gateway: Tenant, device: str) -> dict[str, Any]:
    """A valid item for an Agency ingest endpoint."""
    if endpoint == "vehicles":
        return vehicle(gateway)
    if endpoint == "trips":
        return trip(gateway, device)
    return point(gateway, device) if endpoint == "telemetry" else event(gateway, device)


BAD_ITEMS = [
    # Fields MDS does not define are kept as given, so they are bounded like the rest.
    ("vehicles", {"note": NUL}, "note"),
    ("vehicles", {"note": 2**63}, "note"),
    ("telemetry", {"note": [2**63]}, "note"),
    ("events", {"note": {"deep": NUL}}, "note"),
    ("trips", {"note": 2**63}, "note"),
    ("telemetry", {"timestamp": HUGE}, "timestamp"),
    ("events", {"timestamp": HUGE}, "timestamp"),
    ("trips", {"end_time": HUGE}, "end_time"),
    ("trips", {"duration": 10**20}, "duration"),
    ("trips", {"distance": 2**63}, "distance"),
    ("events", {"publication_time": 2**64}, "publication_time"),
    ("vehicles", {"vehicle_id": NUL}, "vehicle_id"),
    ("vehicles", {"battery_capacity": HUGE}, "battery_capacity"),
    ("telemetry", {"device_id": NUL}, "device_id"),
    ("events", {"associated_ticket": NUL}, "associated_ticket"),
    ("events", {"event_types": [NUL]}, "event_types.0"),
    ("trips", {"parking_verification_url": NUL}, "parking_verification_url"),
    ("trips", {"accessibility_attributes": {"note": NUL}}, "accessibility_attributes"),
    ("trips", {"accessibility_attributes": {"deep": [{"n": HUGE}]}}, "accessibility_attributes"),
    ("trips", {"accessibility_attributes": {"bad\u0000key": 1}}, "accessibility_attributes"),
    ("trips", {"trip_type": [NUL]}, "trip_type.0"),
    ("vehicles", {"vehicle_attributes": {"year": 10**20}}, "vehicle_attributes.year"),
]


@pytest.mark.parametrize(("endpoint", "fields", "field"), BAD_ITEMS)
async def test_agency_ingest_refuses_out_of_bounds_values_with_a_bulk_failure(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    endpoint: str,
    fields: dict[str, Any],
    field: str,
) -> None:
    gateway = await tenant()
    (device,) = await register(client, gateway)
    before = await rows(session, endpoint, gateway.provider_id)
    item = {**valid_item(endpoint, gateway, device), **fields}
    response = await client.post(f"/mds/agency/{endpoint}", headers=gateway.headers, json=[item])
    assert response.status_code == 400, response.text
    assert field in failed_fields(response.json())
    assert await rows(session, endpoint, gateway.provider_id) == before


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    record = vehicle(gateway, vehicle_id="HBG\\u00001")
    response = await client.post("/mds/agency/vehicles", headers=gateway.headers, json=[record])
    assert response.status_code == 201, response.text
    stored = await session.execute(
        text("SELECT record->>'vehicle_id' FROM vehicles WHERE device_id = :d"),
        {"d": uuid.UUID(record["device_id"])},
    )
    assert stored.scalar_one() == "HBG\\u00001"


async def test_a_whole_telemetry_batch_with_one_huge_timestamp_names_that_item(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    (device,) = await register(client, gateway)
    batch = [point(gateway, device), point(gateway, device, timestamp=HUGE)]
    response = await client.post("/mds/agency/telemetry", headers=gateway.headers, json=batch)
    assert response.status_code == 400, response.text
    (failure,) = response.json()["failures"]
    assert failure["item"]["telemetry_id"] == batch[1]["telemetry_id"]
    assert await rows(session, "telemetry", gateway.provider_id) == 0


@pytest.fixture
async def planner(tenant: TenantFactory) -> Tenant:
    return await tenant(Role.CITY_PLANNER)


async def zone_count(session: AsyncSession) -> int:
    """Zones stored, of any version."""
    return int((await session.execute(text("SELECT count(*) FROM zones"))).scalar_one())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"effective_at": "0001-01-01T00:00:00Z"}, "effective_at"),
        ({"effective_at": "2017-12-31T23:59:59Z"}, "effective_at"),
        ({"effective_at": "2150-01-01T00:00:00Z"}, "effective_at"),
        ({"effective_at": "9999-12-31T23:59:59-01:00"}, "effective_at"),
        ({"effective_at": "0001-01-01T00:00:00+01:00"}, "effective_at"),
        ({"effective_at": "2026-11-26T12:00:00"}, "effective_at"),
        ({"name": NUL}, "name"),
        ({"description": NUL}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"geometry": {"type": "Polygon\u0000", "coordinates": []}}, "geometry"),
        ({"max_speed_kph": HUGE}, "max_speed_kph"),
    ],
)
async def test_zones_refuse_out_of_bounds_values_with_422(
    client: AsyncClient,
    planner: Tenant,
    session: AsyncSession,
    fields: dict[str, Any],
    field: str,
) -> None:
    before = await zone_count(session)
    response = await client.post("/v1/zones", headers=auth(planner), json=zone(**fields))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await zone_count(session) == before


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "field"),
    [
        (
            "POST",
            "/v1/geofence/check",
            {},
            {"points": [{"lat": 56, "lng": 12.7}], "at": "9999-12-31T23:59:59Z"},
            "at",
        ),
        (
            "POST",
            "/v1/geofence/check",
            {},
            {"points": [{"lat": 56, "lng": 12.7}], "at": "0001-01-01T00:00:00Z"},
            "at",
        ),
        ("GET", "/v1/alerts", {"since": "9999-12-31T23:59:59Z"}, None, "since"),
        ("GET", "/v1/alerts", {"since": "0001-01-01T00:00:00Z"}, None, "since"),
        (
            "GET",
            "/v1/compliance",
            {"policy_id": str(uuid.uuid4()), "at": "0001-01-01T00:00:00Z"},
            None,
            "at",
        ),
        ("GET", "/v1/audit-log", {"before": str(HUGE)}, None, "before"),
        (
            "GET",
            "/v1/exports/trips",
            {"from": "0001-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            None,
            "from",
        ),
        (
            "GET",
            "/v1/exports/trips",
            {"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59-01:00"},
            None,
            "to",
        ),
        ("POST", "/auth/token", {}, None, "grant_type"),
        ("GET", "/v1/vehicles", {"near": "56.04\u0000,12.69"}, None, "near"),
        ("GET", "/v1/zones", {"at": "5" * 65}, None, "at"),
        ("GET", "/v1/supply", {"resolution": str(HUGE)}, None, "resolution"),
    ],
)
async def test_v1_refuses_out_of_bounds_times_and_integers_with_422(
    client: AsyncClient,
    tenant: TenantFactory,
    method: str,
    path: str,
    params: dict[str, str],
    body: dict[str, Any] | None,
    field: str,
) -> None:
    admin = await tenant(Role.ADMIN)
    if path == "/auth/token":
        response = await client.post(path, data={"grant_type": NUL})
    else:
        response = await client.request(method, path, headers=auth(admin), params=params, json=body)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    named = {e["field"] for e in problem.get("errors", [])} or {problem["detail"].split(":")[0]}
    assert field in named


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/mds/provider/trips", {"end_time": "9999-12-31T23"}, "end_time"),
        ("/mds/provider/trips", {"end_time": "0001-01-01T00"}, "end_time"),
        ("/mds/provider/events/historical", {"event_time": "9999-12-31T23"}, "event_time"),
        ("/mds/provider/telemetry", {"telemetry_time": "9999-12-31T23"}, "telemetry_time"),
        ("/mds/provider/events/recent", {"start_time": str(HUGE), "end_time": "1"}, "start_time"),
        ("/mds/policies", {"start_date": str(10**20)}, "start_date"),
        ("/mds/policies", {"end_date": str(10**20)}, "end_date"),
        ("/mds/policies", {"start_date": "7000000000000"}, "start_date"),
        ("/mds/policies", {"start_date": "1000"}, "start_date"),
        ("/mds/provider/trips", {"end_time": "2026-01-01T0\u0000"}, "end_time"),
    ],
)
async def test_mds_reads_refuse_out_of_bounds_times_with_400(
    client: AsyncClient, tenant: TenantFactory, path: str, params: dict[str, str], field: str
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.get(path, headers=auditor.headers, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "bad_param"
    assert field in body["error_details"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start_date": 10**20}, "start_date"),
        ({"start_date": "0001-01-01T00:00"}, "start_date"),
        ({"start_date": "9999-12-31T23:00-01:00"}, "start_date"),
        ({"timezone": "Europe/\u0000"}, "timezone"),
        ({"measures": [NUL]}, "measures.0"),
    ],
)
async def test_metrics_refuse_out_of_bounds_values_with_400(
    client: AsyncClient, tenant: TenantFactory, fields: dict[str, Any], field: str
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    body = {"measures": ["trips.start_loc.count"], "interval": "PT1H"}
    body["start_date"] = "2025-03-10T10:00"
    body.update(fields)
    response = await client.post("/mds/metrics", headers=auditor.headers, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["error_details"]


async def test_policies_with_out_of_bounds_values_are_refused_and_not_stored(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    start = now_ms() + 3_600_000
    rule = {
        "name": "No riding",
        "rule_id": str(uuid.uuid4()),
        "rule_type": "count",
        "rule_units": "devices",
        "geographies": [str(uuid.uuid4())],
        "states": {"available": []},
        "maximum": 10,
    }
    document = {"name": "P", "description": "d", "start_date": start, "rules": [rule]}
    before = int((await session.execute(text("SELECT count(*) FROM policies"))).scalar_one())
    for bad in (
        {"name": NUL},
        {"end_date": 10**20},
        {"rules": [{**rule, "maximum": HUGE}]},
        {"rules": [{**rule, "messages": {"en": NUL}}]},
    ):
        response = await client.post(
            "/v1/policies", headers=auth(planner), json={**document, **bad}
        )
        assert response.status_code == 422, (bad, response.text)
    after = int((await session.execute(text("SELECT count(*) FROM policies"))).scalar_one())
    assert after == before


@pytest.fixture
async def short_sighted_app(connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """An app that accepts times at most two days ahead."""
    settings = make_settings(api=ApiSettings(max_vehicle_batch=100, max_time_horizon_days=2))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            yield app


async def test_the_time_horizon_is_a_setting(
    tenant: TenantFactory, short_sighted_app: FastAPI
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    transport = ASGITransport(app=short_sighted_app)
    answers = []
    async with AsyncClient(transport=transport, base_url="http://t") as http:
        for days in (1, 3):
            at = (datetime.now(UTC) + timedelta(days=days)).isoformat()
            check = {"points": [{"lat": 56, "lng": 12.7}], "at": at}
            response = await http.post("/v1/geofence/check", headers=auth(planner), json=check)
            answers.append(response.status_code)
    assert answers == [200, 422]


@pytest.mark.parametrize("path", ["telemetry", "events", "trips"])
async def test_a_repeated_item_holding_a_huge_integer_is_echoed_not_a_500(
    client: AsyncClient, tenant: TenantFactory, path: str
) -> None:
    gateway = await tenant(Role.GATEWAY)
    (device,) = await register(client, gateway)
    make = {"telemetry": point, "events": event, "trips": trip}[path]
    # A field MDS leaves open keeps an integer beyond 64 bits (orjson cannot write it);
    # sent twice, the item is rejected as a repeat and echoed in the failure.
    item = {**make(gateway, device), "_operator_note": 10**40}
    body = json.dumps([item, item])
    headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await client.post(f"/mds/agency/{path}", headers=headers, content=body)
    assert response.status_code == 400, response.text
    assert float(json.loads(response.text)["failures"][0]["item"]["_operator_note"]) == 1e40
