"""Target fleet per H3 cell (pure): stock quantiles, relocation of demand, surplus."""

import math

import h3.api.basic_int as h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.rebalancing.forecast import CellDemand
from fleet.rebalancing.targets import (
    fleet_targets,
    relocate_demand,
    service_probability,
    target_stock,
    target_stocks,
)

CENTRE = h3.latlng_to_cell(56.046, 12.695, 9)


def ring(k: int) -> list[int]:
    """Cells of grid ring k around CENTRE, in a fixed order."""
    return sorted(set(h3.grid_disk(CENTRE, k)) - set(h3.grid_disk(CENTRE, k - 1)))


def poisson_quantile(mean: float, p: float) -> int:
    """The smallest n with P(Poisson(mean) <= n) >= p, by plain summation of the pmf."""
    n, total = 0, math.exp(-mean)
    while total < p:
        n += 1
        total += math.exp(-mean) * mean**n / math.factorial(n)
    return n


def test_the_poisson_quantile_by_hand() -> None:
    # P(X <= 4) = e^-3 (1 + 3 + 9/2 + 27/6 + 81/24) = 0.8153 < 0.9 <= P(X <= 5) = 0.9161.
    cdf = [math.exp(-3) * sum(3**k / math.factorial(k) for k in range(n + 1)) for n in (4, 5)]
    assert cdf[0] < 0.9 <= cdf[1]
    assert target_stock(3.0, 0.0, 0.9) == 5


@pytest.mark.parametrize("mean", [0.05, 0.5, 1.0, 2.5, 7.0, 20.0, 60.0])
@pytest.mark.parametrize("p", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_without_ends_the_target_is_the_poisson_quantile(mean: float, p: float) -> None:
    assert target_stock(mean, 0.0, p) == poisson_quantile(mean, p)


def test_large_means_are_stable() -> None:
    # The median of a Poisson law with an integer mean is that mean; e^-1000 underflows,
    # so the check sums the pmf in log space.
    assert target_stock(1000.0, 0.0, 0.5) == 1000
    cdf = sum(math.exp(k * math.log(1000) - 1000 - math.lgamma(k + 1)) for k in range(1001))
    assert service_probability(1000, 1000.0, 0.0) == pytest.approx(cdf, rel=1e-9)


def test_no_demand_needs_no_vehicle() -> None:
    assert target_stock(0.0, 0.0, 0.99) == 0
    assert target_stock(0.0, 12.0, 0.99) == 0
    assert service_probability(0, 0.0, 3.0) == 1.0


def test_no_vehicle_and_balanced_demand_by_hand() -> None:
    # With n = 0 the cell runs out unless the walk of +1 (start) / -1 (end) never goes
    # above 0: C(m, floor(m/2)) / 2^m of the orders of m events, S = E.
    mean = 1.5
    expected = sum(
        math.exp(-2 * mean) * (2 * mean) ** m / math.factorial(m) * math.comb(m, m // 2) / 2**m
        for m in range(120)
    )
    assert service_probability(0, mean, mean) == pytest.approx(expected, rel=1e-9)


def test_service_probability_matches_a_simulation() -> None:
    # Starts and ends at uniform times over the horizon; a start finds no vehicle once
    # the starts so far minus the ends so far exceed the stock.
    rng = np.random.default_rng(11)
    starts_mean, ends_mean, runs = 4.0, 2.5, 20_000
    worst = np.empty(runs, dtype=np.int64)
    for run in range(runs):
        start_times = rng.random(rng.poisson(starts_mean))
        end_times = rng.random(rng.poisson(ends_mean))
        steps = np.concatenate([np.ones(len(start_times)), -np.ones(len(end_times))])
        order = np.argsort(np.concatenate([start_times, end_times]))
        worst[run] = max(0, int(np.cumsum(steps[order]).max(initial=0)))
    for stock in range(9):
        simulated = float(np.mean(worst <= stock))
        assert service_probability(stock, starts_mean, ends_mean) == pytest.approx(
            simulated, abs=0.012
        )


def test_more_ends_never_raise_the_target() -> None:
    targets = [target_stock(6.0, ends, 0.9) for ends in (0.0, 1.0, 3.0, 6.0, 20.0)]
    assert targets == sorted(targets, reverse=True)
    assert targets[0] == poisson_quantile(6.0, 0.9)
    assert targets[-1] < targets[0]


@settings(max_examples=60, deadline=None)
@given(
    starts=st.floats(0, 40),
    ends=st.floats(0, 40),
    levels=st.lists(st.floats(0.01, 0.99), min_size=2, max_size=5),
)
def test_the_target_is_monotone_in_the_service_level(
    starts: float, ends: float, levels: list[float]
) -> None:
    targets = [target_stock(starts, ends, p) for p in sorted(levels)]
    assert targets == sorted(targets)
    assert targets[-1] <= poisson_quantile(starts, max(levels))
    for p, n in zip(sorted(levels), targets, strict=True):
        assert service_probability(n, starts, ends) >= p
        assert n == 0 or service_probability(n - 1, starts, ends) < p


def test_arrays_of_cells_at_once() -> None:
    starts = np.array([0.0, 3.0, 0.2, 150.0, 3.0])
    ends = np.array([1.0, 0.0, 0.0, 100.0, 3.0])
    expected = [target_stock(s, e, 0.9) for s, e in zip(starts, ends, strict=True)]
    assert target_stocks(starts, ends, 0.9).tolist() == expected


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_service_level_must_be_a_probability(p: float) -> None:
    with pytest.raises(ValueError, match="service_level"):
        target_stock(1.0, 0.0, p)


def test_bad_demand_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        target_stocks(np.array([-1.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="finite"):
        fleet_targets({CENTRE: CellDemand(math.nan, 0.0)}, {}, {CENTRE})
    with pytest.raises(ValueError, match="supply"):
        fleet_targets({}, {CENTRE: -1}, {CENTRE})


def test_demand_of_a_disallowed_cell_moves_to_the_nearest_allowed_one() -> None:
    near, far = ring(1)[0], ring(2)[0]
    demand = {CENTRE: CellDemand(4.0, 1.0), far: CellDemand(1.0, 0.0)}
    placed, unplaced = relocate_demand(demand, parkable={near, far})
    assert placed == {near: CellDemand(4.0, 1.0), far: CellDemand(1.0, 0.0)}
    assert unplaced == CellDemand(0.0, 0.0)


def test_a_nearby_hub_is_preferred() -> None:
    near, hub = ring(1)[0], ring(2)[0]
    demand = {CENTRE: CellDemand(4.0, 1.0)}
    to_hub, _ = relocate_demand(demand, {near, hub}, {hub}, hub_radius=2)
    assert to_hub == {hub: CellDemand(4.0, 1.0)}
    # A hub beyond hub_radius loses to the nearer allowed cell.
    to_near, _ = relocate_demand(demand, {near, hub}, {hub}, hub_radius=1)
    assert to_near == {near: CellDemand(4.0, 1.0)}


def test_the_nearest_centre_wins_within_a_ring() -> None:
    centre = h3.cell_to_latlng(CENTRE)
    cells = ring(2)
    metres = {c: h3.great_circle_distance(centre, h3.cell_to_latlng(c)) for c in cells}
    nearest, farthest = min(cells, key=metres.__getitem__), max(cells, key=metres.__getitem__)
    assert metres[nearest] < metres[farthest]
    placed, _ = relocate_demand({CENTRE: CellDemand(1.0, 0.0)}, {nearest, farthest})
    assert set(placed) == {nearest}


def test_demand_with_nowhere_to_go_is_reported() -> None:
    far = ring(4)[0]
    placed, unplaced = relocate_demand({CENTRE: CellDemand(2.0, 1.0)}, parkable={far}, max_radius=3)
    assert placed == {}
    assert unplaced == CellDemand(2.0, 1.0)


def test_fleet_targets() -> None:
    allowed_a, allowed_b, blocked = ring(1)[0], ring(2)[0], CENTRE
    idle = ring(3)[0]
    demand = {
        blocked: CellDemand(1.0, 0.0),  # moves to allowed_a, the nearest allowed cell
        allowed_a: CellDemand(2.0, 0.0),
        allowed_b: CellDemand(0.0, 0.0),
    }
    supply = {blocked: 2, allowed_a: 1, idle: 4}
    plan = fleet_targets(demand, supply, {allowed_a, allowed_b, idle}, service_level=0.9)
    by_cell = {t.cell: t for t in plan.cells}
    assert set(by_cell) == {blocked, allowed_a, idle}
    assert by_cell[allowed_a].starts == 3.0
    assert by_cell[allowed_a].target == poisson_quantile(3.0, 0.9)
    # Vehicles where parking is not allowed are all surplus; idle cells keep their supply.
    assert (by_cell[blocked].target, by_cell[blocked].surplus) == (0, 2)
    assert (by_cell[idle].target, by_cell[idle].surplus) == (0, 4)
    for t in plan.cells:
        assert t.surplus == t.supply - t.target
    assert plan.supply == 7
    assert plan.target == by_cell[allowed_a].target
    assert plan.surplus == plan.supply - plan.target
