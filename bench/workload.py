"""The bench's fleet and its MDS request bodies, synthetic or simulated (pure, seeded)."""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal, get_args

import numpy as np
import orjson

from bench import sim_workload

# Helsingborg, where the testbed runs; vehicles start within a few km of the centre.
CENTRE = (56.04, 12.70)
SPREAD_DEG = (0.03, 0.05)
# About 11 m per second of random walk.
STEP_DEG = 1e-4
STEP_MS = 1000
# The newest generated point still lies this far in the past.
MARGIN_MS = 10_000
MIN_LOOKBACK_MS = 600_000
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
# Where the telemetry comes from: random walks, or the Helsingborg traffic simulator.
Workload = Literal["synthetic", "simulator"]
WORKLOADS: tuple[Workload, ...] = get_args(Workload)


@dataclass(frozen=True)
class Fleet:
    """One provider's registered vehicles."""

    provider_id: str
    device_ids: list[str]
    workload: Workload = "synthetic"


def make_fleet(provider_id: str, size: int, workload: Workload = "synthetic") -> Fleet:
    """`size` fresh devices for a provider (the simulator's own for its workload)."""
    if workload == "simulator":
        return Fleet(provider_id, sim_workload.device_ids(size), workload)
    return Fleet(provider_id, [str(uuid.uuid4()) for _ in range(size)])


def vehicle_bodies(fleet: Fleet, batch_size: int) -> list[bytes]:
    """POST /mds/agency/vehicles bodies registering the fleet."""
    if fleet.workload == "simulator":
        records = sim_workload.vehicle_records(fleet.provider_id, len(fleet.device_ids))
    else:
        records = [
            {
                "device_id": device_id,
                "provider_id": fleet.provider_id,
                "vehicle_id": f"BENCH-{n:06d}",
                "vehicle_type": "scooter_standing",
                "propulsion_types": ["electric"],
            }
            for n, device_id in enumerate(fleet.device_ids)
        ]
    return [
        orjson.dumps(records[start : start + batch_size])
        for start in range(0, len(records), batch_size)
    ]


def uuid4_strings(count: int) -> list[str]:
    """`count` random version-4 UUIDs as lowercase strings, cheaper than uuid.uuid4()."""
    digits = os.urandom(16 * count).hex()
    out = []
    for start in range(0, 32 * count, 32):
        h = digits[start : start + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return out


def rounds_for(points: int, devices: int) -> int:
    """Rounds (one point per device each) needed for `points` points."""
    return -(-points // devices)


def start_ms(now_ms: int, rounds: int) -> int:
    """First timestamp, so that 1 s per round ends `MARGIN_MS` before now (or earlier)."""
    return now_ms - max(MIN_LOOKBACK_MS, rounds * STEP_MS + MARGIN_MS)


def _points(
    fleet: Fleet, device_ids: list[str], first_ms: int, rounds: int, seed: int
) -> Iterator[dict[str, Any]]:
    """Telemetry: every device once per round, each round one second later."""
    rng = np.random.default_rng(seed)
    n = len(device_ids)
    lat = CENTRE[0] + rng.uniform(-SPREAD_DEG[0], SPREAD_DEG[0], n)
    lng = CENTRE[1] + rng.uniform(-SPREAD_DEG[1], SPREAD_DEG[1], n)
    battery = rng.integers(30, 101, n)
    ts = first_ms
    for _ in range(rounds):
        lat += rng.normal(0.0, STEP_DEG, n)
        lng += rng.normal(0.0, STEP_DEG, n)
        speed = np.abs(rng.normal(0.0, 3.0, n)).round(2)
        accuracy = rng.uniform(2.0, 15.0, n).round(1)
        ids = uuid4_strings(n)
        rows = zip(
            device_ids,
            ids,
            lat.round(6).tolist(),
            lng.round(6).tolist(),
            speed.tolist(),
            accuracy.tolist(),
            battery.tolist(),
            strict=True,
        )
        for device_id, telemetry_id, y, x, v, acc, bat in rows:
            yield {
                "device_id": device_id,
                "provider_id": fleet.provider_id,
                "telemetry_id": telemetry_id,
                "timestamp": ts,
                "trip_ids": None,
                "journey_id": None,
                "location": {"lat": y, "lng": x, "speed": v, "horizontal_accuracy": acc},
                "battery_percent": bat,
            }
        ts += STEP_MS
        # Drains slowly; the floor keeps it a valid percentage.
        battery = np.maximum(battery - (rng.random(n) < 0.01), 5)


def telemetry_bodies(
    fleet: Fleet, device_ids: list[str], *, batches: int, batch_size: int, now_ms: int, seed: int
) -> list[bytes]:
    """`batches` POST /mds/agency/telemetry bodies for `device_ids`, oldest first."""
    if fleet.workload == "simulator":
        return sim_workload.simulator_bodies(
            fleet.provider_id,
            len(fleet.device_ids),
            device_ids,
            batches=batches,
            batch_size=batch_size,
            newest_ms=now_ms - MARGIN_MS,
        )
    rounds = rounds_for(batches * batch_size, len(device_ids))
    stream = _points(fleet, device_ids, start_ms(now_ms, rounds), rounds, seed)
    return [orjson.dumps(list(islice(stream, batch_size))) for _ in range(batches)]
