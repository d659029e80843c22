"""Pod schedules: their times, and the checker catching each broken constraint once."""

from dataclasses import replace
from itertools import product
from typing import Any

import numpy as np
import pytest

from fleet.dispatch.model import (
    DispatchError,
    Load,
    Planned,
    Pod,
    Problem,
    Request,
    Schedule,
    StopKind,
    Window,
)
from fleet.dispatch.schedules import check, feasible, timed
from fleet.rebalancing.model import Place
from fleet.rebalancing.travel import Matrix

P, D = StopKind.PICKUP, StopKind.DROPOFF
BLOCK_S = 60  # driving seconds between neighbouring grid points
GRID = [Place(float(y), float(x)) for y, x in product(range(6), range(6))]
TRAVEL = Matrix(
    tuple(GRID),
    np.array([[BLOCK_S * (abs(a.lat - b.lat) + abs(a.lng - b.lng)) for b in GRID] for a in GRID]),
)
OPEN = Window(0, 10_000)


def at(x: int, y: int = 0) -> Place:
    """A grid point: travel between points is Manhattan, so the triangle inequality holds."""
    return Place(float(y), float(x))


def ride(
    request_id: str,
    pickup: Place,
    dropoff: Place,
    *,
    pickup_window: Window = OPEN,
    dropoff_window: Window = OPEN,
    seats: int = 1,
    max_ride_s: int = 10_000,
    service_s: int = 0,
) -> Request:
    """A request with roomy defaults."""
    return Request(
        request_id,
        pickup,
        dropoff,
        Load(seats=seats),
        pickup_window,
        dropoff_window,
        max_ride_s,
        service_s,
        service_s,
    )


def pod(pod_id: str, place: Place, **changes: Any) -> Pod:
    """A pod with roomy defaults."""
    base = Pod(pod_id, place, 0, Load(seats=2), 10_000, 1_000_000)
    return replace(base, **changes)


def problem_of(
    pods: list[Pod], requests: list[Request], orders: dict[str, list[Planned]] | None = None
) -> Problem:
    """A problem on the grid; one metre a second."""
    return Problem(
        tuple(pods),
        {r.request_id: r for r in requests},
        {k: tuple(v) for k, v in (orders or {}).items()},
        TRAVEL,
        1.0,
    )


def stops(*pairs: tuple[str, StopKind]) -> list[Planned]:
    """An order from (request id, kind) pairs."""
    return [Planned(r, k) for r, k in pairs]


def plan_of(problem: Problem) -> dict[str, Schedule]:
    """The timed schedules of the problem's current orders."""
    return {p.pod_id: timed(problem, p, problem.orders.get(p.pod_id, ())) for p in problem.pods}


def constraints(problem: Problem, schedules: dict[str, Schedule]) -> set[str]:
    """The constraints the checker finds broken."""
    return {v.constraint for v in check(problem, schedules)}


# --- times -------------------------------------------------------------------------------


def test_a_schedule_drives_waits_serves_and_returns_to_its_depot() -> None:
    r = ride("r", at(1), at(3), pickup_window=Window(200, 300), service_s=10)
    a = pod("a", at(0), free_at_s=5, depot=at(5))
    problem = problem_of([a], [r], {"a": stops(("r", P), ("r", D))})
    schedule = timed(problem, a, problem.orders["a"])
    pickup, dropoff = schedule.stops
    assert (pickup.arrive_s, pickup.start_s, pickup.depart_s) == (65, 200, 210)
    assert (dropoff.arrive_s, dropoff.start_s, dropoff.depart_s) == (330, 330, 340)
    assert pickup.load_after == Load(seats=1)
    assert dropoff.load_after == Load()
    assert schedule.drive_s == 5 * BLOCK_S
    assert schedule.drive_m == 5 * BLOCK_S
    assert schedule.end_s == 340 + 2 * BLOCK_S
    assert check(problem, {"a": schedule}) == []


def test_without_a_depot_the_route_ends_after_its_last_stop() -> None:
    r = ride("r", at(1), at(2))
    a = pod("a", at(0))
    problem = problem_of([a], [r], {"a": stops(("r", P), ("r", D))})
    schedule = timed(problem, a, problem.orders["a"])
    assert schedule.end_s == schedule.stops[-1].depart_s == 120
    assert schedule.drive_s == 120
    assert timed(problem, a, []).end_s == 0


def test_a_pickup_waits_when_its_ride_would_be_too_long() -> None:
    # Dropped off no earlier than 1000 and riding 100 s at most: picked up at 900, not at 60.
    r = ride("r", at(1), at(2), dropoff_window=Window(1000, 1100), max_ride_s=100)
    a = pod("a", at(0))
    problem = problem_of([a], [r], {"a": stops(("r", P), ("r", D))})
    schedule = feasible(problem, a, problem.orders["a"])
    assert schedule is not None
    assert [s.start_s for s in schedule.stops] == [900, 1000]
    assert schedule.stops[0].arrive_s == 60
    assert check(problem, {"a": schedule}) == []


def test_waiting_for_one_ride_can_delay_another() -> None:
    # q must wait for r's pickup to be delayed, and then still rides within its limit.
    q = ride("q", at(0), at(3), max_ride_s=400)
    r = ride("r", at(1), at(2), dropoff_window=Window(1000, 1100), max_ride_s=100)
    a = pod("a", at(0))
    order = stops(("q", P), ("r", P), ("r", D), ("q", D))
    problem = problem_of([a], [q, r], {"a": order})
    schedule = feasible(problem, a, order)
    assert schedule is not None
    assert [s.start_s for s in schedule.stops] == [660, 900, 1000, 1060]
    tighter = replace(q, max_ride_s=150)
    assert feasible(problem_of([a], [tighter, r]), a, order) is None


def test_an_order_with_no_feasible_schedule_is_still_timed_for_the_checker() -> None:
    r = ride("r", at(4), at(5), pickup_window=Window(0, 100))
    a = pod("a", at(0))
    problem = problem_of([a], [r], {"a": stops(("r", P), ("r", D))})
    assert feasible(problem, a, problem.orders["a"]) is None
    schedule = timed(problem, a, problem.orders["a"])
    assert schedule.stops[0].start_s == 240
    assert constraints(problem, {"a": schedule}) == {"window"}


def test_malformed_problems_are_refused_naming_the_field() -> None:
    r = ride("r", at(1), at(2), pickup_window=Window(10, 5))
    with pytest.raises(DispatchError) as raised:
        problem_of([pod("a", at(0))], [r])
    assert raised.value.field == "requests[r].pickup_window"
    with pytest.raises(DispatchError, match="orders"):
        problem_of([pod("a", at(0))], [], {"a": stops(("x", P))})
    with pytest.raises(DispatchError, match="pods"):
        problem_of([pod("a", at(0)), pod("a", at(1))], [])


# --- the checker: each constraint broken once --------------------------------------------


def _valid() -> Problem:
    r = ride("r", at(1), at(3), pickup_window=Window(0, 500), dropoff_window=Window(0, 800))
    return problem_of(
        [pod("a", at(0), depot=at(0)), pod("b", at(5))], [r], {"a": stops(("r", P), ("r", D))}
    )


def test_a_valid_plan_breaks_nothing() -> None:
    problem = _valid()
    assert check(problem, plan_of(problem)) == []


def test_a_missed_window_is_caught() -> None:
    problem = _valid()
    late = replace(problem.requests["r"], pickup_window=Window(0, 30))
    problem = replace(problem, requests={"r": late})
    assert constraints(problem, plan_of(problem)) == {"window"}


def test_too_much_on_board_is_caught() -> None:
    big = replace(_valid().requests["r"], load=Load(seats=3))
    problem = replace(_valid(), requests={"r": big})
    assert constraints(problem, plan_of(problem)) == {"capacity"}


def test_what_is_on_board_counts_from_the_start() -> None:
    # r rides alone: fine. With two seats taken already by q on board, it does not fit.
    q = ride("q", at(0), at(4), seats=2)
    r = _valid().requests["r"]
    a = pod("a", at(0), depot=at(0), onboard=("q",))
    order = stops(("r", P), ("r", D), ("q", D))
    problem = problem_of([a], [q, r], {"a": order})
    assert constraints(problem, plan_of(problem)) == {"capacity"}


def test_more_on_board_than_fits_is_caught_before_any_stop() -> None:
    q = ride("q", at(0), at(1), seats=3)
    a = pod("a", at(0), onboard=("q",))
    problem = problem_of([a], [q], {"a": stops(("q", D))})
    assert constraints(problem, plan_of(problem)) == {"capacity"}


def test_a_dropoff_before_its_pickup_is_caught() -> None:
    problem = replace(_valid(), orders={"a": tuple(stops(("r", D), ("r", P)))})
    assert constraints(problem, plan_of(problem)) == {"precedence"}


def test_a_pickup_and_dropoff_on_different_pods_are_caught() -> None:
    problem = replace(_valid(), orders={"a": tuple(stops(("r", P))), "b": tuple(stops(("r", D)))})
    assert constraints(problem, plan_of(problem)) == {"precedence"}


def test_a_ride_too_long_is_caught() -> None:
    problem = _valid()
    short = replace(problem.requests["r"], max_ride_s=60)
    problem = replace(problem, requests={"r": short})
    assert constraints(problem, plan_of(problem)) == {"ride_time"}


def test_a_route_ending_too_late_is_caught() -> None:
    problem = _valid()
    early = replace(problem.pods[0], route_end_s=300)
    problem = replace(problem, pods=(early, problem.pods[1]))
    assert constraints(problem, plan_of(problem)) == {"route_end"}


def test_driving_beyond_the_range_is_caught() -> None:
    problem = _valid()
    weak = replace(problem.pods[0], range_m=300)
    problem = replace(problem, pods=(weak, problem.pods[1]))
    assert constraints(problem, plan_of(problem)) == {"range"}


def test_a_request_served_twice_or_never_is_caught() -> None:
    problem = _valid()
    twice = stops(("r", P), ("r", D))
    doubled = replace(problem, orders={"a": tuple(twice), "b": tuple(twice)})
    assert constraints(doubled, plan_of(doubled)) == {"served"}
    never = replace(problem, orders={})
    assert constraints(never, plan_of(never)) == {"served"}


def test_an_onboard_request_dropped_by_another_pod_is_caught() -> None:
    q = ride("q", at(0), at(4))
    a, b = pod("a", at(0), onboard=("q",)), pod("b", at(5))
    problem = problem_of([a, b], [q], {"b": stops(("q", D))})
    assert constraints(problem, plan_of(problem)) == {"onboard", "precedence"}


def test_a_pinned_request_moved_to_another_pod_is_caught() -> None:
    problem = _valid()
    pinned = replace(problem.pods[1], pinned=("r",))
    problem = replace(problem, pods=(problem.pods[0], pinned))
    assert constraints(problem, plan_of(problem)) == {"pinned"}


def test_a_pod_taking_no_new_requests_may_keep_its_order_but_gets_nothing_new() -> None:
    problem = _valid()
    a, b = problem.pods
    kept = replace(problem, pods=(replace(a, takes_new=False), b))
    assert check(kept, plan_of(kept)) == []
    closed = replace(problem, pods=(a, replace(b, takes_new=False)))
    onto_b = {"a": timed(closed, a, []), "b": timed(closed, b, stops(("r", P), ("r", D)))}
    assert constraints(closed, onto_b) == {"takes_new"}


def test_figures_a_schedule_makes_up_are_caught() -> None:
    problem = _valid()
    schedule = plan_of(problem)["a"]
    pickup, dropoff = schedule.stops
    cases = {
        "travel": replace(schedule, stops=(replace(pickup, arrive_s=10, start_s=10), dropoff)),
        "service": replace(
            schedule, stops=(pickup, replace(dropoff, depart_s=dropoff.start_s - 1))
        ),
        "load": replace(schedule, stops=(replace(pickup, load_after=Load()), dropoff)),
        "drive": replace(schedule, drive_s=1),
        "place": replace(schedule, stops=(replace(pickup, place=at(2)), dropoff)),
    }
    for constraint, bad in cases.items():
        assert constraints(problem, {"a": bad, "b": plan_of(problem)["b"]}) == {constraint}


def test_unknown_pods_and_requests_are_caught() -> None:
    problem = _valid()
    schedule = plan_of(problem)["a"]
    assert "pod" in constraints(problem, {"zz": schedule})
    stranger = replace(schedule.stops[0], request_id="zz")
    assert "request" in constraints(problem, {"a": replace(schedule, stops=(stranger,))})
