"""Never stricter than MDS: each value here is valid by the official schema and was refused
by fleetbed before; now it is accepted (201) and stored as given."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode, Role
from app.core.mstime import to_ms
from fleet.events.models import VehicleEvent
from fleet.trips.models import Trip
from fleet.vehicles.models import Vehicle
from telemetry.models import TelemetryPoint
from tests.conftest import Tenant, TenantFactory
from tests.hours import closed_hour, hour_text
from tests.mds_schemas import assert_valid, model_validator
from tests.payloads import HELSINGBORG, event, now_ms, point, register, trip, vehicle

MODELS = {
    "telemetry": "models/telemetry.yaml",
    "events": "models/event.yaml",
    "vehicles": "models/vehicle.yaml",
    "trips": "models/trip.yaml",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TS = now_ms() - 120_000
GPS = {"lat": HELSINGBORG[0], "lng": HELSINGBORG[1]}
LONG_URL = "https://photos.example.org/parking/" + "a" * 300
M = Mode.MICROMOBILITY
P = Mode.PASSENGER_SERVICES

# (endpoint, mode, fields sent, path into what is stored, the value stored there)
CASES: list[tuple[str, Mode, dict[str, Any], tuple[str, ...], Any]] = [
    # JSON Schema's integer (and MDS's timestamp: a number, multiple of 1) holds 80.0.
    ("telemetry", M, {"timestamp": float(TS)}, ("timestamp",), TS),
    ("telemetry", M, {"battery_percent": 80.0}, ("battery_percent",), 80),
    ("telemetry", M, {"fuel_percent": 35.0}, ("fuel_percent",), 35),
    ("telemetry", M, {"location": {**GPS, "satellites": 9.0}}, ("satellites",), 9),
    # `integer-positive` has no maximum: more than 16 bits, more than 32 bits.
    ("telemetry", M, {"location": {**GPS, "satellites": 40_000}}, ("satellites",), 40_000),
    ("telemetry", M, {"location": {**GPS, "satellites": 2**40}}, ("satellites",), 2**40),
    # Telemetry and GPS are open objects: unknown fields are kept.
    ("telemetry", M, {"firmware": "4.2.1"}, ("extras", "firmware"), "4.2.1"),
    (
        "telemetry",
        M,
        {"location": {**GPS, "hdop": 0.9}},
        ("extras", "location", "hdop"),
        0.9,
    ),
    ("events", M, {"timestamp": float(TS)}, ("timestamp",), TS),
    ("events", M, {"publication_time": float(TS + 5)}, ("publication_time",), TS + 5),
    ("events", M, {"battery_percent": 55.0}, ("battery_percent",), 55),
    # `uuid-array` may be empty where a location is given.
    ("events", M, {"event_geographies": []}, ("event_geographies",), []),
    ("events", M, {"firmware": "4.2.1"}, ("firmware",), "4.2.1"),
    ("events", M, {"location": {**GPS, "hdop": 0.9}}, ("location", "hdop"), 0.9),
    # The mode schema pairs each type with the states it leads into, in any order.
    (
        "events",
        M,
        {"vehicle_state": "available", "event_types": ["located", "comms_restored"]},
        ("event_types",),
        ["located", "comms_restored"],
    ),
    ("vehicles", M, {"battery_capacity": 2**40}, ("battery_capacity",), 2**40),
    ("vehicles", M, {"maximum_speed": 25.0}, ("maximum_speed",), 25),
    (
        "vehicles",
        M,
        {"vehicle_attributes": {"year": 2300}},
        ("vehicle_attributes", "year"),
        2300,
    ),
    ("vehicles", M, {"firmware": "4.2.1"}, ("firmware",), "4.2.1"),
    ("trips", M, {"duration": 600.0}, ("duration",), 600),
    ("trips", M, {"distance": 1400.0}, ("distance",), 1400),
    # integer-positive has no maximum; the columns hold 64 bits.
    ("trips", M, {"duration": 2**40}, ("duration",), 2**40),
    ("trips", M, {"distance": 2**40}, ("distance",), 2**40),
    ("trips", M, {"standard_cost": None}, ("standard_cost",), None),
    ("trips", M, {"actual_cost": 520.0}, ("actual_cost",), 520),
    ("trips", M, {"currency": None}, ("currency",), None),
    ("trips", M, {"trip_type": []}, ("trip_type",), []),
    ("trips", M, {"trip_attributes": {"app": "x"}}, ("trip_attributes", "app"), "x"),
    ("trips", M, {"fare_attributes": {"zone": 3}}, ("fare_attributes", "zone"), 3),
    ("trips", M, {"firmware": "4.2.1"}, ("firmware",), "4.2.1"),
    ("trips", M, {"parking_verification_url": LONG_URL}, ("parking_verification_url",), LONG_URL),
    ("trips", M, {"end_location": {**GPS, "hdop": 0.9}}, ("end_location", "hdop"), 0.9),
    # Passenger services require trip_type, not trip_attributes.
    ("trips", P, {"trip_type": ["private"]}, ("trip_type",), ["private"]),
]


def _ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def payload(endpoint: str, tenant: Tenant, device: str, fields: dict[str, Any]) -> dict[str, Any]:
    if endpoint == "telemetry":
        return point(tenant, device, **fields)
    if endpoint == "events":
        return event(tenant, device, **fields)
    if endpoint == "trips":
        return trip(tenant, device, **fields)
    return vehicle(tenant, **fields)


async def stored(session: AsyncSession, endpoint: str, item: dict[str, Any]) -> dict[str, Any]:
    """What fleetbed keeps of `item`: the row's columns for telemetry, else the record."""
    if endpoint == "telemetry":
        row = (
            await session.execute(
                select(TelemetryPoint).where(
                    TelemetryPoint.telemetry_id == uuid.UUID(item["telemetry_id"])
                )
            )
        ).scalar_one()
        return {
            "timestamp": _ms(row.recorded_at),
            "battery_percent": row.battery_percent,
            "fuel_percent": row.fuel_percent,
            "satellites": row.satellites,
            "extras": row.extras,
        }
    if endpoint == "events":
        column, key = VehicleEvent.record, VehicleEvent.event_id == uuid.UUID(item["event_id"])
    elif endpoint == "trips":
        column, key = Trip.details, Trip.trip_id == uuid.UUID(item["trip_id"])
    else:
        column, key = Vehicle.record, Vehicle.device_id == uuid.UUID(item["device_id"])
    record: dict[str, Any] = (await session.execute(select(column).where(key))).scalar_one()
    return dict(record["agency"]) if endpoint == "trips" else record


def dig(record: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        record = record[key]
    return record


@pytest.mark.parametrize(
    ("endpoint", "mode", "fields", "path", "expected"),
    CASES,
    ids=[f"{c[0]}-{'.'.join(c[3])}-{c[2]!r:.40}" for c in CASES],
)
async def test_a_value_mds_accepts_is_stored_as_given(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    endpoint: str,
    mode: Mode,
    fields: dict[str, Any],
    path: tuple[str, ...],
    expected: Any,
) -> None:
    gateway = await tenant(mode=mode)
    [device] = await register(client, gateway)
    item = payload(endpoint, gateway, device, fields)
    assert_valid(model_validator(MODELS[endpoint], str(mode)), item)
    response = await client.post(f"/mds/agency/{endpoint}", headers=gateway.headers, json=[item])
    assert response.status_code == 201, response.text
    value = dig(await stored(session, endpoint, item), path)
    assert value == expected
    # An integral float is stored as the integer it is.
    assert type(value) is type(expected)


async def test_unknown_telemetry_fields_come_back_as_given(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    sent = point(gateway, device, firmware="4.2.1", location={**GPS, "hdop": 0.9, "speed": 2.5})
    for path, items in (("telemetry", [sent]), ("events", [event(gateway, device)])):
        response = await client.post(f"/mds/agency/{path}", headers=gateway.headers, json=items)
        assert response.status_code == 201, response.text
    status = await client.get(f"/mds/agency/vehicles/status/{device}", headers=gateway.headers)
    assert status.status_code == 200, status.text
    [found] = status.json()["vehicles_status"]
    assert found["last_telemetry"] == sent


async def test_unknown_trip_fields_come_back_in_provider_trips_as_given(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    hour = closed_hour()
    end = to_ms(hour + timedelta(minutes=30))
    # An operator's field named like fleetbed's extension does not replace it.
    sent = trip(
        gateway,
        device,
        start_time=end - 600_000,
        end_time=end,
        firmware="4.2.1",
        ride_rating={"stars": 5},
        fleetbed="theirs",
    )
    response = await client.post("/mds/agency/trips", headers=gateway.headers, json=[sent])
    assert response.status_code == 201, response.text
    auditor = await tenant(Role.CITY_AUDITOR)
    params = {"end_time": hour_text(hour), "provider_id": str(gateway.provider_id)}
    served = await client.get("/mds/provider/trips", headers=auditor.headers, params=params)
    assert served.status_code == 200, served.text
    [found] = served.json()["trips"]
    assert (found["firmware"], found["ride_rating"]) == ("4.2.1", {"stars": 5})
    assert found["fleetbed"]["measured"]["duration"] == 600
