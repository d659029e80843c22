"""MDS Provider 2.0 (for the city): trips by hour, with every pull in the audit log."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.core.auth import CITYWIDE_ROLES, Principal, Scope
from app.core.errors import InvalidInput, NotFound
from app.deps import SessionDep, get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from fleet.reporting.audit import record_pull
from fleet.reporting.hours import HourState, hour_state, parse_hour
from fleet.reporting.provider_trips import trips_ended_in

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


@router.get(
    "/trips",
    operation_id="mds_provider_trips",
    summary="Trips that ended in an hour",
    responses={202: {"description": "The hour has not closed yet; ask again later."}},
)
async def trips(
    request: Request,
    session: SessionDep,
    principal: Reader,
    end_time: Annotated[str | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """400 without a well-formed hour, 404 for an hour not yet past, 202 while the hour
    settles, else 200 with every trip (no pagination, as MDS requires)."""
    if end_time is None:
        raise InvalidInput("end_time is required (YYYY-MM-DDTHH)", fields=("end_time",))
    try:
        hour = parse_hour(end_time)
    except ValueError as exc:
        raise InvalidInput(f"end_time: {exc}", fields=("end_time",)) from exc
    lateness = timedelta(seconds=get_settings(request).provider.hour_lateness_s)
    state = hour_state(hour, datetime.now(UTC), lateness)
    if state is HourState.FUTURE:
        raise NotFound(f"the hour {end_time} is not over yet")
    if state is HourState.SETTLING:
        return MdsResponse(mds_body(trips=[]), status_code=202)
    found = await trips_ended_in(
        session, provider_ids=providers_for(principal, provider_id), hour=hour
    )
    params = {"end_time": end_time, "provider_id": str(provider_id) if provider_id else None}
    await record_pull(session, principal, "mds_provider.trips", params, len(found))
    return MdsResponse(mds_body(trips=found))
