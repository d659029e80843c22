"""`fleetbed demo seed`: the demo city is created once, kept on re-runs, and its keys work;
the micromobility fleets get weeks of past trips, as the simulator's riders ride."""

import logging
import math
import os
import re
import stat
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import shapely
from geoalchemy2.shape import to_shape
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode, Role
from app.core.errors import Conflict, InvalidInput
from app.core.mstime import from_ms, to_ms
from app.migrations import upgrade
from app.routers.zones import zone_limits
from app.settings import Settings
from demo.city import GEODATA, HOTSPOTS, OPERATORS, ZONES, service_area_ring
from demo.fleet_plan import plan_fleet
from demo.history import SEEDED, HistoryOptions, history_window
from demo.keys_file import (
    DemoKeys,
    KeysFileError,
    keys_json,
    read_keys_file,
    write_keys_file,
)
from demo.seed import (
    FLEET_CAPS,
    SERVICE_AREA_KEY,
    SERVICE_AREA_NAME,
    SeedOutcome,
    policy_document,
    policy_id,
    seed_demo,
)
from fleet.tenancy.keys import parse_key
from fleet.tenancy.models import Provider
from fleet.tenancy.service import create_provider, load_key, revoke_key
from fleet.trips.models import Trip
from fleet.vehicles.models import Vehicle
from geofencing.compliance import VehicleSnapshot, evaluate_policy
from geofencing.models import PolicyRecord, Zone
from geofencing.policy import MIN_LEAD_TIME_MS, parse_policy
from geofencing.schemas import ZoneCreate
from geofencing.zones import ZoneScope, create_zone
from tests.config import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.conftest import Tenant
from tests.mds_schemas import PROJECT_ROOT, assert_valid, model_validator
from tests.payloads import point
from tests.processes import FLEETBED

DEMO_NAMES = {SERVICE_AREA_NAME, *(z.name for z in ZONES)}
PROVIDER_IDS = [op.provider_id for op in OPERATORS]
CITY_ROLES = {
    "admin": Role.ADMIN,
    "city_auditor": Role.CITY_AUDITOR,
    "city_planner": Role.CITY_PLANNER,
}


def geodata_path() -> Path:
    """The shared geodata: FLEETBED_DEMO_GEODATA, else ../shared/geodata from the project."""
    return Path(os.environ.get("FLEETBED_DEMO_GEODATA", PROJECT_ROOT / GEODATA))


@pytest.fixture
def geodata() -> Path:
    path = geodata_path()
    if not path.is_file():
        pytest.skip(f"Helsingborg geodata not found at {path}; set FLEETBED_DEMO_GEODATA")
    return path


@pytest.fixture
def keys_path(tmp_path: Path) -> Path:
    return tmp_path / ".fleetbed" / "demo-keys.json"


# Past trips only where a test looks at them: a large fleet's take seconds to draw.
NO_HISTORY = HistoryOptions(weeks=0)


async def seed(
    session: AsyncSession,
    settings: Settings,
    keys_path: Path,
    geodata: Path,
    vehicles: int = 300,
    history: HistoryOptions = NO_HISTORY,
    now: datetime | None = None,
) -> SeedOutcome:
    """What `fleetbed demo seed` does, inside the test's transaction."""
    known = read_keys_file(keys_path)
    outcome = await seed_demo(
        session,
        vehicles=vehicles,
        geodata=geodata,
        limits=zone_limits(settings.geofence),
        keys=known,
        now=now or datetime.now(UTC),
        history=history,
    )
    await session.flush()
    if outcome.keys != known:
        write_keys_file(keys_path, outcome.keys)
    return outcome


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def content(path: Path) -> bytes | None:
    """The file's bytes, None when absent (sync: file checks stay out of the event loop)."""
    return path.read_bytes() if path.exists() else None


def exists(path: Path) -> bool:
    return path.exists()


def document_of(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


# A gateway, a manager and a field agent per demo operator; admin, auditor and planner.
DEMO_KEYS = 3 * len(OPERATORS) + 3


def all_keys(keys: DemoKeys) -> list[str]:
    found = [
        k for p in keys.providers.values() for k in (p.gateway_key, p.manager_key, p.agent_key)
    ]
    found += [keys.city.admin, keys.city.city_auditor, keys.city.city_planner]
    assert all(found)
    return [k for k in found if k]


def tallies(outcome: SeedOutcome) -> dict[str, tuple[int, int, int]]:
    kinds = ("providers", "api_keys", "vehicles", "zones", "policies")
    return {
        kind: (
            getattr(outcome, kind).created,
            getattr(outcome, kind).kept,
            getattr(outcome, kind).updated,
        )
        for kind in kinds
    }


async def demo_zones(session: AsyncSession) -> list[Zone]:
    """Every version of the demo's zones, retired ones too."""
    query = select(Zone).where(Zone.name.in_(DEMO_NAMES), Zone.provider_id.is_(None))
    return list((await session.execute(query.order_by(Zone.name, Zone.version))).scalars())


async def test_a_first_seed_creates_the_whole_demo_city(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    outcome = await seed(session, settings, keys_path, geodata)

    assert tallies(outcome) == {
        "providers": (5, 0, 0),
        "api_keys": (DEMO_KEYS, 0, 0),
        "vehicles": (300, 0, 0),
        "zones": (len(ZONES) + 1, 0, 0),
        "policies": (3, 0, 0),
    }
    providers = (
        await session.execute(select(Provider).where(Provider.provider_id.in_(PROVIDER_IDS)))
    ).scalars()
    assert {(p.provider_id, p.name, p.mode) for p in providers} == {
        (op.provider_id, op.name, op.mode.value) for op in OPERATORS
    }

    # The keys file has the contract's shape, and each key its role and provider.
    document = document_of(keys_path)
    assert set(document) == {"providers", "city"}
    assert set(document["city"]) == set(CITY_ROLES)
    assert set(document["providers"]) == {op.key for op in OPERATORS}
    for op in OPERATORS:
        entry = document["providers"][op.key]
        assert set(entry) == {
            "provider_id",
            "name",
            "mode",
            "gateway_key",
            "manager_key",
            "agent_key",
        }
        assert (entry["provider_id"], entry["name"], entry["mode"]) == (
            str(op.provider_id),
            op.name,
            op.mode.value,
        )
        for field, role in (("gateway_key", Role.GATEWAY), ("manager_key", Role.OPERATOR_MANAGER)):
            stored = await load_key(session, key_id=parse_key(entry[field]).key_id)  # type: ignore[union-attr]
            assert stored is not None
            assert (stored.role, stored.provider_id, stored.mode) == (role, op.provider_id, op.mode)
    for name, role in CITY_ROLES.items():
        stored = await load_key(session, key_id=parse_key(document["city"][name]).key_id)  # type: ignore[union-attr]
        assert stored is not None
        assert (stored.role, stored.provider_id, stored.revoked) == (role, None, False)
    assert mode_of(keys_path) == 0o600
    assert mode_of(keys_path.parent) == 0o700

    plan = plan_fleet(300)
    rows = (
        await session.execute(
            select(Vehicle).where(Vehicle.device_id.in_([v.device_id for v in plan]))
        )
    ).scalars()
    registered = {v.device_id: v for v in rows}
    by_key = {op.key: op for op in OPERATORS}
    assert len(registered) == 300
    for planned in plan:
        vehicle = registered[planned.device_id]
        operator = by_key[planned.operator_key]
        assert vehicle.provider_id == operator.provider_id
        assert (vehicle.vehicle_id, vehicle.vehicle_type) == (
            planned.vehicle_id,
            planned.vehicle_type.value,
        )
        assert vehicle.record["propulsion_types"] == [p.value for p in planned.propulsion_types]
        assert_valid(model_validator("models/vehicle.yaml", operator.mode.value), vehicle.record)

    zones = await demo_zones(session)
    assert {(z.name, z.kind, z.version) for z in zones} == {
        (SERVICE_AREA_NAME, "service_area", 1),
        *((z.name, z.kind, 1) for z in ZONES),
    }
    [area] = [z for z in zones if z.kind == "service_area"]
    assert to_shape(area.geometry).equals(shapely.Polygon(service_area_ring(geodata)))
    assert to_shape(area.geometry).contains(shapely.Point(12.6940, 56.0440))  # Helsingborg C
    assert outcome.zone_ids[SERVICE_AREA_KEY] == area.zone_id
    # In force a day back, so a simulator replaying the last hours meets them.
    assert all(z.effective_at <= datetime.now(UTC) - timedelta(hours=23) for z in zones)


async def test_the_policies_cap_each_operator_and_limit_speed_in_the_slow_zones(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    outcome = await seed(session, settings, keys_path, geodata)

    records = {
        r.policy_id: r
        for r in (
            await session.execute(
                select(PolicyRecord).where(PolicyRecord.policy_id.in_(outcome.policy_ids))
            )
        ).scalars()
    }
    assert set(records) == {policy_id(m) for m in Mode if m is not Mode.CAR_SHARE}
    slow = {z.key: dict(z.fields)["max_speed_kph"] for z in ZONES if z.kind == "slow"}
    for mode in FLEET_CAPS:
        record = records[policy_id(mode)].record
        assert_valid(model_validator("models/policy.yaml"), record)
        assert record["mode_id"] == mode.value
        assert record["provider_ids"] == [
            str(op.provider_id) for op in OPERATORS if op.mode is mode
        ]
        assert record["start_date"] - record["published_date"] == MIN_LEAD_TIME_MS
        *speeds, cap = record["rules"]
        assert [(r["rule_type"], r["geographies"], r["maximum"]) for r in speeds] == [
            ("speed", [str(outcome.zone_ids[key])], kph) for key, kph in slow.items()
        ]
        assert (cap["rule_type"], cap["geographies"], cap["maximum"]) == (
            "count",
            [str(outcome.zone_ids[SERVICE_AREA_KEY])],
            FLEET_CAPS[mode],
        )


def test_the_default_fleet_exceeds_the_cap_of_exactly_one_operator() -> None:
    zone_ids = {SERVICE_AREA_KEY: uuid.uuid4(), **{z.key: uuid.uuid4() for z in ZONES}}
    start = 1_900_000_000_000
    by_key = {op.key: op for op in OPERATORS}
    excess = {}
    for mode in FLEET_CAPS:
        providers = [op.provider_id for op in OPERATORS if op.mode is mode]
        document = policy_document(mode, providers, zone_ids, start)
        policy = parse_policy({**document, "published_date": start - MIN_LEAD_TIME_MS})
        fleet = [
            VehicleSnapshot(
                device_id=str(v.device_id),
                provider_id=str(by_key[v.operator_key].provider_id),
                vehicle_type=v.vehicle_type.value,
                propulsion_types=tuple(p.value for p in v.propulsion_types),
                state="available",
                event_types=("provider_drop_off",),
                lat=56.05,
                lng=12.70,
                state_since_ms=start - 60_000,
            )
            for v in plan_fleet(300)
            if by_key[v.operator_key].mode is mode
        ]
        result = evaluate_policy(
            policy,
            fleet,
            now_ms=start,
            tz="Europe/Stockholm",
            geographies={
                (v.provider_id, v.device_id): {str(zone_ids[SERVICE_AREA_KEY])} for v in fleet
            },
        )
        excess.update({p.provider_id: p.excess_vehicles_count for p in result.providers})
    assert excess == {
        str(op.provider_id): 114 - FLEET_CAPS[Mode.MICROMOBILITY] if op.key == "sundsvik" else 0
        for op in OPERATORS
    }


async def test_a_second_seed_changes_nothing(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    first = await seed(session, settings, keys_path, geodata)
    written = content(keys_path)
    zones_before = [(z.zone_id, z.version, z.retired_at) for z in await demo_zones(session)]

    again = await seed(session, settings, keys_path, geodata)

    assert tallies(again) == {
        "providers": (0, 5, 0),
        "api_keys": (0, DEMO_KEYS, 0),
        "vehicles": (0, 300, 0),
        "zones": (0, len(ZONES) + 1, 0),
        "policies": (0, 3, 0),
    }
    assert not again.zones_changed
    assert again.keys == first.keys
    assert content(keys_path) == written
    assert [(z.zone_id, z.version, z.retired_at) for z in await demo_zones(session)] == (
        zones_before
    )
    assert again.zone_ids == first.zone_ids
    assert again.policy_ids == first.policy_ids
    policies = (
        await session.execute(
            select(PolicyRecord.policy_id).where(PolicyRecord.created_by == "demo seed")
        )
    ).scalars()
    assert sorted(policies) == sorted(first.policy_ids)


async def test_a_larger_fleet_adds_only_the_new_vehicles(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    await seed(session, settings, keys_path, geodata, vehicles=20)
    # More than one batch of registrations.
    grown = await seed(session, settings, keys_path, geodata, vehicles=2500)
    assert (grown.vehicles.created, grown.vehicles.kept) == (2480, 20)
    rows = (
        await session.execute(
            select(Vehicle.device_id).where(Vehicle.provider_id.in_(PROVIDER_IDS))
        )
    ).all()
    assert len(rows) == 2500


async def test_a_revoked_key_is_replaced_and_the_others_kept(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    first = await seed(session, settings, keys_path, geodata)
    revoked = first.keys.providers["sundsvik"].gateway_key
    assert revoked is not None
    await revoke_key(session, key_id=parse_key(revoked).key_id)  # type: ignore[union-attr]

    again = await seed(session, settings, keys_path, geodata)

    assert (again.api_keys.created, again.api_keys.kept) == (1, DEMO_KEYS - 1)
    renewed = read_keys_file(keys_path)
    assert renewed == again.keys
    assert renewed is not None
    new_key = renewed.providers["sundsvik"].gateway_key
    assert new_key is not None
    assert new_key != revoked
    stored = await load_key(session, key_id=parse_key(new_key).key_id)  # type: ignore[union-attr]
    assert stored is not None
    assert (stored.role, stored.provider_id, stored.revoked) == (
        Role.GATEWAY,
        OPERATORS[0].provider_id,
        False,
    )
    unchanged = [k for k in all_keys(first.keys) if k != revoked]
    assert [k for k in all_keys(again.keys) if k != new_key] == unchanged
    assert mode_of(keys_path) == 0o600


async def test_keys_missing_from_the_file_or_of_another_role_are_issued_anew(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    first = await seed(session, settings, keys_path, geodata)
    document = document_of(keys_path)
    # A planner key where the auditor's belongs is valid, but not for that role.
    document["city"]["city_auditor"] = document["city"]["city_planner"]
    del document["providers"]["kullacykel"]["manager_key"]
    write_keys_file(keys_path, DemoKeys.model_validate(document))

    again = await seed(session, settings, keys_path, geodata)

    assert (again.api_keys.created, again.api_keys.kept) == (2, DEMO_KEYS - 2)
    assert again.keys.city.city_planner == first.keys.city.city_planner
    assert again.keys.city.city_auditor not in (None, first.keys.city.city_planner)
    assert again.keys.providers["kullacykel"].manager_key is not None
    assert read_keys_file(keys_path) == again.keys


async def test_keys_never_reach_logs_output_or_reprs(
    session: AsyncSession,
    settings: Settings,
    keys_path: Path,
    geodata: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = await seed(session, settings, keys_path, geodata)
    print(outcome, outcome.keys, *outcome.summary())
    captured = capsys.readouterr()
    seen = caplog.text + captured.out + captured.err + repr(outcome) + str(outcome.keys)
    keys = all_keys(outcome.keys)
    assert len(set(keys)) == DEMO_KEYS
    for key in keys:
        assert key not in seen
        assert parse_key(key).secret not in seen  # type: ignore[union-attr]


async def test_the_seeded_keys_work_against_the_app(
    client: AsyncClient, session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    outcome = await seed(session, settings, keys_path, geodata)
    keys = outcome.keys

    def bearer(key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    listed = await client.get("/v1/zones", headers=bearer(keys.city.city_planner))
    assert listed.status_code == 200, listed.text
    assert {z["name"] for z in listed.json()} >= DEMO_NAMES
    for key in (keys.city.admin, keys.city.city_auditor):
        assert (await client.get("/v1/zones", headers=bearer(key))).status_code == 200

    sundsvik = OPERATORS[0]
    operator = keys.providers[sundsvik.key]
    assert operator.gateway_key is not None
    gateway = Tenant(sundsvik.provider_id, "", operator.gateway_key, sundsvik.mode)
    device_id = str(plan_fleet(300)[0].device_id)
    posted = await client.post(
        "/mds/agency/telemetry", headers=gateway.headers, json=[point(gateway, device_id)]
    )
    assert posted.status_code == 201, posted.text

    manager = Tenant(sundsvik.provider_id, "", operator.manager_key or "", sundsvik.mode)
    mine = await client.get(f"/mds/agency/vehicles/{device_id}", headers=manager.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["vehicles"][0]["vehicle_id"] == "SUND-0000"


async def test_a_zone_that_differs_gets_a_new_version(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    [stortorget] = [z for z in ZONES if z.key == "stortorget"]
    old = await create_zone(
        session,
        data=ZoneCreate.model_validate(
            {**orjson.loads(orjson.dumps(stortorget.create_body())), "max_speed_kph": 15}
        ),
        scope=ZoneScope(None, may_write_citywide=True),
        limits=zone_limits(settings.geofence),
        created_by="test",
        now=datetime.now(UTC),
    )

    outcome = await seed(session, settings, keys_path, geodata)

    assert (outcome.zones.created, outcome.zones.kept, outcome.zones.updated) == (len(ZONES), 0, 1)
    versions = [z for z in await demo_zones(session) if z.lineage_id == old.lineage_id]
    assert [(z.version, z.max_speed_kph, z.retired_at is None) for z in versions] == [
        (1, 15, False),
        (2, 10, True),
    ]
    assert versions[1].prev_zone_ids == [old.zone_id]
    assert outcome.zone_ids["stortorget"] == versions[1].zone_id
    again = await seed(session, settings, keys_path, geodata)
    assert (again.zones.created, again.zones.updated) == (0, 0)


async def test_a_provider_of_another_mode_under_a_demo_id_is_a_conflict(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    await create_provider(
        session,
        name="Not the demo",
        mode=Mode.DELIVERY_ROBOTS,
        provider_id=OPERATORS[0].provider_id,
    )
    with pytest.raises(Conflict, match="the demo needs micromobility"):
        await seed(session, settings, keys_path, geodata)
    assert content(keys_path) is None


async def test_missing_geodata_is_a_clear_error_and_writes_nothing(
    session: AsyncSession, settings: Settings, keys_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"geodata not found at .*--geodata"):
        await seed(session, settings, keys_path, tmp_path / "nowhere.geojson")
    with pytest.raises(InvalidInput, match="vehicles"):
        await seed(session, settings, keys_path, tmp_path / "nowhere.geojson", vehicles=-1)
    found = await session.execute(select(Provider).where(Provider.provider_id.in_(PROVIDER_IDS)))
    assert found.first() is None
    assert not exists(keys_path.parent)


HISTORY_FLEET = 25  # 22 of them micromobility: a fleet small enough to seed in about a second
HISTORY = HistoryOptions()  # the demo's: four weeks
TZ = ZoneInfo("Europe/Stockholm")
MICROMOBILITY = [op.provider_id for op in OPERATORS if op.mode is Mode.MICROMOBILITY]
PODS = [op.provider_id for op in OPERATORS if op.mode is not Mode.MICROMOBILITY]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two (lat, lng) points of the city (equirectangular)."""
    kx = 111_320.0 * math.cos(math.radians(a[0]))
    return math.hypot((b[1] - a[1]) * kx, (b[0] - a[0]) * 110_574.0)


def located(lat: float | None, lng: float | None) -> tuple[float, float]:
    """A trip end's position, which a seeded trip always has."""
    assert lat is not None
    assert lng is not None
    return (lat, lng)


async def seeded_trips(session: AsyncSession) -> list[Trip]:
    query = select(Trip).where(Trip.details.contains(SEEDED))
    return list((await session.scalars(query.order_by(Trip.device_id, Trip.start_at))).all())


async def vehicles_of(
    session: AsyncSession, provider_ids: list[uuid.UUID]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(provider, device) of the providers' registered vehicles."""
    rows = await session.execute(
        select(Vehicle.provider_id, Vehicle.device_id).where(Vehicle.provider_id.in_(provider_ids))
    )
    return {(p, d) for p, d in rows.all()}


async def test_the_history_follows_the_demand_model_and_is_written_once(
    session: AsyncSession, settings: Settings, keys_path: Path, geodata: Path
) -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    since, until = (from_ms(t) for t in history_window(to_ms(now), HISTORY.weeks))
    outcome = await seed(session, settings, keys_path, geodata, HISTORY_FLEET, HISTORY, now)

    trips = await seeded_trips(session)
    assert (outcome.trips.created, outcome.trips.kept) == (len(trips), 0)
    assert {t.provider_id for t in trips} == set(MICROMOBILITY)
    owned = await vehicles_of(session, MICROMOBILITY)
    # About the simulator's rate of trips per vehicle and day (less rides that found no
    # parking, and the time spent riding).
    per_day = len(trips) / (len(owned) * 7 * HISTORY.weeks)
    assert 0.8 * HISTORY.trips_per_day < per_day <= HISTORY.trips_per_day

    # Each trip is of one of its provider's vehicles, closed, located, measured, and over
    # before the hour in progress (which the Provider API has yet to serve).
    assert until < hour
    previous: Trip | None = None
    for trip in trips:
        assert (trip.provider_id, trip.device_id) in owned
        assert trip.status == "closed"
        start_at, end_at = trip.start_at, trip.end_at
        assert start_at is not None
        assert end_at is not None
        assert since <= start_at < end_at < until
        assert trip.duration_s == (end_at - start_at).total_seconds()
        start, end = located(trip.start_lat, trip.start_lng), located(trip.end_lat, trip.end_lng)
        assert trip.distance_m is not None
        assert abs(trip.distance_m - metres(start, end)) <= 0.01 * trip.distance_m + 1
        assert trip.parking_category in {"corral", "other_valid"}
        assert (trip.measured_duration_s, trip.measured_distance_m) == (
            trip.duration_s,
            trip.distance_m,
        )
        # A vehicle's next trip sets off where and after its last one ended.
        if previous is not None and previous.device_id == trip.device_id:
            assert previous.end_at is not None
            assert previous.end_at <= start_at
            assert (previous.end_lat, previous.end_lng) == start
        previous = trip

    # More near the busiest hotspot than in all the outskirts (2 km from any) together.
    busiest = max(HOTSPOTS, key=lambda h: h.weight)
    starts = [located(t.start_lat, t.start_lng) for t in trips]
    near = sum(1 for s in starts if metres((busiest.lat, busiest.lng), s) < 400)
    outskirts = sum(1 for s in starts if min(metres((h.lat, h.lng), s) for h in HOTSPOTS) > 2_000)
    assert near > outskirts > 0

    # The commute peak at 08:00 on weekdays, the night at 03:00 (local time).
    local = [t.start_at.astimezone(TZ) for t in trips if t.start_at is not None]
    weekday = [t for t in local if t.weekday() < 5]
    at_eight = sum(1 for t in weekday if t.hour == 8)
    at_three = sum(1 for t in weekday if t.hour == 3)
    assert at_eight > 5 * at_three > 0

    # The pods are not rebalanced: no history for them.
    pods = select(func.count()).select_from(Trip).where(Trip.provider_id.in_(PODS))
    assert await session.scalar(pods) == 0

    # A second seed, an hour later, keeps the history as it is.
    again = await seed(
        session, settings, keys_path, geodata, HISTORY_FLEET, HISTORY, now + timedelta(hours=1)
    )
    assert (again.trips.created, again.trips.kept) == (0, len(trips))
    assert [t.trip_id for t in await seeded_trips(session)] == [t.trip_id for t in trips]


def test_a_broken_keys_file_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("fbk_0123456789abcdef.not json")
    with pytest.raises(KeysFileError, match="is not JSON") as not_json:
        read_keys_file(path)
    secret = "fbk_0123456789abcdef." + "s" * 43
    path.write_bytes(orjson.dumps({"providers": [], "city": {"admin": secret, "root": secret}}))
    with pytest.raises(KeysFileError, match=r"providers, city\.root") as bad:
        read_keys_file(path)
    assert secret not in bad.value.detail
    assert "not json" not in not_json.value.detail
    assert read_keys_file(tmp_path / "absent.json") is None


def test_the_keys_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "keys.json"
    previous = os.umask(0)
    try:
        write_keys_file(path, DemoKeys())
        write_keys_file(path, DemoKeys())  # replaced in place, still private
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes() == keys_json(DemoKeys())
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]


def run_fleetbed(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FLEETBED_DATABASE_URL": database_url,
        "FLEETBED_REDIS_URL": TEST_REDIS_URL,
    }
    return subprocess.run(
        [FLEETBED, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_command_seeds_once_and_prints_no_keys(
    scratch_database_url: str, tmp_path: Path, geodata: Path
) -> None:
    upgrade(scratch_database_url)
    keys_path = tmp_path / ".fleetbed" / "demo-keys.json"
    args = ("demo", "seed", "--vehicles", "30", "--keys", str(keys_path), "--geodata", str(geodata))

    first = run_fleetbed(scratch_database_url, *args)
    second = run_fleetbed(scratch_database_url, *args)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "vehicles:  30 created, 0 already there" in first.stdout
    # Four weeks of the micromobility vehicles' trips, written once.
    written = re.search(r"^trips:     ([1-9]\d*) created, 0 already there", first.stdout, re.M)
    assert written, first.stdout
    assert f"trips:     0 created, {written[1]} already there" in second.stdout
    assert f"keys file: {keys_path} (written)" in first.stdout
    assert "vehicles:  0 created, 30 already there" in second.stdout
    assert f"keys:      0 created, {DEMO_KEYS} still valid" in second.stdout
    assert f"keys file: {keys_path} (unchanged)" in second.stdout
    keys = read_keys_file(keys_path)
    assert keys is not None
    for key in all_keys(keys):
        for run in (first, second):
            assert key not in run.stdout + run.stderr


def test_the_command_without_geodata_fails_clearly(tmp_path: Path) -> None:
    keys_path = tmp_path / ".fleetbed" / "demo-keys.json"
    result = run_fleetbed(
        TEST_DATABASE_URL,
        "demo", "seed", "--keys", str(keys_path), "--geodata", str(tmp_path / "none.geojson"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "geodata not found" in result.stderr
    assert "--geodata" in result.stderr
    assert not keys_path.parent.exists()
