"""The simulated fleet offline: valid MDS in every mode, plausible motion, rules kept or
broken on purpose (pure: the world is advanced without any server)."""

import dataclasses
import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from shapely.geometry import Point

from app.core.auth import Mode
from app.core.mds_batch import BatchLimits, BatchSchema, parse_batch
from demo.city import OPERATORS
from demo.fleet_plan import plan_fleet
from demo.simulator.batches import Batch, Endpoint
from demo.simulator.misbehaviour import Rates
from demo.simulator.vehicle import Environment
from demo.simulator.world import Provider, World
from fleet.events.schema import event_schema
from fleet.events.state_machines import STATE_MACHINES
from fleet.trips.schema import trip_schema
from telemetry.schema import telemetry_schema
from tests.mds_schemas import assert_valid, model_validator
from tests.unit.city_maps import CMAP

T0 = 1_778_580_000_000  # 2026-05-12 10:00 UTC, a Tuesday
HOUR_MS = 3_600_000
MODES = {op.key: op.mode for op in OPERATORS}
PROVIDERS = [Provider(op.key, str(op.provider_id), op.mode) for op in OPERATORS]
CALM = Rates.uniform(0.0)


@dataclass(frozen=True)
class Run:
    """What a fleet sent over a simulated span, by provider and endpoint."""

    world: World
    batches: list[Batch]

    def items(self, endpoint: Endpoint, mode: Mode | None = None) -> list[dict[str, Any]]:
        """Every item posted to `endpoint` (by providers of `mode`), in order."""
        return [
            item
            for b in self.batches
            if b.endpoint is endpoint and (mode is None or MODES[b.provider] is mode)
            for item in b.items
        ]

    def by_device(self, endpoint: Endpoint) -> dict[str, list[dict[str, Any]]]:
        """Items per device, in time order."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in self.items(endpoint):
            found[item["device_id"]].append(item)
        return {d: sorted(v, key=lambda i: i["timestamp"]) for d, v in found.items()}


@cache
def offline_run(rates: Rates = CALM, vehicles: int = 60, hours: float = 3, seed: int = 1) -> Run:
    """The demo fleet simulated for `hours` from T0, its batches collected minute by minute."""
    env = Environment(CMAP, ZoneInfo("Europe/Stockholm"), rates, trips_per_day=48, steady=True)
    fleet = plan_fleet(vehicles)
    world = World(fleet, PROVIDERS, env, seed=seed, start_ms=T0, max_batch=5000)
    batches: list[Batch] = []
    for t in range(T0 + 60_000, T0 + round(hours * HOUR_MS) + 1, 60_000):
        batches += world.advance(t)
    batches += world.held()
    return Run(world, batches)


def schemas(provider: Provider) -> dict[Endpoint, BatchSchema[Any]]:
    """fleetbed's own validation of the provider's items."""
    return {
        Endpoint.TELEMETRY: telemetry_schema(provider.provider_id),
        Endpoint.EVENTS: event_schema(provider.provider_id, STATE_MACHINES[provider.mode]),
        Endpoint.TRIPS: trip_schema(provider.provider_id, provider.mode),
    }


def test_every_batch_is_one_fleetbed_accepts() -> None:
    run = offline_run(Rates.uniform(0.2))
    limits = BatchLimits(now_ms=int(time.time() * 1000), max_future_ms=300_000, max_items=5000)
    by_key = {p.key: p for p in PROVIDERS}
    seen: set[tuple[Mode, Endpoint]] = set()
    for batch in run.batches:
        parsed = parse_batch(
            orjson.dumps(batch.items), schemas(by_key[batch.provider])[batch.endpoint], limits
        )
        assert parsed.failures == [], parsed.failures[0]
        seen.add((MODES[batch.provider], batch.endpoint))
    for mode in (Mode.MICROMOBILITY, Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS):
        assert {(mode, Endpoint.TELEMETRY), (mode, Endpoint.EVENTS)} <= seen
    assert (Mode.PASSENGER_SERVICES, Endpoint.TRIPS) in seen
    assert (Mode.DELIVERY_ROBOTS, Endpoint.TRIPS) in seen
    assert (Mode.MICROMOBILITY, Endpoint.TRIPS) not in seen


def sample(items: list[dict[str, Any]], n: int) -> Iterator[dict[str, Any]]:
    step = max(1, len(items) // n)
    return iter(items[::step])


@pytest.mark.parametrize(
    "mode", [Mode.MICROMOBILITY, Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS]
)
def test_items_are_valid_for_the_official_models_of_the_mode(mode: Mode) -> None:
    run = offline_run(Rates.uniform(0.2))
    for model, endpoint in (
        ("models/telemetry.yaml", Endpoint.TELEMETRY),
        ("models/event.yaml", Endpoint.EVENTS),
        ("models/trip.yaml", Endpoint.TRIPS),
    ):
        if mode is Mode.MICROMOBILITY and endpoint is Endpoint.TRIPS:
            continue
        validator = model_validator(model, mode.value)
        for item in sample(run.items(endpoint, mode), 150):
            assert_valid(validator, item)


def test_each_vehicle_follows_its_modes_state_machine() -> None:
    run = offline_run(Rates.uniform(0.2))
    modes = {str(v.planned.device_id): v.mode for v in run.world.vehicles}
    used: dict[Mode, set[str]] = defaultdict(set)
    for device, events in run.by_device(Endpoint.EVENTS).items():
        machine = STATE_MACHINES[modes[device]]
        prior = None
        for event in events:
            assert machine.transition_allowed(
                prior, event["event_types"], event["vehicle_state"]
            ), (
                prior,
                event,
            )
            if machine.needs_trip_ids(event["event_types"]):
                assert event.get("trip_ids")
            used[modes[device]].update(event["event_types"])
            prior = event["vehicle_state"]
    micromobility = {"trip_start", "trip_end", "reservation_start", "trip_cancel", "battery_low"}
    assert micromobility <= used[Mode.MICROMOBILITY]
    assert {"trip_leave_jurisdiction", "trip_enter_jurisdiction"} <= used[Mode.MICROMOBILITY]
    assert {"reservation_stop", "trip_stop", "trip_end"} <= used[Mode.PASSENGER_SERVICES]
    assert {"reservation_stop", "order_drop_off", "trip_end"} <= used[Mode.DELIVERY_ROBOTS]


def test_trips_start_once_and_end_once() -> None:
    run = offline_run()
    starts: dict[str, int] = defaultdict(int)
    ends: dict[str, int] = defaultdict(int)
    for event in run.items(Endpoint.EVENTS):
        for trip_id in event.get("trip_ids") or []:
            starts[trip_id] += "trip_start" in event["event_types"]
            ends[trip_id] += bool({"trip_end", "trip_cancel"} & set(event["event_types"]))
    assert len(starts) > 100
    assert all(n <= 1 for n in (*starts.values(), *ends.values()))


def test_telemetry_moves_forward_at_plausible_speeds() -> None:
    run = offline_run()
    for points in run.by_device(Endpoint.TELEMETRY).values():
        times = [p["timestamp"] for p in points]
        assert times == sorted(set(times))  # strictly forward, no point twice
        for a, b in itertools.pairwise(points):
            if a["trip_ids"] is None or a["trip_ids"] != b["trip_ids"]:
                continue
            metres = CMAP.frame.to_xy(b["location"]["lat"], b["location"]["lng"])
            start = CMAP.frame.to_xy(a["location"]["lat"], a["location"]["lng"])
            seconds = (b["timestamp"] - a["timestamp"]) / 1000
            implied = ((metres[0] - start[0]) ** 2 + (metres[1] - start[1]) ** 2) ** 0.5 / seconds
            # Mopeds cruise near 8 m/s; jitter adds a few m/s; fleetbed drops jumps over 20.
            assert implied < 14, (a, b)
            assert b["location"]["speed"] < 10


def test_trips_take_plausible_times_and_drain_the_battery_with_distance() -> None:
    run = offline_run()
    drained = []
    for events in run.by_device(Endpoint.EVENTS).values():
        started: dict[str, dict[str, Any]] = {}
        for event in events:
            (trip_id,) = event.get("trip_ids") or [None]
            if "trip_start" in event["event_types"]:
                started[str(trip_id)] = event
            elif "trip_end" in event["event_types"] and str(trip_id) in started:
                start = started.pop(str(trip_id))
                minutes = (event["timestamp"] - start["timestamp"]) / 60_000
                a = CMAP.frame.to_xy(start["location"]["lat"], start["location"]["lng"])
                b = CMAP.frame.to_xy(event["location"]["lat"], event["location"]["lng"])
                crow = ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
                assert 0.2 < minutes < 90
                assert event["battery_percent"] <= start["battery_percent"]
                drained.append((crow, start["battery_percent"] - event["battery_percent"]))
    assert len(drained) > 100
    long = [d for crow, d in drained if crow > 2000]
    short = [d for crow, d in drained if crow < 500]
    assert sum(long) / len(long) > 3 * sum(short) / len(short)


def located(item: dict[str, Any]) -> Point:
    return Point(CMAP.frame.to_xy(item["location"]["lat"], item["location"]["lng"]))


def rule_breaches(run: Run) -> dict[str, int]:
    """What fleetbed's rules would catch in a run, counted per kind."""
    found: dict[str, int] = defaultdict(int)
    for point in run.items(Endpoint.TELEMETRY):
        here = located(point)
        speed = point["location"]["speed"]
        for zone in CMAP.slow_zones:
            found["speeding"] += zone.shape.intersects(here) and speed > zone.max_speed_kph / 3.6
        moving = point["trip_ids"] is not None and speed > 0.5
        found["no_ride"] += moving and any(z.intersects(here) for z in CMAP.no_ride)
        found["leave_area"] += CMAP.service_area.exterior.distance(here) >= 10 and not (
            CMAP.service_area.contains(here)
        )
    for event in run.items(Endpoint.EVENTS):
        if "trip_end" in event["event_types"]:
            found["parking"] += any(z.intersects(located(event)) for z in CMAP.no_parking)
    return dict(found)


def test_a_well_behaved_fleet_keeps_every_rule() -> None:
    assert not any(rule_breaches(offline_run(vehicles=80, hours=3)).values())


@pytest.mark.parametrize("kind", ["parking", "speeding", "no_ride", "leave_area"])
def test_each_misbehaviour_breaks_its_rule_and_only_it(kind: str) -> None:
    rates = dataclasses.replace(CALM, **{kind: 0.5})
    breaches = rule_breaches(offline_run(rates, vehicles=30, hours=2))
    assert breaches.pop(kind) >= 3
    assert not any(breaches.values())


def test_comms_loss_leaves_minutes_without_telemetry() -> None:
    gaps = [
        b["timestamp"] - a["timestamp"]
        for rates in (CALM, dataclasses.replace(CALM, comms_loss=0.5))
        for points in offline_run(rates, vehicles=30, hours=2)
        .by_device(Endpoint.TELEMETRY)
        .values()
        for a, b in itertools.pairwise(points)
    ]
    calm = offline_run(CALM, vehicles=30, hours=2)
    calm_gaps = [
        b["timestamp"] - a["timestamp"]
        for points in calm.by_device(Endpoint.TELEMETRY).values()
        for a, b in itertools.pairwise(points)
    ]
    assert max(calm_gaps) <= 3 * 60_000  # heartbeats every minute, a point lost now and then
    assert max(gaps) >= 3 * 60_000


def test_pods_report_journeys_passengers_and_payloads() -> None:
    run = offline_run()
    passenger_trips = run.items(Endpoint.TRIPS, Mode.PASSENGER_SERVICES)
    deliveries = run.items(Endpoint.TRIPS, Mode.DELIVERY_ROBOTS)
    assert passenger_trips
    assert deliveries
    assert all(t["trip_attributes"]["passenger_count"] >= 1 for t in passenger_trips)
    assert all(t["journey_attributes"]["shift_id"] for t in passenger_trips)
    assert all(t["trip_attributes"]["has_payload"] is True for t in deliveries)
    journeys = {t["trip_id"]: t["journey_id"] for t in passenger_trips + deliveries}
    on_trip = [
        p
        for mode in (Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS)
        for p in run.items(Endpoint.TELEMETRY, mode)
        if p["trip_ids"] and p["trip_ids"][0] in journeys
    ]
    assert on_trip
    assert all(p["journey_id"] == journeys[p["trip_ids"][0]] for p in on_trip)


def test_the_same_seed_lives_the_same_life_and_another_seed_does_not() -> None:
    def first_events(seed: int) -> list[dict[str, Any]]:
        return offline_run(CALM, vehicles=20, hours=1, seed=seed).items(Endpoint.EVENTS)[:50]

    offline_run.cache_clear()
    once = first_events(1)
    offline_run.cache_clear()
    assert first_events(1) == once
    assert first_events(2) != once
