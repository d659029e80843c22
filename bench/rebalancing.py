"""Rebalancing benchmark: the van-route planner on the published instances and at city
scale, and the demand forecast's backtest, each beside a baseline of the same run.

Run as `python -m bench.rebalancing [--quick]` (or `make bench-rebalancing`).

1. The bike-sharing rebalancing instances in `../shared/benchmarks/brp` (or
   `$FLEETBED_BENCHMARKS_DIR/brp`): each solved by the real command
   `fleetbed rebalance solve-brp FILE --seconds S` in its own process, its cost against
   the published optimum, beside the greedy baseline (nearest feasible stop).
2. City scale: 2,000 H3 cells (resolution 9) around Helsingborg C, each with an
   imbalance from the simulator's demand: where Sunday evening's riders left 3,000
   vehicles against where Monday's 08:00 peak wants them (the hotspots' pull with their
   commute and leisure profiles), plus noise; a tenth of the surplus vehicles with flat
   batteries; 10 vans of capacity 20 (half of them with batteries), four-hour shifts,
   from one depot. The planner (in a process of its own, as the API runs it) against greedy:
   seconds and the objective (van seconds + the penalty of each vehicle of imbalance left).
3. The forecast: four weeks of hourly trip starts and ends per cell drawn from the
   simulator's hour-of-day and weekday profiles and its hotspots (Poisson noise), trained
   on three weeks, scored on the fourth: WAPE of the model against seasonal-naive (the
   same local hour a week before), per hour and per 4-hour block.

The last line is
`RESULT rebalancing city_objective=<planner> baseline=<greedy> ratio=<greedy/planner>`.
"""

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3
import numpy as np

from bench.ingest import say
from bench.services import fleetbed_cli
from demo.city import HOTSPOTS
from demo.simulator.demand import activity
from fleet.rebalancing import brp, greedy
from fleet.rebalancing.forecast import TripHistory, backtest
from fleet.rebalancing.model import Place, Plan, Problem, Site, Van, Vehicle
from fleet.rebalancing.pool import plan_off_loop, planning_executor
from fleet.rebalancing.travel import GreatCircle

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = Path(os.environ.get("FLEETBED_BENCHMARKS_DIR", ROOT.parent / "shared" / "benchmarks"))
# The published optimum of each instance (../shared/benchmarks/brp/README.md).
PUBLISHED = {"parma5.txt": 19_500, "bergamo5.txt": 7_900, "parma8.txt": 22_700}
TZ = ZoneInfo("Europe/Stockholm")
DEPOT = Place(56.0440, 12.6990)
CENTRE = (56.0440, 12.6940)
PEAK = datetime(2026, 12, 7, 7, tzinfo=UTC)  # a Monday, 08:00 in Helsingborg
EVENING = datetime(2026, 12, 6, 20, tzinfo=UTC)  # the Sunday before, 21:00


@dataclass(frozen=True)
class Run:
    """How big each part is and how long the searches take."""

    quick: bool
    brp_seconds: float
    city_cells: int
    city_seconds: float
    forecast_cells: int


def parse_args(argv: list[str] | None) -> Run:
    """The command line; --quick shrinks the city and the search times."""
    parser = argparse.ArgumentParser(prog="python -m bench.rebalancing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 cells, short searches")
    args = parser.parse_args(argv)
    if args.quick:
        return Run(True, 2.0, 500, 10.0, 150)
    return Run(False, 10.0, 2000, 50.0, 300)


def brp_runs(seconds: float) -> list[str]:
    """Each published instance by the real command and by greedy; the table's lines."""
    folder = BENCHMARKS / "brp"
    if not folder.is_dir():
        return [f"(no instances: {folder} is missing)"]
    lines = [
        f"{'instance':<14}{'optimum':>9}{'fleetbed':>10}{'gap':>8}{'s':>7}{'greedy':>9}{'gap':>8}"
    ]
    for name, optimum in PUBLISHED.items():
        path = folder / name
        started = time.perf_counter()
        out = fleetbed_cli(
            dict(os.environ), "rebalance", "solve-brp", str(path), "--seconds", str(seconds)
        )
        took = time.perf_counter() - started
        cost = json.loads(out.splitlines()[-1])["cost"]
        baseline = greedy.plan(brp.to_problem(brp.parse(path.read_text()), seconds=seconds))
        lines.append(
            f"{name:<14}{optimum:>9,}{cost:>10,}{cost / optimum - 1:>8.1%}{took:>7.1f}"
            f"{baseline.travel_s:>9,}{baseline.travel_s / optimum - 1:>8.1%}"
        )
    return lines


def city_problem(cells: int, seconds: float, seed: int = 7) -> Problem:
    """`cells` cells around the centre, each with a nonzero imbalance: where the evening's
    riders left the fleet against where the morning's will want it (the simulator's
    hotspots and profiles), 1.5 vehicles a cell, so surpluses and deficits about cancel."""
    rng = random.Random(seed)  # noqa: S311 - a seeded workload, not a secret
    centre = h3.latlng_to_cell(*CENTRE, 9)
    rings = next(k for k in range(200) if 3 * k * (k + 1) + 1 >= cells)
    disk = sorted(h3.grid_disk(centre, rings))[:cells]
    places = [h3.cell_to_latlng(cell) for cell in disk]
    left = [0.3 + _pull(lat, lng, EVENING) for lat, lng in places]
    wanted = [_pull(lat, lng, PEAK) for lat, lng in places]
    fleet = 1.5 * cells
    sites = []
    for cell, (lat, lng), here, there in zip(disk, places, left, wanted, strict=True):
        expected = fleet * (here / sum(left) - there / sum(wanted))
        imbalance = round(expected + rng.gauss(0, 0.7)) or rng.choice((-1, 1))
        vehicles: tuple[Vehicle, ...] = ()
        if imbalance > 0:
            flat = sum(1 for _ in range(imbalance) if rng.random() < 0.1)
            vehicles = tuple(Vehicle(f"{cell:x}/{k}", k < flat) for k in range(imbalance + flat))
        sites.append(Site(f"{cell:x}", Place(lat, lng), imbalance, vehicles))
    vans = tuple(
        Van(f"van-{k}", DEPOT, DEPOT, 20, 4 * 3600, batteries=10 if k % 2 else 0) for k in range(10)
    )
    return Problem(
        vans=vans,
        sites=tuple(sites),
        travel=GreatCircle(),
        stop_s=120,
        handle_s=30,
        swap_s=90,
        unserved_penalty_s=1800,
        must_balance=False,
        free_start_load=False,
        time_limit_s=seconds,
    )


def _pull(lat: float, lng: float, at: datetime) -> float:
    """How strongly the hotspots draw riders to (lat, lng) at `at`."""
    ms = int(at.timestamp() * 1000)
    return sum(
        h.weight * activity(ms, TZ, h.commute) * math.exp(-(_km(lat, lng, h.lat, h.lng) ** 2) / 0.5)
        for h in HOTSPOTS
    )


def _km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    dy = (lat1 - lat2) * 111.32
    dx = (lng1 - lng2) * 111.32 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def objective_bound(problem: Problem) -> int:
    """A lower bound on any plan's objective. Every vehicle that serves imbalance is
    loaded at a surplus site and, to serve a second vehicle of imbalance, unloaded at a
    deficit site. Each site costs its stop, its handling and the drive from its nearest
    other site, shared evenly by its vehicles (so taking part of a site is undercharged);
    the vans' shift hours buy the cheapest loads and unloads, at most one unload per load.
    Drives to and from the depot, swaps, the vans' capacity and the driving itself (beyond
    each site's nearest approach, in the time budget) are left out: only the penalty
    counts."""
    places = [s.place for s in problem.sites]
    seconds = problem.travel.seconds(places, places).astype(float)
    np.fill_diagonal(seconds, np.inf)
    loads: list[float] = []
    unloads: list[float] = []
    for site, reach in zip(problem.sites, seconds.min(axis=1), strict=True):
        units = abs(site.surplus)
        if units:
            each = (problem.stop_s + reach) / units + problem.handle_s
            (loads if site.surplus > 0 else unloads).extend([each] * units)
    load_cost = np.concatenate(([0.0], np.cumsum(sorted(loads))))
    unload_cost = np.concatenate(([0.0], np.cumsum(sorted(unloads))))
    budget = float(sum(v.shift_end_s for v in problem.vans))
    served = 0
    for k in range(len(load_cost)):
        left = budget - load_cost[k]
        if left < 0:
            break
        j = min(k, int(np.searchsorted(unload_cost, left, side="right")) - 1)
        served = max(served, k + j)
    unserved = sum(abs(s.surplus) for s in problem.sites) - served
    return problem.unserved_penalty_s * unserved


def moved(plan: Plan) -> int:
    """Vehicles the plan loads."""
    return sum(len(s.picked) for r in plan.routes for s in r.stops)


async def planned_off_loop(problem: Problem) -> tuple[Plan, float]:
    """The planner as the API runs it: in a worker process; with the seconds it took."""
    with planning_executor(1) as executor:
        started = time.perf_counter()
        plan = await plan_off_loop(problem, executor=executor)
        return plan, time.perf_counter() - started


def simulated_history(cells: int, seed: int = 11) -> TripHistory:
    """Four weeks of hourly starts and ends per cell from the simulator's profiles."""
    rng = np.random.default_rng(seed)
    centre = h3.latlng_to_cell(*CENTRE, 8)
    rings = next(k for k in range(100) if 3 * k * (k + 1) + 1 >= cells)
    domain = sorted(h3.grid_disk(centre, rings))[:cells]
    until = datetime(2026, 11, 30, tzinfo=UTC)
    since = until - timedelta(weeks=4)
    level = rng.lognormal(-1.2, 1.0, size=len(domain))
    commute = rng.uniform(0.2, 0.8, size=len(domain))
    rows = []
    for h in range(4 * 7 * 24):
        hour = since + timedelta(hours=h)
        ms = int(hour.timestamp() * 1000)
        rates = level * np.array([activity(ms, TZ, float(c)) for c in commute])
        starts = rng.poisson(rates)
        ends = rng.poisson(rates * 0.9)
        rows += [
            (domain[i], hour, int(starts[i]), int(ends[i])) for i in np.flatnonzero(starts + ends)
        ]
    return TripHistory.from_counts(rows, since=since, until=until, resolution=8, tz=TZ)


def main(argv: list[str] | None = None) -> int:
    """Run the three parts; print the figures and the RESULT line."""
    plan = parse_args(argv)
    say(f"published instances ({plan.brp_seconds:g} s each)")
    for line in brp_runs(plan.brp_seconds):
        print(line)
    say(f"city scale: {plan.city_cells:,} cells, 10 vans of 20")
    problem = city_problem(plan.city_cells, plan.city_seconds)
    started = time.perf_counter()
    baseline = greedy.plan(problem)
    greedy_s = time.perf_counter() - started
    found, took = asyncio.run(planned_off_loop(problem))
    imbalance = sum(abs(s.surplus) for s in problem.sites)
    bound = objective_bound(problem)
    print(
        f"cells {len(problem.sites):,}, vehicles of imbalance {imbalance:,}, "
        f"no plan's objective below {bound:,}"
    )
    for name, p, s in (("fleetbed", found, took), ("greedy", baseline, greedy_s)):
        print(
            f"{name:<9} objective {p.objective:>10,}  travel {p.travel_s / 3600:5.1f} van-h  "
            f"unserved {p.unserved:>5,}  moved {moved(p):>4}  {s:6.1f} s  ({p.solver})"
        )
    say(f"forecast backtest: {plan.forecast_cells} cells, 3 weeks train, 1 week test")
    history = simulated_history(plan.forecast_cells)
    for hours in (1, 4):
        result = backtest(history, 3, 1, horizon_hours=hours)
        print(
            f"WAPE per {hours} h: model {result.model.both:.3f}, "
            f"seasonal-naive {result.naive.both:.3f}"
        )
    ratio = baseline.objective / found.objective
    print(
        f"RESULT rebalancing city_objective={found.objective} "
        f"baseline={baseline.objective} ratio={ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
