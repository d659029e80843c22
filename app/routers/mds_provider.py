"""MDS Provider 2.0 (for the city): trips, events and telemetry by hour, every pull audited."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CITYWIDE_ROLES, Principal, Scope
from app.core.errors import InvalidInput, NotFound
from app.deps import SessionDep, get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from fleet.reporting.audit import record_pull
from fleet.reporting.hours import HourState, hour_state, parse_hour
from fleet.reporting.provider_hours import events_in, telemetry_in, trips_ended_in

router = APIRouter(
    prefix="/mds/provider",
    tags=["mds-provider"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]


def providers_for(principal: Principal, wanted: uuid.UUID | None) -> list[uuid.UUID] | None:
    """City-wide roles see every provider (or the one asked for); operators their own."""
    if principal.role in CITYWIDE_ROLES:
        return [wanted] if wanted else None
    own = principal.provider_id
    return [own] if own and wanted in (None, own) else []


Fetch = Callable[..., Awaitable[list[dict[str, Any]]]]


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
    params = {name: value, "provider_id": str(provider_id) if provider_id else None}
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
    end_time: Annotated[str | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Closed trips: fleetbed's measurements with the provider's extras."""
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
    event_time: Annotated[str | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
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
    telemetry_time: Annotated[str | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
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
