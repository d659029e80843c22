"""MDS Agency 2.0: vehicles, vehicle status, telemetry and events."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from app.core.auth import Principal, Scope
from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.mds_batch import (
    BatchLimits,
    NotAnArray,
    TooDeep,
    TooMany,
    check_shape,
    decode_array,
)
from app.core.mstime import now_ms
from app.deps import SessionDep, get_resources, get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from app.paging import DeviceId, PageDep
from fleet.ingest.common import PostedBatch
from fleet.ingest.events import EventIngest
from fleet.ingest.telemetry import TelemetryIngest
from fleet.ingest.trips import TripIngest
from fleet.vehicles import service as vehicles
from fleet.vehicles import status

router = APIRouter(
    prefix="/mds/agency",
    tags=["mds-agency"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

Writer = Annotated[Principal, Depends(require(Scope.VEHICLES_WRITE, provider_bound=True))]
Reader = Annotated[Principal, Depends(require(Scope.VEHICLES_READ, provider_bound=True))]
TelemetryWriter = Annotated[Principal, Depends(require(Scope.TELEMETRY_WRITE, provider_bound=True))]
EventWriter = Annotated[Principal, Depends(require(Scope.EVENTS_WRITE, provider_bound=True))]


async def _batch(request: Request) -> list[Any]:
    """The body as a non-empty JSON array within the batch limits."""
    settings = get_settings(request)
    body = await request.body()
    try:
        check_shape(body, settings.api.max_vehicle_batch, settings.api.max_json_depth)
        return decode_array(body)
    except (NotAnArray, TooDeep) as exc:
        raise InvalidInput(str(exc)) from exc
    except TooMany as exc:
        raise PayloadTooLarge(str(exc)) from exc


def _bulk(success: int, total: int) -> dict[str, Any]:
    return mds_body(success=success, total=total, failures=[])


@router.post(
    "/vehicles",
    operation_id="mds_agency_register_vehicles",
    summary="Register vehicles",
    status_code=201,
)
async def register_vehicles(
    request: Request, session: SessionDep, principal: Writer
) -> MdsResponse:
    """Register a batch; all or nothing (400 bad items, 409 already registered)."""
    items = await _batch(request)
    provider_id, mode = principal.acting_for()
    count = await vehicles.register_vehicles(
        session, provider_id=provider_id, mode=mode, items=items
    )
    return MdsResponse(_bulk(count, len(items)), status_code=201)


@router.put(
    "/vehicles",
    operation_id="mds_agency_update_vehicles",
    summary="Update registered vehicles",
)
async def update_vehicles(request: Request, session: SessionDep, principal: Writer) -> MdsResponse:
    """Replace registered vehicles' records; all or nothing (404 for unknown devices)."""
    items = await _batch(request)
    provider_id, mode = principal.acting_for()
    count = await vehicles.update_vehicles(session, provider_id=provider_id, mode=mode, items=items)
    return MdsResponse(_bulk(count, len(items)))


@router.get(
    "/vehicles",
    operation_id="mds_agency_list_vehicles",
    summary="List the caller's vehicles",
)
async def list_vehicles(session: SessionDep, principal: Reader, page: PageDep) -> MdsResponse:
    """The caller's fleet in device-id order, paginated with JSON:API `links`."""
    provider_id, _ = principal.acting_for()
    found = await vehicles.list_vehicles(
        session, provider_id=provider_id, limit=page.size, after=page.after
    )
    return MdsResponse(mds_body(vehicles=found.records, links=page.links(found.next_after)))


@router.get(
    "/vehicles/status",
    operation_id="mds_agency_list_vehicle_status",
    summary="Last event and telemetry of the caller's vehicles",
)
async def list_vehicle_status(session: SessionDep, principal: Reader, page: PageDep) -> MdsResponse:
    """Vehicles that have both an event and a telemetry point, in device-id order."""
    provider_id, _ = principal.acting_for()
    found = await status.list_statuses(
        session, provider_id=provider_id, limit=page.size, after=page.after
    )
    return MdsResponse(mds_body(vehicles_status=found.records, links=page.links(found.next_after)))


@router.get(
    "/vehicles/status/{device_id}",
    operation_id="mds_agency_get_vehicle_status",
    summary="Last event and telemetry of one of the caller's vehicles",
)
async def get_vehicle_status(
    session: SessionDep, principal: Reader, device_id: DeviceId
) -> MdsResponse:
    """404 for unknown devices, other providers' devices and devices with no status yet."""
    provider_id, _ = principal.acting_for()
    record = await status.get_status(
        session, provider_id=provider_id, device_id=uuid.UUID(device_id)
    )
    return MdsResponse(mds_body(vehicles_status=[record]))


@router.get(
    "/vehicles/{device_id}",
    operation_id="mds_agency_get_vehicle",
    summary="One of the caller's vehicles",
)
async def get_vehicle(session: SessionDep, principal: Reader, device_id: DeviceId) -> MdsResponse:
    """A one-item `vehicles` array; 404 for unknown devices and other providers' devices."""
    provider_id, _ = principal.acting_for()
    record = await vehicles.get_vehicle(
        session, provider_id=provider_id, device_id=uuid.UUID(device_id)
    )
    return MdsResponse(mds_body(vehicles=[record]))


async def _posted(request: Request) -> PostedBatch:
    """The body of an Agency POST with the limits it is checked against."""
    settings = get_settings(request)
    limits = BatchLimits(
        now_ms=now_ms(),
        max_future_ms=settings.telemetry.max_future_skew_s * 1000,
        max_items=settings.telemetry.max_batch,
        max_depth=settings.api.max_json_depth,
    )
    return PostedBatch(body=await request.body(), limits=limits)


def _created(total: int) -> MdsResponse:
    return MdsResponse(_bulk(total, total), status_code=201)


@router.post(
    "/telemetry",
    operation_id="mds_agency_post_telemetry",
    summary="Post telemetry of the caller's vehicles",
    status_code=201,
)
async def post_telemetry(request: Request, principal: TelemetryWriter) -> MdsResponse:
    """Stored durably before the 201; replays are accepted and stored once."""
    provider_id, _ = principal.acting_for()
    pipeline: TelemetryIngest = request.app.state.telemetry_ingest
    sessionmaker = get_resources(request).sessionmaker
    batch = await _posted(request)
    return _created(await pipeline.ingest(sessionmaker, provider_id=provider_id, batch=batch))


@router.post(
    "/events",
    operation_id="mds_agency_post_events",
    summary="Post events of the caller's vehicles",
    status_code=201,
)
async def post_events(request: Request, principal: EventWriter) -> MdsResponse:
    """Checked against the provider's mode state machine; stored durably before the 201."""
    provider_id, mode = principal.acting_for()
    pipeline: EventIngest = request.app.state.event_ingest
    sessionmaker = get_resources(request).sessionmaker
    batch = await _posted(request)
    return _created(
        await pipeline.ingest(sessionmaker, provider_id=provider_id, mode=mode, batch=batch)
    )


@router.post(
    "/trips",
    operation_id="mds_agency_post_trips",
    summary="Post finished trips of the caller's vehicles",
    status_code=201,
)
async def post_trips(request: Request, principal: EventWriter) -> MdsResponse:
    """Validated against the provider's mode; a replay stores nothing twice."""
    provider_id, mode = principal.acting_for()
    pipeline: TripIngest = request.app.state.trip_ingest
    sessionmaker = get_resources(request).sessionmaker
    batch = await _posted(request)
    return _created(
        await pipeline.ingest(sessionmaker, provider_id=provider_id, mode=mode, batch=batch)
    )
