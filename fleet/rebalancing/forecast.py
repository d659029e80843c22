"""Demand forecast per H3 cell (pure): expected trip starts and ends per cell and hour.

One vehicle type at a time: the caller builds hourly counts of that type's trip starts
and ends per cell (SQL, only non-zero rows) and loops over the types. No database, no
clock: the history window and the hours to forecast are arguments, cells are
`h3.api.basic_int` integers, times are timezone-aware and hours begin on UTC hours.

Method. Every UTC hour of the window is given its local hour of the week in the city's
zone (168 buckets, Monday 00:00 = 0), so a rush hour stays at 08:00 on the clock across
daylight-saving changes: the missing 02:00 of a spring-forward Sunday adds no exposure
to its bucket, the doubled 02:00 of an autumn Sunday adds two hours, and a bucket's rate
is its counts over its exposure. Each week of history weighs 2^(-age / half-life), the
latest week 1. A cell's rate is its level (trips per hour) times its shape (relative rate
per bucket, mean 1), both estimated by empirical-Bayes shrinkage toward a prior:

- shape: city hour of day <- flat; city hour of week <- city hour of day; for each cell
  the same two steps on the ring-weighted counts of its H3 neighbours (grid_disk rings 1
  and 2, weights 1 and 1/2, the cell itself left out) toward the city shape, then on the
  cell's own counts toward that neighbourhood shape (hour of week toward hour of day
  times the prior's day-of-week modulation);
- level: neighbourhood level <- city level per cell; cell level <- neighbourhood level.

Every step is the same Poisson-lognormal model: count c ~ Poisson(e * r), prior
log r ~ Normal(log p - s2/2, s2) whose mean is the prior rate p; the forecast is the
posterior mean of r, by adaptive Gauss-Hermite quadrature. s2 is fitted per step by
maximum marginal likelihood over all its units, so the data decide how far cells differ
from their prior, and a unit's own data weigh by how much of it there is: a busy cell
keeps its own profile, a sparse one takes its neighbours' and the city's. Weighted counts
are treated as quasi-Poisson (evidence of counts / dispersion). A cell without history
(an extra cell, e.g. of the service area) is an observed zero: it gets exactly its
neighbours' shape, at a level below theirs, lower the more they expected. Rates are
finite and positive, or zero when the history holds no trip at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
HOURS_PER_WEEK = 168
RESOLUTIONS = range(7, 10)
DEFAULT_HALF_LIFE_WEEKS = 2.0
# Neighbour rings 1 and 2 of grid_disk and how much one cell of each counts.
RING_WEIGHTS = (1.0, 0.5)
# Bounds of the estimated prior variance of log rates: from near-complete pooling to
# deviations of a factor e^3 being ordinary.
MIN_LOG_VARIANCE = 1e-4
MAX_LOG_VARIANCE = 9.0
NEWTON_STEPS = 12
MAX_NEWTON_STEP = 2.0
GOLDEN_STEPS = 12
# Entries of a step used to estimate its prior variance (a regular sample beyond this).
MAX_SAMPLE = 10_000
CHUNK = 50_000
# Rates below this are taken as this (log of a prior rate must be finite).
MIN_RATE = 1e-300
# Gauss-Hermite nodes (scaled by sqrt 2 later) and log weights with the e^{t^2} factor
# that turns them into plain weights for a density centred on the mode.
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(10)
NODES: Floats = _NODES
LOG_NODE_WEIGHTS: Floats = np.log(_WEIGHTS) + _NODES**2


@dataclass(frozen=True, slots=True)
class CellHourForecast:
    """Expected trip starts and ends of one cell in one UTC hour."""

    cell: int
    hour: datetime
    starts: float
    ends: float


@dataclass(frozen=True, slots=True)
class CellDemand:
    """Expected trip starts and ends of one cell over a horizon."""

    starts: float
    ends: float


@dataclass(frozen=True, eq=False)
class Forecast:
    """Expected starts and ends per cell (rows, in `cells` order) and hour (columns)."""

    cells: tuple[int, ...]
    hours: tuple[datetime, ...]
    starts: Floats
    ends: Floats

    def rows(self) -> Iterator[CellHourForecast]:
        """Every (cell, hour) of the forecast, cell by cell."""
        for i, cell in enumerate(self.cells):
            for j, hour in enumerate(self.hours):
                yield CellHourForecast(cell, hour, float(self.starts[i, j]), float(self.ends[i, j]))

    def horizon_totals(self) -> dict[int, CellDemand]:
        """Expected starts and ends per cell summed over all the forecast's hours."""
        starts, ends = self.starts.sum(axis=1), self.ends.sum(axis=1)
        return {
            cell: CellDemand(float(starts[i]), float(ends[i])) for i, cell in enumerate(self.cells)
        }


@dataclass(frozen=True, eq=False)
class TripHistory:
    """Hourly trip counts of one vehicle type in [since, until); absent rows are zeros.

    Build it with `from_counts`; the arrays hold one entry per non-zero (cell, hour).
    """

    since: datetime
    until: datetime
    resolution: int
    tz: ZoneInfo
    cells: Ints
    offsets: Ints  # the row's hour, in hours after `since`
    starts: Floats
    ends: Floats

    @classmethod
    def from_counts(
        cls,
        counts: Iterable[tuple[int, datetime, int, int]],
        *,
        since: datetime,
        until: datetime,
        resolution: int,
        tz: ZoneInfo,
    ) -> TripHistory:
        """A history from (cell, UTC hour start, starts, ends) rows within [since, until)."""
        since, until = _utc_hour(since, "since"), _utc_hour(until, "until")
        if since >= until:
            raise ValueError("the history window must not be empty")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be within 7-9, not {resolution}")
        rows = list(counts)
        _check_cells({row[0] for row in rows}, resolution)
        hours = _hours_between(since, until)
        offsets = [_offset(row[1], since, hours) for row in rows]
        starts = np.array([row[2] for row in rows], dtype=np.float64)
        ends = np.array([row[3] for row in rows], dtype=np.float64)
        for name, values in (("starts", starts), ("ends", ends)):
            if not np.all(np.isfinite(values) & (values >= 0)):
                raise ValueError(f"{name} must be counts >= 0")
        return cls(
            since,
            until,
            resolution,
            tz,
            np.array([row[0] for row in rows], dtype=np.int64),
            np.array(offsets, dtype=np.int64),
            starts,
            ends,
        )

    @property
    def hours(self) -> int:
        """How many hours the window spans."""
        return _hours_between(self.since, self.until)

    def window(self, since: datetime, until: datetime) -> TripHistory:
        """The part of this history within [since, until), a sub-window of its own."""
        since, until = _utc_hour(since, "since"), _utc_hour(until, "until")
        if not self.since <= since < until <= self.until:
            raise ValueError("the window must lie within the history")
        first = _hours_between(self.since, since)
        keep = (self.offsets >= first) & (self.offsets < first + _hours_between(since, until))
        return TripHistory(
            since,
            until,
            self.resolution,
            self.tz,
            self.cells[keep],
            self.offsets[keep] - first,
            self.starts[keep],
            self.ends[keep],
        )


@dataclass(frozen=True, eq=False)
class DemandModel:
    """Fitted rates of one vehicle type: starts and ends per cell (row) and hour of week."""

    cells: tuple[int, ...]
    tz: ZoneInfo
    starts: Floats
    ends: Floats

    def predict(self, hours: Sequence[datetime]) -> Forecast:
        """Expected starts and ends of every model cell in each of `hours` (UTC hour starts)."""
        utc = tuple(_utc_hour(hour, "hour") for hour in hours)
        buckets = np.array([hour_of_week(hour, self.tz) for hour in utc], dtype=np.int64)
        return Forecast(self.cells, utc, self.starts[:, buckets], self.ends[:, buckets])


@dataclass(frozen=True, slots=True)
class Wape:
    """WAPE of starts, of ends, and of both pooled."""

    starts: float
    ends: float
    both: float


@dataclass(frozen=True, slots=True)
class Backtest:
    """WAPE on the held-out weeks of the model and of the seasonal-naive baseline."""

    model: Wape
    naive: Wape
    cells: int
    hours: int


@dataclass(frozen=True)
class _Neighbours:
    """For each cell, its ring-1 and ring-2 neighbours as rows of a count matrix padded
    with a row of zeros (index n), and the ring weight of every H3 cell of its disk."""

    index: Ints
    weight: Floats
    total: Floats

    def sum(self, counts: Floats) -> Floats:
        """Ring-weighted sums of the neighbours' rows of `counts`."""
        padded = np.vstack([counts, np.zeros((1, counts.shape[1]))])
        result = np.zeros_like(counts)
        for k in range(self.index.shape[1]):
            result += self.weight[:, k, None] * padded[self.index[:, k]]
        return result


def hour_of_week(hour: datetime, tz: ZoneInfo) -> int:
    """The local hour of the week of an aware `hour` in `tz`: 0 is Monday 00:00."""
    if hour.utcoffset() is None:
        raise ValueError("hour must be timezone-aware")
    local = hour.astimezone(tz)
    return local.weekday() * 24 + local.hour


def fit_demand(
    history: TripHistory,
    *,
    extra_cells: Iterable[int] = (),
    half_life_weeks: float = DEFAULT_HALF_LIFE_WEEKS,
) -> DemandModel:
    """Hour-of-week rates for the history's cells and `extra_cells` (see the module doc)."""
    if not half_life_weeks > 0:
        raise ValueError("half_life_weeks must be > 0")
    cells = _domain(history, extra_cells)
    weights = _week_weights(history.hours, half_life_weeks)
    buckets = _window_buckets(history)
    exposure = _bincount(buckets, weights, HOURS_PER_WEEK)
    # Weighted counts have variance sum(w^2 r) for a mean sum(w r): quasi-Poisson.
    dispersion = float((weights**2).sum() / weights.sum())
    neighbours = _neighbours(cells)
    index = np.searchsorted(cells, history.cells)
    row_buckets, row_weights = buckets[history.offsets], weights[history.offsets]

    def rates(values: Floats) -> Floats:
        counts = _binned(index, row_buckets, row_weights * values, len(cells))
        return _rates(counts, exposure, neighbours, dispersion)

    return DemandModel(
        tuple(int(c) for c in cells), history.tz, rates(history.starts), rates(history.ends)
    )


def forecast_demand(
    history: TripHistory,
    hours: Sequence[datetime],
    *,
    extra_cells: Iterable[int] = (),
    half_life_weeks: float = DEFAULT_HALF_LIFE_WEEKS,
) -> Forecast:
    """Fit on `history` and forecast `hours` for its cells and `extra_cells`."""
    model = fit_demand(history, extra_cells=extra_cells, half_life_weeks=half_life_weeks)
    return model.predict(hours)


def seasonal_naive(
    history: TripHistory, hours: Sequence[datetime], *, extra_cells: Iterable[int] = ()
) -> Forecast:
    """Baseline: each hour gets the counts of the same local hour in the history's last week."""
    cells = _domain(history, extra_cells)
    buckets = _window_buckets(history)
    age = _week_ages(history.hours)
    latest = np.full(HOURS_PER_WEEK, np.iinfo(np.int64).max)
    np.minimum.at(latest, buckets, age)
    # The latest week holding a bucket; a doubled local hour is averaged.
    chosen = (age == latest[buckets]).astype(np.float64)
    seen = _bincount(buckets, chosen, HOURS_PER_WEEK)
    index = np.searchsorted(cells, history.cells)
    row_buckets, row_chosen = buckets[history.offsets], chosen[history.offsets]

    def rates(values: Floats) -> Floats:
        counts = _binned(index, row_buckets, row_chosen * values, len(cells))
        return np.divide(counts, seen, out=np.zeros_like(counts), where=seen > 0)

    model = DemandModel(
        tuple(int(c) for c in cells), history.tz, rates(history.starts), rates(history.ends)
    )
    return model.predict(hours)


def wape(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Weighted absolute percentage error: sum|actual - predicted| / sum|actual|."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if a.shape != p.shape:
        raise ValueError(f"shapes differ: {a.shape} and {p.shape}")
    error, scale = float(np.abs(a - p).sum()), float(np.abs(a).sum())
    # All-zero actuals: a perfect forecast scores 0, any other is infinitely wrong.
    if scale == 0:
        return 0.0 if error == 0 else math.inf
    return error / scale


def backtest(
    history: TripHistory,
    train_weeks: int = 3,
    test_weeks: int = 1,
    *,
    extra_cells: Iterable[int] = (),
    half_life_weeks: float = DEFAULT_HALF_LIFE_WEEKS,
    horizon_hours: int = 1,
) -> Backtest:
    """WAPE of the model and of seasonal-naive on the last `test_weeks`, per cell and block."""
    # Trained on the `train_weeks` before them; scored on sums over `horizon_hours`, as
    # targets use them; cells seen only in the test weeks are forecast (and scored) too.
    if train_weeks < 1 or test_weeks < 1:
        raise ValueError("train_weeks and test_weeks must be >= 1")
    if horizon_hours < 1 or HOURS_PER_WEEK % horizon_hours:
        raise ValueError("horizon_hours must divide 168")
    split = history.until - test_weeks * WEEK
    start = split - train_weeks * WEEK
    if start < history.since:
        raise ValueError("the history is shorter than train_weeks + test_weeks")
    train, test = history.window(start, split), history.window(split, history.until)
    cells = _domain(history, extra_cells)
    hours = [split + i * HOUR for i in range(test.hours)]
    model = forecast_demand(train, hours, extra_cells=cells, half_life_weeks=half_life_weeks)
    naive = seasonal_naive(train, hours, extra_cells=cells)
    index = np.searchsorted(cells, test.cells)
    starts, ends = (
        _matrix(index, test.offsets, v, len(cells), test.hours) for v in (test.starts, test.ends)
    )
    actual = _blocks(starts, horizon_hours), _blocks(ends, horizon_hours)
    return Backtest(
        _wape(actual, model, horizon_hours),
        _wape(actual, naive, horizon_hours),
        len(cells),
        test.hours,
    )


def _wape(actual: tuple[Floats, Floats], forecast: Forecast, horizon_hours: int) -> Wape:
    starts, ends = _blocks(forecast.starts, horizon_hours), _blocks(forecast.ends, horizon_hours)
    both = np.concatenate(actual), np.concatenate([starts, ends])
    return Wape(wape(actual[0], starts), wape(actual[1], ends), wape(*both))


def _blocks(values: Floats, hours: int) -> Floats:
    """Sums over consecutive blocks of `hours` columns."""
    blocks: Floats = values.reshape(len(values), -1, hours).sum(axis=2)
    return blocks


def _rates(counts: Floats, exposure: Floats, neighbours: _Neighbours, dispersion: float) -> Floats:
    """Posterior rates per cell and bucket from weighted counts (the module doc's steps)."""
    total, hours = float(counts.sum()), float(exposure.sum())
    if total <= 0:
        return np.zeros_like(counts)
    flat = np.ones((1, HOURS_PER_WEEK))
    city = _shape(counts.sum(axis=0, keepdims=True), exposure, flat, dispersion)
    near = neighbours.sum(counts)
    near_dispersion = dispersion * _ring_dispersion()
    shape = _shape(counts, exposure, _shape(near, exposure, city, near_dispersion), dispersion)
    city_level = np.full(len(counts), total / (len(counts) * hours))
    near_level = _posterior(near.sum(axis=1), neighbours.total * hours, city_level, near_dispersion)
    level = _posterior(counts.sum(axis=1), np.full(len(counts), hours), near_level, dispersion)
    rates: Floats = level[:, None] * shape
    return rates


def _shape(counts: Floats, exposure: Floats, prior: Floats, dispersion: float) -> Floats:
    """Each row's rate per bucket relative to its mean (1 over the window's exposure):
    its hour of day shrunk toward the prior's, then its hour of week toward that hour of
    day times the prior's day-of-week modulation."""
    hours = exposure.sum()
    scale = counts.sum(axis=1, keepdims=True) / hours
    daily_exposure = exposure.reshape(7, 24).sum(axis=0)
    prior_daily = _daily(prior * exposure, daily_exposure)
    daily = _posterior(_daily(counts, 1.0), scale * daily_exposure, prior_daily, dispersion)
    modulation = prior / np.tile(prior_daily, 7)
    weekly = _posterior(counts, scale * exposure, np.tile(daily, 7) * modulation, dispersion)
    result: Floats = weekly * (hours / (weekly @ exposure))[:, None]
    return result


def _daily(values: Floats, exposure: Floats | float) -> Floats:
    """Sums per local hour of day over the seven days, divided by `exposure`."""
    sums: Floats = values.reshape(len(values), 7, 24).sum(axis=1)
    return np.divide(sums, exposure, out=np.ones_like(sums), where=np.asarray(exposure) > 0)


def _posterior(counts: Floats, exposure: Floats, prior: Floats, dispersion: float) -> Floats:
    """Posterior mean rates under the Poisson-lognormal model, with the prior variance of
    log rates that best explains all the entries."""
    # Quasi-Poisson: weighted counts carry the evidence of counts / dispersion.
    c, e, p = np.broadcast_arrays(
        counts / dispersion, exposure / dispersion, np.maximum(prior, MIN_RATE)
    )
    s2 = _log_variance(c, e, p)
    flat_c, flat_e, flat_p = (np.ravel(a) for a in (c, e, p))
    # In chunks: the quadrature holds len(NODES) values per entry.
    parts = [
        _mean_rate(flat_c[i : i + CHUNK], flat_e[i : i + CHUNK], flat_p[i : i + CHUNK], s2)
        for i in range(0, c.size, CHUNK)
    ]
    return np.concatenate(parts).reshape(c.shape) if parts else np.zeros(c.shape)


def _log_variance(counts: Floats, exposure: Floats, prior: Floats) -> float:
    """The prior variance of log rates maximising the marginal likelihood of (a sample
    of) the entries: golden-section search in log s2."""
    step = max(1, math.ceil(counts.size / MAX_SAMPLE))
    c, e, p = (np.ascontiguousarray(a[::step]) for a in (counts, exposure, prior))
    if not np.any(e > 0):
        return MIN_LOG_VARIANCE
    lo, hi = math.log(MIN_LOG_VARIANCE), math.log(MAX_LOG_VARIANCE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _log_marginal(c, e, p, math.exp(a)), _log_marginal(c, e, p, math.exp(b))
    for _ in range(GOLDEN_STEPS):
        if fa >= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _log_marginal(c, e, p, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _log_marginal(c, e, p, math.exp(b))
    return math.exp((lo + hi) / 2)


def _log_marginal(counts: Floats, exposure: Floats, prior: Floats, s2: float) -> float:
    """Log marginal likelihood of the counts given s2, up to terms free of s2."""
    _, log_density, log_scale = _quadrature(counts, exposure, prior, s2)
    top = log_density.max(axis=-1)
    mass = top + np.log(np.exp(log_density - top[..., None]).sum(axis=-1))
    return float((mass + log_scale).sum() - 0.5 * counts.size * math.log(2 * math.pi * s2))


def _mean_rate(counts: Floats, exposure: Floats, prior: Floats, s2: float) -> Floats:
    """E[r | c] for c ~ Poisson(e r), log r ~ N(log p - s2/2, s2)."""
    x, log_density, _ = _quadrature(counts, exposure, prior, s2)
    density = np.exp(log_density - log_density.max(axis=-1, keepdims=True))
    result: Floats = (density * np.exp(x)).sum(axis=-1) / density.sum(axis=-1)
    return result


def _quadrature(
    counts: Floats, exposure: Floats, prior: Floats, s2: float
) -> tuple[Floats, Floats, Floats]:
    """Adaptive Gauss-Hermite nodes in x = log r around the posterior mode: the nodes,
    the log of weight * unnormalised posterior density at each, and the log node scale."""
    centre = np.log(prior) - s2 / 2
    mode = _posterior_mode(counts, exposure, prior, centre, s2)
    scale = np.sqrt(2 / (exposure * np.exp(mode) + 1 / s2))
    x = mode[..., None] + scale[..., None] * NODES
    log_density = (
        counts[..., None] * x
        - exposure[..., None] * np.exp(x)
        - (x - centre[..., None]) ** 2 / (2 * s2)
        + LOG_NODE_WEIGHTS
    )
    return x, log_density, np.log(scale)


def _posterior_mode(
    counts: Floats, exposure: Floats, prior: Floats, centre: Floats, s2: float
) -> Floats:
    """The mode of the posterior of log r, by Newton steps on its concave log density."""
    # Start from the conjugate gamma answer with the same prior mean and variance.
    alpha = 1 / math.expm1(s2)
    x: Floats = np.log((counts + alpha) / (exposure + alpha / prior))
    for _ in range(NEWTON_STEPS):
        expected = exposure * np.exp(x)
        slope = counts - expected - (x - centre) / s2
        x = x + np.clip(slope / (expected + 1 / s2), -MAX_NEWTON_STEP, MAX_NEWTON_STEP)
    return x


def _ring_dispersion() -> float:
    """sum(w^2) / sum(w) of a ring-weighted sum over a full disk."""
    sizes = (6, 12)
    weights = sum(n * w for n, w in zip(sizes, RING_WEIGHTS, strict=True))
    squares = sum(n * w * w for n, w in zip(sizes, RING_WEIGHTS, strict=True))
    return squares / weights


def _neighbours(cells: Ints) -> _Neighbours:
    position = {int(c): i for i, c in enumerate(cells)}
    n = len(cells)
    width = 18
    index = np.full((n, width), n, dtype=np.int64)
    weight = np.zeros((n, width))
    total = np.zeros(n)
    for i, cell in enumerate(position):
        inner = {cell}
        slot = 0
        for k, ring_weight in enumerate(RING_WEIGHTS, start=1):
            disk = set(h3.grid_disk(cell, k))
            ring = disk - inner
            inner = disk
            total[i] += ring_weight * len(ring)
            for other in ring:
                if other in position:
                    index[i, slot], weight[i, slot] = position[other], ring_weight
                    slot += 1
    return _Neighbours(index, weight, total)


def _domain(history: TripHistory, extra_cells: Iterable[int]) -> Ints:
    extra = {int(c) for c in extra_cells}
    _check_cells(extra, history.resolution)
    cells = np.union1d(history.cells, np.array(sorted(extra), dtype=np.int64))
    return cells.astype(np.int64)


def _binned(index: Ints, buckets: Ints, values: Floats, n: int) -> Floats:
    flat = _bincount(index * HOURS_PER_WEEK + buckets, values, n * HOURS_PER_WEEK)
    return flat.reshape(n, HOURS_PER_WEEK)


def _matrix(index: Ints, offsets: Ints, values: Floats, n: int, hours: int) -> Floats:
    return _bincount(index * hours + offsets, values, n * hours).reshape(n, hours)


def _bincount(index: Ints, values: Floats, size: int) -> Floats:
    return np.asarray(np.bincount(index, weights=values, minlength=size), dtype=np.float64)


def _window_buckets(history: TripHistory) -> Ints:
    hours = (history.since + i * HOUR for i in range(history.hours))
    return np.array([hour_of_week(h, history.tz) for h in hours], dtype=np.int64)


def _week_ages(hours: int) -> Ints:
    """Whole weeks between each hour of the window and its end (0 for the last week)."""
    return (hours - 1 - np.arange(hours, dtype=np.int64)) // HOURS_PER_WEEK


def _week_weights(hours: int, half_life_weeks: float) -> Floats:
    weights: Floats = 0.5 ** (_week_ages(hours) / half_life_weeks)
    return weights


def _check_cells(cells: Iterable[int], resolution: int) -> None:
    for cell in cells:
        valid = 0 < cell < 2**63 and h3.is_valid_cell(cell)
        if not valid or h3.get_resolution(cell) != resolution:
            raise ValueError(f"{cell} is not an H3 cell of resolution {resolution}")


def _utc_hour(when: datetime, name: str) -> datetime:
    if when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    utc = when.astimezone(UTC)
    if utc.minute or utc.second or utc.microsecond:
        raise ValueError(f"{name} must begin an hour")
    return utc


def _hours_between(since: datetime, until: datetime) -> int:
    return (until - since) // HOUR


def _offset(hour: datetime, since: datetime, hours: int) -> int:
    if hour.utcoffset() is None:
        raise ValueError("history hours must be timezone-aware")
    offset, rest = divmod(hour - since, HOUR)
    if rest or not 0 <= offset < hours:
        raise ValueError(f"{hour.isoformat()} is not an hour start within the window")
    return int(offset)
