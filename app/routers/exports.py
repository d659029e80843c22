"""Exports for city auditors: trips, events and vehicle status as CSV, GeoJSON or Parquet,
streamed, raw for auditors or anonymised (open), every pull audited."""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.core.auth import Principal, Scope
from app.core.bounded import QueryText
from app.deps import SessionDep, get_resources, get_settings, require
from app.settings import Settings
from app.visibility import providers_for
from fleet.exports.formats import MEDIA_TYPES
from fleet.exports.request import Dataset, ExportRequest, Format, Privacy
from fleet.exports.service import ExportOptions, export_stream, prepare_export

router = APIRouter(prefix="/v1/exports", tags=["exports"])

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]
From = Annotated[
    QueryText, Query(alias="from", description="Start (included), RFC 3339 with offset")
]
To = Annotated[QueryText, Query(description="End (excluded), RFC 3339 with offset")]
ProviderFilter = Annotated[
    uuid.UUID | None, Query(description="One provider (operators: only their own)")
]
FormatParam = Annotated[Format, Query(alias="format")]
PrivacyParam = Annotated[
    Privacy, Query(description="raw: as stored (city auditors); open: anonymised")
]

_SALT_CONTEXT = b"fleetbed exports: pseudonym salt"


def export_options(settings: Settings) -> ExportOptions:
    """Export options from the settings; the salt is the configured one, else derived
    (one-way) from the JWT signing key, else None (open exports are then refused)."""
    exports = settings.exports
    salt: bytes | None = None
    if exports.salt is not None:
        salt = exports.salt.get_secret_value().encode()
    elif settings.auth.jwt_secret is not None:
        secret = settings.auth.jwt_secret.get_secret_value().encode()
        salt = hmac.new(secret, _SALT_CONTEXT, hashlib.sha256).digest()
    return ExportOptions(
        k_anonymity=exports.k_anonymity,
        salt=salt,
        max_span=timedelta(days=exports.max_span_days),
        copy_queue_chunks=exports.copy_queue_chunks,
        fetch_rows=exports.fetch_rows,
        parquet_group_rows=exports.parquet_group_rows,
        work_mem_mb=exports.work_mem_mb,
    )


def file_name(request: ExportRequest) -> str:
    """The name an export is saved under."""
    start, end = (t.strftime("%Y%m%dT%H%M%SZ") for t in (request.start, request.end))
    return f"{request.dataset.value}_{start}_{end}.{request.format.value}"


@dataclass(frozen=True)
class ExportParams:
    """The query string shared by every export."""

    start: From
    to: To
    provider_id: ProviderFilter = None
    format: FormatParam = Format.CSV
    privacy: PrivacyParam = Privacy.OPEN


Params = Annotated[ExportParams, Depends()]


async def _export(
    request: Request,
    session: SessionDep,
    principal: Principal,
    dataset: Dataset,
    params: ExportParams,
) -> StreamingResponse:
    options = export_options(get_settings(request))
    export = await prepare_export(
        session,
        principal=principal,
        dataset=dataset,
        start=params.start,
        end=params.to,
        provider_filter=params.provider_id,
        provider_ids=providers_for(principal, params.provider_id),
        format=params.format,
        privacy=params.privacy,
        options=options,
    )
    body = export_stream(
        get_resources(request).sessionmaker, request=export, principal=principal, options=options
    )
    disposition = f'attachment; filename="{file_name(export)}"'
    return StreamingResponse(
        body, media_type=MEDIA_TYPES[params.format], headers={"Content-Disposition": disposition}
    )


STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export, streamed (CSV with a header row, a GeoJSON "
        "FeatureCollection, or a Parquet file)",
        "content": {media: {} for media in MEDIA_TYPES.values()},
    }
}


@router.get(
    "/trips",
    operation_id="v1_export_trips",
    summary="Closed trips that ended in a window",
    response_class=StreamingResponse,
    responses=STREAMED,
)
async def trips(
    request: Request, session: SessionDep, principal: Reader, params: Params
) -> StreamingResponse:
    """Open: ends on a ~100 m grid (coarser or left out below k trips per pair), times in
    15 minutes, identifiers hashed. GeoJSON draws each trip from start to end."""
    return await _export(request, session, principal, Dataset.TRIPS, params)


@router.get(
    "/events",
    operation_id="v1_export_events",
    summary="Events that occurred in a window",
    response_class=StreamingResponse,
    responses=STREAMED,
)
async def events(
    request: Request, session: SessionDep, principal: Reader, params: Params
) -> StreamingResponse:
    """Open: positions on a ~100 m grid and withheld on a trip, times in 15 minutes,
    vehicle pseudonyms renewed at each trip event."""
    return await _export(request, session, principal, Dataset.EVENTS, params)


@router.get(
    "/vehicle-status",
    operation_id="v1_export_vehicle_status",
    summary="Vehicle state changes in a window",
    response_class=StreamingResponse,
    responses=STREAMED,
)
async def vehicle_status(
    request: Request, session: SessionDep, principal: Reader, params: Params
) -> StreamingResponse:
    """Each change of a vehicle's state: the state, its start and end (the next change in
    the window), the position reported; open as for events."""
    return await _export(request, session, principal, Dataset.VEHICLE_STATUS, params)
