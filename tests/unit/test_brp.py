"""The bike-sharing rebalancing benchmark: the file format, the problem it makes, the
published optima."""

import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from fleet.rebalancing import brp
from fleet.rebalancing.model import Place, Plan, Route, Stop
from fleet.rebalancing.planner import plan

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Dell'Amico et al. 2014, as listed in the shared folder's README.
PUBLISHED_OPTIMA = {"parma5.txt": 19_500, "bergamo5.txt": 7_900, "parma8.txt": 22_700}
SOLVERS = {"exact": {}, "ortools": {"exact_up_to": 0}}

# Written as the files are: tabs (and a row of spaces), 1e+009 on the diagonal, no final
# newline. Station 1 holds two too many, station 2 lacks two, station 3 is balanced.
TEXT = "4\n0\t2\t-2\t0\n5\n0\t10\t20\t30\n11 1e+009 5 7\n21\t6\t1e+009\t9\n31\t8\t9\t1e+009"
# Depot → 1 → 2 → depot: 10 + 5 + 21; one van, starting empty.
TEXT_OPTIMUM = {"cost": 36, "routes": [[0, 1, 2, 0]]}


def benchmarks_dir() -> Path:
    """The shared benchmarks: FLEETBED_BENCHMARKS_DIR, else ../shared/benchmarks."""
    default = PROJECT_ROOT.parent / "shared" / "benchmarks"
    return Path(os.environ.get("FLEETBED_BENCHMARKS_DIR", default))


def brp_file(name: str) -> Path:
    """A shared BRP instance, or skip: a clone without the shared benchmarks still passes."""
    path = benchmarks_dir() / "brp" / name
    if not path.is_file():
        pytest.skip(f"BRP instance not found at {path}; set FLEETBED_BENCHMARKS_DIR")
    return path


def test_an_instance_is_read_as_written() -> None:
    instance = brp.parse(TEXT)
    assert instance.imbalance == (0, 2, -2, 0)
    assert instance.capacity == 5
    assert instance.cost[0] == (0, 10, 20, 30)
    assert instance.cost[1] == (11, 10**9, 5, 7)
    assert [instance.cost[i][i] for i in (1, 2, 3)] == [10**9] * 3


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        ("0\n", "at least 1"),
        ("2\n0 1\n5\n0 1\n1", "expected 8 numbers"),
        ("2\n0 1\n5\n0 1\n1 0 7", "expected 8 numbers"),
        ("2\n0 x\n5\n0 1\n1 0", "'x' is not a number"),
        ("2\n0 1\n5\n0 1.5\n1 0", "not a whole number"),
        ("2\n3 1\n5\n0 1\n1 0", "q_0"),
        ("2\n0 1\n0\n0 1\n1 0", "Q must be at least 1"),
        ("2\n0 1\n5\n0 -1\n1 0", "negative"),
    ],
)
def test_a_malformed_instance_is_refused_saying_why(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        brp.parse(text)


def test_the_problem_is_the_published_one() -> None:
    problem = brp.to_problem(brp.parse(TEXT), seconds=2.5)
    assert [s.site_id for s in problem.sites] == ["1", "2"]  # station 3 needs nothing
    assert [s.surplus for s in problem.sites] == [2, -2]
    assert len(problem.sites[0].vehicles) == 2
    assert len(problem.vans) == len(problem.sites)
    depot = problem.vans[0].start
    assert {(v.start, v.depot, v.capacity, v.batteries) for v in problem.vans} == {
        (depot, depot, 5, 0)
    }
    assert (problem.must_balance, problem.free_start_load) == (True, True)
    assert (problem.stop_s, problem.handle_s, problem.swap_s) == (0, 0, 0)
    assert problem.time_limit_s == 2.5
    one, two = (s.place for s in problem.sites)
    assert problem.travel.seconds([depot, one, two], [one, two]).tolist() == [
        [10, 20],
        [0, 5],
        [6, 0],
    ]


def test_a_plan_is_reported_by_node_numbers_for_the_routes_that_move() -> None:
    depot, one, two = Place(0, 0), Place(0, 0.001), Place(0, 0.002)
    stops = (
        Stop(None, "start", depot, 0, 0),
        Stop("2", "dropoff", two, 20, 20),
        Stop("1", "pickup", one, 26, 26),
        Stop(None, "depot", depot, 37, 37),
    )
    found = Plan((Route("0", ()), Route("1", stops)), 37, 0, 37, "exact")
    assert brp.result(found, seconds=1.23456) == {
        "cost": 37,
        "routes": [[0, 2, 1, 0]],
        "seconds": 1.235,
    }


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_hand_checked_instance_is_solved_to_its_optimum(solver: str) -> None:
    found = plan(brp.to_problem(brp.parse(TEXT), seconds=0.3), **SOLVERS[solver])
    result = brp.result(found, seconds=0.0)
    assert {"cost": result["cost"], "routes": result["routes"]} == TEXT_OPTIMUM


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("name", PUBLISHED_OPTIMA)
def test_the_shared_instances_are_solved_to_their_published_optimum(name: str, solver: str) -> None:
    instance = brp.parse(brp_file(name).read_text())
    found = plan(brp.to_problem(instance, seconds=1.0), **SOLVERS[solver])
    result = brp.result(found, seconds=0.0)
    assert result["cost"] == PUBLISHED_OPTIMA[name]
    visited = sorted(node for route in result["routes"] for node in route[1:-1])
    assert visited == [i for i, q in enumerate(instance.imbalance) if i and q]
    cost = np.array(instance.cost)
    assert (
        sum(int(cost[a, b]) for r in result["routes"] for a, b in pairwise(r)) == (result["cost"])
    )
