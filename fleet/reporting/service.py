"""Auditor reads: the one way to read Provider feeds, monthly reports, Metrics and exports.

Each read checks what is asked (the hour, window or month MDS defines), reads only what
the reader may see, and appends its audit entry in the read's own transaction; a refused
read raises before anything is read or recorded.
"""

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Principal
from app.core.errors import InvalidInput, NotFound
from app.core.mstime import to_ms
from fleet.exports.request import Dataset, ExportRequest, Format, Privacy
from fleet.exports.service import ExportOptions, export_pieces, prepare_export
from fleet.reporting import provider_feeds
from fleet.reporting.audit import record_pull
from fleet.reporting.hours import (
    HourState,
    WindowError,
    hour_state,
    month_bounds,
    parse_hour,
    parse_month,
    recent_window,
    served_as_settled,
)
from fleet.reporting.metrics_catalog import QueryBody, parse_query, visible
from fleet.reporting.metrics_queries import MetricsTable, compute_metrics
from fleet.reporting.monthly_report import ReportRow
from fleet.reporting.provider_hours import events_in, telemetry_in, trips_ended_in
from fleet.trips.models import Trip
from fleet.trips.reads import TripFilter, TripPage, get_trip, list_trips

Fetch = Callable[..., Awaitable[list[dict[str, Any]]]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class HourlyFeed:
    """A Provider feed served by the hour: its payload key, its hour parameter, its query."""

    payload: str
    parameter: str
    fetch: Fetch


TRIPS = HourlyFeed("trips", "end_time", trips_ended_in)
EVENTS = HourlyFeed("events", "event_time", events_in)
TELEMETRY = HourlyFeed("telemetry", "telemetry_time", telemetry_in)


@dataclass(frozen=True)
class ReadRules:
    """What the settings say about auditor reads."""

    hour_lateness: timedelta
    max_future_skew: timedelta
    city_timezone: str
    report_k: int
    metrics_k: int
    metrics_max_intervals: int
    metrics_max_rows: int
    exports: ExportOptions


@dataclass(frozen=True)
class Reader:
    """Who reads: the principal, the providers it sees for a `provider_id` filter (None:
    all, empty: none), and whether vehicles on a trip are hidden from it."""

    principal: Principal
    sees: Callable[[uuid.UUID | None], list[uuid.UUID] | None]
    hide_on_trip: bool


@dataclass(frozen=True)
class HourRead:
    """An hourly feed: `settled` False while the hour may still receive late data."""

    records: list[dict[str, Any]]
    settled: bool


@dataclass(frozen=True)
class FeedRead:
    """A near-realtime feed read at `at`; `next_after` is the next page's cursor."""

    records: list[dict[str, Any]]
    at: datetime
    next_after: uuid.UUID | None = None

    @property
    def at_ms(self) -> int:
        """`at` in integer milliseconds, as MDS gives times."""
        return to_ms(self.at)


@dataclass(frozen=True)
class MetricsRead:
    """A metrics answer: the query as understood, and the table."""

    query: dict[str, Any]
    table: MetricsTable


@dataclass(frozen=True)
class ExportRead:
    """A checked export and its bytes (audited when the stream ends, however it ends)."""

    request: ExportRequest
    body: AsyncGenerator[bytes, None]


def _query_text(value: object) -> str:
    """A query value as the caller would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _params(**values: object) -> dict[str, str | None]:
    return {name: _query_text(v) if v is not None else None for name, v in values.items()}


class AuditorReads:
    """The reads of one reader in one session, each audited in that session's transaction.

    Exports stream from `streams`, a session of their own: the request's session is gone
    by the time a streamed body is sent.
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        reader: Reader,
        rules: ReadRules,
        streams: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
    ) -> None:
        self._session = session
        self._reader = reader
        self._rules = rules
        self._streams = streams
        self._clock = clock

    async def _audit(self, action: str, params: dict[str, Any], rows: int) -> None:
        await record_pull(
            self._session,
            principal=self._reader.principal,
            action=action,
            params=params,
            rows=rows,
        )

    async def hour(
        self, feed: HourlyFeed, value: str | None, provider_id: uuid.UUID | None
    ) -> HourRead:
        """The MDS hour contract: InvalidInput without a well-formed hour, NotFound for an
        hour not yet over, unsettled (nothing read, nothing audited) while late data may
        still arrive, else everything of the hour (no pagination), audited."""
        name = feed.parameter
        if value is None:
            raise InvalidInput(f"{name} is required (YYYY-MM-DDTHH)", fields=(name,))
        try:
            hour = parse_hour(value)
        except ValueError as exc:
            raise InvalidInput(f"{name}: {exc}", fields=(name,)) from exc
        state = hour_state(hour, self._clock(), self._rules.hour_lateness)
        if state is HourState.FUTURE:
            raise NotFound(f"the hour {value} is not over yet")
        if state is HourState.SETTLING:
            return HourRead([], settled=False)
        found = await feed.fetch(
            self._session, provider_ids=self._reader.sees(provider_id), hour=hour
        )
        params = _params(**{name: value, "provider_id": provider_id})
        await self._audit(f"mds_provider.{feed.payload}", params, len(found))
        return HourRead(found, settled=True)

    async def recent_events(
        self,
        start_time: str | None,
        end_time: str | None,
        provider_id: uuid.UUID | None,
        *,
        limit: int,
        after: uuid.UUID | None,
    ) -> FeedRead:
        """Events of a window within the last two weeks; InvalidInput names the bad side."""
        now = self._clock()
        try:
            start, end = recent_window(start_time, end_time, now, self._rules.max_future_skew)
        except WindowError as exc:
            raise InvalidInput(str(exc), fields=(exc.field,)) from exc
        found = await provider_feeds.recent_events(
            self._session,
            provider_ids=self._reader.sees(provider_id),
            start=start,
            end=end,
            limit=limit,
            after=after,
        )
        params = _params(
            start_time=start_time, end_time=end_time, provider_id=provider_id, after=after
        )
        await self._audit("mds_provider.events_recent", params, len(found.records))
        return FeedRead(found.records, now, found.next_after)

    async def vehicles(
        self, provider_id: uuid.UUID | None, *, limit: int, after: uuid.UUID | None
    ) -> FeedRead:
        """Vehicles deployed in the last 30 days, by device_id."""
        now = self._clock()
        found = await provider_feeds.deployed_vehicles(
            self._session,
            provider_ids=self._reader.sees(provider_id),
            now=now,
            limit=limit,
            after=after,
        )
        params = _params(provider_id=provider_id, after=after)
        await self._audit("mds_provider.vehicles", params, len(found.records))
        return FeedRead(found.records, now, found.next_after)

    async def vehicle(self, device_id: uuid.UUID) -> FeedRead:
        """The vehicles of a device id, whenever deployed; NotFound when none is seen."""
        now = self._clock()
        found = await provider_feeds.vehicles_by_device(
            self._session, provider_ids=self._reader.sees(None), device_id=device_id
        )
        await self._audit("mds_provider.vehicles", _params(device_id=device_id), len(found))
        return FeedRead(found, now)

    async def statuses(
        self, provider_id: uuid.UUID | None, *, limit: int, after: uuid.UUID | None
    ) -> FeedRead:
        """Each vehicle's current status, by device_id, as the feed shows it."""
        now = self._clock()
        found = await provider_feeds.current_statuses(
            self._session,
            provider_ids=self._reader.sees(provider_id),
            now_ms=to_ms(now),
            hide_on_trip=self._reader.hide_on_trip,
            limit=limit,
            after=after,
        )
        params = _params(provider_id=provider_id, after=after)
        await self._audit("mds_provider.vehicles_status", params, len(found.records))
        return FeedRead(found.records, now, found.next_after)

    async def status(self, device_id: uuid.UUID) -> FeedRead:
        """The statuses of a device id; NotFound alike for every case the feed leaves out."""
        now = self._clock()
        found = await provider_feeds.statuses_by_device(
            self._session,
            provider_ids=self._reader.sees(None),
            device_id=device_id,
            now_ms=to_ms(now),
            hide_on_trip=self._reader.hide_on_trip,
        )
        params = _params(device_id=device_id)
        await self._audit("mds_provider.vehicles_status", params, len(found))
        return FeedRead(found, now)

    async def trips(
        self,
        provider_id: uuid.UUID | None,
        *,
        device_id: uuid.UUID | None,
        flagged: bool | None,
        ended_from: datetime | None,
        ended_to: datetime | None,
        limit: int,
        after: uuid.UUID | None,
    ) -> TripPage:
        """Closed trips with both sets of figures, by end time; InvalidInput for a
        reversed window or a cursor the reader cannot see."""
        where = TripFilter(
            provider_ids=self._reader.sees(provider_id),
            device_id=device_id,
            flagged=flagged,
            ended_from=ended_from,
            ended_to=ended_to,
        )
        found = await list_trips(self._session, where=where, limit=limit, after=after)
        asked = {
            "flagged": flagged,
            "device_id": device_id,
            "provider_id": provider_id,
            "ended_from": ended_from,
            "ended_to": ended_to,
            "after": after,
        }
        params = {name: _query_text(value) for name, value in asked.items() if value is not None}
        await self._audit("v1.trips", params, len(found.trips))
        return found

    async def trip(self, trip_id: uuid.UUID) -> Trip:
        """One trip the reader may see; NotFound alike for unknown and others' trips."""
        found = await get_trip(self._session, provider_ids=self._reader.sees(None), trip_id=trip_id)
        await self._audit("v1.trip", {"trip_id": str(trip_id)}, 1)
        return found

    async def monthly_report(self, filename: str, provider_id: uuid.UUID | None) -> list[ReportRow]:
        """The rows of `YYYY-MM.csv`: InvalidInput for another name, NotFound until the
        month (in the city's time zone) has ended and is served as settled."""
        if not filename.endswith(".csv"):
            raise InvalidInput("filename: expected YYYY-MM.csv", fields=("filename",))
        stem = filename.removesuffix(".csv")
        try:
            month = parse_month(stem)
        except ValueError as exc:
            raise InvalidInput(f"filename: {exc}", fields=("filename",)) from exc
        start, end = month_bounds(month, self._rules.city_timezone)
        if not served_as_settled(end, self._clock(), self._rules.hour_lateness):
            raise NotFound(f"the report of {stem} is not available until the month has closed")
        rows = await provider_feeds.monthly_report(
            self._session,
            provider_ids=self._reader.sees(provider_id),
            month=month,
            start=start,
            end=end,
            k=self._rules.report_k,
        )
        await self._audit(
            "mds_provider.reports", _params(month=stem, provider_id=provider_id), len(rows)
        )
        return rows

    async def metrics(self, body: QueryBody) -> MetricsRead:
        """A metrics query, checked, over the providers asked for that the reader sees."""
        rules = self._rules
        query = parse_query(body, max_intervals=rules.metrics_max_intervals)
        table = await compute_metrics(
            self._session,
            query=query,
            provider_ids=visible(self._reader.sees(None), query.provider_ids),
            k=rules.metrics_k,
            max_rows=rules.metrics_max_rows,
            now=self._clock(),
        )
        described = query.described(rules.metrics_k)
        await self._audit("mds_metrics.query", described, len(table.rows))
        return MetricsRead(described, table)

    async def export(
        self,
        dataset: Dataset,
        *,
        start: str,
        end: str,
        provider_id: uuid.UUID | None,
        format: Format,
        privacy: Privacy,
        progress: Callable[[int], None] | None = None,
    ) -> ExportRead:
        """An export checked before any byte is sent; its body is audited with the rows
        handed on. `progress` hears the running row count once the consumer is back."""
        request = await prepare_export(
            self._session,
            principal=self._reader.principal,
            dataset=dataset,
            start=start,
            end=end,
            provider_filter=provider_id,
            provider_ids=self._reader.sees(provider_id),
            format=format,
            privacy=privacy,
            options=self._rules.exports,
        )
        body = export_stream(
            self._streams,
            request=request,
            principal=self._reader.principal,
            options=self._rules.exports,
            progress=progress,
        )
        return ExportRead(request, body)


async def export_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    request: ExportRequest,
    principal: Principal,
    options: ExportOptions,
    progress: Callable[[int], None] | None = None,
) -> AsyncGenerator[bytes, None]:
    """A checked export's bytes, read in a session of its own; the pull is audited there
    with the rows handed on, also when the consumer stops early."""
    sent = 0
    async with sessionmaker() as session:
        pieces = export_pieces(session, request=request, options=options)
        try:
            async for piece in pieces:
                # Counted when handed on: the audit errs towards what may have left.
                sent += piece.rows
                yield piece.data
                if progress is not None:
                    progress(sent)
        finally:
            # The consumer may be gone (cancelled): finish the bookkeeping regardless.
            with anyio.CancelScope(shield=True):
                await pieces.aclose()
                await session.rollback()
                await record_pull(
                    session,
                    principal=principal,
                    action=request.action,
                    params=request.audit_params(),
                    rows=sent,
                )
                await session.commit()
