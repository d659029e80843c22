"""Request bodies are bounded before they are parsed: media type, size, items, nesting."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.main import create_app
from app.settings import ApiSettings
from tests.conftest import TenantFactory, make_settings
from tests.payloads import HELSINGBORG, now_ms, point, register

TELEMETRY = "/mds/agency/telemetry"
EVENTS = "/mds/agency/events"
WRITES = {"POST", "PUT", "PATCH"}


def _mds_writes() -> list[tuple[str, str]]:
    paths = create_app(make_settings()).openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/mds/")
        for method in operations
        if method.upper() in WRITES
    )


MDS_WRITES = _mds_writes()
REFUSED_MEDIA = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
]


def test_every_mds_write_is_covered() -> None:
    assert ("POST", TELEMETRY) in MDS_WRITES
    assert ("PUT", "/mds/agency/vehicles") in MDS_WRITES
    assert len(MDS_WRITES) >= 6


@pytest.mark.parametrize("media", REFUSED_MEDIA)
@pytest.mark.parametrize(("method", "path"), MDS_WRITES)
async def test_mds_writes_refuse_other_media_types_with_415(
    client: AsyncClient, tenant: TenantFactory, method: str, path: str, media: str | None
) -> None:
    gateway = await tenant()
    headers = dict(gateway.headers)
    if media is not None:
        headers["Content-Type"] = media
    response = await client.request(
        method, path.replace("{device_id}", str(uuid.uuid4())), headers=headers, content=b"[{}]"
    )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith("application/vnd.mds+json")
    body = response.json()
    assert body["error"] == "unsupported_media_type"
    assert body["error_details"] == ["Content-Type"]
    assert (media or "(none)").split(";")[0] in body["error_description"]


@pytest.mark.parametrize(
    "media",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.mds+json",
        "application/vnd.mds+json;version=2.0",
        "Application/JSON",
    ],
)
async def test_mds_writes_take_json_and_the_mds_type_with_parameters(
    client: AsyncClient, tenant: TenantFactory, media: str
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    headers = {**gateway.headers, "Content-Type": media}
    body = orjson.dumps([point(gateway, device)])
    response = await client.post(TELEMETRY, headers=headers, content=body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_v1_json_writes_refuse_other_media_types_with_problem_415(
    client: AsyncClient, tenant: TenantFactory, media: str | None
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    headers = {"Authorization": f"Bearer {manager.key}"}
    if media is not None:
        headers["Content-Type"] = media
    response = await client.post("/v1/zones", headers=headers, content=b'{"name": "x"}')
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["instance"]) == (415, "/v1/zones")
    assert "application/json" in problem["detail"]


async def test_form_endpoint_still_takes_forms(client: AsyncClient) -> None:
    response = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
    )
    assert response.status_code == 401


def _nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


async def test_deeply_nested_mds_body_is_400_and_stores_nothing(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    deep = point(gateway, device, location={"lat": 56.0, "lng": 12.7, "speed": _nested(40)})
    response = await client.post(TELEMETRY, headers=gateway.headers, json=[deep])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_param"
    assert "levels deep; at most 32" in body["error_description"]
    stored = await session.execute(
        text("SELECT count(*) FROM telemetry WHERE provider_id = :p"),
        {"p": gateway.provider_id},
    )
    assert stored.scalar_one() == 0


async def test_deeply_nested_vehicle_batch_is_400(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    deep = {"device_id": str(uuid.uuid4()), "vehicle_attributes": _nested(40)}
    response = await client.post("/mds/agency/vehicles", headers=gateway.headers, json=[deep])
    assert response.status_code == 400
    assert "levels deep" in response.json()["error_description"]


async def test_deeply_nested_v1_body_is_400_problem(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    headers = {"Authorization": f"Bearer {manager.key}"}
    body = {"name": "deep", "geometry": _nested(40)}
    response = await client.post("/v1/zones", headers=headers, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "at most 32" in response.json()["detail"]


async def test_nesting_within_the_limit_reaches_validation(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    headers = {"Authorization": f"Bearer {manager.key}"}
    response = await client.post(
        "/v1/zones", headers=headers, json={"name": "x", "geometry": _nested(20)}
    )
    assert response.status_code == 422


async def test_ten_megabytes_of_empty_events_are_refused_by_count(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    items = 3_500_000
    body = b"[" + b",".join([b"{}"] * items) + b"]"
    assert len(body) > 10_000_000
    headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await client.post(EVENTS, headers=headers, content=body)
    assert response.status_code == 413
    description = response.json()["error_description"]
    assert f"{items} items sent; at most 5000" in description


async def test_largest_legal_telemetry_batch_is_stored(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, count=100)
    t = now_ms() - 3_600_000
    batch = [_maximal_point(point(gateway, devices[i % 100], timestamp=t + i)) for i in range(5000)]
    body = orjson.dumps(batch)
    headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await client.post(TELEMETRY, headers=headers, content=body)
    assert response.status_code == 201, response.text[:500]
    assert response.json()["success"] == 5000
    assert len(body) < ApiSettings().max_body_bytes


def _maximal_point(base: dict[str, Any]) -> dict[str, Any]:
    trip = str(uuid.uuid4())
    return {
        **base,
        "data_provider_id": base["provider_id"],
        "trip_ids": [trip],
        "journey_id": str(uuid.uuid4()),
        "stop_id": str(uuid.uuid4()),
        "location": {
            "lat": HELSINGBORG[0] + 0.000123456789,
            "lng": HELSINGBORG[1] + 0.000123456789,
            "altitude": 12.345678901,
            "heading": 359.123456789,
            "speed": 12.345678901,
            "horizontal_accuracy": 3.456789012,
            "vertical_accuracy": 4.567890123,
            "satellites": 12,
        },
        "location_type": "bike_lane",
        "battery_percent": 80,
        "fuel_percent": 55,
        "tipped_over": False,
    }


def _maximal_trip() -> dict[str, Any]:
    """A trip with every optional field, attribute values of realistic maximal length."""
    ids = [str(uuid.uuid4()) for _ in range(6)]
    gps = _maximal_point({"provider_id": ids[0]})["location"]
    return {
        "provider_id": ids[0],
        "data_provider_id": ids[1],
        "device_id": ids[2],
        "trip_id": ids[3],
        "journey_id": ids[4],
        "journey_attributes": {"journey_type": "shared", "segments": 4},
        "trip_type": ["shared"],
        "trip_attributes": {
            "hail_type": "phone_dispatch",
            "app_name": "Helsingborg Mobility Testbed Rider App",
            "passenger_count": 4,
            "requested_time": 1_764_000_000_000,
            "has_payment": True,
            "wheelchair_transported": False,
            "reservation_method": "app",
            "reservation_time": 1_764_000_000_000,
            "dispatch_time": 1_764_000_000_000,
        },
        "fare_attributes": {
            "payment_type": "account_number",
            "fare_type": "meter_fare",
            "tolls": 12345,
            "base_rate": 1500,
            "exit_fee": 500,
            "other_fees": 250,
            "tip": 2000,
        },
        "start_time": 1_764_000_000_000,
        "end_time": 1_764_000_900_000,
        "start_location": gps,
        "end_location": gps,
        "duration": 900_000,
        "distance": 12_345,
        "publication_time": 1_764_000_960_000,
        "accessibility_attributes": ["wheelchair_accessible", "audio_cue", "braille_signage"],
        "parking_verification_url": "https://parking.example-operator.com/verify/" + "x" * 200,
        "parking_category": "other_valid",
        "standard_cost": 12_500,
        "actual_cost": 11_250,
        "currency": "SEK",
    }


def test_default_body_limit_fits_the_largest_legal_batch_twice() -> None:
    # The arithmetic behind ApiSettings.max_body_bytes.
    trip_bytes = len(orjson.dumps(_maximal_trip())) + 1
    assert 1500 < trip_bytes < 2000
    assert 2 * 5000 * trip_bytes <= ApiSettings().max_body_bytes


@pytest.fixture
async def small_limit_client() -> AsyncIterator[AsyncClient]:
    """A client of an app that takes bodies of at most 1 kB (no lifespan: nothing is read)."""
    app = create_app(make_settings(api=ApiSettings(max_body_bytes=1024)))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", [TELEMETRY, "/v1/zones"])
async def test_declared_over_large_body_is_413_in_the_family_format(
    small_limit_client: AsyncClient, path: str
) -> None:
    response = await small_limit_client.post(
        path, content=b"[" + b" " * 2000 + b"]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    if path.startswith("/mds/"):
        assert response.json()["error"] == "payload_too_large"
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 413
    assert "exceeds 1024 bytes" in response.text


async def test_streamed_body_is_refused_as_soon_as_it_crosses_the_limit(
    small_limit_client: AsyncClient,
) -> None:
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b" " * 300

    response = await small_limit_client.post(
        TELEMETRY, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    # 1 kB is crossed by the fourth chunk of 300 bytes; the rest is never read.
    assert pulled == 4
