"""The Helsingborg simulator's telemetry as the ingest workload (pure, seeded).

The simulator drives one operator's fleet offline (`demo.simulator.world.World`, which
`fleetbed simulate` posts batch by batch) over a fixed simulated span, with the bench's
provider id in every point. Its batches are cut again to the bench's size, and the whole
stream is moved in time so that its newest point lies at a given instant in the past.
"""

import uuid
from dataclasses import replace
from itertools import islice
from typing import Any

import orjson

from demo import city
from demo.fleet_plan import PlannedVehicle, plan_operator
from demo.simulator.batches import Endpoint
from demo.simulator.misbehaviour import Rates
from demo.simulator.runner import TIMEZONE, Scenario
from demo.simulator.vehicle import Environment
from demo.simulator.world import Provider, World

# A micromobility operator, the mode of the provider the bench registers.
OPERATOR = next(op for op in city.OPERATORS if op.key == "sundsvik")
SEED = 1
# The simulation always starts here, so every run and every load process replays the same
# vehicle lives (each vehicle's generator is seeded by the seed and its device id).
ANCHOR_MS = 1_778_565_600_000  # 2026-05-12 06:00 UTC
STEP_MS = 10_000
# Yesterday's and today's history partitions always exist; the stream stays within them.
MAX_SPAN_MS = 20 * 3_600_000
# The bench counts every accepted point as new work: no gateway re-sends of a batch.
RATES = replace(Rates(), late_batch=0.0, duplicate_batch=0.0)


def planned_vehicles(size: int) -> list[PlannedVehicle]:
    """The first `size` vehicles of the simulated operator (the same whatever the size)."""
    return plan_operator(OPERATOR, size)


def device_ids(size: int) -> list[str]:
    """The device ids of `planned_vehicles(size)`."""
    return [str(v.device_id) for v in planned_vehicles(size)]


def vehicle_records(provider_id: str, size: int) -> list[dict[str, Any]]:
    """The MDS Vehicles registering `planned_vehicles(size)` for the bench's provider."""
    return [v.mds_vehicle(uuid.UUID(provider_id)) for v in planned_vehicles(size)]


def simulated_points(
    provider_id: str, fleet_size: int, devices: list[str], points: int
) -> list[dict[str, Any]]:
    """The first `points` telemetry points the simulator posts for `devices`, in order."""
    wanted = set(devices)
    vehicles = [v for v in planned_vehicles(fleet_size) if str(v.device_id) in wanted]
    scenario = Scenario.helsingborg(operators=(OPERATOR,))
    env = Environment(scenario.cmap, TIMEZONE, RATES, steady=True)
    world = World(
        vehicles,
        [Provider(OPERATOR.key, provider_id, OPERATOR.mode)],
        env,
        seed=SEED,
        start_ms=ANCHOR_MS,
        max_batch=max(points, 1),
    )
    found: list[dict[str, Any]] = []
    t = ANCHOR_MS
    while len(found) < points:
        if t - ANCHOR_MS >= MAX_SPAN_MS:
            raise ValueError(
                f"{len(vehicles):,} simulated vehicles make only {len(found):,} of the "
                f"{points:,} points needed in {MAX_SPAN_MS // 3_600_000} h: "
                "add vehicles or lower --max-rate"
            )
        t += STEP_MS
        for batch in world.advance(t):
            if batch.endpoint is Endpoint.TELEMETRY:
                found += batch.items
    return found[:points]


def shifted(items: list[dict[str, Any]], newest_ms: int) -> list[dict[str, Any]]:
    """`items` moved in time together, the newest to `newest_ms` (in place; returned)."""
    if not items:
        return items
    delta = newest_ms - max(item["timestamp"] for item in items)
    for item in items:
        item["timestamp"] += delta
    return items


def simulator_bodies(
    provider_id: str,
    fleet_size: int,
    devices: list[str],
    *,
    batches: int,
    batch_size: int,
    newest_ms: int,
) -> list[bytes]:
    """`batches` POST /mds/agency/telemetry bodies of simulated points of `devices`."""
    found = simulated_points(provider_id, fleet_size, devices, batches * batch_size)
    stream = iter(shifted(found, newest_ms))
    return [orjson.dumps(list(islice(stream, batch_size))) for _ in range(batches)]
