"""MDS Metrics from PostgreSQL: vehicle state spans and grouped trips, streamed into cells.

Membership of a point in a geography is PostGIS `ST_Covers` against the published
(city-wide) zones; H3 cells are computed here from the streamed coordinates, since
PostGIS has no H3. Memory grows with the number of result cells, not with the data.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput
from fleet.events.latest import last_event_sql
from fleet.reporting.metrics_catalog import (
    AVAILABLE,
    DEPLOYED_STATES,
    GEOGRAPHY_ID,
    H3_DIMENSIONS,
    MetricsQuery,
    Source,
    columns,
    dimension_key,
)
from fleet.reporting.metrics_compute import (
    Cell,
    Key,
    TripTotals,
    Value,
    elapsed_seconds,
    row_keys,
    split_span,
    table_rows,
)
from fleet.trips.models import reported

_PROVIDERS = "(CAST(:providers AS uuid[]) IS NULL OR {} = ANY(:providers))"
_TYPES = "(CAST(:types AS text[]) IS NULL OR {} = ANY(:types))"
_GEOGRAPHIES = "(CAST(:geographies AS uuid[]) IS NULL OR z.zone_id = ANY(:geographies))"


# Published geographies covering a point, or listed by an event without a location.
_COVERING = (
    "SELECT z.zone_id FROM zones z WHERE z.provider_id IS NULL AND {geographies}"
    " AND ST_Covers(z.geometry, {point})"
)
_LISTED = (
    "SELECT z.zone_id FROM zones z WHERE {point} IS NULL AND z.provider_id IS NULL"
    " AND {geographies} AND {listed} @> to_jsonb(z.zone_id::text)"
)

_FIRST = "SELECT zone_id FROM ({found}) m LIMIT 1"


def _membership(point: str, *, listed: str | None, each: bool) -> str:
    """A lateral join to the published geographies covering `point` (or, for an event
    without a location, those it lists); with `each` false, at most one row (a filter)."""
    found = _COVERING.format(geographies=_GEOGRAPHIES, point=point)
    if listed is not None:
        found += " UNION ALL " + _LISTED.format(
            geographies=_GEOGRAPHIES, point=point, listed=listed
        )
    if not each:
        found = _FIRST.format(found=found)
    return "CROSS JOIN LATERAL (" + found + ") g"


def _geography(query: MetricsQuery, point: str, listed: str | None) -> tuple[str, str]:
    """The geography column and the join that makes it (none without geography)."""
    by_geography = GEOGRAPHY_ID in query.dimensions
    if not by_geography and query.geography_ids is None:
        return "NULL::uuid", ""
    return (
        "g.zone_id" if by_geography else "NULL::uuid",
        _membership(point, listed=listed, each=by_geography),
    )


# The state each vehicle of the fleet was in at the start: its last change before it.
_LAST_BEFORE_START = last_event_sql(
    "device_id, provider_id, occurred_at, seq, vehicle_state, record",
    provider="f.provider_id",
    device="f.device_id",
    before=":start",
)


def _states_sql(query: MetricsQuery) -> str:
    """Spans of time each vehicle spent in a state, clipped to [start, stop), including the
    state a vehicle was already in at `start` (its last change before it)."""
    geography, join = _geography(query, "s.point", "s.record->'event_geographies'")
    return f"""
WITH fleet AS (
    SELECT provider_id, device_id, vehicle_type FROM vehicles
    WHERE {_PROVIDERS.format("provider_id")} AND {_TYPES.format("vehicle_type")}
),
changes AS (
    SELECT last.* FROM fleet f CROSS JOIN LATERAL ({_LAST_BEFORE_START}) last
    UNION ALL
    SELECT e.device_id, e.provider_id, e.occurred_at, e.seq, e.vehicle_state, e.record
    FROM events e JOIN fleet f ON f.provider_id = e.provider_id AND f.device_id = e.device_id
    WHERE e.occurred_at >= :start AND e.occurred_at < :stop
),
spans AS (
    SELECT c.provider_id, f.vehicle_type, c.vehicle_state, c.record,
        greatest(c.occurred_at, :start) AS since,
        least(coalesce(lead(c.occurred_at) OVER w, :stop), :stop) AS until,
        ST_SetSRID(ST_MakePoint((c.record->'location'->>'lng')::float8,
                                (c.record->'location'->>'lat')::float8), 4326) AS point
    FROM changes c JOIN fleet f ON f.provider_id = c.provider_id AND f.device_id = c.device_id
    WINDOW w AS (PARTITION BY c.provider_id, c.device_id ORDER BY c.occurred_at, c.seq)
)
SELECT s.provider_id, s.vehicle_type, s.vehicle_state, s.since, s.until,
    ST_Y(s.point) AS lat, ST_X(s.point) AS lng, {geography} AS geography_id
FROM spans s {join}
WHERE s.vehicle_state = ANY(:states) AND s.until > s.since
"""  # noqa: S608 - only fixed fragments are formatted in; values are bound parameters


def _trips_sql(query: MetricsQuery, side: str) -> str:
    """Closed trips grouped by the interval and place where they started (or ended)."""
    point = f"ST_SetSRID(ST_MakePoint(t.{side}_lng, t.{side}_lat), 4326)"
    geography, join = _geography(query, point, None)
    by_cell = any(d in H3_DIMENSIONS for d in query.dimensions)
    lat, lng = (f"t.{side}_lat", f"t.{side}_lng") if by_cell else ("NULL::float8", "NULL::float8")
    return f"""
SELECT width_bucket(t.{side}_at, CAST(:bounds AS timestamptz[])) - 1 AS slot,
    t.provider_id, v.vehicle_type, {lat} AS lat, {lng} AS lng, {geography} AS geography_id,
    count(*) AS trips,
    coalesce(sum(t.duration_s)::float8, 0) AS duration_s, count(t.duration_s) AS durations,
    coalesce(sum(t.distance_m)::float8, 0) AS distance_m, count(t.distance_m) AS distances
FROM trips t JOIN vehicles v ON v.provider_id = t.provider_id AND v.device_id = t.device_id
{join}
WHERE {reported("t")}
    AND t.{side}_at >= :start AND t.{side}_at < :end
    AND {_PROVIDERS.format("t.provider_id")} AND {_TYPES.format("v.vehicle_type")}
GROUP BY 1, 2, 3, 4, 5, 6
"""  # noqa: S608 - only fixed fragments are formatted in; values are bound parameters


@dataclass(frozen=True)
class MetricsTable:
    """The computed answer: column descriptions and rows."""

    columns: list[dict[str, str]]
    rows: list[list[str | Value]]


Cells = defaultdict[tuple[int, Key], Cell]


def _key(query: MetricsQuery, row: Any) -> Key | None:
    return dimension_key(
        query.dimensions,
        provider_id=row.provider_id,
        vehicle_type=row.vehicle_type,
        geography_id=row.geography_id,
        lat=row.lat,
        lng=row.lng,
    )


async def _add_states(
    session: AsyncSession, *, query: MetricsQuery, params: dict[str, Any], cells: Cells
) -> None:
    if params["stop"] <= params["start"]:
        return
    found = await session.stream(
        text(_states_sql(query)), {**params, "states": list(DEPLOYED_STATES)}
    )
    async for row in found:
        key = _key(query, row)
        if key is None:
            continue
        for slot, seconds in split_span(query.bounds, row.since, row.until):
            cell = cells[(slot, key)]
            cell.deployed_s += seconds
            if row.vehicle_state == AVAILABLE:
                cell.available_s += seconds


async def _add_trips(
    session: AsyncSession,
    *,
    query: MetricsQuery,
    params: dict[str, Any],
    cells: Cells,
    side: str,
    pick: Callable[[Cell], TripTotals],
) -> None:
    found = await session.stream(text(_trips_sql(query, side)), params)
    async for row in found:
        key = _key(query, row)
        if key is not None:
            pick(cells[(row.slot, key)]).add(
                row.trips, row.duration_s, row.durations, row.distance_m, row.distances
            )


async def compute_metrics(
    session: AsyncSession,
    *,
    query: MetricsQuery,
    provider_ids: Sequence[uuid.UUID] | None,
    k: int,
    max_rows: int,
    now: datetime,
) -> MetricsTable:
    """Every measure of `query` per interval and dimension values, k-anonymised."""
    start, end = query.bounds[0], query.bounds[-1]
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "stop": min(end, now),
        "bounds": list(query.bounds),
        "providers": list(provider_ids) if provider_ids is not None else None,
        "types": list(query.vehicle_types) if query.vehicle_types is not None else None,
        "geographies": list(query.geography_ids) if query.geography_ids is not None else None,
    }
    cells: Cells = defaultdict(Cell)
    if query.needs(Source.STATES):
        await _add_states(session, query=query, params=params, cells=cells)
    if query.needs(Source.STARTS):
        await _add_trips(
            session, query=query, params=params, cells=cells, side="start", pick=lambda c: c.starts
        )
    if query.needs(Source.ENDS):
        await _add_trips(
            session, query=query, params=params, cells=cells, side="end", pick=lambda c: c.ends
        )
    keys = row_keys(cells, bool(query.dimensions))
    count = len(keys) * (len(query.bounds) - 1)
    if count > max_rows:
        raise InvalidInput(
            f"the query would return {count} rows, more than {max_rows}; "
            "narrow the dates, filters or dimensions",
            fields=("dimensions", "end_date"),
        )
    rows = table_rows(
        cells,
        keys,
        query.interval_starts(),
        elapsed_seconds(query.bounds, now),
        [m.value for m in query.measures],
        k,
    )
    return MetricsTable(columns(query), rows)
