"""What commands do to a simulated vehicle, and that a repeated delivery is not carried
out twice."""

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from shapely import LineString

from demo.city import OPERATORS
from demo.fleet_plan import plan_fleet
from demo.simulator.batches import Endpoint
from demo.simulator.command_link import Executor
from demo.simulator.controls import Controls, execute
from demo.simulator.misbehaviour import Rates
from demo.simulator.motion import Motion
from demo.simulator.vehicle import Environment
from demo.simulator.world import Provider, World
from tests.unit.city_maps import CMAP


def test_lock_and_unlock() -> None:
    controls = Controls()
    assert execute(controls, "lock", {}) == ("done", "locked")
    assert controls.locked
    assert execute(controls, "unlock", {}) == ("done", "unlocked")
    assert not controls.locked


def test_a_speed_cap_is_kept_in_metres_per_second() -> None:
    controls = Controls()
    assert controls.cap_ms() is None
    assert execute(controls, "set_max_speed", {"max_speed_kph": 18})[0] == "done"
    assert controls.cap_ms() == pytest.approx(5.0)


@pytest.mark.parametrize("params", [{}, {"max_speed_kph": 0}, {"max_speed_kph": True}])
def test_a_speed_cap_without_a_positive_speed_is_rejected(params: dict[str, Any]) -> None:
    controls = Controls()
    assert execute(controls, "set_max_speed", params)[0] == "rejected"
    assert controls.max_speed_kph is None


def test_rings_are_counted_and_other_kinds_simulated() -> None:
    controls = Controls()
    execute(controls, "ring", {})
    assert execute(controls, "ring", {}) == ("done", "rang (ring 2)")
    assert execute(controls, "reboot", {})[0] == "done"
    assert execute(controls, "open_battery", {})[0] == "done"
    assert execute(controls, "explode", {})[0] == "rejected"
    assert controls == Controls(rings=2)


def test_an_unknown_vehicle_rejects() -> None:
    assert execute(None, "lock", {})[0] == "rejected"


def test_a_redelivered_command_is_acked_the_same_and_carried_out_once() -> None:
    controls = Controls()
    executor = Executor(lambda device: controls if device == "d1" else None)
    ring = {"command_id": "c1", "device_id": "d1", "kind": "ring", "params": {}}
    first = executor.answer(ring)
    assert executor.answer({**ring, "attempt": 2}) == first
    assert controls.rings == 1
    assert executor.answer({**ring, "command_id": "c2", "device_id": "d9"})[0] == "rejected"


@pytest.mark.parametrize("reckless", [False, True])
def test_a_speed_cap_caps_the_ride(reckless: bool) -> None:
    path = LineString([(0, 0), (2000, 0)])
    free = Motion(path, cruise_ms=7.0, reckless=reckless).step(CMAP, 1000)
    capped = Motion(path, cruise_ms=7.0, reckless=reckless, cap_ms=4.0).step(CMAP, 1000)
    assert free.speed_ms > 4.0
    assert capped.speed_ms == pytest.approx(4.0)
    assert capped.xy[0] == pytest.approx(4.0)


T0 = 1_778_580_000_000  # 2026-05-12 10:00 UTC, a Tuesday
PROVIDERS = [Provider(op.key, str(op.provider_id), op.mode) for op in OPERATORS]


def trip_starts(locked: bool) -> int:
    """Trip starts of a small fleet over two busy hours, with every vehicle locked or not."""
    env = Environment(
        CMAP, ZoneInfo("Europe/Stockholm"), Rates.uniform(0.0), trips_per_day=48, steady=True
    )
    world = World(plan_fleet(30), PROVIDERS, env, seed=3, start_ms=T0, max_batch=5000)
    for vehicle in world.vehicles:
        vehicle.controls.locked = locked
    batches = [b for t in range(T0 + 60_000, T0 + 2 * 3_600_000, 60_000) for b in world.advance(t)]
    return sum(
        "trip_start" in item.get("event_types", [])
        for batch in batches + world.held()
        if batch.endpoint is Endpoint.EVENTS
        for item in batch.items
    )


def test_locked_vehicles_take_no_trips() -> None:
    assert trip_starts(locked=False) > 0
    assert trip_starts(locked=True) == 0
