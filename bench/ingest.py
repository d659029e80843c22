"""Telemetry ingest benchmark: the real `fleetbed serve` against a naive baseline.

Run as `python -m bench.ingest [--quick] [--workload synthetic|simulator] [--profile FILE]`
(or `make bench-ingest`). Both servers get the same pre-built MDS telemetry bodies from
separate load processes for the same duration; the last line is
`RESULT ingest points_per_s=<fleetbed> baseline=<naive> ratio=<fleetbed/baseline>`.
"""

import argparse
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import flamesummary
from bench.loadgen import LoadError, LoadGenerator, WorkerSpec
from bench.procstat import PostgresMeter, sample
from bench.report import Figures, result_line, summarize, table
from bench.services import (
    BenchError,
    Gateway,
    ServerProcess,
    create_gateway,
    database_name,
    fleetbed_cli,
    register_fleet,
    require_loopback,
    reset_history,
    reset_stores,
    server_env,
    start_baseline,
    start_fleetbed,
)
from bench.sim_workload import OPERATOR
from bench.workload import WORKLOADS, Fleet, Workload, make_fleet
from bench.zones import load_zones, wait_for_zones
from demo.city import GEODATA

DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"
BASELINE_REDIS_URL = "redis://127.0.0.1:6379/12"
VEHICLE_BATCH = 1000
PY_SPY = Path(sys.executable).with_name("py-spy")


@dataclass(frozen=True)
class Plan:
    """What to run."""

    vehicles: int
    workload: Workload
    duration_s: float
    batch_size: int
    workers: int
    concurrency: int
    server_workers: int
    zones: int
    max_rate: int
    database_url: str
    redis_url: str
    baseline_redis_url: str
    profile: Path | None


def parse_args(argv: list[str] | None) -> Plan:
    """The command line as a plan; --quick shrinks the fleet and the phases."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 vehicles, 8 s per phase")
    parser.add_argument("--vehicles", type=int, default=5000)
    parser.add_argument(
        "--workload",
        choices=WORKLOADS,
        default="synthetic",
        help="telemetry of random walks, or of one operator of the Helsingborg simulator",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--batch-size", type=int, default=1000, help="points per request")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight each")
    parser.add_argument(
        "--zones",
        type=int,
        default=1000,
        help="zones loaded for a third phase, fleetbed with its zone rules (0: no such phase)",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="fleetbed serve --workers (default: one per core, as in production)",
    )
    parser.add_argument(
        "--max-rate",
        type=int,
        default=100_000,
        help="points/s the pre-built bodies suffice for (a run that uses them up fails)",
    )
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--baseline-redis-url", default=BASELINE_REDIS_URL)
    parser.add_argument(
        "--profile", type=Path, help="record the fleetbed server with py-spy (raw format)"
    )
    args = parser.parse_args(argv)
    return Plan(
        vehicles=1000 if args.quick else args.vehicles,
        workload=args.workload,
        duration_s=8.0 if args.quick else args.duration,
        batch_size=args.batch_size,
        workers=args.workers,
        concurrency=args.concurrency,
        server_workers=args.server_workers,
        zones=args.zones,
        max_rate=args.max_rate,
        database_url=args.database_url,
        redis_url=args.redis_url,
        baseline_redis_url=args.baseline_redis_url,
        profile=args.profile,
    )


def say(message: str) -> None:
    """Progress, on stdout before the table."""
    print(f"bench: {message}", flush=True)


def worker_specs(plan: Plan, fleet: Fleet) -> list[WorkerSpec]:
    """Each process gets its own devices and enough bodies for `max_rate` points/s."""
    points = plan.max_rate * plan.duration_s / plan.workers
    batches = math.ceil(points / plan.batch_size)
    return [
        WorkerSpec(
            index=i,
            fleet=fleet,
            device_ids=fleet.device_ids[i :: plan.workers],
            batches=batches,
            batch_size=plan.batch_size,
            seed=1000 + i,
        )
        for i in range(plan.workers)
    ]


def start_profiler(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording the server (and its workers) for the phase, in raw format."""
    if not PY_SPY.exists():
        raise BenchError(f"--profile needs py-spy: {PY_SPY.parent}/pip install py-spy")
    out.unlink(missing_ok=True)
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(math.ceil(duration_s))]
    argv += ["--rate", "100", "--subprocesses", "--format", "raw", "--output", str(out)]
    return subprocess.Popen(  # noqa: S603 - py-spy from our venv, fixed arguments
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_profiler(profiler: subprocess.Popen[bytes], out: Path) -> str:
    """Let py-spy write its file (stop it if it hangs); the profile's summary."""
    try:
        profiler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait(timeout=5)
    if not out.exists():
        return f"py-spy wrote no profile (exit code {profiler.returncode})"
    return f"profile of the fleetbed server: {out}\n" + flamesummary.summary(
        flamesummary.load(out), top=15
    )


def run_phase(
    load: LoadGenerator, server: ServerProcess, plan: Plan, key: str, profile: Path | None
) -> Figures:
    """One load phase against `server`, with CPU counters read around it."""
    say(f"{server.name}: {plan.duration_s:g} s of load")
    start_at = load.start("127.0.0.1", server.port, key, plan.duration_s, plan.concurrency)
    profiler = start_profiler(server.pid, plan.duration_s, profile) if profile else None
    postgres = PostgresMeter(database_name(plan.database_url))
    try:
        time.sleep(max(0.0, start_at - time.monotonic()))
        before = sample(server.pid)
        postgres.start()
        reports = load.reports(plan.duration_s)
        after = sample(server.pid)
    finally:
        postgres_cpu = postgres.stop()
        if profiler is not None and profile is not None:
            say(stop_profiler(profiler, profile))
    if server.process.poll() is not None:
        raise BenchError(f"{server.name} exited during the load:\n{server.log_tail()}")
    return summarize(server.name, start_at, reports, before, after, postgres_cpu)


def measure(plan: Plan, gateway: Gateway, fleet: Fleet, logs: Path) -> list[Figures]:
    """Both phases, each server alone on the machine while it is measured."""
    env = server_env(plan.database_url, plan.redis_url)
    with LoadGenerator(worker_specs(plan, fleet)) as load:
        with start_fleetbed(env, logs, plan.server_workers) as server:
            server.wait_ready("/readyz")
            register_fleet(server.base_url, gateway.key, fleet, VEHICLE_BATCH)
            say(f"registered {len(fleet.device_ids):,} vehicles; building request bodies")
            for ready in load.wait_ready():
                say(f"load process {ready.index}: {ready.bodies:,} bodies in {ready.build_s:.1f} s")
            fleetbed = run_phase(load, server, plan, gateway.key, plan.profile)
        baseline_server = start_baseline(plan.database_url, plan.baseline_redis_url, logs)
        with baseline_server:
            baseline_server.wait_ready("/healthz")
            baseline = run_phase(load, baseline_server, plan, gateway.key, None)
        if not plan.zones:
            return [fleetbed, baseline]
        # The same bodies again, into an empty history, with the zone rules at work.
        reset_history(plan.database_url, [plan.redis_url])
        env_zones = load_zones(env, plan.zones, logs)
        with start_fleetbed(env, logs, plan.server_workers, name="fleetbed+zones") as server:
            server.wait_ready("/readyz")
            wait_for_zones(server.base_url, gateway.key, env_zones)
            zoned = run_phase(load, server, plan, gateway.key, None)
    return [fleetbed, baseline, zoned]


def prepare(plan: Plan) -> tuple[Gateway, Fleet]:
    """Bench database ready and empty, Redis dbs flushed, a provider with a gateway key."""
    for url in (plan.database_url, plan.redis_url, plan.baseline_redis_url):
        require_loopback(url)
    if plan.workload == "simulator" and not GEODATA.is_file():
        raise BenchError(f"the simulator needs Helsingborg's outline at {GEODATA.resolve()}")
    env = server_env(plan.database_url, plan.redis_url)
    say("bootstrapping the bench database")
    fleetbed_cli(env, "bootstrap")
    emptied = reset_stores(plan.database_url, [plan.redis_url, plan.baseline_redis_url])
    say(f"emptied {len(emptied)} tables and the Redis dbs")
    gateway = create_gateway(env, f"bench-{secrets.token_hex(4)}")
    return gateway, make_fleet(gateway.provider_id, plan.vehicles, plan.workload)


def problems(figures: list[Figures]) -> list[str]:
    """Why a run does not count, if it does not."""
    found = []
    for f in figures:
        if f.failed:
            found.append(
                f"{f.name}: {f.failed} requests failed ({dict(f.errors)}); {f.error_sample}"
            )
        if f.exhausted:
            found.append(f"{f.name}: the pre-built bodies ran out; raise --max-rate")
        if not f.points:
            found.append(f"{f.name}: no point was accepted")
    return found


def print_report(plan: Plan, figures: list[Figures]) -> None:
    """The table and the notes a reader needs to weigh it."""
    print()
    source = (
        f"the simulator's {OPERATOR.name} fleet"
        if plan.workload == "simulator"
        else "synthetic telemetry"
    )
    print(
        f"{plan.vehicles:,} vehicles ({source}), {plan.batch_size:,} points per request, "
        f"{plan.workers} load processes x {plan.concurrency} requests in flight, "
        f"{plan.server_workers} fleetbed server process(es), "
        f"{plan.duration_s:g} s per phase, {os.cpu_count()} cores"
    )
    print(table(figures))
    print(
        "notes: CPU from /proc; PostgreSQL = backends of the bench database plus the shared "
        "background processes; Redis = the whole redis-server (shared with other dbs); "
        "other = the rest of the machine's busy time (kernel, other programs). "
        "The baseline checks no credentials or ownership: it does less work than fleetbed."
    )


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds through the `with` blocks, so servers and load processes are stopped.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when both phases ran cleanly."""
    plan = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        gateway, fleet = prepare(plan)
        with tempfile.TemporaryDirectory(prefix="fleetbed-bench-") as logs:
            figures = measure(plan, gateway, fleet, Path(logs))
    except (BenchError, LoadError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print_report(plan, figures)
    failures = problems(figures)
    for failure in failures:
        print(f"ERROR: {failure}")
    if len(figures) == 3:
        change = figures[2].rate / figures[0].rate - 1 if figures[0].rate else 0.0
        print(
            f"zones: with {plan.zones:,} zones loaded, {figures[2].rate:,.1f} points/s, "
            f"{change:+.1%} against no zones (target: within -20%)"
        )
    print(result_line(figures[0], figures[1]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
