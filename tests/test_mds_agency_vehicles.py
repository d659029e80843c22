"""MDS Agency vehicle registry: registration, update, reads, errors, tenancy, versions."""

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode, Role
from fleet.vehicles.models import Vehicle
from tests import payloads
from tests.config import MDS_ACCEPT
from tests.conftest import Tenant, TenantFactory
from tests.mds_schemas import assert_valid, model_validator, response_validator

VEHICLES = "/mds/agency/vehicles"
REQUIRED = ["device_id", "provider_id", "vehicle_id", "vehicle_type", "propulsion_types"]


def vehicle(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """A valid micromobility vehicle of `tenant` with attributes, `fields` overriding."""
    record = payloads.vehicle(
        tenant,
        battery_capacity=15000,
        maximum_speed=20,
        vehicle_attributes={"year": 2024, "make": "Voi", "model": "V5"},
        accessibility_attributes=["adaptive"],
    )
    record.update(fields)
    return record


async def count_vehicles(session: AsyncSession, tenant: Tenant) -> int:
    query = select(func.count()).where(Vehicle.provider_id == tenant.provider_id)
    return int((await session.execute(query)).scalar_one())


# Pilot pods and other modes register with their mode's attributes.
MODE_EXAMPLES: dict[Mode, dict[str, Any]] = {
    Mode.PASSENGER_SERVICES: {
        "vehicle_type": "other",
        "propulsion_types": ["electric"],
        "vehicle_attributes": {
            "year": 2026,
            "make": "Helsingborg Print Works",
            "model": "Pod P2",
            "color": "white",
            "license_plate": "POD 002",
            "inspection_date": "2026-03-14",
        },
        "accessibility_attributes": ["wheelchair_accessible"],
    },
    Mode.DELIVERY_ROBOTS: {
        "vehicle_type": "delivery_robot",
        "propulsion_types": ["electric"],
        "vehicle_attributes": {
            "year": 2026,
            "make": "Helsingborg Print Works",
            "model": "Pod G1",
            "wheel_count": 4,
            "storage_capacity": 120000,
            "top_speed": 2,
        },
        "accessibility_attributes": {"audio_cue": True, "visual_cue": True, "remote_open": False},
    },
    Mode.CAR_SHARE: {
        "vehicle_type": "car",
        "propulsion_types": ["electric"],
        "vehicle_attributes": {
            "year": 2023,
            "make": "Volvo",
            "model": "EX30",
            "color": "blue",
            "vin": "YV1XZK6V0P2000001",
            "license_plate": "ABC 123",
            "gear_switch": "automatic",
        },
        "accessibility_attributes": ["wheelchair_accessible"],
    },
    Mode.MICROMOBILITY: {"vehicle_type": "cargo_bicycle", "propulsion_types": ["electric_assist"]},
}


@pytest.mark.parametrize("mode", list(Mode))
async def test_register_then_read_back_valid_mds_per_mode(
    client: AsyncClient, tenant: TenantFactory, mode: Mode
) -> None:
    gateway = await tenant(mode=mode)
    records = [vehicle(gateway, **MODE_EXAMPLES[mode]) for _ in range(3)]
    if mode is not Mode.MICROMOBILITY:
        for record in records:
            record.pop("accessibility_attributes", None)
            record.update(MODE_EXAMPLES[mode])
    response = await client.post(VEHICLES, headers=gateway.headers, json=records)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == MDS_ACCEPT
    body = response.json()
    assert body["success"] == 3
    assert body["total"] == 3
    assert body["failures"] == []
    assert body["version"].startswith("2.0.")
    assert_valid(response_validator("agency", "/vehicles", "post", 201, mode.value), body)

    listing = await client.get(VEHICLES, headers=gateway.headers)
    assert listing.status_code == 200
    assert_valid(response_validator("agency", "/vehicles", "get", 200, mode.value), listing.json())
    assert sorted(v["device_id"] for v in listing.json()["vehicles"]) == sorted(
        r["device_id"] for r in records
    )

    one = await client.get(f"{VEHICLES}/{records[0]['device_id']}", headers=gateway.headers)
    assert one.status_code == 200
    assert_valid(
        response_validator("agency", "/vehicles/{device_id}", "get", 200, mode.value), one.json()
    )
    assert one.json()["vehicles"] == [records[0]]


async def test_registered_record_validates_against_the_pinned_vehicle_model(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    record = vehicle(gateway)
    assert (await client.post(VEHICLES, headers=gateway.headers, json=[record])).status_code == 201
    stored = (await client.get(f"{VEHICLES}/{record['device_id']}", headers=gateway.headers)).json()
    assert_valid(model_validator("models/vehicle.yaml", "micromobility"), stored["vehicles"][0])


def assert_failure_shape(body: dict[str, Any], error: str) -> None:
    """Bulk body whose failures are of the official failure schema for `error`."""
    assert_valid(model_validator("models/response/bulk.yaml"), body)
    validator = model_validator(f"models/response/error_{error}.yaml")
    for failure in body["failures"]:
        assert_valid(validator, failure)


@pytest.mark.parametrize("field", REQUIRED)
async def test_each_missing_required_field_is_missing_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, field: str
) -> None:
    gateway = await tenant()
    record = vehicle(gateway)
    del record[field]
    response = await client.post(VEHICLES, headers=gateway.headers, json=[record])
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0
    assert body["total"] == 1
    [failure] = body["failures"]
    assert failure["error"] == "missing_param"
    assert failure["error_details"] == [field]
    assert failure["item"] == record
    assert_failure_shape(body, "missing_param")
    assert await count_vehicles(session, gateway) == 0


BAD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("device_id", {"device_id": "not-a-uuid"}),
    ("device_id", {"device_id": str(uuid.uuid4()).upper()}),
    ("provider_id", {"provider_id": 12}),
    ("vehicle_id", {"vehicle_id": "x" * 256}),
    ("vehicle_id", {"vehicle_id": 42}),
    ("vehicle_type", {"vehicle_type": "hoverboard"}),
    ("propulsion_types", {"propulsion_types": []}),
    ("propulsion_types", {"propulsion_types": ["electric", "electric"]}),
    ("propulsion_types.0", {"propulsion_types": ["steam"]}),
    ("battery_capacity", {"battery_capacity": -1}),
    ("battery_capacity", {"battery_capacity": "15000"}),
    ("maximum_speed", {"maximum_speed": 25.5}),
    ("fuel_capacity", {"fuel_capacity": None}),
    ("vehicle_attributes.year", {"vehicle_attributes": {"year": 1969}}),
    ("vehicle_attributes.color", {"vehicle_attributes": {"color": "red"}}),
    ("accessibility_attributes.0", {"accessibility_attributes": ["wheelchair_accessible"]}),
    ("colour", {"colour": "gr\u0000een"}),
]


@pytest.mark.parametrize(("field", "change"), BAD_VALUES)
async def test_each_bad_value_is_bad_param_naming_the_field(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    field: str,
    change: dict[str, Any],
) -> None:
    gateway = await tenant()
    response = await client.post(
        VEHICLES, headers=gateway.headers, json=[vehicle(gateway, **change)]
    )
    assert response.status_code == 400, response.text
    [failure] = response.json()["failures"]
    assert failure["error"] == "bad_param"
    assert field in failure["error_details"]
    assert_failure_shape(response.json(), "bad_param")
    assert await count_vehicles(session, gateway) == 0


async def test_car_share_requires_its_vehicle_attributes(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant(mode=Mode.CAR_SHARE)
    record = vehicle(gateway, **MODE_EXAMPLES[Mode.CAR_SHARE])
    record["vehicle_attributes"] = {"year": 2023, "make": "Volvo"}
    response = await client.post(VEHICLES, headers=gateway.headers, json=[record])
    assert response.status_code == 400
    [failure] = response.json()["failures"]
    assert failure["error"] == "missing_param"
    assert set(failure["error_details"]) == {
        f"vehicle_attributes.{name}" for name in ("model", "color", "vin", "license_plate")
    }


async def test_inspection_date_in_november_is_accepted(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    # The official iso-date pattern rejects month 11; fleetbed parses dates properly.
    gateway = await tenant(mode=Mode.PASSENGER_SERVICES)
    record = vehicle(gateway, **MODE_EXAMPLES[Mode.PASSENGER_SERVICES])
    record["vehicle_attributes"] = {"inspection_date": "2026-11-02"}
    assert (await client.post(VEHICLES, headers=gateway.headers, json=[record])).status_code == 201
    record["device_id"] = str(uuid.uuid4())
    record["vehicle_attributes"] = {"inspection_date": "2026-02-30"}
    response = await client.post(VEHICLES, headers=gateway.headers, json=[record])
    assert response.status_code == 400
    assert response.json()["failures"][0]["error_details"] == ["vehicle_attributes.inspection_date"]


async def test_one_bad_item_rejects_the_whole_batch_listing_each_bad_item(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    good = vehicle(gateway)
    bad_type = vehicle(gateway, vehicle_type="tank")
    missing = vehicle(gateway)
    del missing["vehicle_id"]
    response = await client.post(
        VEHICLES, headers=gateway.headers, json=[good, bad_type, missing, "not an object"]
    )
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0
    assert body["total"] == 4
    by_error = {(f["error"], tuple(f["error_details"])) for f in body["failures"]}
    assert by_error == {
        ("bad_param", ("vehicle_type",)),
        ("missing_param", ("vehicle_id",)),
        ("bad_param", ("item",)),
    }
    assert await count_vehicles(session, gateway) == 0


async def test_duplicate_device_in_one_batch_is_bad_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    record = vehicle(gateway)
    response = await client.post(VEHICLES, headers=gateway.headers, json=[record, dict(record)])
    assert response.status_code == 400
    assert response.json()["failures"][0]["error_details"] == ["device_id"]
    assert await count_vehicles(session, gateway) == 0


async def test_provider_id_of_another_provider_is_bad_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    other = await tenant()
    response = await client.post(VEHICLES, headers=gateway.headers, json=[vehicle(other)])
    assert response.status_code == 400
    assert response.json()["failures"][0]["error_details"] == ["provider_id"]
    assert await count_vehicles(session, other) == 0


async def test_registering_twice_is_409_already_registered_and_applies_nothing(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    existing = vehicle(gateway)
    assert (
        await client.post(VEHICLES, headers=gateway.headers, json=[existing])
    ).status_code == 201
    fresh = vehicle(gateway)
    response = await client.post(VEHICLES, headers=gateway.headers, json=[fresh, existing])
    assert response.status_code == 409
    body = response.json()
    assert [f["item"]["device_id"] for f in body["failures"]] == [existing["device_id"]]
    assert body["failures"][0]["error"] == "already_registered"
    assert_valid(response_validator("agency", "/vehicles", "post", 409), body)
    assert await count_vehicles(session, gateway) == 1


@pytest.mark.parametrize(
    ("payload", "content"),
    [
        (None, b"{not json"),
        (None, b"[]"),
        ({"device_id": "x"}, None),
        (None, b""),
    ],
)
async def test_body_that_is_not_a_non_empty_array_is_400(
    client: AsyncClient, tenant: TenantFactory, payload: Any, content: bytes | None
) -> None:
    gateway = await tenant()
    json_headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await client.post(VEHICLES, headers=json_headers, json=payload, content=content)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_param"
    assert body["error_description"]


async def test_batch_over_the_limit_is_413(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    batch = [vehicle(gateway) for _ in range(101)]
    response = await client.post(VEHICLES, headers=gateway.headers, json=batch)
    assert response.status_code == 413
    assert "at most 100" in response.json()["error_description"]
    assert await count_vehicles(session, gateway) == 0


async def test_update_replaces_the_record(client: AsyncClient, tenant: TenantFactory) -> None:
    gateway = await tenant()
    record = vehicle(gateway)
    await client.post(VEHICLES, headers=gateway.headers, json=[record])
    changed = {**record, "vehicle_id": "HBG-NEW", "maximum_speed": 25}
    response = await client.put(VEHICLES, headers=gateway.headers, json=[changed])
    assert response.status_code == 200
    assert response.json()["success"] == 1
    assert_valid(response_validator("agency", "/vehicles", "put", 200), response.json())
    stored = await client.get(f"{VEHICLES}/{record['device_id']}", headers=gateway.headers)
    assert stored.json()["vehicles"] == [changed]


async def test_update_of_unknown_or_foreign_vehicles_is_404_unregistered_and_applies_nothing(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    other = await tenant()
    mine = vehicle(gateway)
    theirs = vehicle(other)
    await client.post(VEHICLES, headers=gateway.headers, json=[mine])
    await client.post(VEHICLES, headers=other.headers, json=[theirs])
    stolen = {**theirs, "provider_id": str(gateway.provider_id), "vehicle_id": "STOLEN"}
    unknown = vehicle(gateway)
    renamed = {**mine, "vehicle_id": "RENAMED"}
    response = await client.put(VEHICLES, headers=gateway.headers, json=[renamed, stolen, unknown])
    assert response.status_code == 404
    failures = response.json()["failures"]
    assert {f["item"]["device_id"] for f in failures} == {theirs["device_id"], unknown["device_id"]}
    assert all(f["error"] == "unregistered" for f in failures)
    assert_valid(response_validator("agency", "/vehicles", "put", 404), response.json())
    mine_now = await client.get(f"{VEHICLES}/{mine['device_id']}", headers=gateway.headers)
    assert mine_now.json()["vehicles"] == [mine]
    theirs_now = await client.get(f"{VEHICLES}/{theirs['device_id']}", headers=other.headers)
    assert theirs_now.json()["vehicles"] == [theirs]


async def test_update_validates_like_registration(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    record = vehicle(gateway)
    await client.post(VEHICLES, headers=gateway.headers, json=[record])
    response = await client.put(
        VEHICLES, headers=gateway.headers, json=[{**record, "vehicle_type": "ufo"}]
    )
    assert response.status_code == 400
    assert response.json()["failures"][0]["error_details"] == ["vehicle_type"]


async def test_other_providers_vehicles_are_invisible(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    other = await tenant()
    theirs = vehicle(other)
    await client.post(VEHICLES, headers=other.headers, json=[theirs])
    await client.post(VEHICLES, headers=gateway.headers, json=[vehicle(gateway)])
    single = await client.get(f"{VEHICLES}/{theirs['device_id']}", headers=gateway.headers)
    assert single.status_code == 404
    assert single.json()["error"] == "not_found"
    never = await client.get(f"{VEHICLES}/{uuid.uuid4()}", headers=gateway.headers)
    assert never.status_code == 404
    assert single.json()["error_description"].replace(theirs["device_id"], "") == never.json()[
        "error_description"
    ].replace(never.url.path.rsplit("/", 1)[1], "")
    listing = (await client.get(VEHICLES, headers=gateway.headers)).json()["vehicles"]
    assert theirs["device_id"] not in {v["device_id"] for v in listing}
    assert {v["provider_id"] for v in listing} == {str(gateway.provider_id)}


async def test_operator_manager_of_the_provider_can_read_the_fleet(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    record = vehicle(gateway)
    await client.post(VEHICLES, headers=gateway.headers, json=[record])
    response = await client.get(f"{VEHICLES}/{record['device_id']}", headers=manager.headers)
    assert response.status_code == 200, response.text
    assert response.json()["vehicles"] == [record]


async def test_pagination_walks_the_whole_fleet_with_links(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    records = [vehicle(gateway) for _ in range(5)]
    await client.post(VEHICLES, headers=gateway.headers, json=records)
    seen: list[str] = []
    url: str | None = f"{VEHICLES}?limit=2"
    pages = 0
    while url:
        page = await client.get(url, headers=gateway.headers)
        assert page.status_code == 200
        body = page.json()
        assert_valid(response_validator("agency", "/vehicles", "get", 200), body)
        assert len(body["vehicles"]) <= 2
        seen.extend(v["device_id"] for v in body["vehicles"])
        url = body["links"]["next"]
        pages += 1
    assert pages == 3
    assert seen == sorted(r["device_id"] for r in records)


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "after=nope"])
async def test_bad_paging_parameters_are_400(
    client: AsyncClient, tenant: TenantFactory, query: str
) -> None:
    gateway = await tenant()
    response = await client.get(f"{VEHICLES}?{query}", headers=gateway.headers)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_param"
    assert response.json()["error_details"] == [query.split("=")[0]]


async def test_device_id_path_must_be_a_lowercase_uuid(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    response = await client.get(f"{VEHICLES}/{str(uuid.uuid4()).upper()}", headers=gateway.headers)
    assert response.status_code == 400
    assert response.json()["error_details"] == ["device_id"]


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.mds+json;version=1.2",
        "application/vnd.mds+json;version=0.3",
        "application/vnd.mds+json",
    ],
)
async def test_unsupported_versions_are_406(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, accept: str
) -> None:
    gateway = await tenant()
    headers = {**gateway.headers, "Accept": accept}
    response = await client.post(VEHICLES, headers=headers, json=[vehicle(gateway)])
    assert response.status_code == 406
    assert response.json()["error"] == "unsupported_version"
    assert await count_vehicles(session, gateway) == 0


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/vnd.mds+json; version=2.0",
        "application/vnd.mds+json;version=1.0, application/vnd.mds+json;version=2.0",
    ],
)
async def test_acceptable_requests_are_answered_in_2_0(
    client: AsyncClient, tenant: TenantFactory, accept: str | None
) -> None:
    gateway = await tenant()
    headers = {"Authorization": f"Bearer {gateway.key}"}
    if accept is not None:
        headers["Accept"] = accept
    response = await client.get(VEHICLES, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == MDS_ACCEPT
    assert response.json()["version"].startswith("2.0.")
