"""MDS Geography API 2.0: city-wide zones published as immutable geographies (public)."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from geoalchemy2.shape import to_shape

from app.core.errors import NotFound
from app.core.mds import UUID_PATTERN
from app.core.mstime import now_ms, to_ms
from app.deps import SessionDep
from app.mds_media import MdsResponse, mds_body, mds_version
from geofencing import zones
from geofencing.geometry import to_geojson
from geofencing.models import Zone
from geofencing.rules import ZoneKind
from geofencing.zones import ZoneScope

router = APIRouter(
    prefix="/mds",
    tags=["mds-geography"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

CITY = ZoneScope(None, may_write_citywide=False)


def _ms(when: datetime | None) -> int | None:
    return to_ms(when) if when is not None else None


def geography(zone: Zone) -> dict[str, Any]:
    """A zone version as an MDS Geography."""
    properties: dict[str, Any] = {"kind": zone.kind, "version": zone.version}
    for name in ("max_speed_kph", "parking", "vehicle_types", "days"):
        if getattr(zone, name) is not None:
            properties[name] = getattr(zone, name)
    for name in ("start_time", "end_time"):
        if getattr(zone, name) is not None:
            properties[name] = getattr(zone, name).isoformat()
    record: dict[str, Any] = {
        "geography_id": str(zone.zone_id),
        "name": zone.name,
        # MDS lets agencies name their own types; a district holds no policy by itself.
        "geography_type": "district" if zone.kind == ZoneKind.DISTRICT else "policy_zone",
        "published_date": _ms(zone.published_at),
        "effective_date": _ms(zone.effective_at),
        "geography_json": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": properties,
                    "geometry": to_geojson(to_shape(zone.geometry)),
                }
            ],
        },
    }
    if zone.description:
        record["description"] = zone.description
    if zone.retired_at is not None:
        record["retire_date"] = _ms(zone.retired_at)
    if zone.prev_zone_ids:
        record["prev_geographies"] = [str(z) for z in zone.prev_zone_ids]
    return record


@router.get(
    "/geographies",
    operation_id="mds_geography_list",
    summary="Every published geography, retired ones included",
)
async def list_geographies(session: SessionDep) -> MdsResponse:
    """City-wide zones only: an operator's own zones are not published."""
    found = await zones.list_zones(session, scope=CITY, include_retired=True, citywide_only=True)
    changes = [t for z in found for t in (z.published_at, z.retired_at) if t is not None]
    last_updated = _ms(max(changes)) if changes else now_ms()
    return MdsResponse(
        mds_body(last_updated=last_updated, geographies=[geography(z) for z in found])
    )


@router.get(
    "/geographies/{geography_id}",
    operation_id="mds_geography_get",
    summary="One geography",
)
async def get_geography(
    session: SessionDep,
    geography_id: Annotated[str, Path(pattern=UUID_PATTERN)],
) -> MdsResponse:
    """404 for unknown ids and for operators' private zones."""
    zone = await zones.get_zone(session, zone_id=uuid.UUID(geography_id), scope=CITY)
    if zone.provider_id is not None:
        raise NotFound(f"geography {geography_id} not found")
    return MdsResponse(mds_body(geography=geography(zone)))
