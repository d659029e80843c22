"""Pod dispatch benchmark: the dial-a-ride planner on the published instances, a booking
stream replayed against simulated pods, and the answer time of a booking over HTTP, each
beside a greedy-insertion baseline of the same run.

Run as `python -m bench.dispatch [--quick]` (or `make bench-dispatch`).

1. The DARP instances in `../shared/benchmarks/darp` (or `$FLEETBED_BENCHMARKS_DIR/darp`),
   Cordeau's "a" series: each solved by the real command
   `fleetbed dispatch solve-darp FILE --seconds S` in its own process, its cost against the
   best known, beside greedy (each request appended to the pod that picks it up soonest).
2. Online: the simulator's riders (demo.simulator.bookings: from the hotspots by their pull
   at the hour, one to three passengers, a fifth booking ahead) booking 200 rides an hour
   for two hours (one with --quick) from Monday 08:00, against 10 pods at 14 km/h.
   fleetbed inserts each booking at once and re-optimises every five minutes; greedy only
   appends. Share served, mean and p95 wait, ride time against the direct time, pod-km
   per request served.
3. HTTP: 50 pods of a passenger-services operator placed through MDS Agency, and bookings
   sent one at a time to the real `fleetbed serve`: p50 and p99 of the answer.

The last line is
`RESULT dispatch km_per_request=<fleetbed> baseline=<greedy> ratio=<greedy/fleetbed>`.
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from app.core.auth import Mode
from app.core.mstime import from_ms, to_ms
from bench.dispatch_replay import (
    Booking,
    Dispatcher,
    Outcome,
    insert_fleetbed,
    insert_greedy,
    pods_at,
    replay,
)
from bench.ingest import say
from bench.services import fleetbed_cli, require_loopback, reset_stores, server_env, start_fleetbed
from bench.tasks import percentile
from demo.city import HOTSPOTS
from demo.simulator.bookings import BookingStream
from demo.simulator.runner import Scenario
from fleet.dispatch import darp, greedy
from fleet.dispatch.booking import Clock, new_request, travel_of
from fleet.dispatch.model import Load, Pod
from fleet.dispatch.schedules import total_drive_s
from fleet.dispatch.schemas import DispatchSettingsBody, RequestCreate
from fleet.rebalancing.model import Place

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = Path(os.environ.get("FLEETBED_BENCHMARKS_DIR", ROOT.parent / "shared" / "benchmarks"))
# Best known costs, proven optimal (../shared/benchmarks/darp/README.md).
BEST_KNOWN = {"a2-16.txt": 294.25, "a3-24.txt": 344.83, "a4-16.txt": 282.68}
DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_bench_dispatch"
REDIS_URL = "redis://127.0.0.1:6379/7"
TZ = ZoneInfo("Europe/Stockholm")
START = datetime(2026, 12, 7, 7, tzinfo=UTC)  # a Monday, 08:00 in Helsingborg
SETTINGS = DispatchSettingsBody()
MDS_ACCEPT = "application/vnd.mds+json;version=2.0"


@dataclass(frozen=True)
class Run:
    """How big each part is and how long the searches take."""

    quick: bool
    darp_seconds: float
    hours: float
    per_hour: int
    pods: int
    http_pods: int
    http_bookings: int


def parse_args(argv: list[str] | None) -> Run:
    """The command line; --quick shortens the searches and the replay."""
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short searches, one hour")
    args = parser.parse_args(argv)
    if args.quick:
        return Run(True, 3.0, 1.0, 200, 10, 50, 100)
    return Run(False, 10.0, 2.0, 200, 10, 50, 300)


def darp_runs(seconds: float) -> list[str]:
    """Each published instance by the real command and by greedy; the table's lines."""
    folder = BENCHMARKS / "darp"
    if not folder.is_dir():
        return [f"(no instances: {folder} is missing)"]
    lines = [f"{'instance':<12}{'best':>9}{'fleetbed':>10}{'gap':>8}{'s':>7}{'greedy':>22}"]
    for name, best in BEST_KNOWN.items():
        path = folder / name
        started = time.perf_counter()
        out = fleetbed_cli(
            dict(os.environ), "dispatch", "solve-darp", str(path), "--seconds", str(seconds)
        )
        took = time.perf_counter() - started
        answer = json.loads(out.splitlines()[-1])
        instance = darp.parse(path.read_text())
        baseline = greedy.plan(darp.to_problem(instance))
        served = sum(len(s.stops) for s in baseline.values()) // 2
        cost = total_drive_s(baseline) / darp.SCALE
        lines.append(
            f"{name:<12}{best:>9.2f}{answer['cost']:>10.2f}{answer['cost'] / best - 1:>8.1%}"
            f"{took:>7.1f}{cost:>10.2f} ({served}/{instance.requests} served)"
        )
    return lines


def bookings(hours: float, per_hour: int, seed: int = 5) -> list[Booking]:
    """The simulator's riders (demo.simulator.bookings) booking `per_hour` rides an hour
    from `START` on, each request with its own windows in seconds from `START`."""
    stream = BookingStream(
        Mode.PASSENGER_SERVICES,
        Scenario.helsingborg().cmap,
        TZ,
        random.Random(seed),  # noqa: S311 - a seeded workload, not a secret
        lambda _: per_hour,
        to_ms(START),
    )
    clock, travel = Clock(START), travel_of(SETTINGS)
    found: list[Booking] = []
    for made in stream.due(to_ms(START) + round(hours * 3_600_000)):
        body = made.body(0)
        if made.desired_ms is None:
            body["earliest_pickup"] = from_ms(made.at_ms).isoformat()
        request = new_request(RequestCreate.model_validate(body), SETTINGS, clock, f"r{len(found)}")
        direct = int(travel.seconds([request.pickup], [request.dropoff])[0, 0])
        found.append(Booking((made.at_ms - to_ms(START)) // 1000, request, direct))
    return found


def replayed(run: Run, dispatcher: Dispatcher, reoptimise_every_s: int | None) -> Outcome:
    """The booking stream against `run.pods` pods, starting at the hotspots in turn."""
    template = Pod(
        pod_id="",
        place=Place(0, 0),
        free_at_s=0,
        capacity=Load(seats=SETTINGS.seats),
        route_end_s=round((run.hours + 4) * 3600),
        range_m=10**9,
    )
    places = [
        Place(HOTSPOTS[k % len(HOTSPOTS)].lat, HOTSPOTS[k % len(HOTSPOTS)].lng)
        for k in range(run.pods)
    ]
    return replay(
        pods_at(places, template),
        bookings(run.hours, run.per_hour),
        travel=travel_of(SETTINGS),
        settings=SETTINGS,
        dispatcher=dispatcher,
        reoptimise_every_s=reoptimise_every_s,
    )


def km_per_request(outcome: Outcome) -> float:
    """Pod-km driven per request delivered."""
    metres = outcome.drive_s * SETTINGS.speed_kmh / 3.6
    return metres / 1000 / max(1, outcome.served)


def describe(name: str, outcome: Outcome, seconds: float) -> str:
    """One line of the online table."""
    waits = [w / 60 for w in outcome.waits_s] or [math.nan]
    rides = outcome.ride_ratios or [math.nan]
    return (
        f"{name:<9} served {outcome.served}/{outcome.booked} "
        f"({outcome.served / max(1, outcome.booked):.1%})  wait mean {statistics.fmean(waits):.1f} "
        f"p95 {percentile(waits, 0.95):.1f} min  ride/direct {statistics.fmean(rides):.2f}  "
        f"{km_per_request(outcome):.2f} pod-km/request  ({seconds:.0f} s)"
    )


def http_answers(run: Run) -> list[float]:
    """Milliseconds of each booking's answer from the real server, 50 pods placed."""
    for url in (DATABASE_URL, REDIS_URL):
        require_loopback(url)
    env = server_env(DATABASE_URL, REDIS_URL)
    fleetbed_cli(env, "bootstrap")
    reset_stores(DATABASE_URL, [REDIS_URL])
    provider = fleetbed_cli(
        env, "admin", "create-provider", "--name", "bench-pods", "--mode", "passenger-services"
    )
    gateway = fleetbed_cli(env, "admin", "create-key", "--provider", provider, "--role", "gateway")
    booker = fleetbed_cli(
        env, "admin", "create-key", "--provider", provider, "--role", "dispatcher"
    )
    logs = Path(".fleetbed") / "bench-dispatch"
    logs.mkdir(parents=True, exist_ok=True)
    stream = bookings(run.http_bookings / run.per_hour + 0.1, run.per_hour, seed=9)
    with start_fleetbed(env, logs) as server:
        server.wait_ready("/readyz")
        _place_pods(server.base_url, gateway, provider, run.http_pods)
        took = []
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {booker}"}, timeout=30
        ) as client:
            for booking in stream[: run.http_bookings]:
                r = booking.request
                body = {
                    "kind": "ride",
                    "pickup": {"lat": r.pickup.lat, "lng": r.pickup.lng},
                    "dropoff": {"lat": r.dropoff.lat, "lng": r.dropoff.lng},
                    "passengers": r.load.seats,
                }
                started = time.perf_counter()
                answer = client.post("/v1/dispatch/requests", json=body)
                took.append((time.perf_counter() - started) * 1000)
                if answer.status_code not in (201, 409):
                    raise RuntimeError(f"booking: HTTP {answer.status_code}: {answer.text[:300]}")
    return took


def _place_pods(base_url: str, key: str, provider: str, count: int) -> None:
    """Register `count` pods, put them in service and report them at the hotspots."""
    rng = random.Random(3)  # noqa: S311 - a seeded workload
    headers = {"Authorization": f"Bearer {key}", "Accept": MDS_ACCEPT}
    devices = [str(uuid.uuid4()) for _ in range(count)]
    now = int(time.time() * 1000) - 5_000
    places = [
        Place(h.lat + rng.gauss(0, 0.002), h.lng + rng.gauss(0, 0.003))
        for h in (HOTSPOTS * count)[:count]
    ]
    vehicles = [
        {
            "device_id": d,
            "provider_id": provider,
            "vehicle_id": f"POD-{k}",
            "vehicle_type": "other",
            "propulsion_types": ["electric"],
        }
        for k, d in enumerate(devices)
    ]
    events = [
        {
            "device_id": d,
            "provider_id": provider,
            "event_id": str(uuid.uuid4()),
            "vehicle_state": "available",
            "event_types": ["service_start"],
            "timestamp": now,
            "location": {"lat": p.lat, "lng": p.lng},
        }
        for d, p in zip(devices, places, strict=True)
    ]
    points = [
        {
            "device_id": d,
            "provider_id": provider,
            "telemetry_id": str(uuid.uuid4()),
            "timestamp": now,
            "trip_ids": None,
            "journey_id": None,
            "location": {"lat": p.lat, "lng": p.lng},
            "battery_percent": 90,
        }
        for d, p in zip(devices, places, strict=True)
    ]
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for path, body in (
            ("/mds/agency/vehicles", vehicles),
            ("/mds/agency/events", events),
            ("/mds/agency/telemetry", points),
        ):
            response = client.post(path, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.text[:300]}")


def main(argv: list[str] | None = None) -> int:
    """Run the three parts; print the figures and the RESULT line."""
    run = parse_args(argv)
    say(f"published DARP instances ({run.darp_seconds:g} s each)")
    for line in darp_runs(run.darp_seconds):
        print(line)
    say(f"online: {run.per_hour} bookings an hour for {run.hours:g} h, {run.pods} pods")
    outcomes = {}
    for name, dispatcher, every in (
        ("fleetbed", insert_fleetbed, 300),
        ("greedy", insert_greedy, None),
    ):
        started = time.perf_counter()
        outcomes[name] = replayed(run, dispatcher, every)
        print(describe(name, outcomes[name], time.perf_counter() - started))
    say(f"HTTP: {run.http_bookings} bookings, {run.http_pods} pods, one at a time")
    answers = http_answers(run)
    print(
        f"answer p50 {percentile(answers, 0.5):.1f} ms, p99 {percentile(answers, 0.99):.1f} ms "
        f"(max {max(answers):.1f})"
    )
    ours, base = km_per_request(outcomes["fleetbed"]), km_per_request(outcomes["greedy"])
    print(f"RESULT dispatch km_per_request={ours:.3f} baseline={base:.3f} ratio={base / ours:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
