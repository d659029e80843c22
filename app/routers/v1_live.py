"""Operator live fleet: /v1/vehicles, /v1/vehicles/{device_id}, /v1/supply."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.auth import Principal, Scope
from app.core.bounded import QueryText
from app.core.errors import InvalidInput
from app.core.mds import VehicleState, VehicleType
from app.core.mstime import from_ms
from app.deps import SessionDep, require
from app.visibility import live_scope
from fleet.live import queries
from fleet.live.geo import BBox, parse_point
from telemetry.hotstate.store import HotState, LiveVehicle

router = APIRouter(prefix="/v1", tags=["live fleet"])

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]
GEOJSON = "application/geo+json"
MAX_RADIUS_M = 50_000


class LiveVehicleRead(BaseModel):
    """A vehicle as the live state knows it."""

    device_id: str
    provider_id: str
    vehicle_type: str | None
    state: str | None
    battery_percent: int | None
    speed: float | None
    lat: float | None
    lng: float | None
    h3_cell: str | None
    last_seen: datetime | None
    state_since: datetime | None
    distance_m: float | None = None


class LiveVehiclesRead(BaseModel):
    """A live query's answer."""

    count: int
    vehicles: list[LiveVehicleRead]


class VehicleDetailRead(BaseModel):
    """Registry record, live state and last event of one vehicle."""

    vehicle: dict[str, Any]
    live: LiveVehicleRead | None
    last_event: dict[str, Any] | None


class CellSupplyRead(BaseModel):
    """Available vehicles in one H3 cell."""

    h3_cell: str
    lat: float
    lng: float
    total: int
    by_vehicle_type: dict[str, int]


class SupplyRead(BaseModel):
    """Available vehicles per cell."""

    resolution: int
    cells: list[CellSupplyRead]


def _time(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


def _read(provider_id: uuid.UUID, v: LiveVehicle, distance: float | None = None) -> LiveVehicleRead:
    return LiveVehicleRead(
        device_id=v.device_id,
        provider_id=str(provider_id),
        vehicle_type=v.vehicle_type,
        state=v.state,
        battery_percent=v.battery,
        speed=v.speed,
        lat=v.lat,
        lng=v.lng,
        h3_cell=format(v.cell8, "x") if v.cell8 is not None else None,
        last_seen=_time(v.ts_ms),
        state_since=_time(v.state_ts_ms),
        distance_m=round(distance, 2) if distance is not None else None,
    )


def _wants_geojson(request: Request) -> bool:
    return GEOJSON in request.headers.get("accept", "")


def _geojson(rows: list[LiveVehicleRead]) -> JSONResponse:
    features = [
        {
            "type": "Feature",
            "id": row.device_id,
            "geometry": {"type": "Point", "coordinates": [row.lng, row.lat]}
            if row.lat is not None and row.lng is not None
            else None,
            "properties": row.model_dump(mode="json", exclude={"lat", "lng"}),
        }
        for row in rows
    ]
    return JSONResponse({"type": "FeatureCollection", "features": features}, media_type=GEOJSON)


def _parsed(parse: Any, value: str, name: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", fields=(name,)) from exc


@router.get(
    "/vehicles",
    operation_id="v1_live_vehicles",
    summary="Live vehicles near a point (nearest first) or inside a box",
    response_model=LiveVehiclesRead,
    responses={200: {"content": {GEOJSON: {}}}},
)
async def live_vehicles(
    request: Request,
    session: SessionDep,
    principal: Reader,
    near: Annotated[QueryText | None, Query(description="LAT,LNG")] = None,
    radius_m: Annotated[float, Query(gt=0, le=MAX_RADIUS_M)] = 500,
    bbox: Annotated[QueryText | None, Query(description="MINLNG,MINLAT,MAXLNG,MAXLAT")] = None,
    state: Annotated[VehicleState | None, Query()] = None,
    vehicle_type: Annotated[VehicleType | None, Query()] = None,
    min_battery: Annotated[int | None, Query(ge=0, le=100)] = None,
    max_battery: Annotated[int | None, Query(ge=0, le=100)] = None,
    provider_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Exactly one of `near` and `bbox`; filters apply to the live state."""
    if (near is None) == (bbox is None):
        raise InvalidInput("give exactly one of near and bbox", fields=("near", "bbox"))
    hot: HotState = request.app.state.live.hot
    scope = live_scope(principal, provider_id)
    providers = await queries.providers_in(session, scope=scope)
    filters = queries.LiveFilter(
        state, vehicle_type.value if vehicle_type else None, min_battery, max_battery
    )
    if near is not None:
        found = await queries.nearest(
            hot,
            providers,
            point=_parsed(parse_point, near, "near"),
            radius_m=radius_m,
            scope=scope,
            filters=filters,
            limit=limit,
        )
    else:
        found = await queries.in_box(
            hot,
            providers,
            bbox=_parsed(BBox.parse, bbox or "", "bbox"),
            scope=scope,
            filters=filters,
            limit=limit,
        )
    rows = [_read(f.provider_id, f.vehicle, f.distance_m) for f in found]
    if _wants_geojson(request):
        return _geojson(rows)
    return LiveVehiclesRead(count=len(rows), vehicles=rows)


@router.get(
    "/vehicles/{device_id}",
    operation_id="v1_vehicle_detail",
    summary="Registry record, live state and last event of one vehicle",
    response_model=VehicleDetailRead,
)
async def vehicle_detail(
    request: Request,
    session: SessionDep,
    principal: Reader,
    device_id: uuid.UUID,
    provider_id: Annotated[
        uuid.UUID | None,
        Query(description="Whose vehicle of this id, as device ids are unique per provider"),
    ] = None,
) -> VehicleDetailRead:
    """404 for vehicles outside the caller's fleet."""
    hot: HotState = request.app.state.live.hot
    scope = live_scope(principal, provider_id)
    record, live, last_event = await queries.vehicle_detail(
        session, hot, scope=scope, device_id=device_id
    )
    provider = uuid.UUID(record["provider_id"])
    return VehicleDetailRead(
        vehicle=record, live=_read(provider, live) if live else None, last_event=last_event
    )


@router.get(
    "/supply",
    operation_id="v1_supply",
    summary="Available vehicles per H3 cell",
    response_model=SupplyRead,
)
async def supply(
    request: Request,
    session: SessionDep,
    principal: Reader,
    resolution: Annotated[int, Query(ge=0, le=15, description="H3 resolution: 8 or 9")] = 8,
    bbox: Annotated[QueryText | None, Query(description="MINLNG,MINLAT,MAXLNG,MAXLAT")] = None,
    vehicle_type: Annotated[VehicleType | None, Query()] = None,
    provider_id: Annotated[uuid.UUID | None, Query()] = None,
) -> SupplyRead:
    """Cells whose centre lies in `bbox` (all cells without one), counted by vehicle type."""
    hot: HotState = request.app.state.live.hot
    scope = live_scope(principal, provider_id)
    cells = await queries.supply(
        hot,
        await queries.providers_in(session, scope=scope),
        resolution=resolution,
        bbox=_parsed(BBox.parse, bbox, "bbox") if bbox else None,
        vehicle_type=vehicle_type.value if vehicle_type else None,
    )
    return SupplyRead(
        resolution=resolution,
        cells=[
            CellSupplyRead(
                h3_cell=format(c.cell, "x"),
                lat=c.center[0],
                lng=c.center[1],
                total=sum(c.counts.values()),
                by_vehicle_type=c.counts,
            )
            for c in cells
        ],
    )
