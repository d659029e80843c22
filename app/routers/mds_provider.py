"""MDS Provider 2.0 (for the city): trips, events and telemetry by hour, recent events,
vehicles, vehicle status and monthly reports; every pull audited."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from app.auditor_reads import ReadsDep
from app.core.bounded import QueryText
from app.core.mds import MDS_MEDIA_VERSION
from app.mds_media import MdsResponse, mds_body, mds_version
from app.paging import DeviceId, PageDep
from fleet.reporting.monthly_report import render_csv
from fleet.reporting.service import EVENTS, TELEMETRY, TRIPS, FeedRead, HourlyFeed

router = APIRouter(
    prefix="/mds/provider",
    tags=["mds-provider"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)


async def _hourly(
    reads: ReadsDep, feed: HourlyFeed, value: str | None, provider_id: uuid.UUID | None
) -> Response:
    """202 with nothing while the hour settles, else 200 with everything of the hour."""
    found = await reads.hour(feed, value, provider_id)
    status = 200 if found.settled else 202
    return MdsResponse(mds_body(**{feed.payload: found.records}), status_code=status)


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
    reads: ReadsDep,
    end_time: Annotated[QueryText | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Closed trips: the operator's figures where given, else fleetbed's; fleetbed's own
    measurement and any discrepancy in the `fleetbed` extension."""
    return await _hourly(reads, TRIPS, end_time, provider_id)


@router.get(
    "/events/historical",
    operation_id="mds_provider_events_historical",
    summary="Events that occurred in an hour",
    responses=NOT_READY,
)
async def events_historical(
    reads: ReadsDep,
    event_time: Annotated[QueryText | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Events as received, oldest first."""
    return await _hourly(reads, EVENTS, event_time, provider_id)


@router.get(
    "/telemetry",
    operation_id="mds_provider_telemetry",
    summary="Telemetry recorded in an hour",
    responses=NOT_READY,
)
async def telemetry(
    reads: ReadsDep,
    telemetry_time: Annotated[QueryText | None, Query(description="YYYY-MM-DDTHH, UTC")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Every point recorded in the hour, oldest first."""
    return await _hourly(reads, TELEMETRY, telemetry_time, provider_id)


# Near-realtime feeds are read from the record when asked: current now, never cached.
ALWAYS_REFRESH = 0


def _fresh(found: FeedRead) -> dict[str, int]:
    return {"last_updated": found.at_ms, "ttl": ALWAYS_REFRESH}


@router.get(
    "/events/recent",
    operation_id="mds_provider_events_recent",
    summary="Events of a window within the last two weeks",
)
async def events_recent(
    reads: ReadsDep,
    page: PageDep,
    start_time: Annotated[QueryText | None, Query(description="Integer ms, inclusive")] = None,
    end_time: Annotated[QueryText | None, Query(description="Integer ms, exclusive")] = None,
    provider_id: ProviderFilter = None,
) -> Response:
    """Events as received, oldest first, paginated; 400 for a window older than two
    weeks, reversed, or ending in the future (beyond the telemetry clock skew)."""
    found = await reads.recent_events(
        start_time, end_time, provider_id, limit=page.size, after=page.after
    )
    return MdsResponse(mds_body(events=found.records, links=page.links(found.next_after)))


@router.get(
    "/vehicles",
    operation_id="mds_provider_vehicles",
    summary="Vehicles deployed in the last 30 days",
)
async def vehicles(reads: ReadsDep, page: PageDep, provider_id: ProviderFilter = None) -> Response:
    """Registered MDS Vehicles with an event or a trip in the last 30 days, by device_id."""
    found = await reads.vehicles(provider_id, limit=page.size, after=page.after)
    return MdsResponse(
        mds_body(**_fresh(found), vehicles=found.records, links=page.links(found.next_after))
    )


@router.get(
    "/vehicles/status",
    operation_id="mds_provider_vehicles_status",
    summary="Current status of vehicles",
)
async def vehicles_status(
    reads: ReadsDep, page: PageDep, provider_id: ProviderFilter = None
) -> Response:
    """Each vehicle's last event and telemetry, by device_id; vehicles removed, elsewhere
    or missing for over 90 minutes are left out, and for city staff vehicles on a trip."""
    found = await reads.statuses(provider_id, limit=page.size, after=page.after)
    links = page.links(found.next_after)
    return MdsResponse(mds_body(**_fresh(found), vehicles_status=found.records, links=links))


@router.get(
    "/vehicles/status/{device_id}",
    operation_id="mds_provider_vehicle_status",
    summary="Current status of one vehicle",
)
async def vehicle_status(reads: ReadsDep, device_id: DeviceId) -> Response:
    """404 alike for unknown vehicles, others' vehicles and statuses the feed leaves out."""
    found = await reads.status(uuid.UUID(device_id))
    return MdsResponse(mds_body(**_fresh(found), vehicles_status=found.records))


@router.get(
    "/vehicles/{device_id}",
    operation_id="mds_provider_vehicle",
    summary="One vehicle, whenever it was deployed",
)
async def vehicle(reads: ReadsDep, device_id: DeviceId) -> Response:
    """404 alike for unknown vehicles and other providers' vehicles."""
    found = await reads.vehicle(uuid.UUID(device_id))
    return MdsResponse(mds_body(**_fresh(found), vehicles=found.records))


REPORT_CONTENT_TYPE = f"text/vnd.mds+csv;version={MDS_MEDIA_VERSION}"


@router.get(
    "/reports/{filename}",
    operation_id="mds_provider_report",
    summary="Monthly report (CSV) of trips per geography, vehicle type and special group",
    response_class=Response,
    responses={200: {"content": {REPORT_CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def report(
    reads: ReadsDep,
    filename: Annotated[
        QueryText, Path(description="YYYY-MM.csv, a month in the city's time zone")
    ],
    provider_id: ProviderFilter = None,
) -> Response:
    """400 for a malformed name; 404 until the month has ended and late trips have had
    the hour lateness to arrive; counts below k are -1, rider counts always -1."""
    rows = await reads.monthly_report(filename, provider_id)
    return Response(render_csv(rows), media_type=REPORT_CONTENT_TYPE)
