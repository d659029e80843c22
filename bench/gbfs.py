"""GBFS benchmark: `vehicle_status.json` of 10,000 vehicles over HTTP, from the cache and
built afresh.

Run as `python -m bench.gbfs [--quick]` (or `make bench-gbfs`).

One provider gets 10,000 registered e-scooters (2,000 with --quick) whose live state is
written to Redis as ingest leaves it: spread over Helsingborg, nine in ten available, the
others reserved or on a trip. The real `fleetbed serve` (one worker) then answers:

- cold: the file's ttl set to 0, one client asking again and again, so that every
  answer is built anew (read the fleet from Redis and the registry, place vehicles in
  hubs, rotate ids, serialise, gzip): the time per build over HTTP, and its requests/s,
  which is the same-run baseline (a feed without a cache);
- warm: the ttl at 60 s, 16 keep-alive clients for a few seconds: requests/s, with and
  without gzip.

The last line is
`RESULT gbfs warm_requests_per_s=<warm, gzip> baseline=<cold> ratio=<warm/cold>`.
"""

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis

from bench.httpclient import Connection, request_head
from bench.ingest import say
from bench.services import (
    BenchError,
    fresh_provider,
    start_fleetbed,
)
from bench.tasks import EAST, NORTH, SOUTH, WEST, percentile
from telemetry.hotstate.store import HotState, PositionUpdate, StateUpdate

DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_bench_gbfs"
# Redis dbs 7-15 belong to the test suites and the other benchmarks.
REDIS_URL = "redis://127.0.0.1:6379/6"
STATES = ("available",) * 18 + ("reserved", "on_trip")
CLIENTS = 16

_SEED_VEHICLES = """
INSERT INTO vehicles (device_id, provider_id, vehicle_id, vehicle_type, record)
SELECT d, $1, 'BENCH-' || n, 'scooter_standing',
       jsonb_build_object('propulsion_types', jsonb_build_array('electric'))
FROM unnest($2::uuid[]) WITH ORDINALITY AS u(d, n)
"""


@dataclass(frozen=True)
class Plan:
    """What to run."""

    vehicles: int
    cold_requests: int
    warm_seconds: float
    database_url: str
    redis_url: str


def parse_args(argv: list[str] | None) -> Plan:
    """The command line as a plan; --quick shrinks the fleet and the phases."""
    parser = argparse.ArgumentParser(prog="python -m bench.gbfs", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 vehicles, short phases")
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args(argv)
    return Plan(
        vehicles=2_000 if args.quick else 10_000,
        cold_requests=20 if args.quick else 60,
        warm_seconds=3.0 if args.quick else 8.0,
        database_url=args.database_url,
        redis_url=args.redis_url,
    )


async def seed(plan: Plan, provider_id: str) -> list[str]:
    """Registered vehicles and their live state; their device ids."""
    rng = random.Random(11)  # noqa: S311 - places and states, not secrets
    devices = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(plan.vehicles)]
    conn = await asyncpg.connect(plan.database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(_SEED_VEHICLES, uuid.UUID(provider_id), [uuid.UUID(d) for d in devices])
    finally:
        await conn.close()
    now = int(time.time() * 1000) - 60_000
    redis = Redis.from_url(plan.redis_url)
    try:
        hot = HotState(redis)
        states = [
            StateUpdate(d, now, rng.choice(STATES), "scooter_standing", now - 3_600_000)
            for d in devices
        ]
        positions = [
            PositionUpdate(
                d,
                now,
                rng.uniform(SOUTH, NORTH),
                rng.uniform(WEST, EAST),
                rng.randint(5, 100),
                0.0,
                "scooter_standing",
            )
            for d in devices
        ]
        await hot.apply_states(provider_id, states)
        await hot.apply_positions(provider_id, positions)
    finally:
        await redis.aclose()
    return devices


def set_ttl(base_url: str, key: str, ttl: int) -> str:
    """Give vehicle_status this ttl; the system's id."""
    response = httpx.put(
        f"{base_url}/v1/gbfs/system",
        headers={"Authorization": f"Bearer {key}"},
        json={"ttl": {"vehicle_status": ttl}},
    )
    if response.status_code != 200:
        raise BenchError(f"PUT /v1/gbfs/system answered {response.status_code}: {response.text}")
    system_id: str = response.json()["system_id"]
    return system_id


async def cold(base_url: str, path: str, count: int) -> list[float]:
    """Milliseconds of each request, one at a time, each answer built anew."""
    host, port = base_url.removeprefix("http://").split(":")
    head = request_head("GET", path, f"{host}:{port}", {"Accept-Encoding": "gzip"}, 0)
    connection = Connection(host, int(port))
    took = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            answer = await connection.send(head, b"")
            took.append((time.perf_counter() - started) * 1000)
            if answer.status != 200:
                raise BenchError(f"{path} answered {answer.status}")
    finally:
        await connection.close()
    return took


async def warm(base_url: str, path: str, seconds: float, gzipped: bool) -> tuple[int, int]:
    """(requests answered, bytes read) by CLIENTS keep-alive clients in `seconds`."""
    host, port = base_url.removeprefix("http://").split(":")
    headers = {"Accept-Encoding": "gzip" if gzipped else "identity"}
    head = request_head("GET", path, f"{host}:{port}", headers, 0)
    deadline = time.perf_counter() + seconds
    counts = [0, 0]

    async def client() -> None:
        connection = Connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                answer = await connection.send(head, b"")
                if answer.status != 200:
                    raise BenchError(f"{path} answered {answer.status}")
                counts[0] += 1
                counts[1] += len(answer.body)
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return counts[0], counts[1]


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, measure; print the figures and the RESULT line."""
    plan = parse_args(argv)
    say("bootstrapping the bench database")
    env, provider, manager = fresh_provider(
        plan.database_url, plan.redis_url, "bench-gbfs", "operator_manager"
    )
    logs = Path(".fleetbed") / "bench-gbfs"
    logs.mkdir(parents=True, exist_ok=True)
    with start_fleetbed(env, logs) as server:
        server.wait_ready("/readyz")
        # After the start-up rebuild of the hot state, which would clear what is not in
        # the record.
        say(f"seeding {plan.vehicles:,} vehicles and their live state")
        devices = asyncio.run(seed(plan, provider))
        system = set_ttl(server.base_url, manager, 0)
        path = f"/gbfs/{system}/vehicle_status.json"
        expected = len(httpx.get(server.base_url + path).json()["data"]["vehicles"])
        say(f"{expected:,} of {len(devices):,} vehicles are listed; building cold")
        built = asyncio.run(cold(server.base_url, path, plan.cold_requests))
        set_ttl(server.base_url, manager, 60)
        size = len(
            httpx.get(server.base_url + path, headers={"Accept-Encoding": "identity"}).content
        )
        figures = {}
        for gzipped in (True, False):
            say(f"warm, {CLIENTS} clients, {'gzip' if gzipped else 'identity'}")
            asyncio.run(warm(server.base_url, path, 0.5, gzipped))
            answered, read = asyncio.run(warm(server.base_url, path, plan.warm_seconds, gzipped))
            figures[gzipped] = (answered / plan.warm_seconds, read / answered)
    cold_rps = 1000 / statistics.fmean(built)
    print(
        f"vehicle_status.json: {expected:,} vehicles, {size / 1e6:.2f} MB "
        f"({figures[True][1] / 1e6:.2f} MB gzipped)"
    )
    print(
        f"cold (ttl 0, 1 client)       build+HTTP p50 {percentile(built, 0.5):7.1f} ms  "
        f"p99 {percentile(built, 0.99):7.1f} ms  = {cold_rps:7.1f} requests/s"
    )
    for gzipped, (rps, _) in figures.items():
        name = "gzip" if gzipped else "identity"
        print(f"warm (ttl 60, {CLIENTS} clients, {name:<8}) {rps:9.1f} requests/s")
    warm_rps = figures[True][0]
    print(
        f"RESULT gbfs warm_requests_per_s={warm_rps:.1f} baseline={cold_rps:.1f} "
        f"ratio={warm_rps / cold_rps:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
