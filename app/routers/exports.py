"""Exports for city auditors: trips, events and vehicle status as CSV, GeoJSON or Parquet,
streamed, raw for auditors or anonymised (open), every pull audited."""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from app.auditor_reads import ReadsDep
from app.core.bounded import QueryText
from fleet.exports.formats import MEDIA_TYPES
from fleet.exports.request import Dataset, ExportRequest, Format, Privacy

router = APIRouter(prefix="/v1/exports", tags=["exports"])

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


async def _export(reads: ReadsDep, dataset: Dataset, params: ExportParams) -> StreamingResponse:
    export = await reads.export(
        dataset,
        start=params.start,
        end=params.to,
        provider_id=params.provider_id,
        format=params.format,
        privacy=params.privacy,
    )
    disposition = f'attachment; filename="{file_name(export.request)}"'
    return StreamingResponse(
        export.body,
        media_type=MEDIA_TYPES[params.format],
        headers={"Content-Disposition": disposition},
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
async def trips(reads: ReadsDep, params: Params) -> StreamingResponse:
    """Open: ends on a ~100 m grid (coarser or left out below k trips per pair), times in
    15 minutes, identifiers hashed. GeoJSON draws each trip from start to end."""
    return await _export(reads, Dataset.TRIPS, params)


@router.get(
    "/events",
    operation_id="v1_export_events",
    summary="Events that occurred in a window",
    response_class=StreamingResponse,
    responses=STREAMED,
)
async def events(reads: ReadsDep, params: Params) -> StreamingResponse:
    """Open: positions on a ~100 m grid and withheld on a trip, times in 15 minutes,
    vehicle pseudonyms renewed at each trip event."""
    return await _export(reads, Dataset.EVENTS, params)


@router.get(
    "/vehicle-status",
    operation_id="v1_export_vehicle_status",
    summary="Vehicle state changes in a window",
    response_class=StreamingResponse,
    responses=STREAMED,
)
async def vehicle_status(reads: ReadsDep, params: Params) -> StreamingResponse:
    """Each change of a vehicle's state: the state, its start and end (the next change in
    the window), the position reported; open as for events."""
    return await _export(reads, Dataset.VEHICLE_STATUS, params)
