"""MDS Agency 2.0: the vehicle registry."""

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request

from app.core.auth import Principal, Scope
from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.mds import UUID_PATTERN
from app.deps import SessionDep, get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from fleet.vehicles import service as vehicles

router = APIRouter(
    prefix="/mds/agency",
    tags=["mds-agency"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

Writer = Annotated[Principal, Depends(require(Scope.VEHICLES_WRITE, provider_bound=True))]
Reader = Annotated[Principal, Depends(require(Scope.VEHICLES_READ, provider_bound=True))]
DeviceId = Annotated[str, Path(pattern=UUID_PATTERN, description="A lowercase UUID.")]

_VEHICLE_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/MdsVehicle"},
                    "description": "MDS Vehicles; vehicle_attributes and "
                    "accessibility_attributes follow the provider's mode.",
                }
            }
        },
    }
}


async def _batch(request: Request) -> list[Any]:
    """The body as a non-empty JSON array within the batch limit."""
    try:
        items = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise InvalidInput("body must be a non-empty JSON array")
    limit = get_settings(request).api.max_vehicle_batch
    if len(items) > limit:
        raise PayloadTooLarge(f"{len(items)} items sent; at most {limit} per request")
    return items


def _bulk(success: int, total: int) -> dict[str, Any]:
    return mds_body(success=success, total=total, failures=[])


@router.post(
    "/vehicles",
    operation_id="mds_agency_register_vehicles",
    summary="Register vehicles",
    status_code=201,
    openapi_extra=_VEHICLE_BATCH_BODY,
)
async def register_vehicles(
    request: Request, session: SessionDep, principal: Writer
) -> MdsResponse:
    """Register a batch; all or nothing (400 bad items, 409 already registered)."""
    items = await _batch(request)
    assert principal.provider_id is not None
    assert principal.mode is not None
    count = await vehicles.register_vehicles(
        session, provider_id=principal.provider_id, mode=principal.mode, items=items
    )
    return MdsResponse(_bulk(count, len(items)), status_code=201)


@router.put(
    "/vehicles",
    operation_id="mds_agency_update_vehicles",
    summary="Update registered vehicles",
    openapi_extra=_VEHICLE_BATCH_BODY,
)
async def update_vehicles(request: Request, session: SessionDep, principal: Writer) -> MdsResponse:
    """Replace registered vehicles' records; all or nothing (404 for unknown devices)."""
    items = await _batch(request)
    assert principal.provider_id is not None
    assert principal.mode is not None
    count = await vehicles.update_vehicles(
        session, provider_id=principal.provider_id, mode=principal.mode, items=items
    )
    return MdsResponse(_bulk(count, len(items)))


def _page_url(request: Request, limit: int, after: uuid.UUID | None) -> str:
    params = {"limit": str(limit)}
    if after is not None:
        params["after"] = str(after)
    return str(request.url.replace_query_params(**params))


@router.get(
    "/vehicles",
    operation_id="mds_agency_list_vehicles",
    summary="List the caller's vehicles",
)
async def list_vehicles(
    request: Request,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    after: Annotated[
        uuid.UUID | None, Query(description="Cursor: the last device_id of the previous page.")
    ] = None,
) -> MdsResponse:
    """The caller's fleet in device-id order, paginated with JSON:API `links`."""
    api = get_settings(request).api
    size = min(limit or api.default_page_size, api.max_page_size)
    assert principal.provider_id is not None
    page = await vehicles.list_vehicles(
        session, provider_id=principal.provider_id, limit=size, after=after
    )
    links = {
        "first": _page_url(request, size, None),
        "next": _page_url(request, size, page.next_after) if page.next_after else None,
    }
    return MdsResponse(mds_body(vehicles=page.records, links=links))


@router.get(
    "/vehicles/{device_id}",
    operation_id="mds_agency_get_vehicle",
    summary="One of the caller's vehicles",
)
async def get_vehicle(session: SessionDep, principal: Reader, device_id: DeviceId) -> MdsResponse:
    """A one-item `vehicles` array; 404 for unknown devices and other providers' devices."""
    assert principal.provider_id is not None
    record = await vehicles.get_vehicle(
        session, provider_id=principal.provider_id, device_id=uuid.UUID(device_id)
    )
    return MdsResponse(mds_body(vehicles=[record]))
