"""The van-route planner (pure): every plan is feasible, tiny ones are optimal.

`assert_feasible` re-checks a plan stop by stop against the problem alone, without the
planner's code; the greedy baseline's tests use it too.
"""

import pickle
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from itertools import accumulate, pairwise, permutations
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.errors import InvalidInput
from fleet.rebalancing import brp, planner
from fleet.rebalancing.greedy import greedy_sequences
from fleet.rebalancing.model import Place, Plan, PlanningError, Problem, Site, Van, Vehicle
from fleet.rebalancing.planner import plan
from fleet.rebalancing.pool import plan_off_loop, planning_executor
from fleet.rebalancing.routes import Graph, Visit, extend, finish, graph_of, start_leg
from fleet.rebalancing.travel import GreatCircle, Matrix

SEARCH_S = 0.2
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEPOT = Place(56.04, 12.70)
# With exact_up_to=0 every instance goes to a search (OR-Tools under must_balance, else
# ruin and recreate), however small.
SOLVERS = {"exact": {}, "search": {"exact_up_to": 0}}


def near(dlat: float, dlng: float) -> Place:
    """A place this many degrees from the depot."""
    return Place(DEPOT.lat + dlat, DEPOT.lng + dlng)


def problem_of(
    vans: list[Van],
    sites: list[Site],
    *,
    must_balance: bool = False,
    free_start_load: bool = False,
    **times: int,
) -> Problem:
    """A problem around Helsingborg; unnamed times are 0, the unserved penalty an hour."""
    return Problem(
        vans=tuple(vans),
        sites=tuple(sites),
        travel=GreatCircle(),
        stop_s=times.get("stop_s", 0),
        handle_s=times.get("handle_s", 0),
        swap_s=times.get("swap_s", 0),
        unserved_penalty_s=times.get("unserved_penalty_s", 3600),
        must_balance=must_balance,
        free_start_load=free_start_load,
        time_limit_s=SEARCH_S,
    )


def vehicles(prefix: str, charged: int, low: int = 0) -> tuple[Vehicle, ...]:
    return tuple(Vehicle(f"{prefix}-c{k}", False) for k in range(charged)) + tuple(
        Vehicle(f"{prefix}-l{k}", True) for k in range(low)
    )


@st.composite
def problems(draw: st.DrawFn, *, must_balance: bool = False) -> Problem:
    """Random small problems; with `must_balance`, ones that can always be balanced."""
    offset = st.floats(-0.02, 0.02)  # about two kilometres
    sites = []
    for i in range(draw(st.integers(1, 5))):
        surplus = draw(st.integers(-4, 4))
        charged = max(surplus, 0) + draw(st.integers(0, 2))
        low = draw(st.integers(0, 2))
        place = near(draw(offset), draw(offset))
        sites.append(Site(f"s{i}", place, surplus, vehicles(f"s{i}", charged, low)))
    vans = []
    for k in range(len(sites) if must_balance else draw(st.integers(1, 3))):
        capacity = draw(st.integers(6, 8) if must_balance else st.integers(1, 6))
        start = DEPOT if must_balance else draw(st.sampled_from([DEPOT, near(0.01, -0.01)]))
        shift = 10**6 if must_balance else draw(st.integers(0, 3600))
        vans.append(
            Van(
                f"v{k}",
                start,
                DEPOT,
                capacity,
                shift,
                batteries=draw(st.integers(0, 3)),
                start_load=draw(st.integers(0, capacity)),
            )
        )
    return problem_of(
        vans,
        sites,
        must_balance=must_balance,
        stop_s=draw(st.integers(0, 120)),
        handle_s=draw(st.integers(0, 30)),
        swap_s=draw(st.integers(0, 60)),
        unserved_penalty_s=draw(st.integers(0, 900)),
        free_start_load=must_balance or draw(st.booleans()),
    )


def seconds(problem: Problem, a: Place, b: Place) -> int:
    return 0 if a == b else int(problem.travel.seconds([a], [b])[0, 0])


def assert_feasible(problem: Problem, found: Plan) -> None:
    """Every rule of the problem holds, stop by stop, and the totals add up."""
    sites = {s.site_id: s for s in problem.sites}
    low = {v.device_id for s in problem.sites for v in s.vehicles if v.low_battery}
    home = {v.device_id: s.site_id for s in problem.sites for v in s.vehicles}
    picked_once: set[str] = set()
    charged_picked: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    collected: Counter[str] = Counter()
    travel = 0
    assert [r.van_id for r in found.routes] == [v.van_id for v in problem.vans]
    for van, route in zip(problem.vans, found.routes, strict=True):
        if not route.stops:
            continue
        start, *visits, end = route.stops
        assert (start.kind, start.place, start.arrive_s, start.depart_s) == (
            "start",
            van.start,
            0,
            0,
        )
        assert 0 <= start.load_after <= van.capacity
        if not problem.free_start_load:
            assert start.load_after == van.start_load
        assert visits, "a van that moves serves something"
        stock, usable, for_depot, swaps = start.load_after, set[str](), set[str](), 0
        previous = start
        for stop in visits:
            assert stop.site_id is not None
            site = sites[stop.site_id]
            assert stop.site_id != previous.site_id, "a site's consecutive chunks are one stop"
            assert stop.kind == ("dropoff" if site.surplus < 0 else "pickup")
            assert stop.place == site.place
            travel += seconds(problem, previous.place, stop.place)
            assert stop.arrive_s == previous.depart_s + seconds(problem, previous.place, stop.place)
            handled = len(stop.picked) + len(stop.dropped) + stop.dropped_stock
            assert stop.depart_s == (
                stop.arrive_s
                + problem.stop_s
                + problem.handle_s * handled
                + problem.swap_s * len(stop.swapped)
            )
            for device in stop.picked:
                assert device not in picked_once, "picked at most once"
                assert home[device] == stop.site_id
                picked_once.add(device)
            picked_low = {d for d in stop.picked if d in low}
            assert set(stop.swapped) | set(stop.to_depot) == picked_low
            assert not set(stop.swapped) & set(stop.to_depot)
            swaps += len(stop.swapped)
            usable |= {d for d in stop.picked if d not in low} | set(stop.swapped)
            for_depot |= set(stop.to_depot)
            assert set(stop.dropped) <= usable, "dropped: picked before, charged or swapped"
            usable -= set(stop.dropped)
            stock -= stop.dropped_stock
            assert stock >= 0
            assert stop.load_after == stock + len(usable) + len(for_depot)
            assert 0 <= stop.load_after <= van.capacity
            charged_picked[site.site_id] += len(set(stop.picked) - low)
            dropped[site.site_id] += len(stop.dropped) + stop.dropped_stock
            collected[site.site_id] += len(picked_low)
            previous = stop
        travel += seconds(problem, previous.place, end.place)
        assert (end.kind, end.place, end.load_after) == ("depot", van.depot, 0)
        assert end.arrive_s == end.depart_s
        assert end.arrive_s == previous.depart_s + seconds(problem, previous.place, end.place)
        assert end.arrive_s <= van.shift_end_s
        assert swaps <= van.batteries
        assert set(end.dropped) == usable | for_depot
        assert end.dropped_stock == stock
    imbalance = 0
    for site in problem.sites:
        low_here = sum(v.low_battery for v in site.vehicles)
        imbalance += abs(site.surplus) + low_here
        assert charged_picked[site.site_id] <= max(site.surplus, 0)
        assert dropped[site.site_id] <= max(-site.surplus, 0)
        assert collected[site.site_id] <= low_here
    served = sum(charged_picked.values()) + sum(dropped.values()) + sum(collected.values())
    assert found.unserved == imbalance - served
    assert found.travel_s == travel
    assert found.objective == travel + problem.unserved_penalty_s * found.unserved
    if problem.must_balance:
        assert found.unserved == 0
        visited = [s.site_id for r in found.routes for s in r.stops if s.site_id is not None]
        assert len(visited) == len(set(visited)), "each site visited once"


# --- every plan is feasible -----------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@PROPERTY
@given(problem=problems())
def test_plans_of_random_problems_are_feasible(solver: str, problem: Problem) -> None:
    assert_feasible(problem, plan(problem, **SOLVERS[solver]))


@pytest.mark.parametrize("solver", SOLVERS)
@PROPERTY
@given(problem=problems(must_balance=True))
def test_balanced_plans_serve_every_site_once(solver: str, problem: Problem) -> None:
    assert_feasible(problem, plan(problem, **SOLVERS[solver]))


# --- the search's insertions ---------------------------------------------------------


def driven(graph: Graph, van: int, visits: tuple[Visit, ...]) -> tuple[int, int] | None:
    """Arrival at the depot and travel of a route, extended visit by visit; None if it
    breaks a rule."""
    if not visits:
        return 0, 0
    leg = start_leg(graph, van)
    for visit in visits:
        nxt = extend(graph, van, leg, visit)
        if nxt is None:
            return None
        leg = nxt
    arrive = finish(graph, van, leg)
    return (
        None if arrive is None else (arrive, leg.travel_s + graph.travel[leg.node][graph.end(van)])
    )


@PROPERTY
@given(problem=problems(), per_unit=st.booleans())
def test_the_search_rates_every_insertion_as_the_rules_do(problem: Problem, per_unit: bool) -> None:
    """Per option: the best gain per second over every feasible position, or none."""
    graph = graph_of(problem)
    options = planner._options(graph, range(len(graph.chunks)))
    for van, sequence in enumerate(greedy_sequences(graph, per_unit=per_unit)):
        visits = tuple(sequence)
        route = planner._route_of(graph, options, van, visits)
        before = driven(graph, van, visits)
        assert before is not None
        for option, visit in enumerate(options.visits):
            if visit.chunk in {v.chunk for v in visits}:
                continue
            rates = {}
            for at in range(len(visits) + 1):
                after = driven(graph, van, (*visits[:at], visit, *visits[at:]))
                gain = None if after is None else options.value[option] - (after[1] - before[1])
                if after is not None and gain is not None and gain > 0:
                    rates[at] = gain / max(after[0] - before[0], 1)
            best = max(rates.values(), default=-np.inf)
            assert route.rate[option] == pytest.approx(best)
            if rates:
                assert rates[int(route.position[option])] == pytest.approx(best)


# --- the optimum on tiny instances ----------------------------------------------------


def partitions(items: list[int]) -> Iterator[list[list[int]]]:
    """Every way to split `items` into groups."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for groups in partitions(rest):
        for i in range(len(groups)):
            yield [*groups[:i], [first, *groups[i]], *groups[i + 1 :]]
        yield [[first], *groups]


def route_cost(instance: brp.Instance, order: tuple[int, ...]) -> int | None:
    """Cost of depot → order → depot, or None if no start load keeps it within [0, Q]."""
    loads = [0, *accumulate(instance.imbalance[i] for i in order)]
    if max(loads) - min(loads) > instance.capacity:
        return None
    path = [0, *order, 0]
    return sum(instance.cost[a][b] for a, b in pairwise(path))


def brute_force(instance: brp.Instance) -> int:
    """The published problem's optimum: every split of the stations, every order."""
    stations = [i for i, q in enumerate(instance.imbalance) if i and q]
    best = None
    for groups in partitions(stations):
        costs = []
        for group in groups:
            feasible = [
                c for o in permutations(group) if (c := route_cost(instance, o)) is not None
            ]
            costs.append(min(feasible) if feasible else None)
        if None not in costs:
            total = sum(c for c in costs if c is not None)
            best = total if best is None else min(best, total)
    assert best is not None, "one station per van is always feasible"
    return best


@st.composite
def tiny_instances(draw: st.DrawFn) -> brp.Instance:
    """At most five stations, an asymmetric cost matrix, imbalances up to Q."""
    n = draw(st.integers(2, 6))
    capacity = draw(st.integers(1, 8))
    imbalance = (0, *(draw(st.integers(-capacity, capacity)) for _ in range(n - 1)))
    cost = tuple(
        tuple(10**9 if i == j else 100 * draw(st.integers(0, 60)) for j in range(n))
        for i in range(n)
    )
    return brp.Instance(imbalance, capacity, cost)


@pytest.mark.parametrize("solver", SOLVERS)
@PROPERTY
@given(instance=tiny_instances())
def test_tiny_instances_are_solved_to_the_brute_force_optimum(
    solver: str, instance: brp.Instance
) -> None:
    found = plan(brp.to_problem(instance, seconds=SEARCH_S), **SOLVERS[solver])
    assert found.travel_s == brute_force(instance)
    routes = brp.result(found, seconds=0.0)["routes"]
    assert sum(route_cost(instance, tuple(r[1:-1])) or 0 for r in routes) == found.travel_s


# --- what the plan does ---------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_van_moves_a_surplus_to_a_deficit(solver: str) -> None:
    sites = [
        Site("full", near(0.01, 0), 2, vehicles("full", 3)),
        Site("empty", near(0.02, 0), -2),
    ]
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600)
    found = plan(problem_of([van], sites, stop_s=60, handle_s=10), **SOLVERS[solver])
    _, pickup, dropoff, _ = found.routes[0].stops
    assert (pickup.site_id, pickup.kind, pickup.picked) == (
        "full",
        "pickup",
        ("full-c0", "full-c1"),
    )
    assert (dropoff.site_id, dropoff.kind, dropoff.dropped) == ("empty", "dropoff", pickup.picked)
    assert (pickup.load_after, dropoff.load_after) == (2, 0)
    assert pickup.depart_s - pickup.arrive_s == 60 + 2 * 10
    assert found.unserved == 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_van_with_batteries_swaps_low_vehicles_and_drops_them_where_lacking(solver: str) -> None:
    sites = [Site("low", near(0.01, 0), 0, vehicles("low", 0, 2)), Site("empty", near(0.02, 0), -2)]
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600, batteries=2)
    found = plan(problem_of([van], sites, swap_s=30), **SOLVERS[solver])
    _, collect, dropoff, end = found.routes[0].stops
    assert set(collect.swapped) == set(collect.picked) == {"low-l0", "low-l1"}
    assert collect.depart_s - collect.arrive_s == 2 * 30
    assert set(dropoff.dropped) == set(collect.swapped)
    assert end.dropped == ()
    assert found.unserved == 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_van_without_batteries_takes_low_vehicles_to_the_depot_not_to_a_deficit(
    solver: str,
) -> None:
    sites = [Site("low", near(0.01, 0), 0, vehicles("low", 0, 2)), Site("empty", near(0.02, 0), -2)]
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600)
    found = plan(problem_of([van], sites), **SOLVERS[solver])
    stops = found.routes[0].stops
    assert [s.site_id for s in stops] == [None, "low", None]
    assert set(stops[1].to_depot) == set(stops[-1].dropped) == {"low-l0", "low-l1"}
    assert found.unserved == 2  # the deficit: no usable vehicle reaches it


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_van_out_of_batteries_takes_the_rest_to_the_depot(solver: str) -> None:
    sites = [
        Site("a", near(0.01, 0), 0, vehicles("a", 0, 1)),
        Site("b", near(0, 0.01), 0, vehicles("b", 0, 1)),
    ]
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600, batteries=1)
    found = plan(problem_of([van], sites), **SOLVERS[solver])
    stops = found.routes[0].stops
    assert sum(len(s.swapped) for s in stops) == 1
    assert sum(len(s.to_depot) for s in stops) == 1
    assert found.unserved == 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_site_larger_than_a_van_is_served_in_parts(solver: str) -> None:
    sites = [Site("big", near(0.01, 0), 7, vehicles("big", 7)), Site("hole", near(0.02, 0), -3)]
    van = Van("v", DEPOT, DEPOT, capacity=3, shift_end_s=3600)
    problem = problem_of([van], sites, stop_s=60)
    found = plan(problem, **SOLVERS[solver])
    assert_feasible(problem, found)
    # Three to the hole, three more to the depot: one vehicle is left over.
    assert [len(s.picked) for s in found.routes[0].stops if s.site_id == "big"] == [3, 3]
    assert found.unserved == 1


def test_a_sites_chunks_served_in_a_row_are_one_stop_parked_once() -> None:
    mixed = Site("mixed", near(0.01, 0), 2, vehicles("mixed", 2, 1))
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600)
    found = plan(problem_of([van], [mixed], stop_s=60, handle_s=10), exact_up_to=0)
    _, stop, _ = found.routes[0].stops
    assert set(stop.picked) == {"mixed-c0", "mixed-c1", "mixed-l0"}
    assert stop.to_depot == ("mixed-l0",)
    assert stop.depart_s - stop.arrive_s == 60 + 3 * 10
    assert found.unserved == 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_start_load_is_dropped_where_lacking_and_counted_apart(solver: str) -> None:
    van = Van("v", near(0.01, 0.01), DEPOT, capacity=4, shift_end_s=3600, start_load=3)
    found = plan(problem_of([van], [Site("hole", near(0.02, 0), -2)]), **SOLVERS[solver])
    start, dropoff, end = found.routes[0].stops
    assert (start.place, start.load_after) == (van.start, 3)
    assert (dropoff.dropped, dropoff.dropped_stock, dropoff.load_after) == ((), 2, 1)
    assert end.dropped_stock == 1


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_shift_bounds_the_route_and_idle_vans_stay(solver: str) -> None:
    far = Site("far", near(0.2, 0), 2, vehicles("far", 2))
    vans = [Van("short", DEPOT, DEPOT, 5, shift_end_s=600), Van("idle", DEPOT, DEPOT, 5, 600)]
    found = plan(problem_of(vans, [far]), **SOLVERS[solver])
    assert [r.stops for r in found.routes] == [(), ()]
    assert (found.unserved, found.travel_s, found.objective) == (2, 0, 2 * 3600)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_balanced_problem_no_van_can_balance_is_refused(solver: str) -> None:
    sites = [Site("hole", near(0.01, 0), -3)]
    van = Van("v", DEPOT, DEPOT, capacity=3, shift_end_s=3600)
    with pytest.raises(PlanningError) as raised:
        plan(problem_of([van], sites, must_balance=True), **SOLVERS[solver])
    assert raised.value.field == "sites"


# --- bad input ------------------------------------------------------------------------

VAN = Van("v", DEPOT, DEPOT, capacity=2, shift_end_s=3600)
SITE = Site("s", near(0.01, 0), 1, vehicles("s", 1))


@pytest.mark.parametrize(
    ("vans", "sites", "changes", "field"),
    [
        ([], [SITE], {}, "vans"),
        ([VAN, VAN], [SITE], {}, "vans"),
        ([Van("v", DEPOT, DEPOT, 0, 3600)], [SITE], {}, "vans[0].capacity"),
        ([Van("v", DEPOT, DEPOT, 2, -1)], [SITE], {}, "vans[0].shift_end_s"),
        ([Van("v", DEPOT, DEPOT, 2, 60, batteries=-1)], [SITE], {}, "vans[0].batteries"),
        ([Van("v", DEPOT, DEPOT, 2, 60, start_load=3)], [SITE], {}, "vans[0].start_load"),
        ([Van("v", Place(91, 0), DEPOT, 2, 60)], [SITE], {}, "vans[0].start.lat"),
        ([Van("v", DEPOT, Place(0, 181), 2, 60)], [SITE], {}, "vans[0].depot.lng"),
        ([VAN], [SITE, SITE], {}, "sites"),
        ([VAN], [SITE, Site("t", DEPOT, 0, vehicles("s", 1))], {}, "sites"),
        ([VAN], [Site("s", DEPOT, 2, vehicles("s", 1, 3))], {}, "sites[0].surplus"),
        ([VAN], [Site("s", Place(float("nan"), 0), 0)], {}, "sites[0].place.lat"),
        ([VAN], [SITE], {"stop_s": -1}, "stop_s"),
        ([VAN], [SITE], {"handle_s": -1}, "handle_s"),
        ([VAN], [SITE], {"swap_s": -1}, "swap_s"),
        ([VAN], [SITE], {"unserved_penalty_s": -1}, "unserved_penalty_s"),
        ([VAN], [SITE], {"time_limit_s": 0.0}, "time_limit_s"),
        ([VAN], [SITE], {"time_limit_s": float("inf")}, "time_limit_s"),
        ([VAN], [SITE], {"time_limit_s": float("nan")}, "time_limit_s"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    vans: list[Van], sites: list[Site], changes: dict[str, Any], field: str
) -> None:
    valid = problem_of([VAN], [SITE])
    with pytest.raises(PlanningError) as raised:
        replace(valid, vans=tuple(vans), sites=tuple(sites), **changes)
    assert raised.value.field == field
    assert isinstance(raised.value, InvalidInput)
    assert raised.value.fields == (field,)
    assert raised.value.detail.startswith(f"{field}: ")


def test_a_site_larger_than_every_van_is_refused_when_it_is_visited_once() -> None:
    big = Site("big", DEPOT, 3, vehicles("big", 3))
    with pytest.raises(PlanningError) as raised:
        plan(problem_of([VAN], [big], must_balance=True))
    assert raised.value.field == "sites[0].surplus"


def test_a_place_the_matrix_does_not_know_is_refused() -> None:
    matrix = Matrix((DEPOT,), np.zeros((1, 1), dtype=np.int64))
    problem = Problem((VAN,), (SITE,), matrix, 0, 0, 0, 0, False, False, SEARCH_S)
    with pytest.raises(PlanningError) as raised:
        plan(problem)
    assert raised.value.field == "travel"


def test_a_planning_error_survives_pickling() -> None:
    pickled = pickle.dumps(PlanningError("vans[0].capacity", "must be at least 1"))
    error = pickle.loads(pickled)  # noqa: S301 - our own bytes
    assert (error.field, error.message) == ("vans[0].capacity", "must be at least 1")


# --- travel times ---------------------------------------------------------------------


def test_great_circle_seconds_are_vectorised_and_scaled() -> None:
    north = Place(DEPOT.lat + 1, DEPOT.lng)
    table = GreatCircle(detour=1.3, speed_kmh=25).seconds([DEPOT, north], [DEPOT, north, DEPOT])
    assert table.shape == (2, 3)
    assert table.dtype == np.int64
    # One degree of latitude is 111.2 km: 144.6 km driven at 25 km/h.
    assert table[0, 1] == table[1, 0] == pytest.approx(111.195 * 1.3 / 25 * 3600, abs=2)
    assert table[0, 0] == table[1, 1] == table[0, 2] == 0


def test_a_matrix_answers_with_its_rows_and_columns() -> None:
    a, b = Place(0, 0), Place(0, 1)
    matrix = Matrix((a, b), np.array([[0, 5], [7, 0]]))
    assert matrix.seconds([b, a], [a]).tolist() == [[7], [0]]
    with pytest.raises(PlanningError):
        Matrix((a, b), np.array([[0, -1], [1, 0]]))


# --- off the event loop ---------------------------------------------------------------


async def test_plans_are_computed_in_a_worker_process() -> None:
    problem = problem_of([VAN], [SITE, Site("hole", near(0.02, 0), -1)], stop_s=30, handle_s=5)
    assert pickle.loads(pickle.dumps(problem)) == problem  # noqa: S301 - our own bytes
    executor = planning_executor(1)
    try:
        found = await plan_off_loop(problem, executor=executor)
    finally:
        executor.shutdown()
    assert found == plan(problem)
