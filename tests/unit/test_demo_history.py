"""The demo's past trips (pure): the same `now` and seed draw the same trips, within the
history's window, in each vehicle's time order."""

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.core.auth import Mode
from app.core.mstime import to_ms
from demo.city import OPERATORS
from demo.fleet_plan import plan_operator
from demo.history import WEEK_MS, HistoryOptions, PastTrip, history_window, past_trips
from tests.unit.city_maps import CMAP

TZ = ZoneInfo("Europe/Stockholm")
SUNDSVIK = OPERATORS[0]
NOW = datetime(2026, 11, 19, 9, 41, 7, tzinfo=UTC)
ONE_WEEK = HistoryOptions(weeks=1)


def draw(options: HistoryOptions = ONE_WEEK, now: datetime = NOW) -> list[PastTrip]:
    since, until = history_window(to_ms(now), options.weeks)
    return list(
        past_trips(
            CMAP,
            TZ,
            plan_operator(SUNDSVIK, 3),
            Mode.MICROMOBILITY,
            since_ms=since,
            until_ms=until,
            options=options,
        )
    )


def test_the_window_is_whole_weeks_ending_before_the_simulators_replay() -> None:
    since, until = history_window(to_ms(NOW), 4)
    # The simulator replays the last two hours (09:41 → 07:41): the history ends at 07:00.
    assert until == to_ms(datetime(2026, 11, 19, 7, tzinfo=UTC))
    assert until - since == 4 * WEEK_MS
    trips = draw()
    assert trips
    assert all(until - WEEK_MS <= t.start_ms < t.end_ms < until for t in trips)
    assert all(t.end_ms - t.start_ms == 1000 * t.duration_s for t in trips)


def test_each_vehicle_rides_from_where_it_last_parked_one_trip_at_a_time() -> None:
    trips = draw()
    for before, after in itertools.pairwise(trips):
        if before.device_id == after.device_id:
            assert before.end_ms <= after.start_ms
            assert before.end == after.start
    # About the rate asked for, per vehicle and day.
    assert 0.8 * 3 * 7 * ONE_WEEK.trips_per_day < len(trips) <= 3 * 7 * ONE_WEEK.trips_per_day


def test_the_same_now_and_seed_draw_the_same_trips_another_seed_others() -> None:
    trips = draw()
    # Any time within the same hour: the same window, the same trips.
    assert draw(now=NOW.replace(minute=2)) == trips
    assert draw(HistoryOptions(weeks=1, seed=2)) != trips
    assert len({t.trip_id for t in trips}) == len(trips)


def test_no_weeks_no_trips_and_the_options_are_checked() -> None:
    assert draw(HistoryOptions(weeks=0)) == []
    with pytest.raises(ValueError, match="trips per day"):
        HistoryOptions(trips_per_day=0)
    with pytest.raises(ValueError, match="weeks"):
        HistoryOptions(weeks=-1)
