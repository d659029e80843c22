"""`fleetbed demo seed`: publish the demo city through the services, idempotently.

Everything the demo needs has a fixed identity, so a second seed finds it and changes
nothing: providers by their fixed ids, keys by whether the keys file's keys still
authenticate, vehicles by device id, zones by name and kind among the city's zones in
force, policies by their fixed ids, past trips by whether an operator has any seeded.
The services flush; the caller commits, then writes the keys file and announces zone
changes.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode, Role
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.mstime import from_ms, to_ms
from demo.city import OPERATORS, ZONES, DemoZone, Operator, demo_id, service_area_ring
from demo.fleet_plan import PlannedVehicle, plan_fleet
from demo.gbfs import ensure_gbfs
from demo.history import SEEDED, HistoryOptions, PastTrip, history_window, past_trips
from demo.keys_file import CityKeys, DemoKeys, OperatorKeys
from demo.simulator.runner import Scenario
from fleet.reporting.metrics_catalog import DEPLOYED_STATES as METRICS_DEPLOYED_STATES
from fleet.tenancy.keys import parse_key, secret_matches
from fleet.tenancy.service import create_key, create_provider, get_provider, load_key
from fleet.trips.models import Trip
from fleet.vehicles.directory import DeviceDirectory
from fleet.vehicles.service import register_vehicles
from geofencing.models import Zone
from geofencing.policies import get_policy, publish_policy
from geofencing.policy import MIN_LEAD_TIME_MS
from geofencing.schemas import ZoneCreate, ZoneUpdate
from geofencing.zones import (
    ZoneLimits,
    ZoneScope,
    create_zone,
    list_zones,
    parse_zone_geometry,
    update_zone,
)

CREATED_BY = "demo seed"
SERVICE_AREA_KEY = "service-area"
SERVICE_AREA_NAME = "Helsingborg service area"
VEHICLE_BATCH = 1000
ZONES_BACKDATED = timedelta(days=1)
TRIP_COLUMNS = (
    "trip_id",
    "provider_id",
    "device_id",
    "status",
    "start_at",
    "start_lat",
    "start_lng",
    "end_at",
    "end_lat",
    "end_lng",
    "duration_s",
    "distance_m",
    "parking_category",
    "measured_duration_s",
    "measured_distance_m",
    "measured_parking_category",
    "details",
)
SEEDED_JSON = orjson.dumps(SEEDED).decode()

# Fleet caps per operator, by MDS mode. At the default 300 vehicles the micromobility cap
# is deliberately exceeded by one operator, so that compliance has something to show:
# Sundsvik runs 114 (38 %), Kullacykel 90 and Öresundsflyt 60; each pod operator runs 18.
FLEET_CAPS = {Mode.MICROMOBILITY: 100, Mode.PASSENGER_SERVICES: 30, Mode.DELIVERY_ROBOTS: 30}
# States in which a vehicle takes up public space, per mode (MDS 2.0 mode state lists):
# the metrics' deployed states, and `stopped` where the mode has it.
DEPLOYED_STATES = {
    Mode.MICROMOBILITY: METRICS_DEPLOYED_STATES,
    Mode.PASSENGER_SERVICES: (*METRICS_DEPLOYED_STATES, "stopped"),
    Mode.DELIVERY_ROBOTS: (*METRICS_DEPLOYED_STATES, "stopped"),
}


@dataclass
class Tally:
    """How many things of one kind the seed made, found as they were, or renewed."""

    created: int = 0
    kept: int = 0
    updated: int = 0

    def describe(self, kept_as: str = "already there") -> str:
        """E.g. `3 created, 2 already there`."""
        text = f"{self.created} created, {self.kept} {kept_as}"
        return text + (f", {self.updated} updated" if self.updated else "")


@dataclass
class SeedOutcome:
    """What the seed did, the keys to write, and the ids of what it published."""

    keys: DemoKeys = field(repr=False)
    providers: Tally = field(default_factory=Tally)
    api_keys: Tally = field(default_factory=Tally)
    vehicles: Tally = field(default_factory=Tally)
    zones: Tally = field(default_factory=Tally)
    policies: Tally = field(default_factory=Tally)
    trips: Tally = field(default_factory=Tally)
    zone_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    policy_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def zones_changed(self) -> bool:
        """Whether running servers must reload their zones."""
        return bool(self.zones.created or self.zones.updated)

    def summary(self) -> list[str]:
        """One line per kind of thing."""
        return [
            f"providers: {self.providers.describe()}",
            f"keys:      {self.api_keys.describe('still valid')}",
            f"vehicles:  {self.vehicles.describe()}",
            f"zones:     {self.zones.describe()}",
            f"policies:  {self.policies.describe()}",
            f"trips:     {self.trips.describe()} (past trips of the micromobility fleets)",
        ]


def policy_id(mode: Mode) -> uuid.UUID:
    """The fixed id of the demo policy for one MDS mode."""
    return demo_id("policy", mode.value)


def policy_document(
    mode: Mode, provider_ids: Sequence[uuid.UUID], zone_ids: dict[str, uuid.UUID], start_ms: int
) -> dict[str, Any]:
    """The demo's MDS policy for the operators of one mode (a policy has one `mode_id`).

    Rules go from specific to general, as MDS orders them, and a vehicle matched by one
    is not evaluated by later ones: the speed rules of the slow zones take only vehicles
    on a trip there, so vehicles parked in those streets still count towards the cap.
    """
    pid = policy_id(mode)
    speed_rules = [
        {
            "name": f"{zone.name}: at most {kph} km/h",
            "rule_id": str(demo_id("policy", mode.value, "rule", zone.key)),
            "rule_type": "speed",
            "rule_units": "kph",
            "geographies": [str(zone_ids[zone.key])],
            "states": {"on_trip": []},
            "maximum": kph,
        }
        for zone in ZONES
        if (kph := dict(zone.fields).get("max_speed_kph")) is not None
    ]
    cap = FLEET_CAPS[mode]
    count_rule = {
        "name": f"At most {cap} vehicles per operator",
        "rule_id": str(demo_id("policy", mode.value, "rule", "fleet-cap")),
        "rule_type": "count",
        "rule_units": "devices",
        "geographies": [str(zone_ids[SERVICE_AREA_KEY])],
        "states": {state: [] for state in DEPLOYED_STATES[mode]},
        "maximum": cap,
    }
    return {
        "name": f"Helsingborg demo: {mode.value} fleet caps and speed limits",
        "mode_id": mode.value,
        "policy_id": str(pid),
        "provider_ids": [str(p) for p in provider_ids],
        "description": (
            f"At most {cap} deployed vehicles per operator in the service area; "
            "speed limits in the centre's slow zones"
        ),
        "start_date": start_ms,
        "rules": [*speed_rules, count_rule],
    }


def _service_area(geodata: Path) -> DemoZone:
    try:
        ring = service_area_ring(geodata)
    except FileNotFoundError:
        raise InvalidInput(
            f"geodata not found at {geodata}: the demo's service area is Helsingborg's "
            "outline from ../shared/geodata/; give its path with --geodata"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput(f"geodata {geodata} is unusable: {exc}") from None
    return DemoZone(SERVICE_AREA_KEY, SERVICE_AREA_NAME, "service_area", (ring,))


async def _ensure_providers(session: AsyncSession, tally: Tally) -> None:
    for operator in OPERATORS:
        try:
            provider = await get_provider(session, provider_id=operator.provider_id)
        except NotFound:
            await create_provider(
                session, name=operator.name, mode=operator.mode, provider_id=operator.provider_id
            )
            tally.created += 1
            continue
        if provider.mode != operator.mode.value:
            raise Conflict(
                f"provider {operator.provider_id} ({provider.name}) has mode {provider.mode}, "
                f"the demo needs {operator.mode.value}"
            )
        tally.kept += 1


async def _authenticates(
    session: AsyncSession, key: str, role: Role, provider_id: uuid.UUID | None
) -> bool:
    """Whether `key` is accepted as it is meant: known, not revoked, same role and provider."""
    parsed = parse_key(key)
    if parsed is None:
        return False
    stored = await load_key(session, key_id=parsed.key_id)
    return (
        stored is not None
        and not stored.revoked
        and secret_matches(parsed.secret, stored.secret_hash)
        and stored.role is role
        and stored.provider_id == provider_id
    )


async def _ensure_key(
    session: AsyncSession,
    key: str | None,
    *,
    role: Role,
    provider_id: uuid.UUID | None,
    name: str,
    tally: Tally,
) -> str:
    if key is not None and await _authenticates(session, key, role, provider_id):
        tally.kept += 1
        return key
    issued = await create_key(session, role=role, provider_id=provider_id, name=name)
    tally.created += 1
    return issued.key


async def _operator_keys(
    session: AsyncSession, operator: Operator, known: OperatorKeys | None, tally: Tally
) -> OperatorKeys:
    # Name and mode come from the city whatever the file says; only its keys carry over.
    return OperatorKeys(
        provider_id=operator.provider_id,
        name=operator.name,
        mode=operator.mode,
        gateway_key=await _ensure_key(
            session,
            known.gateway_key if known else None,
            role=Role.GATEWAY,
            provider_id=operator.provider_id,
            name=f"demo {operator.key} gateway",
            tally=tally,
        ),
        manager_key=await _ensure_key(
            session,
            known.manager_key if known else None,
            role=Role.OPERATOR_MANAGER,
            provider_id=operator.provider_id,
            name=f"demo {operator.key} manager",
            tally=tally,
        ),
        agent_key=await _ensure_key(
            session,
            known.agent_key if known else None,
            role=Role.FIELD_AGENT,
            provider_id=operator.provider_id,
            name=f"demo {operator.key} field agent",
            tally=tally,
        ),
    )


async def _ensure_keys(session: AsyncSession, known: DemoKeys | None, tally: Tally) -> DemoKeys:
    known = known or DemoKeys()
    providers = {
        op.key: await _operator_keys(session, op, known.providers.get(op.key), tally)
        for op in OPERATORS
    }
    city = {
        role.value: await _ensure_key(
            session,
            getattr(known.city, role.value),
            role=role,
            provider_id=None,
            name=f"demo city {role.value}",
            tally=tally,
        )
        for role in (Role.ADMIN, Role.CITY_AUDITOR, Role.CITY_PLANNER)
    }
    return DemoKeys(providers=providers, city=CityKeys(**city))


async def _ensure_vehicles(
    session: AsyncSession, plan: Sequence[PlannedVehicle], tally: Tally
) -> None:
    directory = DeviceDirectory(ttl_s=0)
    # In batches: one statement may carry at most 32,767 parameters.
    for start in range(0, len(plan), VEHICLE_BATCH):
        batch = plan[start : start + VEHICLE_BATCH]
        for operator in OPERATORS:
            mine = [v for v in batch if v.operator_key == operator.key]
            found = await directory.resolve(
                session,
                provider_id=operator.provider_id,
                device_ids=[str(v.device_id) for v in mine],
            )
            missing = [
                v.mds_vehicle(operator.provider_id) for v in mine if str(v.device_id) not in found
            ]
            if missing:
                await register_vehicles(
                    session, provider_id=operator.provider_id, mode=operator.mode, items=missing
                )
            tally.created += len(missing)
            tally.kept += len(mine) - len(missing)


def _unchanged(zone: Zone, data: ZoneCreate, shape: MultiPolygon) -> bool:
    """Whether a stored zone already says what `data` says."""
    vehicle_types = [v.value for v in data.vehicle_types] if data.vehicle_types else None
    return (
        zone.description == data.description
        and zone.max_speed_kph == data.max_speed_kph
        and zone.parking == (data.parking.value if data.parking else None)
        and zone.vehicle_types == vehicle_types
        and zone.days == (list(data.days) if data.days else None)
        and zone.start_time == data.start_time
        and zone.end_time == data.end_time
        and to_shape(zone.geometry).equals(shape)
    )


async def _ensure_zones(
    session: AsyncSession,
    demo_zones: Sequence[DemoZone],
    *,
    limits: ZoneLimits,
    now: datetime,
    tally: Tally,
) -> dict[str, uuid.UUID]:
    scope = ZoneScope(None, may_write_citywide=True)
    published: dict[tuple[str, str], Zone] = {}
    # Newest first: with duplicates in force, the newest is the one that stays current.
    for zone in await list_zones(session, scope=scope, include_retired=False, citywide_only=True):
        published.setdefault((zone.name, zone.kind), zone)
    ids = {}
    for demo in demo_zones:
        # In force from a day back: the simulator replays the last hours before catching
        # up with the clock, and those hours should meet the zones too.
        body = demo.create_body() | {"effective_at": (now - ZONES_BACKDATED).isoformat()}
        data = ZoneCreate.model_validate(body)
        current = published.get((demo.name, demo.kind))
        if current is None:
            current = await create_zone(
                session, data=data, scope=scope, limits=limits, created_by=CREATED_BY, now=now
            )
            tally.created += 1
        elif _unchanged(current, data, parse_zone_geometry(data.geometry, limits)):
            tally.kept += 1
        else:
            current = await update_zone(
                session,
                zone_id=current.zone_id,
                data=ZoneUpdate.model_validate(body),
                scope=scope,
                limits=limits,
                created_by=CREATED_BY,
                now=now,
            )
            tally.updated += 1
        ids[demo.key] = current.zone_id
    return ids


async def _ensure_policies(
    session: AsyncSession, zone_ids: dict[str, uuid.UUID], now: datetime, tally: Tally
) -> list[uuid.UUID]:
    modes = list(dict.fromkeys(op.mode for op in OPERATORS))
    start_ms = to_ms(now) + MIN_LEAD_TIME_MS
    for mode in modes:
        try:
            await get_policy(session, policy_id=policy_id(mode))
        except NotFound:
            providers = [op.provider_id for op in OPERATORS if op.mode is mode]
            await publish_policy(
                session,
                document=policy_document(mode, providers, zone_ids, start_ms),
                created_by=CREATED_BY,
                now=now,
            )
            tally.created += 1
        else:
            tally.kept += 1
    return [policy_id(mode) for mode in modes]


def _trip_record(provider_id: uuid.UUID, trip: PastTrip) -> tuple[Any, ...]:
    """A row of `TRIP_COLUMNS`: the city's figures are fleetbed's measurement, as for any
    trip an operator did not post."""
    return (
        trip.trip_id,
        provider_id,
        trip.device_id,
        "closed",
        from_ms(trip.start_ms),
        *trip.start,
        from_ms(trip.end_ms),
        *trip.end,
        trip.duration_s,
        trip.distance_m,
        trip.parking_category,
        trip.duration_s,
        trip.distance_m,
        trip.parking_category,
        SEEDED_JSON,
    )


async def _ensure_history(
    session: AsyncSession,
    plan: Sequence[PlannedVehicle],
    *,
    geodata: Path,
    options: HistoryOptions,
    now: datetime,
    tally: Tally,
) -> None:
    """Past trips for each micromobility operator with none seeded yet (the pods are not
    rebalanced), so that the forecast has weeks to learn from on a fresh database."""
    if not options.weeks:
        return
    since_ms, until_ms = history_window(to_ms(now), options.weeks)
    scenario: Scenario | None = None
    for operator in OPERATORS:
        if operator.mode is not Mode.MICROMOBILITY:
            continue
        seeded = await session.scalar(
            select(func.count())
            .select_from(Trip)
            .where(Trip.provider_id == operator.provider_id, Trip.details.contains(SEEDED))
        )
        if seeded:
            tally.kept += seeded
            continue
        scenario = scenario or Scenario.helsingborg(geodata)
        mine = [v for v in plan if v.operator_key == operator.key]
        trips = past_trips(
            scenario.cmap,
            scenario.tz,
            mine,
            operator.mode,
            since_ms=since_ms,
            until_ms=until_ms,
            options=options,
        )
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert raw is not None
        # COPY, the rows streamed as they are drawn: the server stores one buffer while
        # the next is made.
        status = await raw.copy_records_to_table(
            "trips",
            records=(_trip_record(operator.provider_id, t) for t in trips),
            columns=TRIP_COLUMNS,
        )
        tally.created += int(status.split()[-1])  # "COPY <rows>"
    if tally.created:
        # Before autovacuum gets to it the planner takes the table for empty, and reads a
        # provider's trips once per vehicle (2.3 s a forecast against 51 ms after this).
        await session.execute(text("ANALYZE trips"))


async def seed_demo(
    session: AsyncSession,
    *,
    vehicles: int,
    geodata: Path,
    limits: ZoneLimits,
    keys: DemoKeys | None,
    now: datetime,
    history: HistoryOptions = HistoryOptions(),
) -> SeedOutcome:
    """Create whatever of the demo city is missing, with `history`'s past trips up to
    `now`; `keys` are the keys file's, if any."""
    if vehicles < 0:
        raise InvalidInput("the number of vehicles must be 0 or more", fields=("vehicles",))
    # Read before anything is written, so that a missing file changes nothing.
    service_area = _service_area(geodata)
    outcome = SeedOutcome(keys=DemoKeys())
    await _ensure_providers(session, outcome.providers)
    outcome.keys = await _ensure_keys(session, keys, outcome.api_keys)
    plan = plan_fleet(vehicles)
    await _ensure_vehicles(session, plan, outcome.vehicles)
    outcome.zone_ids = await _ensure_zones(
        session, [service_area, *ZONES], limits=limits, now=now, tally=outcome.zones
    )
    outcome.policy_ids = await _ensure_policies(session, outcome.zone_ids, now, outcome.policies)
    await _ensure_history(
        session, plan, geodata=geodata, options=history, now=now, tally=outcome.trips
    )
    await ensure_gbfs(session, now=now)
    return outcome
