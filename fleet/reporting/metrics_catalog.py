"""MDS Metrics vocabulary (measures, dimensions, filters, intervals) and query parsing (pure)."""

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.core.bounded import EARLIEST, NO_NUL, ms_within_bounds, within_bounds
from app.core.errors import InvalidInput
from app.core.mds import VehicleType
from fleet.reporting.metrics_compute import (
    Cell,
    Interval,
    Key,
    MeasureFn,
    TripTotals,
    format_time,
    h3_cell,
    interval_bounds,
    is_interval_start,
    mean,
    suppressed,
    time_average,
    total,
    trips_per_vehicle,
)

SINCE = EARLIEST

# States of a vehicle "in the public right of way" (dockless metrics): the MDS 1.x
# available, unavailable, reserved and trip are 2.0's available, non_operational,
# reserved and on_trip.
DEPLOYED_STATES = ("available", "non_operational", "reserved", "on_trip")
AVAILABLE = "available"

PROVIDER_ID = "provider_id"
GEOGRAPHY_ID = "geography_id"
VEHICLE_TYPE = "vehicle_type"
# A fleetbed extension: H3 cells (hex strings) at these resolutions.
H3_DIMENSIONS = {"h3_res7": 7, "h3_res8": 8}
DIMENSIONS = (PROVIDER_ID, GEOGRAPHY_ID, VEHICLE_TYPE, *H3_DIMENSIONS)
FILTERS = (PROVIDER_ID, GEOGRAPHY_ID, VEHICLE_TYPE)
INTERVAL_START = "interval_start"


class Source(StrEnum):
    """What a measure is computed from."""

    STATES = "states"
    STARTS = "starts"
    ENDS = "ends"


@dataclass(frozen=True)
class Measure:
    """A measure: its name, column data type, sources and how a row's value is made."""

    name: str
    data_type: str
    sources: frozenset[Source]
    value: MeasureFn


def _trip_measures(side: str, source: Source, pick: Callable[[Cell], TripTotals]) -> list[Measure]:
    def made(name: str, data_type: str, value: MeasureFn) -> Measure:
        return Measure(f"trips.{side}.{name}", data_type, frozenset({source}), value)

    def summed(name: str, of: Callable[[TripTotals], tuple[float, int]]) -> list[Measure]:
        """The average and the sum of a trip quantity, given as (sum, trips measured)."""
        return [
            made(f"{name}.avg", "float", lambda c, _e, k: mean(*of(pick(c)), k)),
            made(f"{name}.sum", "float", lambda c, _e, k: total(*of(pick(c)), k)),
        ]

    return [
        made("count", "integer", lambda c, _e, k: suppressed(pick(c).count, k)),
        *summed("duration", lambda t: (t.duration_s, t.durations)),
        *summed("distance", lambda t: (t.distance_m, t.distances)),
    ]


_STATES = frozenset({Source.STATES})
MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure(
            "vehicles.available.avg",
            "float",
            _STATES,
            lambda c, e, _k: time_average(c.available_s, e),
        ),
        Measure(
            "dockless.deployed.avg",
            "float",
            _STATES,
            lambda c, e, _k: time_average(c.deployed_s, e),
        ),
        *_trip_measures("start_loc", Source.STARTS, lambda c: c.starts),
        *_trip_measures("end_loc", Source.ENDS, lambda c: c.ends),
        Measure(
            "dockless.utilization.trips_per_vehicle.avg",
            "float",
            frozenset({Source.STATES, Source.STARTS}),
            trips_per_vehicle,
        ),
    )
}


Name = Annotated[StrictStr, Field(max_length=255, pattern=NO_NUL)]


def _time_value(value: str | int) -> str | int:
    # Checked after the union, so that an error names the field alone.
    if isinstance(value, int):
        ms_within_bounds(value)
    elif len(value) > 64 or "\x00" in value:
        raise ValueError("expected YYYY-MM-DDTHH:MM with an optional offset")
    return value


TimeValue = Annotated[StrictStr | StrictInt, AfterValidator(_time_value)]


class FilterBody(BaseModel):
    """One filter of a metrics query."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    values: list[Name] = Field(min_length=1)


class QueryBody(BaseModel):
    """The body of `POST /mds/metrics`, as MDS Metrics defines it."""

    model_config = ConfigDict(extra="forbid")

    measures: list[Name] = Field(min_length=1)
    interval: Name
    start_date: TimeValue = Field(
        description="YYYY-MM-DDTHH:MM with optional offset, or integer ms since the epoch"
    )
    end_date: TimeValue | None = None
    timezone: Name | None = Field(default=None, description="TZ database name; UTC if absent")
    dimensions: list[Name] = Field(default_factory=list)
    filters: list[FilterBody] = Field(default_factory=list)


@dataclass(frozen=True)
class MetricsQuery:
    """A checked metrics query: what to compute, over which intervals, for whom."""

    measures: tuple[Measure, ...]
    interval: Interval
    tz: ZoneInfo
    numeric: bool
    bounds: tuple[datetime, ...]
    dimensions: tuple[str, ...]
    provider_ids: tuple[uuid.UUID, ...] | None
    vehicle_types: tuple[str, ...] | None
    geography_ids: tuple[uuid.UUID, ...] | None

    def needs(self, source: Source) -> bool:
        """Whether any measure is computed from `source`."""
        return any(source in m.sources for m in self.measures)

    def interval_starts(self) -> list[str | int]:
        """The first column of each interval's row."""
        return [format_time(b, self.tz, self.numeric) for b in self.bounds[:-1]]

    def described(self, k: int) -> dict[str, Any]:
        """The `query` object of the response: the request, normalised, with the k-value."""
        filters = [
            {"name": name, "values": [str(v) for v in values]}
            for name, values in (
                (PROVIDER_ID, self.provider_ids),
                (GEOGRAPHY_ID, self.geography_ids),
                (VEHICLE_TYPE, self.vehicle_types),
            )
            if values is not None
        ]
        return {
            "measures": [m.name for m in self.measures],
            "interval": self.interval.value,
            "start_date": format_time(self.bounds[0], self.tz, self.numeric),
            "end_date": format_time(self.bounds[-2], self.tz, self.numeric),
            "timezone": self.tz.key,
            "k_value": k,
            "dimensions": list(self.dimensions),
            "filters": filters,
        }


def discovery(max_intervals: int) -> dict[str, Any]:
    """The body of `GET /mds/metrics`."""
    return {
        "metrics": [
            {
                "measures": list(MEASURES),
                "since": format_time(SINCE, ZoneInfo("UTC"), numeric=False),
                "intervals": [i.value for i in Interval],
            }
        ],
        "max_intervals": max_intervals,
        "dimensions": list(DIMENSIONS),
        "filters": list(FILTERS),
    }


_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):?(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def _offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0)))


def parse_time(value: str | int, tz: ZoneInfo, name: str) -> datetime:
    """A query datetime as UTC: integer ms, or ISO 8601 to the minute; without an offset it
    is a wall-clock time in `tz` (a time skipped by a daylight-saving change is refused, a
    repeated one is its first occurrence)."""
    if isinstance(value, int):
        try:
            return ms_within_bounds(value)
        except ValueError as exc:
            raise InvalidInput(f"{name}: {exc}", fields=(name,)) from exc
    match = _DATETIME.match(value)
    if match is None:
        raise InvalidInput(
            f"{name} must be YYYY-MM-DDTHH:MM with an optional offset, or integer ms",
            fields=(name,),
        )
    year, month, day, hour, minute, second = (int(p or 0) for p in match.groups()[:6])
    offset = match.group(7)
    try:
        naive = datetime(year, month, day, hour, minute, second)
        fixed = _offset(offset) if offset is not None else None
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", fields=(name,)) from exc
    if fixed is not None:
        return _bounded(naive.replace(tzinfo=fixed), name)
    when = _bounded(naive.replace(tzinfo=tz), name)
    if when.astimezone(tz).replace(tzinfo=None) != naive:
        raise InvalidInput(f"{name} {value} does not exist in {tz.key}", fields=(name,))
    return when


def _bounded(when: datetime, name: str) -> datetime:
    try:
        return within_bounds(when)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", fields=(name,)) from exc


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(body: QueryBody) -> ZoneInfo:
    if body.timezone is None:
        return ZoneInfo("UTC")
    if isinstance(body.start_date, int):
        raise InvalidInput(
            "timezone is not allowed with a numeric start_date", fields=("timezone",)
        )
    if body.timezone not in _zones():
        raise InvalidInput(f"unknown time zone {body.timezone!r}", fields=("timezone",))
    return ZoneInfo(body.timezone)


def _unique(values: list[str], name: str) -> None:
    if len(set(values)) != len(values):
        raise InvalidInput(f"{name} must not repeat an item", fields=(name,))


def _measures(names: list[str]) -> tuple[Measure, ...]:
    _unique(names, "measures")
    unknown = [n for n in names if n not in MEASURES]
    if unknown:
        raise InvalidInput(
            f"unknown measures: {', '.join(unknown)} (see GET /mds/metrics)", fields=("measures",)
        )
    return tuple(MEASURES[n] for n in names)


def _dimensions(names: list[str]) -> tuple[str, ...]:
    _unique(names, "dimensions")
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise InvalidInput(
            f"unknown dimensions: {', '.join(unknown)} (supported: {', '.join(DIMENSIONS)})",
            fields=("dimensions",),
        )
    return tuple(names)


def _uuids(values: list[str], name: str) -> tuple[uuid.UUID, ...]:
    try:
        return tuple(uuid.UUID(v) for v in values)
    except ValueError as exc:
        raise InvalidInput(f"filter {name}: values must be UUIDs", fields=("filters",)) from exc


def _filters(
    filters: list[FilterBody],
) -> tuple[tuple[uuid.UUID, ...] | None, tuple[str, ...] | None, tuple[uuid.UUID, ...] | None]:
    given = {f.name: f.values for f in filters}
    if len(given) != len(filters):
        raise InvalidInput("each filter may be given once", fields=("filters",))
    unknown = sorted(set(given) - set(FILTERS))
    if unknown:
        raise InvalidInput(
            f"unknown filters: {', '.join(unknown)} (supported: {', '.join(FILTERS)})",
            fields=("filters",),
        )
    types = given.get(VEHICLE_TYPE)
    if types is not None:
        bad = sorted(set(types) - {t.value for t in VehicleType})
        if bad:
            raise InvalidInput(
                f"filter vehicle_type: unknown vehicle types {', '.join(bad)}",
                fields=("filters",),
            )
    providers, geographies = given.get(PROVIDER_ID), given.get(GEOGRAPHY_ID)
    return (
        _uuids(providers, PROVIDER_ID) if providers is not None else None,
        tuple(types) if types is not None else None,
        _uuids(geographies, GEOGRAPHY_ID) if geographies is not None else None,
    )


def parse_query(body: QueryBody, *, max_intervals: int) -> MetricsQuery:
    """Check a query against what fleetbed supports; InvalidInput names the bad field."""
    measures = _measures(body.measures)
    try:
        interval = Interval(body.interval)
    except ValueError as exc:
        raise InvalidInput(
            f"interval must be one of {', '.join(i.value for i in Interval)}",
            fields=("interval",),
        ) from exc
    tz = _timezone(body)
    start = parse_time(body.start_date, tz, "start_date")
    end = start if body.end_date is None else parse_time(body.end_date, tz, "end_date")
    if start < SINCE:
        raise InvalidInput(
            f"start_date must not be before {SINCE.isoformat()}", fields=("start_date",)
        )
    if not is_interval_start(start, interval, tz):
        where = "a whole hour" if interval is Interval.HOUR else "midnight"
        raise InvalidInput(
            f"start_date must begin an interval: {where} in {tz.key}", fields=("start_date",)
        )
    if end < start:
        raise InvalidInput("end_date is before start_date", fields=("end_date",))
    bounds = interval_bounds(start, end, interval, tz, max_intervals)
    if bounds is None:
        raise InvalidInput(
            f"more than {max_intervals} intervals; narrow the dates or take a longer interval",
            fields=("end_date",),
        )
    providers, types, geographies = _filters(body.filters)
    return MetricsQuery(
        measures=measures,
        interval=interval,
        tz=tz,
        numeric=isinstance(body.start_date, int),
        bounds=tuple(bounds),
        dimensions=_dimensions(body.dimensions),
        provider_ids=providers,
        vehicle_types=types,
        geography_ids=geographies,
    )


def visible(
    allowed: list[uuid.UUID] | None, wanted: tuple[uuid.UUID, ...] | None
) -> list[uuid.UUID] | None:
    """The providers a query covers: those asked for (or all) within those the caller may see."""
    if wanted is None:
        return allowed
    if allowed is None:
        return list(wanted)
    return [p for p in allowed if p in wanted]


def dimension_key(
    dimensions: Sequence[str],
    *,
    provider_id: uuid.UUID,
    vehicle_type: str,
    geography_id: uuid.UUID | None,
    lat: float | None,
    lng: float | None,
) -> Key | None:
    """The dimension values of a span or trip group, in query order; None when it cannot
    be placed (no geography, or no location for an H3 cell)."""
    values: list[str] = []
    for name in dimensions:
        if name == PROVIDER_ID:
            values.append(str(provider_id))
        elif name == VEHICLE_TYPE:
            values.append(vehicle_type)
        elif name == GEOGRAPHY_ID:
            if geography_id is None:
                return None
            values.append(str(geography_id))
        else:
            if lat is None or lng is None:
                return None
            values.append(h3_cell(lat, lng, H3_DIMENSIONS[name]))
    return tuple(values)


def columns(query: MetricsQuery) -> list[dict[str, str]]:
    """The `columns` of the response: interval start, dimensions, then measures."""
    return [
        {"name": INTERVAL_START, "column_type": "dimension", "data_type": "datetime"},
        *({"name": d, "column_type": "dimension", "data_type": "string"} for d in query.dimensions),
        *(
            {"name": m.name, "column_type": "metric", "data_type": m.data_type}
            for m in query.measures
        ),
    ]
