"""The exports' queries, and the streams that read them with bounded memory.

Each export is one SELECT (the "inner" query: typed columns, raw or anonymised in SQL
by the rules of `anonymise`) wrapped in an outer SELECT that renders the columns either
as CSV text (for `COPY ... TO STDOUT`) or as values to fetch in chunks (GeoJSON, Parquet).

Definitions:
* trips: closed trips with both ends located, by their end time;
* events: events as received, by the time they occurred; the position is the event's
  `location` when it has one;
* vehicle-status: each change of a vehicle's state within the window (an event whose
  state differs from the vehicle's previous event, looked up before the window too),
  with the state's start, its end (the next change in the window, else empty) and the
  position reported with the change.
"""

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import anyio
import asyncpg

from fleet.events.latest import last_event_sql
from fleet.exports.anonymise import (
    COARSE,
    DISTANCE_STEP_M,
    DURATION_STEP_S,
    FINE,
    hmac_pads,
    sql_bin_time,
    sql_hmac,
    sql_part,
    sql_position_hidden,
    sql_round_half_up,
    sql_trip_segments,
)
from fleet.exports.columns import EVENTS, OPEN_TRIPS, TRIPS, VEHICLE_STATUS, Column
from fleet.exports.request import Dataset, ExportRequest, Privacy
from fleet.trips.models import reported


class Rendering(StrEnum):
    """What the outer SELECT gives: CSV text for COPY, or values to fetch."""

    CSV = "csv"
    VALUES = "values"


@dataclass(frozen=True)
class Query:
    """SQL with positional ($n) arguments, and the columns it yields."""

    sql: str
    args: tuple[Any, ...]
    columns: tuple[Column, ...]


class _Args:
    """Positional arguments, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@dataclass(frozen=True)
class _Inner:
    sql: str
    columns: tuple[Column, ...]
    order: tuple[str, ...]


def _window(args: _Args, request: ExportRequest, alias: str, time: str) -> tuple[str, str]:
    """The condition selecting the request's window and providers, and the window start."""
    start, end = args.add(request.start), args.add(request.end)
    providers = args.add(list(request.provider_ids) if request.provider_ids is not None else None)
    condition = (
        f"{alias}.{time} >= {start} AND {alias}.{time} < {end}"
        f" AND ({providers}::uuid[] IS NULL OR {alias}.provider_id = ANY({providers}::uuid[]))"
    )
    return condition, start


class _Open:
    """SQL of the open rules, bound to one query's arguments."""

    def __init__(self, args: _Args, salt: bytes) -> None:
        inner, outer = hmac_pads(salt)
        self.inner, self.outer = args.add(inner), args.add(outer)

    def hmac(self, domain: str, value: str) -> str:
        return sql_hmac(domain, value, self.inner, self.outer)

    def pseudonym(self, domain: str, value: str) -> str:
        return sql_part(self.hmac(domain, value))

    @staticmethod
    def position(lat: str, lng: str, state: str) -> str:
        row, col = FINE.sql_cell(lat, lng)
        hidden = sql_position_hidden(state)
        c_lat, c_lng = FINE.sql_centre(row, col)
        return (
            f"CASE WHEN {hidden} THEN NULL ELSE {c_lat} END AS lat,"
            f" CASE WHEN {hidden} THEN NULL ELSE {c_lng} END AS lng"
        )


_LAT = "(e.record->'location'->>'lat')::float8"
_LNG = "(e.record->'location'->>'lng')::float8"


def _reported_trips(args: _Args, request: ExportRequest) -> str:
    """FROM and WHERE of the trips an export covers, with their vehicles (as `t`, `v`)."""
    return (
        "FROM trips t LEFT JOIN vehicles v"
        " ON v.provider_id = t.provider_id AND v.device_id = t.device_id"
        f" WHERE {reported('t')} AND {_window(args, request, 't', 'end_at')[0]}"
    )


def _trips_raw(args: _Args, request: ExportRequest) -> _Inner:
    sql = f"""
        SELECT t.provider_id, t.device_id, t.trip_id, v.vehicle_type,
               t.start_at AS start_time, t.end_at AS end_time,
               t.start_lat, t.start_lng, t.end_lat, t.end_lng,
               t.duration_s, t.distance_m, t.parking_category
        {_reported_trips(args, request)}
    """
    return _Inner(sql, TRIPS, ("end_time", "trip_id"))


def _trips_open(args: _Args, request: ExportRequest, salt: bytes, k: int) -> _Inner:
    rules = _Open(args, salt)
    least = args.add(k)
    sy, sx = FINE.sql_cell("t.start_lat", "t.start_lng")
    ey, ex = FINE.sql_cell("t.end_lat", "t.end_lng")
    csy, csx = FINE.sql_coarsen("sy", "sx", COARSE)
    cey, cex = FINE.sql_coarsen("ey", "ex", COARSE)

    def end(row: str, col: str, name: str) -> str:
        fine_lat, fine_lng = FINE.sql_centre(row, col)
        coarse_lat, coarse_lng = COARSE.sql_centre(*FINE.sql_coarsen(row, col, COARSE))
        return (
            f"CASE WHEN r.fine_ok THEN {fine_lat} ELSE {coarse_lat} END AS {name}_lat,"
            f" CASE WHEN r.fine_ok THEN {fine_lng} ELSE {coarse_lng} END AS {name}_lng"
        )

    # Coarse pairs are counted over the fine pairs that fall short (a window over the
    # pairs, not over the trips); one join brings the verdict back to the trips.
    # OFFSET 0 keeps the HMAC computed once per trip: both pseudonyms are parts of it.
    sql = f"""
        WITH base AS (
            SELECT t.provider_id, t.trip_id, v.vehicle_type, t.start_at, t.end_at,
                   {sy} AS sy, {sx} AS sx, {ey} AS ey, {ex} AS ex,
                   t.duration_s, t.distance_m, t.parking_category
            {_reported_trips(args, request)}
        ), pairs AS (
            SELECT sy, sx, ey, ex, n >= {least} AS fine_ok,
                   sum(n) FILTER (WHERE n < {least})
                       OVER (PARTITION BY {csy}, {csx}, {cey}, {cex}) AS coarse_n
            FROM (SELECT sy, sx, ey, ex, count(*) AS n FROM base GROUP BY sy, sx, ey, ex) f
        )
        SELECT r.provider_id, {sql_part("r.mac", 1)} AS device_id,
               {sql_part("r.mac", 0)} AS trip_id, r.vehicle_type,
               {sql_bin_time("r.start_at")} AS start_time, {sql_bin_time("r.end_at")} AS end_time,
               {end("r.sy", "r.sx", "start")}, {end("r.ey", "r.ex", "end")},
               {sql_round_half_up("r.duration_s", DURATION_STEP_S)} AS duration_s,
               {sql_round_half_up("r.distance_m", DISTANCE_STEP_M)} AS distance_m,
               r.parking_category, NOT r.fine_ok AS generalised
        FROM (
            SELECT b.*, p.fine_ok, {rules.hmac("trips.trip_id", "b.trip_id::text")} AS mac
            FROM base b JOIN pairs p USING (sy, sx, ey, ex)
            WHERE p.fine_ok OR p.coarse_n >= {least}
            OFFSET 0
        ) AS r
    """  # noqa: S608 - built from constants; values are arguments
    return _Inner(sql, OPEN_TRIPS, ("end_time", "trip_id"))


def _events_raw(args: _Args, request: ExportRequest) -> _Inner:
    sql = f"""
        SELECT e.provider_id, e.device_id, e.event_id, e.event_types, e.vehicle_state,
               e.occurred_at, {_LAT} AS lat, {_LNG} AS lng, e.seq AS _seq
        FROM events e WHERE {_window(args, request, "e", "occurred_at")[0]}
    """  # noqa: S608 - built from constants; values are arguments
    return _Inner(sql, EVENTS, ("occurred_at", "_seq"))


# Events in time order per vehicle (arrival order breaks ties), for `sql_trip_segments`.
_SEGMENT = sql_trip_segments(
    "e.trip_ids", vehicle="e.provider_id, e.device_id", order="e.occurred_at, e.seq"
)


def _events_open(args: _Args, request: ExportRequest, salt: bytes) -> _Inner:
    rules = _Open(args, salt)
    device = rules.pseudonym("events.device_id", "w.device_id::text || ':' || w.segment")
    sql = f"""
        WITH w AS (
            SELECT e.provider_id, e.device_id, e.event_id, e.event_types, e.vehicle_state,
                   e.occurred_at, {_LAT} AS lat, {_LNG} AS lng, {_SEGMENT} AS segment
            FROM events e WHERE {_window(args, request, "e", "occurred_at")[0]}
        )
        SELECT w.provider_id, {device} AS device_id,
               {rules.pseudonym("events.event_id", "w.event_id::text")} AS event_id,
               w.event_types, w.vehicle_state, {sql_bin_time("w.occurred_at")} AS occurred_at,
               {rules.position("w.lat", "w.lng", "w.vehicle_state")}
        FROM w
    """  # noqa: S608 - built from constants; values are arguments
    return _Inner(sql, EVENTS, ("occurred_at", "event_id"))


def _status(args: _Args, request: ExportRequest, salt: bytes | None) -> _Inner:
    window, start = _window(args, request, "e", "occurred_at")
    order: tuple[str, ...]
    if salt is None:
        device, times = "c.device_id", ("c.occurred_at", "c.state_end")
        position, order = "c.lat, c.lng", ("state_start", "_seq")
    else:
        rules = _Open(args, salt)
        device = rules.pseudonym(
            "vehicle_status.device_id", "c.device_id::text || ':' || c.segment"
        )
        times = (sql_bin_time("c.occurred_at"), sql_bin_time("c.state_end"))
        position = rules.position("c.lat", "c.lng", "c.vehicle_state")
        order = ("state_start", "device_id", "_at", "_seq")
    # A vehicle's first event in the window changes its state only if the one before
    # the window (looked up only for that first event) differs.
    before = last_event_sql(
        "vehicle_state",
        provider="w.provider_id",
        device="w.device_id",
        before=start,
        only_if="w.prev_state IS NULL",
    )
    sql = f"""
        WITH w AS (
            SELECT e.provider_id, e.device_id, e.occurred_at, e.seq, e.vehicle_state,
                   {_LAT} AS lat, {_LNG} AS lng, {_SEGMENT} AS segment,
                   lag(e.vehicle_state) OVER (PARTITION BY e.provider_id, e.device_id
                                              ORDER BY e.occurred_at, e.seq) AS prev_state
            FROM events e WHERE {window}
        ), changes AS (
            SELECT w.* FROM w
            LEFT JOIN LATERAL ({before}) before ON true
            WHERE w.vehicle_state IS DISTINCT FROM coalesce(w.prev_state, before.vehicle_state)
        ), c AS (
            SELECT changes.*, lead(occurred_at) OVER (PARTITION BY provider_id, device_id
                                                      ORDER BY occurred_at, seq) AS state_end
            FROM changes
        )
        SELECT c.provider_id, {device} AS device_id, v.vehicle_type, c.vehicle_state,
               {times[0]} AS state_start, {times[1]} AS state_end, {position},
               c.occurred_at AS _at, c.seq AS _seq
        FROM c LEFT JOIN vehicles v
          ON v.provider_id = c.provider_id AND v.device_id = c.device_id
    """  # noqa: S608 - built from constants; values are arguments
    return _Inner(sql, VEHICLE_STATUS, order)


def export_query(
    request: ExportRequest, rendering: Rendering, *, salt: bytes | None, k: int
) -> Query:
    """The query of an export; `salt` is needed for open exports."""
    args = _Args()
    if request.privacy is Privacy.RAW:
        raw = {Dataset.TRIPS: _trips_raw, Dataset.EVENTS: _events_raw}.get(request.dataset)
        inner = raw(args, request) if raw else _status(args, request, None)
    elif salt is None:
        raise ValueError("open exports need a salt")
    elif request.dataset is Dataset.TRIPS:
        inner = _trips_open(args, request, salt, k)
    elif request.dataset is Dataset.EVENTS:
        inner = _events_open(args, request, salt)
    else:
        inner = _status(args, request, salt)
    render = Column.csv_sql if rendering is Rendering.CSV else Column.value_sql
    select = ", ".join(render(c, "q") for c in inner.columns)
    order = ", ".join(f"q.{name}" for name in inner.order)
    sql = f"SELECT {select} FROM ({inner.sql}) AS q ORDER BY {order}"  # noqa: S608
    return Query(sql, tuple(args.values), inner.columns)


_WRITE_BYTES = 256 * 1024


async def copy_csv(
    conn: asyncpg.Connection, query: Query, *, queued_chunks: int
) -> AsyncGenerator[bytes, None]:
    """`COPY (query) TO STDOUT` as CSV with a header, chunk by chunk.

    COPY runs in a task whose output waits for one of `queued_chunks` slots, so the
    database is paused (TCP back-pressure) while the consumer lags: memory stays bounded.
    COPY's chunks are small (a network read each); they are joined into writes of about
    `_WRITE_BYTES`, which keeps the per-write cost of the HTTP server out of the way.

    When the consumer stops early, the rest of the COPY is read and dropped: asyncpg
    leaves a connection unusable when a COPY is cancelled mid-stream, and reading on
    costs the database no more than the whole download would have.
    """
    queue: asyncio.Queue[bytearray | BaseException | None] = asyncio.Queue()
    slots = asyncio.Semaphore(queued_chunks)
    stopped = False

    async def sink(chunk: bytearray) -> None:
        if not stopped:
            await slots.acquire()
            queue.put_nowait(chunk)

    async def produce() -> None:
        # The end marker never waits for a slot, so it cannot block a finished COPY.
        try:
            await conn.copy_from_query(
                query.sql, *query.args, output=sink, format="csv", header=True
            )
        except Exception as exc:
            queue.put_nowait(exc)
        else:
            queue.put_nowait(None)

    task = asyncio.create_task(produce(), name="export-copy")
    ready: list[bytearray] = []
    size = 0
    try:
        while True:
            item = await queue.get()
            if isinstance(item, bytearray):
                slots.release()
                ready.append(item)
                size += len(item)
                if size < _WRITE_BYTES:
                    continue
            if ready:
                yield b"".join(ready)
                ready, size = [], 0
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
    finally:
        stopped = True
        slots.release()  # wakes the sink if it waits for a slot
        # Even when the consumer was cancelled: the connection is busy until COPY ends.
        with anyio.CancelScope(shield=True):
            await task


async def fetch_values(
    conn: asyncpg.Connection, query: Query, *, rows: int
) -> AsyncGenerator[Sequence[asyncpg.Record], None]:
    """The query's rows, `rows` at a time, through a cursor (inside a transaction)."""
    cursor = await conn.cursor(query.sql, *query.args)
    while batch := await cursor.fetch(rows):
        yield batch
