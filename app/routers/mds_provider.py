"""MDS Provider 2.0 (for the city): trips, events and telemetry by hour, recent events,
vehicles, vehicle status and monthly reports; every pull audited."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Scope
from app.core.bounded import QueryText
from app.core.errors import InvalidInput, NotFound
from app.core.mds import MDS_MEDIA_VERSION
from app.deps import SessionDep, get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from app.paging import DeviceId, PageDep
from app.visibility import hides_trips, providers_for
from fleet.reporting import provider_feeds
from fleet.reporting.audit import record_pull
from fleet.reporting.hours import (
    HourState,
    WindowError,
    hour_state,
    month_bounds,
    parse_hour,
    parse_month,
    period_state,
    recent_window,
)
from fleet.reporting.monthly_report import render_csv
from fleet.reporting.provider_hours import events_in, telemetry_in, trips_ended_in

router = APIRouter(
    prefix="/mds/provider",
    tags=["mds-provider"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]


Fetch = Callable[..., Awaitable[list[dict[str, Any]]]]


def _params(**values: object) -> dict[str, str | None]:
    return {name: str(v) if v is not None else None for name, v in values.items()}


async def _hourly(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    value: str | None,
    provider_id: uuid.UUID | None,
    fetch: Fetch,
    payload: str,
) -> Response:
    """The MDS hour contract: 400 without a well-formed hour, 404 for an hour not yet
    past, 202 while it settles, else 200 with everything (no pagination), audited."""
    if value is None:
        raise InvalidInput(f"{name} is required (YYYY-MM-DDTHH)", fields=(name,))
    try:
        hour = parse_hour(value)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", fields=(name,)) from exc
    lateness = timedelta(seconds=get_settings(request).provider.hour_lateness_s)
    state = hour_state(hour, datetime.now(UTC), lateness)
    if state is HourState.FUTURE:
        raise NotFound(f"the hour {value} is not over yet")
    if state is HourState.SETTLING:
        return MdsResponse(mds_body(**{payload: []}), status_code=202)
    found = await fetch(session, provider_ids=providers_for(principal, provider_id), hour=hour)
    params = _params(**{name: value, "provider_id": provider_id})
    await record_pull(session, principal, f"mds_provider.{payload}", params, len(found))
    return MdsResponse(mds_body(**{payload: found}))


NOT_READY: dict[int | str, dict[str, Any]] = {
    202: {"description": "The hour has not closed yet; ask again later."}
}
ProviderFilter = Annotated[uuid.UUID | None, Query()]


@router.get(
    "/trips",
    operation_id="mds_provider_trips",
    summary="Trips that ended in an hour",
    responses=NOT_READY,
)
async def trips(
    request: Request,
    session: SessionDep,
    principal: Reader,
    end_time: Annotated[QueryText | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Closed trips: the operator's figures where given, else fleetbed's; fleetbed's own
    measurement and any discrepancy in the `fleetbed` extension."""
    return await _hourly(
        request,
        session,
        principal,
        name="end_time",
        value=end_time,
        provider_id=provider_id,
        fetch=trips_ended_in,
        payload="trips",
    )


@router.get(
    "/events/historical",
    operation_id="mds_provider_events_historical",
    summary="Events that occurred in an hour",
    responses=NOT_READY,
)
async def events_historical(
    request: Request,
    session: SessionDep,
    principal: Reader,
    event_time: Annotated[QueryText | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Events as received, oldest first."""
    return await _hourly(
        request,
        session,
        principal,
        name="event_time",
        value=event_time,
        provider_id=provider_id,
        fetch=events_in,
        payload="events",
    )


@router.get(
    "/telemetry",
    operation_id="mds_provider_telemetry",
    summary="Telemetry recorded in an hour",
    responses=NOT_READY,
)
async def telemetry(
    request: Request,
    session: SessionDep,
    principal: Reader,
    telemetry_time: Annotated[QueryText | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Every point recorded in the hour, oldest first."""
    return await _hourly(
        request,
        session,
        principal,
        name="telemetry_time",
        value=telemetry_time,
        provider_id=provider_id,
        fetch=telemetry_in,
        payload="telemetry",
    )


# Near-realtime feeds are read from the record when asked: current now, never cached.
ALWAYS_REFRESH = 0


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _fresh(now: datetime) -> dict[str, int]:
    return {"last_updated": _ms(now), "ttl": ALWAYS_REFRESH}


@router.get(
    "/events/recent",
    operation_id="mds_provider_events_recent",
    summary="Events of a window within the last two weeks",
)
async def events_recent(
    request: Request,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    start_time: Annotated[QueryText | None, Query(description="Integer ms, inclusive")] = None,
    end_time: Annotated[QueryText | None, Query(description="Integer ms, exclusive")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Events as received, oldest first, paginated; 400 for a window older than two
    weeks, reversed, or ending in the future (beyond the telemetry clock skew)."""
    skew = timedelta(seconds=get_settings(request).telemetry.max_future_skew_s)
    try:
        start, end = recent_window(start_time, end_time, datetime.now(UTC), skew)
    except WindowError as exc:
        raise InvalidInput(str(exc), fields=(exc.field,)) from exc
    found = await provider_feeds.recent_events(
        session,
        provider_ids=providers_for(principal, provider_id),
        start=start,
        end=end,
        limit=page.size,
        after=page.after,
    )
    params = _params(
        start_time=start_time, end_time=end_time, provider_id=provider_id, after=page.after
    )
    await record_pull(session, principal, "mds_provider.events_recent", params, len(found.records))
    return MdsResponse(mds_body(events=found.records, links=page.links(found.next_after)))


@router.get(
    "/vehicles",
    operation_id="mds_provider_vehicles",
    summary="Vehicles deployed in the last 30 days",
)
async def vehicles(
    session: SessionDep, principal: Reader, page: PageDep, provider_id: ProviderFilter = None
) -> Response:
    """Registered MDS Vehicles with an event or a trip in the last 30 days, by device_id."""
    now = datetime.now(UTC)
    found = await provider_feeds.deployed_vehicles(
        session,
        provider_ids=providers_for(principal, provider_id),
        now=now,
        limit=page.size,
        after=page.after,
    )
    params = _params(provider_id=provider_id, after=page.after)
    await record_pull(session, principal, "mds_provider.vehicles", params, len(found.records))
    return MdsResponse(
        mds_body(**_fresh(now), vehicles=found.records, links=page.links(found.next_after))
    )


@router.get(
    "/vehicles/status",
    operation_id="mds_provider_vehicles_status",
    summary="Current status of vehicles",
)
async def vehicles_status(
    session: SessionDep, principal: Reader, page: PageDep, provider_id: ProviderFilter = None
) -> Response:
    """Each vehicle's last event and telemetry, by device_id; vehicles removed, elsewhere
    or missing for over 90 minutes are left out, and for city staff vehicles on a trip."""
    now = datetime.now(UTC)
    found = await provider_feeds.current_statuses(
        session,
        provider_ids=providers_for(principal, provider_id),
        now_ms=_ms(now),
        hide_on_trip=hides_trips(principal),
        limit=page.size,
        after=page.after,
    )
    params = _params(provider_id=provider_id, after=page.after)
    await record_pull(
        session, principal, "mds_provider.vehicles_status", params, len(found.records)
    )
    return MdsResponse(
        mds_body(**_fresh(now), vehicles_status=found.records, links=page.links(found.next_after))
    )


@router.get(
    "/vehicles/status/{device_id}",
    operation_id="mds_provider_vehicle_status",
    summary="Current status of one vehicle",
)
async def vehicle_status(session: SessionDep, principal: Reader, device_id: DeviceId) -> Response:
    """404 alike for unknown vehicles, others' vehicles and statuses the feed leaves out."""
    now = datetime.now(UTC)
    found = await provider_feeds.statuses_by_device(
        session,
        provider_ids=providers_for(principal, None),
        device_id=uuid.UUID(device_id),
        now_ms=_ms(now),
        hide_on_trip=hides_trips(principal),
    )
    params = _params(device_id=device_id)
    await record_pull(session, principal, "mds_provider.vehicles_status", params, len(found))
    return MdsResponse(mds_body(**_fresh(now), vehicles_status=found))


@router.get(
    "/vehicles/{device_id}",
    operation_id="mds_provider_vehicle",
    summary="One vehicle, whenever it was deployed",
)
async def vehicle(session: SessionDep, principal: Reader, device_id: DeviceId) -> Response:
    """404 alike for unknown vehicles and other providers' vehicles."""
    now = datetime.now(UTC)
    found = await provider_feeds.vehicles_by_device(
        session, provider_ids=providers_for(principal, None), device_id=uuid.UUID(device_id)
    )
    params = _params(device_id=device_id)
    await record_pull(session, principal, "mds_provider.vehicles", params, len(found))
    return MdsResponse(mds_body(**_fresh(now), vehicles=found))


REPORT_CONTENT_TYPE = f"text/vnd.mds+csv;version={MDS_MEDIA_VERSION}"


@router.get(
    "/reports/{filename}",
    operation_id="mds_provider_report",
    summary="Monthly report (CSV) of trips per geography, vehicle type and special group",
    response_class=Response,
    responses={200: {"content": {REPORT_CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def report(
    request: Request,
    session: SessionDep,
    principal: Reader,
    filename: Annotated[
        QueryText, Path(description="YYYY-MM.csv, a month in the city's time zone")
    ],
    provider_id: ProviderFilter = None,
) -> Response:
    """400 for a malformed name; 404 until the month has ended and late trips have had
    the hour lateness to arrive; counts below k are -1, rider counts always -1."""
    if not filename.endswith(".csv"):
        raise InvalidInput("filename: expected YYYY-MM.csv", fields=("filename",))
    stem = filename.removesuffix(".csv")
    try:
        month = parse_month(stem)
    except ValueError as exc:
        raise InvalidInput(f"filename: {exc}", fields=("filename",)) from exc
    settings = get_settings(request)
    start, end = month_bounds(month, settings.city_timezone)
    lateness = timedelta(seconds=settings.provider.hour_lateness_s)
    if period_state(end, datetime.now(UTC), lateness) is not HourState.CLOSED:
        raise NotFound(f"the report of {stem} is not available until the month has closed")
    rows = await provider_feeds.monthly_report(
        session,
        provider_ids=providers_for(principal, provider_id),
        month=month,
        start=start,
        end=end,
        k=settings.provider.report_k_anonymity,
    )
    params = _params(month=stem, provider_id=provider_id)
    await record_pull(session, principal, "mds_provider.reports", params, len(rows))
    return Response(render_csv(rows), media_type=REPORT_CONTENT_TYPE)
