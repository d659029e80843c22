"""The greedy baseline (pure): feasible by the planner's rules, nearest first, never better
than the planner."""

from hypothesis import given

from fleet.rebalancing import greedy
from fleet.rebalancing.model import Problem, Site, Van
from fleet.rebalancing.planner import plan
from tests.unit.test_rebalancing_planner import (
    DEPOT,
    PROPERTY,
    assert_feasible,
    near,
    problem_of,
    problems,
    vehicles,
)


@PROPERTY
@given(problem=problems())
def test_greedy_plans_of_random_problems_are_feasible(problem: Problem) -> None:
    found = greedy.plan(problem)
    assert_feasible(problem, found)
    assert found.solver == "greedy"


@PROPERTY
@given(problem=problems())
def test_the_planner_is_never_worse_than_the_greedy_baseline(problem: Problem) -> None:
    assert plan(problem).objective <= greedy.plan(problem).objective


def visited(problem: Problem) -> list[list[str | None]]:
    return [[s.site_id for s in r.stops] for r in greedy.plan(problem).routes]


def test_each_van_drives_to_the_nearest_site_it_can_serve() -> None:
    sites = [
        Site("far", near(0.03, 0), 1, vehicles("far", 1)),
        Site("near", near(0.01, 0), 1, vehicles("near", 1)),
        Site("middle", near(0.02, 0), 1, vehicles("middle", 1)),
    ]
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600)
    assert visited(problem_of([van], sites)) == [[None, "near", "middle", "far", None]]


def test_a_deficit_waits_until_the_van_carries_something() -> None:
    sites = [Site("hole", near(0.01, 0), -1), Site("full", near(0.02, 0), 1, vehicles("f", 1))]
    van = Van("v", DEPOT, DEPOT, capacity=5, shift_end_s=3600)
    assert visited(problem_of([van], sites)) == [[None, "full", "hole", None]]


def test_the_next_van_takes_what_the_first_could_not() -> None:
    sites = [
        Site("near", near(0.01, 0), 1, vehicles("near", 1)),
        Site("far", near(0.02, 0), 1, vehicles("far", 1)),
    ]
    vans = [Van("small", DEPOT, DEPOT, 1, 3600), Van("other", DEPOT, DEPOT, 1, 3600)]
    assert visited(problem_of(vans, sites)) == [[None, "near", None], [None, "far", None]]


def test_a_site_the_shift_does_not_reach_is_left() -> None:
    sites = [Site("far", near(0.2, 0), 1, vehicles("far", 1))]
    found = greedy.plan(problem_of([Van("v", DEPOT, DEPOT, 5, shift_end_s=600)], sites))
    assert found.routes[0].stops == ()
    assert found.unserved == 1
