"""Demand forecast per H3 cell (pure): weekly patterns, shrinkage, DST, baselines."""

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.rebalancing.forecast import (
    HOUR,
    WEEK,
    Floats,
    TripHistory,
    backtest,
    fit_demand,
    forecast_demand,
    hour_of_week,
    seasonal_naive,
    wape,
)

TZ = ZoneInfo("Europe/Stockholm")
CENTRE = h3.latlng_to_cell(56.046, 12.695, 9)
MONDAY = datetime(2026, 5, 4, tzinfo=TZ)  # a Monday, local midnight, no DST change near


def local(day: datetime, days: int = 0, hour: int = 0) -> datetime:
    """UTC start of `hour` on the local clock, `days` calendar days after `day`."""
    wall = datetime(day.year, day.month, day.day, hour, tzinfo=TZ) + timedelta(days=days)
    return wall.astimezone(UTC)


def history(rows: list[tuple[int, datetime, int, int]], start: datetime, days: int) -> TripHistory:
    return TripHistory.from_counts(
        rows, since=local(start), until=local(start, days), resolution=9, tz=TZ
    )


def weekly_rows(
    cells: list[int], start: datetime, weeks: int, day: int, hour: int, starts: int, ends: int
) -> list[tuple[int, datetime, int, int]]:
    """Every cell: `starts` and `ends` at local `hour` on weekday `day` of every week."""
    return [(c, local(start, 7 * w + day, hour), starts, ends) for c in cells for w in range(weeks)]


def series(cells: tuple[int, ...], values: Floats, cell: int) -> Floats:
    """The row of `cell` in a (cells x hours) array."""
    row: Floats = values[cells.index(cell)]
    return row


def test_a_weekly_pattern_is_recovered() -> None:
    cells = list(h3.grid_disk(CENTRE, 3))
    rows = weekly_rows(cells, MONDAY, 4, day=0, hour=8, starts=5, ends=2)
    model = fit_demand(history(rows, MONDAY, 28))
    peak, night, tuesday = local(MONDAY, 28, 8), local(MONDAY, 28, 3), local(MONDAY, 29, 8)
    forecast = model.predict([peak, night, tuesday])
    starts = series(forecast.cells, forecast.starts, CENTRE)
    ends = series(forecast.cells, forecast.ends, CENTRE)
    assert starts[0] == pytest.approx(5, rel=0.05)
    assert ends[0] == pytest.approx(2, rel=0.05)
    assert starts[1] < 0.01
    assert starts[2] < 0.05


def test_an_isolated_cell_keeps_most_of_its_pattern() -> None:
    # Its empty neighbourhood pulls it down a little: 20 trips are some evidence, not proof.
    rows = weekly_rows([CENTRE], MONDAY, 4, day=0, hour=8, starts=5, ends=0)
    forecast = forecast_demand(
        history(rows, MONDAY, 28), [local(MONDAY, 28, 8), local(MONDAY, 28, 3)]
    )
    peak, night = forecast.starts[0]
    assert 0.8 * 5 < peak < 5
    assert night < 0.01


def test_a_cell_without_history_takes_its_neighbours_shape_at_a_lower_level() -> None:
    ring = sorted(set(h3.grid_disk(CENTRE, 2)) - {CENTRE})
    rows = weekly_rows(ring, MONDAY, 4, day=1, hour=17, starts=6, ends=1)
    rows += weekly_rows(ring, MONDAY, 4, day=5, hour=13, starts=3, ends=4)
    rows += [(c, local(MONDAY, d, 10), 1, 1) for c in ring for d in range(0, 28, 3)]
    far_away = h3.latlng_to_cell(56.2, 12.9, 9)
    model = fit_demand(history(rows, MONDAY, 28), extra_cells=[CENTRE, far_away])
    week = [local(MONDAY, 28) + i * HOUR for i in range(168)]
    forecast = model.predict(week)
    empty = series(forecast.cells, forecast.starts, CENTRE)
    neighbour = series(forecast.cells, forecast.starts, ring[0])
    remote = series(forecast.cells, forecast.starts, far_away)
    assert set(np.argsort(empty)[-2:]) == set(np.argsort(neighbour)[-2:])
    assert np.corrcoef(empty, neighbour)[0, 1] > 0.99
    assert 0 < empty.sum() < neighbour.sum()
    # No neighbour with trips: it can only borrow the city's shape, at a level lower still.
    assert 0 < remote.sum() < empty.sum()
    assert np.argmax(remote) == np.argmax(neighbour)


@pytest.mark.parametrize(
    ("start", "change"),
    [(datetime(2026, 3, 16, tzinfo=TZ), 13), (datetime(2026, 10, 12, tzinfo=TZ), 13)],
)
def test_the_peak_stays_on_the_local_clock_across_a_dst_change(
    start: datetime, change: int
) -> None:
    # A daily peak at 08:00 local time; the change happens on day `change` of the history.
    cells = list(h3.grid_disk(CENTRE, 1))
    rows = [(c, local(start, d, 8), 5, 1) for c in cells for d in range(28)]
    model = fit_demand(history(rows, start, 28))
    # Forecast the week before the change and the week after it, hour by hour.
    first, last = local(start, change - 7), local(start, change + 7)
    hours = [first + i * HOUR for i in range((last - first) // HOUR)]
    starts = series(model.cells, model.predict(hours).starts, CENTRE)
    days: dict[object, list[tuple[float, int]]] = {}
    for value, hour in zip(starts, hours, strict=True):
        clock = hour.astimezone(TZ)
        days.setdefault(clock.date(), []).append((float(value), clock.hour))
    assert len(days) == 14
    assert all(max(values)[1] == 8 for values in days.values())
    assert all(max(values)[0] == pytest.approx(5, rel=0.05) for values in days.values())
    peaks_utc = {h.hour for h, v in zip(hours, starts, strict=True) if v > 1}
    assert peaks_utc == {6, 7}


def test_a_forecast_over_the_25_hour_day_is_well_defined() -> None:
    start = datetime(2026, 10, 5, tzinfo=TZ)
    rows = [(CENTRE, local(start, d, 8), 5, 1) for d in range(21)]
    # Both 02:00 hours of 2026-10-25 (CEST, then CET) carry trips.
    first_two = datetime(2026, 10, 25, 0, tzinfo=UTC)
    rows += [(CENTRE, first_two, 3, 0), (CENTRE, first_two + HOUR, 1, 0)]
    model = fit_demand(history(rows, start, 28))
    day = [local(datetime(2026, 10, 25, tzinfo=TZ)) + i * HOUR for i in range(25)]
    assert day[-1] + HOUR == local(datetime(2026, 10, 26, tzinfo=TZ))
    starts = model.predict(day).starts[0]
    assert np.all(np.isfinite(starts))
    assert np.all(starts >= 0)
    clock = [h.astimezone(TZ).hour for h in day]
    assert clock.count(2) == 2
    twice = [v for v, c in zip(starts, clock, strict=True) if c == 2]
    assert twice[0] == twice[1]
    assert clock[int(np.argmax(starts))] == 8


def test_hour_of_week_is_local() -> None:
    assert hour_of_week(local(MONDAY), TZ) == 0
    assert hour_of_week(datetime(2026, 3, 29, 1, tzinfo=UTC), TZ) == 6 * 24 + 3
    assert hour_of_week(datetime(2026, 10, 25, 0, tzinfo=UTC), TZ) == 6 * 24 + 2
    assert hour_of_week(datetime(2026, 10, 25, 1, tzinfo=UTC), TZ) == 6 * 24 + 2


NEAR = sorted(h3.grid_disk(CENTRE, 2))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(NEAR),
            st.integers(0, 2 * 168 - 1),
            st.integers(0, 30),
            st.integers(0, 30),
        ),
        max_size=40,
    ),
    extra=st.lists(st.sampled_from(sorted(h3.grid_disk(CENTRE, 4))), max_size=5),
    half_life=st.floats(0.1, 10),
    ahead=st.lists(st.integers(0, 24 * 60), min_size=1, max_size=6),
)
def test_forecasts_are_never_negative_or_nan(
    rows: list[tuple[int, int, int, int]], extra: list[int], half_life: float, ahead: list[int]
) -> None:
    since = local(datetime(2026, 3, 20, tzinfo=TZ))
    counts = [(c, since + o * HOUR, s, e) for c, o, s, e in rows]
    trips = TripHistory.from_counts(
        counts, since=since, until=since + 2 * WEEK, resolution=9, tz=TZ
    )
    hours = [trips.until + a * HOUR for a in ahead]
    for forecast in (
        forecast_demand(trips, hours, extra_cells=extra, half_life_weeks=half_life),
        seasonal_naive(trips, hours, extra_cells=extra),
    ):
        assert set(forecast.cells) == {c for c, *_ in rows} | set(extra)
        for values in (forecast.starts, forecast.ends):
            assert values.shape == (len(forecast.cells), len(hours))
            assert np.all(np.isfinite(values))
            assert np.all(values >= 0)


def test_an_empty_history_forecasts_zero() -> None:
    forecast = forecast_demand(history([], MONDAY, 7), [local(MONDAY, 7, 8)], extra_cells=[CENTRE])
    assert forecast.cells == (CENTRE,)
    assert forecast.starts.tolist() == [[0.0]]
    assert forecast.ends.tolist() == [[0.0]]


def test_horizon_totals_sum_the_hours() -> None:
    rows = weekly_rows([CENTRE], MONDAY, 2, day=0, hour=8, starts=4, ends=2)
    hours = [local(MONDAY, 14, 6) + i * HOUR for i in range(4)]
    forecast = forecast_demand(history(rows, MONDAY, 14), hours)
    totals = forecast.horizon_totals()
    assert totals[CENTRE].starts == pytest.approx(forecast.starts[0].sum())
    assert totals[CENTRE].ends == pytest.approx(forecast.ends[0].sum())
    rows_out = list(forecast.rows())
    assert [(r.cell, r.hour) for r in rows_out] == [(CENTRE, h) for h in hours]
    assert rows_out[2].starts == forecast.starts[0, 2]


def test_seasonal_naive_repeats_the_last_week() -> None:
    other = h3.grid_disk(CENTRE, 1)[1]
    rows = [
        (CENTRE, local(MONDAY, 0, 8), 9, 9),  # week 1: superseded by week 2
        (CENTRE, local(MONDAY, 7, 8), 4, 1),
        (CENTRE, local(MONDAY, 9, 17), 2, 3),
        (other, local(MONDAY, 3, 12), 7, 0),  # week 1 only: week 2 held zero there
    ]
    hours = [
        local(MONDAY, 14, 8),
        local(MONDAY, 16, 17),
        local(MONDAY, 17, 12),
        local(MONDAY, 21, 8),
    ]
    forecast = seasonal_naive(history(rows, MONDAY, 14), hours)
    assert series(forecast.cells, forecast.starts, CENTRE).tolist() == [4, 2, 0, 4]
    assert series(forecast.cells, forecast.ends, CENTRE).tolist() == [1, 3, 0, 1]
    assert series(forecast.cells, forecast.starts, other).tolist() == [0, 0, 0, 0]


def test_seasonal_naive_across_dst_uses_the_local_hour() -> None:
    start = datetime(2026, 10, 19, tzinfo=TZ)
    first_two = datetime(2026, 10, 25, 0, tzinfo=UTC)  # 02:00 CEST; 01:00 UTC is 02:00 CET
    rows = [
        (CENTRE, local(start, 1, 8), 6, 0),
        (CENTRE, first_two, 3, 0),
        (CENTRE, first_two + HOUR, 1, 0),
    ]
    hours = [local(start, 8, 8), datetime(2026, 11, 1, 1, tzinfo=UTC)]  # Tue 08:00, Sun 02:00
    forecast = seasonal_naive(history(rows, start, 7), hours)
    assert forecast.starts[0].tolist() == [6, 2]


def test_wape_by_hand() -> None:
    assert wape([1, 2, 3, 0], [2, 2, 1, 1]) == pytest.approx(4 / 6)
    assert wape([[1, 1], [0, 2]], [[1, 1], [0, 2]]) == 0
    assert wape([0, 0], [0, 0]) == 0
    assert wape([0, 0], [0, 1]) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        wape([1, 2], [1, 2, 3])


def synthetic(cells: int, weeks: int, seed: int) -> TripHistory:
    """Poisson counts: a weekday/weekend pattern times a lognormal cell intensity."""
    rng = np.random.default_rng(seed)
    grid = sorted(h3.grid_disk(CENTRE, 6))[:cells]
    intensity = rng.lognormal(0, 1, cells) / cells
    since = local(MONDAY)
    hours = [since + i * HOUR for i in range(weeks * 168)]
    clock = np.array([[h.astimezone(TZ).hour, h.astimezone(TZ).weekday()] for h in hours])
    weekday = (
        0.2
        + 2 * np.exp(-(((clock[:, 0] - 8) / 1.5) ** 2))
        + 1.5 * np.exp(-(((clock[:, 0] - 17) / 2) ** 2))
    )
    weekend = 0.2 + np.exp(-(((clock[:, 0] - 14) / 3) ** 2))
    pattern = np.where(clock[:, 1] < 5, weekday, weekend) * 40
    rates = intensity[:, None] * pattern[None, :]
    starts, ends = rng.poisson(rates), rng.poisson(rates)
    rows = [
        (grid[i], hours[j], int(starts[i, j]), int(ends[i, j]))
        for i, j in zip(*np.nonzero(starts + ends), strict=True)
    ]
    return TripHistory.from_counts(
        rows, since=since, until=since + weeks * WEEK, resolution=9, tz=TZ
    )


def test_backtest_beats_seasonal_naive_on_a_stable_pattern() -> None:
    result = backtest(synthetic(60, 4, seed=7), train_weeks=3, test_weeks=1, horizon_hours=4)
    assert result.cells == 60
    assert result.hours == 168
    assert 0 < result.model.both < result.naive.both
    assert result.model.starts < result.naive.starts
    assert result.model.ends < result.naive.ends


def test_backtest_needs_enough_weeks() -> None:
    with pytest.raises(ValueError, match="shorter"):
        backtest(history([], MONDAY, 21), train_weeks=3, test_weeks=1)
    with pytest.raises(ValueError, match="divide"):
        backtest(history([], MONDAY, 28), horizon_hours=5)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((CENTRE, datetime(2026, 5, 4, 8), 1, 0), "aware"),
        ((CENTRE, local(MONDAY, 7, 8), 1, 0), "within the window"),
        ((CENTRE, local(MONDAY, 1, 8) + timedelta(minutes=30), 1, 0), "hour start"),
        ((h3.cell_to_parent(CENTRE, 8), local(MONDAY, 1, 8), 1, 0), "resolution 9"),
        ((12345, local(MONDAY, 1, 8), 1, 0), "resolution 9"),
        ((CENTRE, local(MONDAY, 1, 8), -1, 0), "counts >= 0"),
    ],
)
def test_bad_rows_are_refused(row: tuple[int, datetime, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        history([row], MONDAY, 7)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        history([], MONDAY, 0)
    with pytest.raises(ValueError, match="begin an hour"):
        TripHistory.from_counts(
            [],
            since=local(MONDAY) + timedelta(minutes=5),
            until=local(MONDAY, 7),
            resolution=9,
            tz=TZ,
        )
    with pytest.raises(ValueError, match="7-9"):
        TripHistory.from_counts(
            [], since=local(MONDAY), until=local(MONDAY, 7), resolution=10, tz=TZ
        )
