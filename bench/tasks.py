"""Field tasks benchmark: `GET /v1/tasks?near=` over HTTP, and what task rules cost ingest.

Run as `python -m bench.tasks [--quick]` (or `make bench-tasks`).

Part A seeds one provider with 10,000 vehicles and 50,000 tasks (2,000 and 10,000 with
--quick) spread over Helsingborg, a fifth of them active, the rest done or cancelled as
a fleet's history leaves them. A field agent's key then asks the real `fleetbed serve`
for its nearest open tasks from random places (`near=`, 20 a page), one request at a
time; the naive baseline answers the same question in the same run with one SQL query
that computes the distance to every open task of the provider and sorts them (what a
design without a spatial index does), sent straight over asyncpg, without HTTP.

Part B runs `python -m bench.ingest` (no zones, 500 vehicles, short phases) with the task
rules on and off (`FLEETBED_TASKS__RULES_ON_INGEST`), alternated, and prints the points/s
of each. The last line is
`RESULT tasks near_p50_ms=<fleetbed> baseline=<naive> ratio=<naive/fleetbed>`.
"""

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.ingest import say
from bench.services import (
    BenchError,
    fresh_provider,
    start_fleetbed,
)

DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_bench_tasks"
# Redis dbs 9-15 belong to the test suites and the other benchmarks.
REDIS_URL = "redis://127.0.0.1:6379/8"
# Helsingborg's centre and the box the vehicles and tasks spread over.
SOUTH, NORTH, WEST, EAST = 56.015, 56.080, 12.680, 12.740
KINDS = (
    "battery_swap",
    "relocate",
    "collect_for_repair",
    "inspect",
    "rebalance_pickup",
    "rebalance_dropoff",
    "deploy",
)
ACTIVE_SHARE = 0.2
PAGE = 20
RESULT_LINE = re.compile(r"RESULT ingest points_per_s=([\d.]+)")

_SEED_VEHICLES = """
INSERT INTO vehicles (device_id, provider_id, vehicle_id, vehicle_type, record)
SELECT gen_random_uuid(), $1, 'BENCH-' || n, 'scooter_standing', '{}'::jsonb
FROM generate_series(1, $2::int) AS n
"""
# Active tasks take (vehicle n, kind n / vehicles): never two active of a kind per vehicle.
_SEED_TASKS = """
WITH v AS (
    SELECT device_id, row_number() OVER (ORDER BY device_id) - 1 AS i
    FROM vehicles WHERE provider_id = $1
), t AS (
    SELECT n, n < $3::int AS active FROM generate_series(0, $2::int - 1) AS n
)
INSERT INTO tasks (task_id, provider_id, kind, device_id, lat, lng, priority, due_at, state,
                   created_by, created_at, updated_at, closed_at)
SELECT gen_random_uuid(), $1, ($5::text[])[1 + (t.n / $4::int) % 7], v.device_id,
       $6::float8 + random() * ($7::float8 - $6::float8),
       $8::float8 + random() * ($9::float8 - $8::float8), (random() * 5)::int,
       now() + interval '1 hour',
       CASE WHEN t.active THEN (ARRAY['open', 'open', 'open', 'assigned'])[1 + t.n % 4]
            ELSE (ARRAY['done', 'done', 'done', 'cancelled'])[1 + t.n % 4] END,
       'system', now() - interval '1 day', now(),
       CASE WHEN t.active THEN NULL ELSE now() END
FROM t JOIN v ON v.i = t.n % $4::int
"""
# The naive answer: every open task's distance computed, then sorted.
_NAIVE_NEAR = """
SELECT task_id, ST_Distance(geography(ST_MakePoint(lng, lat)), geography(ST_MakePoint($2, $3)))
       AS distance_m
FROM tasks WHERE provider_id = $1 AND state = 'open'
ORDER BY distance_m, priority DESC, task_id LIMIT $4
"""


@dataclass(frozen=True)
class Plan:
    """What to run."""

    vehicles: int
    tasks: int
    requests: int
    ingest_rounds: int
    ingest_args: tuple[str, ...]
    database_url: str
    redis_url: str


def parse_args(argv: list[str] | None) -> Plan:
    """The command line as a plan; --quick shrinks the data and the ingest phases."""
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 vehicles, 10,000 tasks")
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args(argv)
    phase = "3" if args.quick else "8"
    return Plan(
        vehicles=2_000 if args.quick else 10_000,
        tasks=10_000 if args.quick else 50_000,
        requests=300 if args.quick else 2_000,
        ingest_rounds=1 if args.quick else 2,
        ingest_args=("--vehicles", "500", "--zones", "0", "--duration", phase),
        database_url=args.database_url,
        redis_url=args.redis_url,
    )


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def random_places(count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Reproducible places inside the bench's box."""
    rng = random.Random(seed)  # noqa: S311 - places to ask from, not secrets
    return [(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)) for _ in range(count)]


async def seed(database_url: str, provider_id: str, vehicles: int, tasks: int) -> float:
    """Vehicles and tasks of one provider; the seconds it took."""
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(_SEED_VEHICLES, provider_id, vehicles)
        active = int(tasks * ACTIVE_SHARE)
        await conn.execute(
            _SEED_TASKS,
            provider_id,
            tasks,
            active,
            vehicles,
            list(KINDS),
            SOUTH,
            NORTH,
            WEST,
            EAST,
        )
        await conn.execute("ANALYZE tasks")
    finally:
        await conn.close()
    return time.perf_counter() - started


def fleetbed_near(base_url: str, key: str, places: list[tuple[float, float]]) -> list[float]:
    """Milliseconds of each `GET /v1/tasks?near=` for an agent, one at a time."""
    took = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        for lat, lng in places:
            started = time.perf_counter()
            params = {"near": f"{lat},{lng}", "state": "open", "limit": str(PAGE)}
            response = http.get("/v1/tasks", params=params)
            took.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or len(response.json()["data"]) != PAGE:
                raise BenchError(f"near answered {response.status_code}: {response.text[:300]}")
    return took


async def naive_near(
    database_url: str, provider_id: str, places: list[tuple[float, float]]
) -> list[float]:
    """Milliseconds of each naive answer to the same question."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    took = []
    try:
        for lat, lng in places:
            started = time.perf_counter()
            rows = await conn.fetch(_NAIVE_NEAR, provider_id, lng, lat, PAGE)
            took.append((time.perf_counter() - started) * 1000)
            if len(rows) != PAGE:
                raise BenchError(f"the naive query found {len(rows)} tasks")
    finally:
        await conn.close()
    return took


def ingest_points_per_s(rules_on: bool, args: tuple[str, ...]) -> float:
    """Points/s of one `bench.ingest` run with the task rules on or off."""
    # bench.ingest gives its servers this environment, with its own database and Redis.
    env = {**os.environ, "FLEETBED_TASKS__RULES_ON_INGEST": "true" if rules_on else "false"}
    done = subprocess.run(  # noqa: S603 - our own benchmark, fixed arguments
        [sys.executable, "-m", "bench.ingest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = RESULT_LINE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise BenchError(f"bench.ingest failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return float(found.group(1))


def summary(name: str, took: list[float]) -> str:
    """One line of latency figures."""
    return (
        f"{name:<24} p50 {percentile(took, 0.5):7.2f} ms  p99 {percentile(took, 0.99):7.2f} ms"
        f"  mean {statistics.fmean(took):7.2f} ms  ({len(took)} requests)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run both parts; print the figures and the RESULT line."""
    plan = parse_args(argv)
    say("bootstrapping the bench database")
    env, provider, agent = fresh_provider(
        plan.database_url, plan.redis_url, "bench-tasks", "field_agent"
    )
    say(f"seeding {plan.vehicles:,} vehicles and {plan.tasks:,} tasks")
    seconds = asyncio.run(seed(plan.database_url, provider, plan.vehicles, plan.tasks))
    say(f"seeded in {seconds:.1f} s")
    places = random_places(plan.requests)
    logs = Path(".fleetbed") / "bench-tasks"
    logs.mkdir(parents=True, exist_ok=True)
    with start_fleetbed(env, logs) as server:
        server.wait_ready("/readyz")
        fleetbed_near(server.base_url, agent, places[:20])  # warm the caches and the pool
        fleetbed = fleetbed_near(server.base_url, agent, places)
    naive = asyncio.run(naive_near(plan.database_url, provider, places))
    print(summary("fleetbed (HTTP)", fleetbed))
    print(summary("naive (SQL, no HTTP)", naive))
    on: list[float] = []
    off: list[float] = []
    for _ in range(plan.ingest_rounds):
        for rules_on, figures in ((True, on), (False, off)):
            say(f"ingest with task rules {'on' if rules_on else 'off'}")
            figures.append(ingest_points_per_s(rules_on, plan.ingest_args))
    mean_on, mean_off = statistics.fmean(on), statistics.fmean(off)
    print(
        f"ingest points/s with task rules on {[round(v) for v in on]}, off "
        f"{[round(v) for v in off]}: {mean_on / mean_off:.3f} of the throughput without them"
    )
    p50, base = percentile(fleetbed, 0.5), percentile(naive, 0.5)
    print(f"RESULT tasks near_p50_ms={p50:.2f} baseline={base:.2f} ratio={base / p50:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
