"""MDS Metrics arithmetic and query parsing: intervals, DST days, time weighting, k."""

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3
import pytest

from app.core.errors import InvalidInput
from fleet.reporting.metrics_catalog import (
    MEASURES,
    QueryBody,
    dimension_key,
    parse_query,
    parse_time,
    visible,
)
from fleet.reporting.metrics_compute import (
    Cell,
    Interval,
    Key,
    TripTotals,
    elapsed_seconds,
    format_time,
    interval_bounds,
    is_interval_start,
    mean,
    row_keys,
    split_span,
    suppressed,
    table_rows,
    time_average,
    trips_per_vehicle,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC_ZONE = ZoneInfo("UTC")
UUID_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A wall-clock time in Stockholm, as UTC."""
    return datetime(year, month, day, hour, tzinfo=STOCKHOLM).astimezone(UTC)


def hours(bounds: list[datetime] | None) -> list[float]:
    """Interval lengths in hours."""
    assert bounds is not None
    return [(b - a) / timedelta(hours=1) for a, b in pairwise(bounds)]


def test_hours_that_begin_between_start_and_end_inclusive() -> None:
    bounds = interval_bounds(utc(2025, 3, 10, 10), utc(2025, 3, 10, 12), Interval.HOUR, UTC_ZONE, 9)
    assert bounds == [utc(2025, 3, 10, h) for h in (10, 11, 12, 13)]
    single = interval_bounds(utc(2025, 3, 10, 10), utc(2025, 3, 10, 10), Interval.HOUR, UTC_ZONE, 9)
    assert single == [utc(2025, 3, 10, 10), utc(2025, 3, 10, 11)]
    end = utc(2025, 3, 10, 11, 59)
    assert hours(interval_bounds(utc(2025, 3, 10, 10), end, Interval.HOUR, UTC_ZONE, 9)) == [1, 1]


def test_too_many_intervals_is_none() -> None:
    start = utc(2025, 3, 10)
    assert interval_bounds(start, start + timedelta(hours=2), Interval.HOUR, UTC_ZONE, 3)
    assert interval_bounds(start, start + timedelta(hours=3), Interval.HOUR, UTC_ZONE, 3) is None


def test_local_days_last_23_and_25_hours_on_dst_changes() -> None:
    spring = interval_bounds(local(2025, 3, 29), local(2025, 3, 31), Interval.DAY, STOCKHOLM, 10)
    assert hours(spring) == [24, 23, 24]
    assert spring is not None
    assert spring[1:3] == [utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)]
    autumn = local(2025, 10, 26)
    assert hours(interval_bounds(autumn, autumn, Interval.DAY, STOCKHOLM, 10)) == [25]
    day = utc(2025, 3, 30)
    assert hours(interval_bounds(day, day, Interval.DAY, UTC_ZONE, 1)) == [24]


def test_local_hours_keep_counting_through_the_change() -> None:
    bounds = interval_bounds(
        local(2025, 3, 30), local(2025, 3, 30, 23), Interval.HOUR, STOCKHOLM, 50
    )
    assert bounds is not None
    starts = [format_time(b, STOCKHOLM, numeric=False) for b in bounds[:-1]]
    assert len(starts) == 23
    assert starts[1:3] == ["2025-03-30T01:00+01:00", "2025-03-30T03:00+02:00"]


def test_interval_starts_are_whole_hours_or_local_midnight() -> None:
    assert is_interval_start(utc(2025, 3, 10, 10), Interval.HOUR, UTC_ZONE)
    assert not is_interval_start(utc(2025, 3, 10, 10, 30), Interval.HOUR, UTC_ZONE)
    assert is_interval_start(local(2025, 3, 30), Interval.DAY, STOCKHOLM)
    assert not is_interval_start(utc(2025, 3, 30), Interval.DAY, STOCKHOLM)
    assert is_interval_start(utc(2025, 3, 30), Interval.DAY, UTC_ZONE)


def test_spans_are_split_across_intervals_and_clipped() -> None:
    bounds = [utc(2025, 3, 10, h) for h in (10, 11, 12)]
    assert list(split_span(bounds, utc(2025, 3, 10, 9), utc(2025, 3, 10, 10, 30))) == [(0, 1800)]
    assert list(split_span(bounds, utc(2025, 3, 10, 10, 45), utc(2025, 3, 10, 13))) == [
        (0, 900),
        (1, 3600),
    ]
    assert list(split_span(bounds, utc(2025, 3, 10, 11), utc(2025, 3, 10, 11))) == []
    assert list(split_span(bounds, utc(2025, 3, 10, 12), utc(2025, 3, 10, 14))) == []


def test_elapsed_time_stops_at_now() -> None:
    bounds = [utc(2025, 3, 10, h) for h in (10, 11, 12)]
    assert elapsed_seconds(bounds, utc(2025, 3, 10, 11, 15)) == [3600, 900]
    assert elapsed_seconds(bounds, utc(2025, 3, 10, 9)) == [0, 0]


def _seconds_in(bounds: list[datetime], spans: list[tuple[int, int]]) -> float:
    """Vehicle-seconds of minute spans [a, b) of 10:00 in the only interval."""
    start = bounds[0]
    return sum(
        s
        for a, b in spans
        for _, s in split_span(bounds, start + timedelta(minutes=a), start + timedelta(minutes=b))
    )


def test_methodology_samples_match_the_time_weighted_average() -> None:
    bounds = [utc(2019, 9, 17, 10), utc(2019, 9, 17, 10, 15)]
    elapsed = elapsed_seconds(bounds, utc(2020, 1, 1))[0]
    # 1.1 vehicles.available.avg: vehicle 1 until 10:07, vehicle 2 10:04-10:10,
    # vehicle 3 until 10:01 and from 10:06: 23 vehicle-minutes over 15 minutes.
    available = _seconds_in(bounds, [(-5, 7), (4, 10), (-5, 1), (6, 20)])
    assert time_average(available, elapsed) == round(23 / 15, 4)
    # 2.1 dockless.deployed.avg: 10 + 11 + 12 vehicle-minutes over 15 minutes = 2.20.
    deployed = _seconds_in(bounds, [(-12, 10), (4, 20), (-1, 12)])
    assert time_average(deployed, elapsed) == 2.2
    assert time_average(deployed, 0) == 0.0


def test_counts_below_k_and_zero_are_minus_one() -> None:
    assert suppressed(9, 10) == -1
    assert suppressed(10, 10) == 10
    assert suppressed(0, 10) == -1
    assert suppressed(0, 1) == -1
    assert mean(900.0, 9, 10) == -1
    assert mean(1000.0, 10, 10) == 100.0


def test_trips_per_vehicle_is_suppressed_with_its_trip_count() -> None:
    # Methodology 2.10: 20 trips, 2 vehicles deployed on average: 10 trips per vehicle.
    cell = Cell(starts=TripTotals(count=20), deployed_s=2 * 900)
    assert trips_per_vehicle(cell, 900, 10) == 10.0
    assert trips_per_vehicle(Cell(starts=TripTotals(count=9), deployed_s=900), 900, 10) == -1
    assert trips_per_vehicle(Cell(starts=TripTotals(count=20)), 900, 10) == -1


def test_trip_averages_are_suppressed_with_their_counts() -> None:
    duration_avg = MEASURES["trips.start_loc.duration.avg"].value
    distance_sum = MEASURES["trips.end_loc.distance.sum"].value
    few = Cell(starts=TripTotals(9, 900.0, 9, 1800.0, 9), ends=TripTotals(9, 900.0, 9, 1800.0, 9))
    assert duration_avg(few, 3600, 10) == -1
    assert distance_sum(few, 3600, 10) == -1
    assert duration_avg(few, 3600, 9) == 100.0
    assert distance_sum(few, 3600, 9) == 1800.0


def test_rows_are_dense_over_intervals_for_every_seen_combination() -> None:
    count = MEASURES["trips.start_loc.count"].value
    cells: dict[tuple[int, Key], Cell] = {
        (1, ("a",)): Cell(starts=TripTotals(count=12)),
        (0, ("b",)): Cell(),
    }
    keys = row_keys(cells, dimensioned=True)
    assert keys == [("a",), ("b",)]
    rows = table_rows(cells, keys, ["t0", "t1"], [3600, 3600], [count], 10)
    assert rows == [["t0", "a", -1], ["t1", "a", 12], ["t0", "b", -1], ["t1", "b", -1]]
    assert row_keys({}, dimensioned=False) == [()]


def test_dimension_keys_follow_the_query_order() -> None:
    lat, lng = 56.0465, 12.6945
    key = dimension_key(
        ("h3_res8", "vehicle_type", "h3_res7"),
        provider_id=UUID_A,
        vehicle_type="bicycle",
        geography_id=None,
        lat=lat,
        lng=lng,
    )
    assert key is not None
    cell8, kind, cell7 = key
    assert kind == "bicycle"
    assert h3.str_to_int(cell8) == h3.latlng_to_cell(lat, lng, 8)
    assert h3.get_resolution(h3.str_to_int(cell7)) == 7
    assert h3.cell_to_parent(h3.str_to_int(cell8), 7) == h3.str_to_int(cell7)

    def placed(dimension: str, at: tuple[float, float] | None) -> tuple[str, ...] | None:
        lat, lng = at or (None, None)
        return dimension_key(
            (dimension,),
            provider_id=UUID_A,
            vehicle_type="bicycle",
            geography_id=None,
            lat=lat,
            lng=lng,
        )

    assert placed("geography_id", (lat, lng)) is None
    assert placed("h3_res7", None) is None
    assert placed("provider_id", None) == (str(UUID_A),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-10T10:00", utc(2025, 3, 10, 9)),
        ("2025-03-10T10:00Z", utc(2025, 3, 10, 10)),
        ("2025-03-10T10:00-07", utc(2025, 3, 10, 17)),
        ("2025-03-10T10:00+05:30", utc(2025, 3, 10, 4, 30)),
        ("2025-03-10T1000", utc(2025, 3, 10, 9)),
        ("2025-03-10T10:00:00", utc(2025, 3, 10, 9)),
        ("2025-10-26T02:30", utc(2025, 10, 26, 0, 30)),  # repeated: the first, summer time
        (1741600800000, utc(2025, 3, 10, 10)),
    ],
)
def test_query_times(text: str | int, expected: datetime) -> None:
    assert parse_time(text, STOCKHOLM, "start_date") == expected


@pytest.mark.parametrize(
    "text",
    ["2025-03-30T02:30", "2025-02-30T00:00", "2025-03-10", "yesterday", "2025-03-10T10:00+25", 10],
)
def test_bad_query_times(text: str | int) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time(text, STOCKHOLM, "start_date")
    assert caught.value.fields == ("start_date",)


def body(**fields: Any) -> QueryBody:
    values: dict[str, Any] = {
        "measures": ["trips.start_loc.count"],
        "interval": "PT1H",
        "start_date": "2025-03-10T10:00",
    }
    values.update(fields)
    return QueryBody.model_validate(values)


def test_a_query_is_normalised() -> None:
    query = parse_query(
        body(
            interval="P1D",
            start_date="2025-03-30T00:00",
            end_date="2025-03-31T06:00",
            timezone="Europe/Stockholm",
            dimensions=["geography_id"],
            filters=[{"name": "vehicle_type", "values": ["bicycle"]}],
        ),
        max_intervals=10,
    )
    assert query.bounds == (local(2025, 3, 30), local(2025, 3, 31), local(2025, 4, 1))
    assert query.interval_starts() == ["2025-03-30T00:00+01:00", "2025-03-31T00:00+02:00"]
    assert query.described(10) == {
        "measures": ["trips.start_loc.count"],
        "interval": "P1D",
        "start_date": "2025-03-30T00:00+01:00",
        "end_date": "2025-03-31T00:00+02:00",
        "timezone": "Europe/Stockholm",
        "k_value": 10,
        "dimensions": ["geography_id"],
        "filters": [{"name": "vehicle_type", "values": ["bicycle"]}],
    }
    numeric = parse_query(body(start_date=1741600800000), max_intervals=10)
    assert numeric.interval_starts() == [1741600800000]
    assert numeric.described(10)["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"measures": ["trips.start_loc.count", "vehicles.flying.avg"]}, "measures"),
        ({"measures": ["trips.start_loc.count", "trips.start_loc.count"]}, "measures"),
        ({"interval": "PT15M"}, "interval"),
        ({"interval": "P1W"}, "interval"),
        ({"end_date": "2025-03-10T09:00"}, "end_date"),
        ({"end_date": "2025-03-11T10:00"}, "end_date"),  # 25 intervals, more than 24
        ({"start_date": "2025-03-10T10:30"}, "start_date"),
        ({"start_date": "2017-12-31T00:00"}, "start_date"),
        ({"interval": "P1D"}, "start_date"),  # 10:00 is not midnight
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start_date": 1741600800000, "timezone": "UTC"}, "timezone"),
        ({"dimensions": ["census_block"]}, "dimensions"),
        ({"filters": [{"name": "geography_type", "values": ["census_block"]}]}, "filters"),
        ({"filters": [{"name": "vehicle_type", "values": ["spaceship"]}]}, "filters"),
        ({"filters": [{"name": "provider_id", "values": ["not-a-uuid"]}]}, "filters"),
    ],
)
def test_bad_queries_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query(body(**fields), max_intervals=24)
    assert caught.value.fields[0] == field


def test_providers_asked_for_stay_within_those_visible() -> None:
    other = uuid.UUID(int=UUID_A.int + 1)
    assert visible(None, None) is None
    assert visible(None, (UUID_A,)) == [UUID_A]
    assert visible([UUID_A], None) == [UUID_A]
    assert visible([UUID_A], (other,)) == []
    assert visible([], (UUID_A,)) == []
