"""The city's trip figures, discrepancies, and when a trip's end hour is settled."""

from datetime import UTC, datetime, timedelta

import pytest

from fleet.reporting.hours import HourState, hour_containing, hour_state, served_as_settled
from fleet.trips.figures import Figures, city_figures, discrepancies
from fleet.trips.settling import end_hour_settled

LATENESS = timedelta(minutes=15)


def test_the_city_gets_the_operators_figure_where_given() -> None:
    operator = Figures(duration_s=600, distance_m=None, parking_category="rack")
    measured = Figures(duration_s=590, distance_m=1_093, parking_category="curb")
    assert city_figures(operator, measured) == Figures(600, 1_093, "rack")
    assert city_figures(Figures(), measured) == measured


@pytest.mark.parametrize(
    ("operator", "measured", "share", "found"),
    [
        (Figures(600, 1_000), Figures(600, 750), 0.25, []),  # exactly a quarter: not flagged
        (Figures(600, 1_000), Figures(600, 749), 0.25, ["distance"]),
        (Figures(600, 749), Figures(600, 1_000), 0.25, ["distance"]),  # either side larger
        (Figures(1_000, 100), Figures(700, 100), 0.25, ["duration"]),
        (Figures(1_000, 100), Figures(700, 100), 0.5, []),  # the share decides
        (Figures(0, 0), Figures(0, 0), 0.0, []),
        (Figures(600, None), Figures(None, 5_000), 0.25, []),  # known to one side only
        (
            Figures(parking_category="rack"),
            Figures(parking_category="invalid"),
            0.25,
            ["parking_category"],
        ),
        (
            Figures(parking_category="invalid"),
            Figures(parking_category="corral"),
            0.25,
            ["parking_category"],
        ),
        (Figures(parking_category="rack"), Figures(parking_category="other_valid"), 0.25, []),
        (Figures(parking_category="invalid"), Figures(parking_category="invalid"), 0.25, []),
        (Figures(parking_category="rack"), Figures(), 0.25, []),
    ],
)
def test_discrepancies(
    operator: Figures, measured: Figures, share: float, found: list[str]
) -> None:
    assert discrepancies(operator, measured, share) == found


def test_a_trips_end_hour_settles_when_provider_serves_it() -> None:
    end = datetime(2026, 12, 3, 10, 59, 59, tzinfo=UTC)
    served_from = datetime(2026, 12, 3, 11, 15, tzinfo=UTC)
    assert hour_containing(end) == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert not end_hour_settled(end, served_from - timedelta(microseconds=1), LATENESS)
    assert end_hour_settled(end, served_from, LATENESS)
    # One rule with the Provider API: settled exactly when the hour is served (200).
    for now in (served_from - timedelta(seconds=1), served_from):
        closed = hour_state(hour_containing(end), now, LATENESS) is HourState.CLOSED
        assert end_hour_settled(end, now, LATENESS) is closed
    assert served_as_settled(served_from - LATENESS, served_from, LATENESS)


def test_a_trip_ending_on_the_hour_belongs_to_the_next() -> None:
    end = datetime(2026, 12, 3, 11, tzinfo=UTC)
    assert not end_hour_settled(end, datetime(2026, 12, 3, 11, 20, tzinfo=UTC), LATENESS)
    assert end_hour_settled(end, datetime(2026, 12, 3, 12, 15, tzinfo=UTC), LATENESS)
