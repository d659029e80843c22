"""The simulator's city map, paths and motion (pure)."""

import random

import pytest
from shapely.geometry import LineString, Point

from demo.simulator import paths
from demo.simulator.citymap import (
    AREA_MARGIN_M,
    NO_RIDE_MARGIN_M,
    LocalFrame,
    distance,
    point_in,
)
from demo.simulator.motion import CAREFUL, KPH, RECKLESS, Motion, heading, jitter
from tests.unit.city_maps import CMAP


def test_the_local_frame_round_trips_and_measures_metres() -> None:
    frame = LocalFrame(56.04, 12.69)
    lat, lng = frame.to_latlng(*frame.to_xy(56.05, 12.70))
    assert (lat, lng) == pytest.approx((56.05, 12.70), abs=1e-12)
    # 0.01 degree of latitude is about 1,106 m; of longitude here about 623 m.
    assert distance(frame.to_xy(56.04, 12.69), frame.to_xy(56.05, 12.69)) == pytest.approx(
        1105.7, rel=1e-3
    )
    assert distance(frame.to_xy(56.04, 12.69), frame.to_xy(56.04, 12.70)) == pytest.approx(
        622.6, rel=2e-3
    )


def test_the_map_has_every_kind_of_demo_zone() -> None:
    assert [z.max_speed_kph for z in CMAP.slow_zones] == [8, 10]
    assert len(CMAP.no_parking) == 3
    assert len(CMAP.no_ride) == 1
    assert len(CMAP.hubs) == 2
    assert CMAP.service_area.contains(CMAP.rideable)


def test_parking_is_refused_in_no_parking_zones_and_moved_into_a_hub() -> None:
    rng = random.Random(1)
    entrance = point_in(CMAP.no_parking[0], rng)
    assert not CMAP.can_park(entrance)
    assert CMAP.parking_instead(entrance, rng) is None  # no hub near the station
    oceanhamnen = CMAP.frame.to_xy(56.0370, 12.6895)
    spot = CMAP.parking_instead(oceanhamnen, rng)
    assert spot is not None
    assert any(hub.contains(Point(spot)) for hub in CMAP.hubs)
    assert CMAP.can_park(spot)


def test_curves_join_their_ends_and_bend_aside() -> None:
    a, b = (0.0, 0.0), (1000.0, 0.0)
    straight = paths.curve(a, b, 0.0)
    assert straight[0] == a
    assert straight[-1] == b
    assert all(y == 0 for _, y in straight)
    bent = LineString(paths.curve(a, b, 0.2))
    assert max(y for _, y in bent.coords) == pytest.approx(100, rel=0.05)  # half the bend
    assert 1000 < bent.length < 1120


def test_rides_stay_in_the_rideable_city_away_from_no_ride_zones() -> None:
    rng = random.Random(2)
    pier = CMAP.no_ride[0]
    found = 0
    for _ in range(200):
        a, b = point_in(CMAP.rideable, rng), point_in(CMAP.rideable, rng)
        path = paths.ride(CMAP, a, b, rng)
        if path is None:
            continue
        found += 1
        assert path.coords[0] == pytest.approx(a)
        assert path.coords[-1] == pytest.approx(b)
        assert CMAP.rideable.contains(path)
        assert path.distance(pier) >= NO_RIDE_MARGIN_M - 1e-6
        assert CMAP.service_area.exterior.distance(path) >= AREA_MARGIN_M - 1e-6
    assert found >= 190


def test_a_ride_into_the_pier_enters_it() -> None:
    rng = random.Random(3)
    pier = CMAP.no_ride[0]
    a = CMAP.frame.to_xy(56.0440, 12.6940)
    via = point_in(pier.buffer(-12), rng)
    b = CMAP.frame.to_xy(56.0470, 12.6930)
    path = paths.ride_via(CMAP, a, via, b, rng)
    assert path is not None
    assert path.intersects(pier.buffer(-12))
    assert CMAP.inner.contains(path)


def test_a_ride_out_leaves_the_service_area_far_enough_and_comes_back() -> None:
    rng = random.Random(4)
    a = CMAP.frame.to_xy(56.0500, 12.6870)
    b = CMAP.frame.to_xy(56.0470, 12.6930)
    path = paths.ride_out(CMAP, a, b, rng)
    assert path is not None
    beyond = [
        CMAP.service_area.exterior.distance(Point(p))
        for p in path.coords
        if not CMAP.service_area.contains(Point(p))
    ]
    assert len(beyond) == 1  # one excursion, out and back
    assert 40 < beyond[0] <= 150
    assert CMAP.service_area.contains(Point(path.coords[0]))
    assert CMAP.service_area.contains(Point(path.coords[-1]))


def test_careful_riders_slow_down_before_a_slow_zone_and_reckless_ones_speed() -> None:
    kullagatan = CMAP.slow_zones[0]
    start = CMAP.frame.to_xy(56.0440, 12.6942)
    end = CMAP.frame.to_xy(56.0500, 12.6942)  # straight through Kullagatan, north
    for reckless in (False, True):
        motion = Motion(LineString([start, end]), 20 * KPH, reckless)
        seen_inside = 0
        while not motion.done:
            step = motion.step(CMAP, 3_000)
            if kullagatan.shape.contains(Point(step.xy)):
                seen_inside += 1
                limit = kullagatan.max_speed_kph * KPH
                if reckless:
                    assert step.speed_ms >= RECKLESS * limit * 0.999
                else:
                    assert step.speed_ms <= CAREFUL * limit * 1.001
        assert seen_inside >= 3


def test_motion_ends_exactly_at_the_end_of_the_path() -> None:
    motion = Motion(LineString([(0, 0), (100, 0)]), 4.0)
    times = []
    while not motion.done:
        step = motion.step(CMAP, 3_000)
        times.append(step.dt_ms)
    assert motion.xy == pytest.approx((100, 0))
    # A last step of a few milliseconds is folded into the one before.
    assert times == [3_000] * 7 + [4_000]


def test_heading_and_jitter() -> None:
    assert heading((0, 0), (0, 1)) == 0
    assert heading((0, 0), (1, 0)) == 90
    assert heading((0, 0), (0, -1)) == 180
    rng = random.Random(5)
    offsets = [distance((0, 0), jitter((0, 0), rng, 3.0)) for _ in range(1000)]
    assert max(offsets) <= 2.5 * 3.0 * 2**0.5
    assert 2 < sum(offsets) / len(offsets) < 5
