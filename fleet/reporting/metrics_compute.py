"""MDS Metrics arithmetic (pure): intervals, time-weighted state averages, k-anonymity.

Everything here takes plain data and `now` as arguments; the SQL that feeds it lives in
`metrics_queries`, the names and request rules in `metrics_catalog`.
"""

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3

from app.core.mstime import to_ms

SUPPRESSED = -1
DIGITS = 4  # decimals of averages and sums


class Interval(StrEnum):
    """The interval durations fleetbed computes metrics for."""

    HOUR = "PT1H"
    DAY = "P1D"


def is_interval_start(when: datetime, interval: Interval, tz: ZoneInfo) -> bool:
    """Whether `when` begins an interval: a whole hour, or midnight, on the clock of `tz`."""
    local = when.astimezone(tz)
    on_the_hour = local.minute == 0 and local.second == 0 and local.microsecond == 0
    return on_the_hour and (interval is Interval.HOUR or local.hour == 0)


def next_start(start: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """The start of the interval after the one beginning at `start` (UTC).

    An hour is 3600 s of elapsed time; a day runs from midnight to the next midnight on
    the clock of `tz`, so a day with a daylight-saving change lasts 23 or 25 hours.
    """
    if interval is Interval.HOUR:
        return (start + timedelta(hours=1)).astimezone(UTC)
    tomorrow = start.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)


def interval_bounds(
    start: datetime, end: datetime, interval: Interval, tz: ZoneInfo, limit: int
) -> list[datetime] | None:
    """Boundaries of the intervals that begin in [start, end]: n + 1 UTC instants for n
    intervals, the last being the end of the last interval; None when n would exceed `limit`.
    """
    bounds = [start.astimezone(UTC)]
    while bounds[-1] <= end:
        if len(bounds) > limit:
            return None
        bounds.append(next_start(bounds[-1], interval, tz))
    return bounds


def split_span(
    bounds: Sequence[datetime], since: datetime, until: datetime
) -> Iterator[tuple[int, float]]:
    """The seconds of [since, until) that fall in each interval, as (index, seconds)."""
    since, until = max(since, bounds[0]), min(until, bounds[-1])
    index = bisect_right(bounds, since) - 1
    while since < until:
        stop = min(until, bounds[index + 1])
        yield index, (stop - since).total_seconds()
        since, index = stop, index + 1


def elapsed_seconds(bounds: Sequence[datetime], now: datetime) -> list[float]:
    """How much of each interval has passed by `now`: averages are over observed time only."""
    return [max(0.0, (min(stop, now) - start).total_seconds()) for start, stop in pairwise(bounds)]


@dataclass
class TripTotals:
    """Trips of one interval and dimension values, summed."""

    count: int = 0
    duration_s: float = 0.0
    durations: int = 0
    distance_m: float = 0.0
    distances: int = 0

    def add(
        self, count: int, duration_s: float, durations: int, distance_m: float, distances: int
    ) -> None:
        """Add a group of trips."""
        self.count += count
        self.duration_s += duration_s
        self.durations += durations
        self.distance_m += distance_m
        self.distances += distances


@dataclass
class Cell:
    """All a row of metrics is computed from: trips by start and by end, vehicle-seconds."""

    starts: TripTotals = field(default_factory=TripTotals)
    ends: TripTotals = field(default_factory=TripTotals)
    available_s: float = 0.0
    deployed_s: float = 0.0


def suppressed(count: int, k: int) -> int:
    """A count, or -1 below `k` (zero included: few and none must look alike)."""
    return count if count >= k else SUPPRESSED


def mean(total: float, n: int, k: int) -> float:
    """An average over `n` trips, suppressed like a count of `n`."""
    return round(total / n, DIGITS) if n >= k else SUPPRESSED


def total(value: float, n: int, k: int) -> float:
    """A sum over `n` trips, suppressed like a count of `n`."""
    return round(value, DIGITS) if n >= k else SUPPRESSED


def time_average(vehicle_seconds: float, elapsed_s: float) -> float:
    """Vehicle-seconds over elapsed seconds: the average number of vehicles in a state."""
    return round(vehicle_seconds / elapsed_s, DIGITS) if elapsed_s > 0 else 0.0


def trips_per_vehicle(cell: Cell, elapsed_s: float, k: int) -> float:
    """Trips started per deployed vehicle (methodology 2.10); suppressed with the trip
    count, and -1 too when no vehicle was deployed (the ratio has no value)."""
    deployed = cell.deployed_s / elapsed_s if elapsed_s > 0 else 0.0
    if cell.starts.count < k or deployed <= 0:
        return SUPPRESSED
    return round(cell.starts.count / deployed, DIGITS)


def h3_cell(lat: float, lng: float, resolution: int) -> str:
    """The H3 cell of a point as the hex string APIs show."""
    return str(h3.int_to_str(h3.latlng_to_cell(lat, lng, resolution)))


def format_time(when: datetime, tz: ZoneInfo, numeric: bool) -> str | int:
    """A datetime as the query asked: integer ms, or ISO 8601 to the minute in `tz`."""
    if numeric:
        return to_ms(when)
    return when.astimezone(tz).isoformat(timespec="minutes")


Key = tuple[str, ...]
Value = int | float
MeasureFn = Callable[[Cell, float, int], Value]


def row_keys(cells: Iterable[tuple[int, Key]], dimensioned: bool) -> list[Key]:
    """Every combination of dimension values seen in any interval, sorted; one empty
    combination when the query has no dimensions (then every interval has a row)."""
    if not dimensioned:
        return [()]
    return sorted({key for _, key in cells})


def table_rows(
    cells: Mapping[tuple[int, Key], Cell],
    keys: Sequence[Key],
    starts: Sequence[str | int],
    elapsed: Sequence[float],
    measures: Sequence[MeasureFn],
    k: int,
) -> list[list[str | Value]]:
    """One row per combination and interval, dense: an interval without data still has its
    row, so that none and few (both -1) cannot be told apart by a missing row."""
    empty = Cell()
    return [
        [start, *key, *(m(cells.get((i, key), empty), elapsed[i], k) for m in measures)]
        for key in keys
        for i, start in enumerate(starts)
    ]
