"""Cordeau's dial-a-ride instances: reading them, adapting them, and solving them."""

import math

import pytest

from fleet.dispatch import darp
from fleet.dispatch.model import DispatchError, Load
from tests.unit.test_brp import benchmarks_dir

BEST_KNOWN = {"a2-16": 294.25, "a3-24": 344.83, "a4-16": 282.68}
SOLVE_S = 3.0  # per published instance: enough for the optimum or within 0.2 % of it

# Two requests, one vehicle: 1 -> 3 and 2 -> 4; the header counts nodes, not requests.
TINY = """1 4 100 2 20
0  0.0 0.0 0 0  0 100
1  1.0 0.0 1 1  0 100
2  2.0 0.0 1 1  0 100
3  3.0 0.0 1 -1  0 100
4  4.0 0.0 1 -1  0 100
5  0.0 0.0 0 0  0 90
"""


def test_parse_counts_the_node_lines_and_finds_the_depot_copy() -> None:
    instance = darp.parse(TINY)
    assert instance.requests == 2
    assert (instance.vehicles, instance.capacity, instance.max_route, instance.max_ride) == (
        1,
        2,
        100.0,
        20.0,
    )
    assert instance.end.latest == 90
    without_copy = darp.parse(TINY.rsplit("5 ", 1)[0])
    assert without_copy.requests == 2
    assert without_copy.end == without_copy.depot


def test_parse_refuses_what_it_cannot_read() -> None:
    with pytest.raises(DispatchError, match="instance"):
        darp.parse("1 2 3")
    with pytest.raises(DispatchError, match="instance"):
        darp.parse(TINY.replace("2  2.0", "7  2.0"))


def test_the_adapter_rounds_towards_feasibility() -> None:
    text = TINY.replace("1  1.0 0.0 1 1  0 100", "1  0.3 0.4 1 1  0.5 99.5")
    problem = darp.to_problem(darp.parse(text))
    first = problem.requests["1"]
    assert first.load == Load(seats=1)
    assert (first.pickup_window.earliest_s, first.pickup_window.latest_s) == (
        500_000,
        99_500_000,
    )
    assert first.max_ride_s == 20 * darp.SCALE
    seconds = problem.travel.seconds([first.pickup], [problem.requests["2"].pickup])[0, 0]
    assert seconds >= math.dist((0.3, 0.4), (2.0, 0.0)) * darp.SCALE
    (pod,) = problem.pods
    assert pod.route_end_s == 90 * darp.SCALE  # the depot's return window, sooner than 100


def test_solve_returns_routes_costed_and_verified_in_floats() -> None:
    result = darp.solve(TINY, seconds=0.5)
    assert set(result) == {"cost", "feasible", "routes", "seconds"}
    assert result["feasible"] is True
    (route,) = result["routes"]
    assert route[:3] == [0, 1, 2]  # both aboard on the way out: 8 units, either way back
    assert sorted(route[3:5]) == [3, 4]
    assert route[-1] == 0
    assert result["cost"] == 8.0
    assert isinstance(result["seconds"], float)


def test_solve_reports_an_instance_it_cannot_serve_as_infeasible() -> None:
    # The second ride takes 2 units at least, but may last 1.
    impossible = TINY.replace("1 4 100 2 20", "1 4 100 2 1")
    result = darp.solve(impossible, seconds=0.3)
    assert result["feasible"] is False


@pytest.mark.parametrize("name", sorted(BEST_KNOWN))
def test_published_instances_come_within_one_percent_of_the_best_known(name: str) -> None:
    path = benchmarks_dir() / "darp" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent: set FLEETBED_BENCHMARKS_DIR to the folder holding darp/")
    result = darp.solve(path.read_text(), seconds=SOLVE_S)
    assert result["feasible"] is True
    assert result["cost"] <= BEST_KNOWN[name] * 1.01
    assert result["seconds"] <= SOLVE_S + 1
    served = sorted(n for route in result["routes"] for n in route[1:-1])
    assert served == list(range(1, 2 * darp.parse(path.read_text()).requests + 1))
