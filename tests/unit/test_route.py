"""Trip distance along telemetry: jitter, jumps and gaps (pure)."""

import math
import random

import pytest

from fleet.live.geo import haversine_m
from fleet.trips.route import Fix, RouteLimits, measure_route

START = (56.0465, 12.6945)
M_LAT = 180 / (math.pi * 6_371_008.8)  # degrees of latitude per metre on the sphere


def north(metres: float) -> float:
    return START[0] + metres * M_LAT


def test_a_straight_ride_measures_its_length() -> None:
    fixes = [Fix(i * 1000, north(8.0 * i), START[1], 5.0) for i in range(61)]  # 8 m/s, 60 s
    route = measure_route(fixes)
    assert route.distance_m == pytest.approx(480.0, rel=1e-6)
    assert route.dropped == 0
    assert not route.has_gaps


def test_standing_still_with_jitter_adds_nothing() -> None:
    rng = random.Random(3)
    fixes = [
        Fix(i * 1000, north(rng.uniform(-4, 4)), START[1] + rng.uniform(-4, 4) * M_LAT, 8.0)
        for i in range(120)
    ]
    route = measure_route(fixes)
    # Only the first and last fix remain: at most the distance between two jittered fixes.
    assert route.distance_m < 12.0
    assert len(route.points) == 2


def test_a_gps_jump_is_dropped() -> None:
    fixes = [Fix(i * 1000, north(10.0 * i), START[1]) for i in range(10)]
    fixes.insert(5, Fix(4500, north(2000.0), START[1]))  # 2 km away for half a second
    route = measure_route(fixes)
    assert route.distance_m == pytest.approx(90.0, rel=1e-6)
    assert route.dropped == 1


def test_fixes_closer_than_their_accuracy_merge_without_losing_distance() -> None:
    fixes = [Fix(i * 1000, north(3.0 * i), START[1], 5.0) for i in range(21)]  # 3 m steps
    route = measure_route(fixes)
    assert route.dropped > 0
    assert route.distance_m == pytest.approx(60.0, rel=1e-6)


def test_a_gap_is_bridged_and_reported() -> None:
    fixes = [
        Fix(0, START[0], START[1]),
        Fix(1000, north(5), START[1]),
        Fix(200_000, north(600), START[1]),
        Fix(201_000, north(605), START[1]),
    ]
    route = measure_route(fixes)
    assert route.distance_m == pytest.approx(605.0, rel=1e-6)
    assert route.has_gaps


def test_out_of_order_fixes_are_sorted_and_the_end_is_kept() -> None:
    fixes = [Fix(i * 1000, north(10.0 * i), START[1]) for i in range(6)]
    route = measure_route(list(reversed(fixes)))
    assert route.distance_m == pytest.approx(50.0, rel=1e-6)
    assert route.points[-1] == fixes[-1]


def test_empty_and_single_fix_routes() -> None:
    assert measure_route([]).distance_m == 0.0
    single = measure_route([Fix(0, *START)])
    assert single.distance_m == 0.0
    assert len(single.points) == 1


def test_limits_are_honoured() -> None:
    fixes = [Fix(i * 1000, north(25.0 * i), START[1]) for i in range(5)]  # 25 m/s
    assert measure_route(fixes).dropped == 3  # only start and end survive at 20 m/s
    fast = measure_route(fixes, RouteLimits(max_speed_m_s=30))
    assert fast.dropped == 0
    assert fast.distance_m == pytest.approx(100.0, rel=1e-6)


def test_leg_is_great_circle() -> None:
    assert haversine_m(0, 0, 0, 1) == pytest.approx(2 * math.pi * 6_371_008.8 / 360, rel=1e-9)
