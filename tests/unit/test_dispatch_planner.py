"""The dial-a-ride planner: insertion, refusals, re-optimisation, and the greedy baseline."""

from collections.abc import Iterator
from dataclasses import replace
from itertools import permutations, product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.dispatch import greedy
from fleet.dispatch.model import (
    Assignment,
    DispatchError,
    Load,
    Planned,
    Pod,
    Problem,
    Reason,
    Refusal,
    Request,
    Window,
)
from fleet.dispatch.planner import insert, reoptimise
from fleet.dispatch.schedules import check, feasible, total_drive_s
from tests.unit.test_dispatch_schedules import (
    BLOCK_S,
    D,
    P,
    at,
    plan_of,
    pod,
    problem_of,
    ride,
    stops,
)

SEARCH_S = 0.1  # OR-Tools' time per re-optimisation in these tests


def accepted(problem: Problem, answer: Assignment | Refusal, request: Request) -> Problem:
    """The problem with an accepted request in its pod's order."""
    assert isinstance(answer, Assignment), answer
    (schedule,) = answer.schedules
    orders = dict(problem.orders)
    orders[answer.pod_id] = tuple(Planned(s.request_id, s.kind) for s in schedule.stops)
    return replace(
        problem, requests={**problem.requests, request.request_id: request}, orders=orders
    )


def shifted(request: Request, to_pickup_s: int) -> Request:
    """The request with both windows moved so that its pickup window opens at `to_pickup_s`."""
    shift = to_pickup_s - request.pickup_window.earliest_s
    return replace(
        request,
        pickup_window=Window(
            request.pickup_window.earliest_s + shift, request.pickup_window.latest_s + shift
        ),
        dropoff_window=Window(
            request.dropoff_window.earliest_s + shift, request.dropoff_window.latest_s + shift
        ),
    )


# --- brute force, for tiny instances -----------------------------------------------------


def orders_of(request_ids: list[str]) -> Iterator[list[Planned]]:
    """Every order of these requests' stops with each pickup before its drop-off."""
    for sequence in permutations([(r, k) for r in request_ids for k in (P, D)]):
        if all(sequence.index((r, P)) < sequence.index((r, D)) for r in request_ids):
            yield stops(*sequence)


def least_drive(problem: Problem, pod_: Pod, request_ids: list[str]) -> int | None:
    """The least driving of a feasible order of these requests on a pod, if any."""
    drives = [
        s.drive_s
        for order in orders_of(request_ids)
        if (s := feasible(problem, pod_, order)) is not None
    ]
    return min(drives, default=None)


def optimum(problem: Problem) -> int | None:
    """The least total driving of a plan serving every request, by enumeration."""
    ids, best = list(problem.requests), None
    for owners in product(range(len(problem.pods)), repeat=len(ids)):
        drives = [
            least_drive(problem, p, [r for r, o in zip(ids, owners, strict=True) if o == v])
            for v, p in enumerate(problem.pods)
        ]
        if all(d is not None for d in drives):
            total = sum(d for d in drives if d is not None)
            best = total if best is None else min(best, total)
    return best


def cheapest_insertion(problem: Problem, request: Request) -> int | None:
    """The least added driving of any feasible insertion, by enumeration."""
    extended = replace(problem, requests={**problem.requests, request.request_id: request})
    added = []
    for p in problem.pods:
        order = list(problem.orders.get(p.pod_id, ()))
        before = feasible(problem, p, order)
        for a in range(len(order) + 1):
            for b in range(a, len(order) + 1):
                new = [*order[:a], Planned(request.request_id, P), *order[a:b]]
                new += [Planned(request.request_id, D), *order[b:]]
                after = feasible(extended, p, new)
                if before is not None and after is not None:
                    added.append(after.drive_s - before.drive_s)
    return min(added, default=None)


# --- random small instances --------------------------------------------------------------


@st.composite
def requests_(draw: st.DrawFn, request_id: str, *, roomy: bool = False) -> Request:
    """A request on the grid; `roomy` ones have wide windows and long rides."""
    point = st.builds(at, st.integers(0, 5), st.integers(0, 5))
    earliest = draw(st.integers(0, 900))
    width = draw(st.integers(600, 1800) if roomy else st.integers(0, 600))
    later = draw(st.integers(0, 300 if roomy else 900))
    length = draw(st.integers(1800, 3600) if roomy else st.integers(60, 900))
    return ride(
        request_id,
        draw(point),
        draw(point),
        pickup_window=Window(earliest, earliest + width),
        dropoff_window=Window(earliest + later, earliest + later + length),
        seats=draw(st.integers(1, 2)),
        max_ride_s=draw(st.integers(600, 1800) if roomy else st.integers(120, 1200)),
        service_s=draw(st.sampled_from([0, 15, 30])),
    )


@st.composite
def pods_(draw: st.DrawFn, count: int, *, roomy: bool = False) -> list[Pod]:
    """Pods on the grid; `roomy` ones have long routes and ranges."""
    point = st.builds(at, st.integers(0, 5), st.integers(0, 5))
    return [
        pod(
            f"p{k}",
            draw(point),
            free_at_s=draw(st.integers(0, 120)),
            capacity=Load(seats=draw(st.integers(1, 3))),
            route_end_s=draw(st.integers(3600, 7200) if roomy else st.integers(900, 3600)),
            range_m=draw(st.integers(3000, 9000) if roomy else st.integers(600, 5000)),
            depot=draw(st.none() | point),
        )
        for k in range(count)
    ]


@st.composite
def worlds(
    draw: st.DrawFn, pods: int, requests: int, *, fewest: int = 1, roomy: bool = False
) -> tuple[list[Pod], list[Request]]:
    """Up to `pods` pods and `fewest` to `requests` requests."""
    count = draw(st.integers(fewest, requests))
    return draw(pods_(draw(st.integers(1, pods)), roomy=roomy)), [
        draw(requests_(f"r{k}", roomy=roomy)) for k in range(count)
    ]


def build(pods: list[Pod], requests: list[Request]) -> Problem:
    """Insert the requests one by one; those refused are left out."""
    problem = problem_of(pods, [])
    for request in requests:
        answer = insert(problem, request)
        if isinstance(answer, Assignment):
            problem = accepted(problem, answer, request)
            assert check(problem, plan_of(problem)) == []
    return problem


def advance(problem: Problem) -> Problem:
    """Each pod's first pickup done (the request on board) and its next request pinned."""
    pods, requests, orders = [], dict(problem.requests), dict(problem.orders)
    for p in problem.pods:
        schedule = plan_of(problem)[p.pod_id]
        order = list(orders.get(p.pod_id, ()))
        if order and order[0].kind is P:
            first, r = schedule.stops[0], requests[order[0].request_id]
            latest = min(r.dropoff_window.latest_s, first.depart_s + r.max_ride_s)
            requests[r.request_id] = replace(
                r, dropoff_window=Window(r.dropoff_window.earliest_s, latest)
            )
            p = replace(p, place=first.place, free_at_s=first.depart_s, onboard=(r.request_id,))
            order = order[1:]
        pinned = tuple(s.request_id for s in order if s.request_id not in p.onboard)[:1]
        pods.append(replace(p, pinned=pinned))
        orders[p.pod_id] = tuple(order)
    return replace(problem, pods=tuple(pods), requests=requests, orders=orders)


FAST = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FAST
@given(worlds(pods=3, requests=6), st.booleans())
def test_whatever_is_planned_passes_the_checker(
    world: tuple[list[Pod], list[Request]], advanced: bool
) -> None:
    problem = build(*world)
    if advanced:
        problem = advance(problem)
    before = plan_of(problem)
    assert check(problem, before) == []
    after = reoptimise(problem, time_limit_s=SEARCH_S)
    assert check(problem, after) == []
    assert total_drive_s(after) <= total_drive_s(before)


@FAST
@given(worlds(pods=3, requests=6, roomy=True), st.data())
def test_pods_taking_no_new_requests_get_none(
    world: tuple[list[Pod], list[Request]], data: st.DataObject
) -> None:
    pods, requests = world
    booked = data.draw(st.integers(len(requests) // 2, len(requests)), label="booked")
    problem = build(pods, requests[:booked])
    if data.draw(st.booleans(), label="advanced"):
        problem = advance(problem)
    ids = [p.pod_id for p in pods]  # some pod closed, and another open when there is one
    closed = data.draw(st.sets(st.sampled_from(ids), min_size=1, max_size=max(1, len(ids) - 1)))
    loose = {r.request_id: r for r in requests[booked:]}
    problem = replace(
        problem,
        pods=tuple(replace(p, takes_new=p.pod_id not in closed) for p in problem.pods),
        requests={**problem.requests, **loose},
    )
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    for p in problem.pods:
        if not p.takes_new:
            carried = {
                *p.onboard,
                *p.pinned,
                *(s.request_id for s in problem.orders.get(p.pod_id, ())),
            }
            assert {s.request_id for s in plan[p.pod_id].stops} <= carried
    # Only requests in no order may go unserved, when no pod taking new ones fits them.
    assert all(v.constraint == "served" and v.request_id in loose for v in check(problem, plan))


@FAST
@given(worlds(pods=3, requests=4), requests_("new"))
def test_a_refusal_names_a_pickup_time_that_works(
    world: tuple[list[Pod], list[Request]], request: Request
) -> None:
    problem = build(*world)
    answer = insert(problem, request)
    if isinstance(answer, Refusal) and answer.earliest_pickup_s is not None:
        assert answer.earliest_pickup_s > request.pickup_window.earliest_s
        retried = insert(problem, shifted(request, answer.earliest_pickup_s))
        assert isinstance(retried, Assignment)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(worlds(pods=2, requests=3, fewest=2, roomy=True))
def test_re_optimisation_finds_the_optimum_of_tiny_instances(
    world: tuple[list[Pod], list[Request]],
) -> None:
    problem = problem_of(*world)
    best = optimum(problem)
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    if best is None:
        assert check(problem, plan) != []
    else:
        assert check(problem, plan) == []
        assert total_drive_s(plan) == best


@settings(max_examples=40, deadline=None, derandomize=True)
@given(worlds(pods=2, requests=3, roomy=True), requests_("new"))
def test_insertion_is_the_cheapest_feasible_one(
    world: tuple[list[Pod], list[Request]], request: Request
) -> None:
    problem = build(*world)
    answer = insert(problem, request)
    best = cheapest_insertion(problem, request)
    if best is None:
        assert isinstance(answer, Refusal)
    else:
        assert isinstance(answer, Assignment)
        assert answer.added_drive_s == best
        assert (
            check(accepted(problem, answer, request), plan_of(accepted(problem, answer, request)))
            == []
        )


# --- insertion ---------------------------------------------------------------------------


def test_a_request_goes_to_the_pod_it_costs_least_and_reports_its_times() -> None:
    problem = problem_of([pod("far", at(5, 5)), pod("near", at(0))], [])
    request = ride("r", at(1), at(3), service_s=10)
    answer = insert(problem, request)
    assert isinstance(answer, Assignment)
    assert answer.pod_id == "near"
    assert (answer.pickup_start_s, answer.dropoff_start_s) == (BLOCK_S, 3 * BLOCK_S + 10)
    assert answer.added_drive_s == 3 * BLOCK_S


def test_a_request_shares_a_ride_on_the_way() -> None:
    q = ride("q", at(0), at(5))
    problem = problem_of([pod("a", at(0))], [q], {"a": stops(("q", P), ("q", D))})
    answer = insert(problem, ride("r", at(1), at(4)))
    assert isinstance(answer, Assignment)
    assert [(s.request_id, s.kind) for s in answer.schedules[0].stops] == [
        ("q", P),
        ("r", P),
        ("r", D),
        ("q", D),
    ]
    assert answer.added_drive_s == 0


def test_a_full_pod_picks_up_only_after_dropping_off() -> None:
    q = ride("q", at(0), at(2), seats=2)
    a = pod("a", at(0), onboard=("q",))
    problem = problem_of([a], [q], {"a": stops(("q", D))})
    answer = insert(problem, ride("r", at(1), at(3)))
    assert isinstance(answer, Assignment)
    assert [s.request_id for s in answer.schedules[0].stops] == ["q", "r", "r"]


def test_a_planned_request_cannot_be_inserted_again() -> None:
    q = ride("q", at(0), at(2))
    problem = problem_of([pod("a", at(0))], [q], {"a": stops(("q", P), ("q", D))})
    with pytest.raises(DispatchError, match="request_id"):
        insert(problem, q)


def test_no_pods_refuses() -> None:
    assert insert(problem_of([], []), ride("r", at(0), at(1))) == Refusal("r", Reason.NO_PODS, None)


def test_too_big_refuses_with_no_time_to_offer() -> None:
    answer = insert(problem_of([pod("a", at(0))], []), ride("r", at(0), at(1), seats=3))
    assert answer == Refusal("r", Reason.TOO_BIG, None)


def test_no_time_refuses_with_a_later_pickup_that_works() -> None:
    # The pod is busy until 1000 and reaches the pickup at 1060.
    problem = problem_of([pod("a", at(0), free_at_s=1000)], [])
    request = ride("r", at(1), at(3), pickup_window=Window(0, 300), dropoff_window=Window(0, 900))
    answer = insert(problem, request)
    assert answer == Refusal("r", Reason.NO_TIME, 780)
    assert isinstance(insert(problem, shifted(request, 780)), Assignment)
    assert isinstance(insert(problem, shifted(request, 720)), Refusal)


def test_no_time_offers_nothing_when_no_later_time_helps() -> None:
    request = ride("r", at(0), at(5), max_ride_s=100)
    answer = insert(problem_of([pod("a", at(0))], []), request)
    assert answer == Refusal("r", Reason.NO_TIME, None)


def test_a_pod_short_of_range_refuses() -> None:
    problem = problem_of([pod("a", at(0), range_m=200)], [])
    answer = insert(problem, ride("r", at(1), at(4)))
    assert isinstance(answer, Refusal)
    assert answer.reason is Reason.RANGE


def test_a_ride_past_the_route_end_refuses() -> None:
    problem = problem_of([pod("a", at(0), route_end_s=100)], [])
    answer = insert(problem, ride("r", at(1), at(3)))
    assert answer == Refusal("r", Reason.SHIFT, None)


def test_an_insertion_keeps_every_other_promise() -> None:
    # Serving r first would make q late: r goes after q, or to nobody.
    q = ride("q", at(3), at(4), pickup_window=Window(180, 200))
    problem = problem_of([pod("a", at(0))], [q], {"a": stops(("q", P), ("q", D))})
    answer = insert(problem, ride("r", at(0, 5), at(0, 4)))
    assert isinstance(answer, Assignment)
    assert [s.request_id for s in answer.schedules[0].stops][:2] == ["q", "q"]


# --- re-optimisation ---------------------------------------------------------------------


def test_re_optimisation_swaps_requests_between_pods() -> None:
    left, right = ride("left", at(0), at(1)), ride("right", at(5), at(4))
    problem = problem_of(
        [pod("a", at(0)), pod("b", at(5))],
        [left, right],
        {"a": stops(("right", P), ("right", D)), "b": stops(("left", P), ("left", D))},
    )
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    assert check(problem, plan) == []
    assert [s.request_id for s in plan["a"].stops] == ["left", "left"]
    assert total_drive_s(plan) == 2 * BLOCK_S


def test_re_optimisation_keeps_onboard_and_pinned_requests_on_their_pod() -> None:
    onboard, pinned = ride("onboard", at(5), at(4)), ride("pinned", at(0), at(1))
    a = pod("a", at(5), onboard=("onboard",), pinned=("pinned",))
    b = pod("b", at(0))
    order = stops(("onboard", D), ("pinned", P), ("pinned", D))
    problem = problem_of([a, b], [onboard, pinned], {"a": order})
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    assert check(problem, plan) == []
    assert [s.request_id for s in plan["a"].stops] == ["onboard", "pinned", "pinned"]
    unpinned = replace(problem, pods=(replace(a, pinned=()), b))
    assert [s.request_id for s in reoptimise(unpinned, time_limit_s=SEARCH_S)["b"].stops] == [
        "pinned",
        "pinned",
    ]


def test_re_optimisation_places_requests_in_no_order() -> None:
    requests = [ride(f"r{k}", at(k), at(k + 1)) for k in range(4)]
    problem = problem_of([pod("a", at(0)), pod("b", at(5, 5))], requests)
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    assert check(problem, plan) == []
    assert total_drive_s(plan) == 4 * BLOCK_S


def test_a_late_pod_keeps_its_orders_when_nothing_serves_everyone() -> None:
    q = ride("q", at(4), at(5), pickup_window=Window(0, 100))
    problem = problem_of([pod("a", at(0))], [q], {"a": stops(("q", P), ("q", D))})
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    assert [s.request_id for s in plan["a"].stops] == ["q", "q"]
    assert {v.constraint for v in check(problem, plan)} == {"window"}


# --- pods taking no new requests ---------------------------------------------------------


def test_insertion_skips_a_pod_taking_no_new_requests_even_the_cheapest() -> None:
    near = pod("near", at(0), takes_new=False)
    request = ride("r", at(1), at(3))
    answer = insert(problem_of([near, pod("far", at(5, 5))], []), request)
    assert isinstance(answer, Assignment)
    assert answer.pod_id == "far"
    assert insert(problem_of([near], []), request) == Refusal("r", Reason.NO_PODS, None)
    roomy = replace(near, capacity=Load(seats=3))
    big = ride("r", at(1), at(3), seats=3)
    answer = insert(problem_of([roomy, pod("far", at(5, 5))], []), big)
    assert answer == Refusal("r", Reason.TOO_BIG, None)


def test_re_optimisation_moves_free_requests_off_a_pod_taking_no_new_ones() -> None:
    # Moving "free" to the far pod drives more, and still beats keeping it on "a".
    onboard, pinned = ride("onboard", at(0), at(1)), ride("pinned", at(1), at(2))
    free = ride("free", at(2), at(3))
    a = pod("a", at(0), onboard=("onboard",), pinned=("pinned",), takes_new=False)
    order = stops(("onboard", D), ("pinned", P), ("pinned", D), ("free", P), ("free", D))
    problem = problem_of([a, pod("b", at(5, 5))], [onboard, pinned, free], {"a": order})
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    assert check(problem, plan) == []
    assert [s.request_id for s in plan["a"].stops] == ["onboard", "pinned", "pinned"]
    assert [s.request_id for s in plan["b"].stops] == ["free", "free"]
    assert total_drive_s(plan) > total_drive_s(plan_of(problem))


def test_a_free_request_no_other_pod_can_take_stays_where_it_is() -> None:
    # Only "a" seats three: "big" stays on it, "small" still moves to "b".
    big, small = ride("big", at(1), at(2), seats=3), ride("small", at(3), at(4))
    a = pod("a", at(0), capacity=Load(seats=3), takes_new=False)
    order = stops(("big", P), ("big", D), ("small", P), ("small", D))
    problem = problem_of([a, pod("b", at(5, 5))], [big, small], {"a": order})
    plan = reoptimise(problem, time_limit_s=SEARCH_S)
    assert check(problem, plan) == []
    assert [s.request_id for s in plan["a"].stops] == ["big", "big"]
    assert [s.request_id for s in plan["b"].stops] == ["small", "small"]
    alone = replace(problem, pods=(a,))
    assert reoptimise(alone, time_limit_s=SEARCH_S) == plan_of(alone)


def test_requests_in_no_order_never_go_to_a_pod_taking_no_new_ones() -> None:
    a = pod("a", at(0), takes_new=False)
    problem = problem_of([a, pod("b", at(5, 5))], [ride("r", at(0), at(1))])
    for plan in (reoptimise(problem, time_limit_s=SEARCH_S), greedy.plan(problem)):
        assert check(problem, plan) == []
        assert plan["a"].stops == ()
        assert [s.request_id for s in plan["b"].stops] == ["r", "r"]
    alone = replace(problem, pods=(a,))
    for plan in (reoptimise(alone, time_limit_s=SEARCH_S), greedy.plan(alone)):
        assert plan["a"].stops == ()


# --- the greedy baseline -----------------------------------------------------------------


def test_greedy_appends_to_the_pod_that_starts_soonest() -> None:
    q, r = ride("q", at(0), at(5)), ride("r", at(1), at(4))
    problem = problem_of([pod("a", at(0)), pod("b", at(3), free_at_s=500)], [q, r])
    plan = greedy.plan(problem)
    assert check(problem, plan) == []
    # No interleaving: r waits for q's drop-off on a, still sooner than b at 560.
    assert [(s.request_id, s.kind) for s in plan["a"].stops] == [
        ("q", P),
        ("q", D),
        ("r", P),
        ("r", D),
    ]
    assert plan["b"].stops == ()


def test_greedy_leaves_out_what_no_pod_can_take() -> None:
    problem = problem_of([pod("a", at(0))], [ride("r", at(0), at(1), seats=3)])
    assert {v.constraint for v in check(problem, greedy.plan(problem))} == {"served"}
