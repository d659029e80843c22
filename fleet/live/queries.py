"""Operator live queries over the hot state: nearest, in a box, supply per cell, one vehicle."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import h3.api.basic_int as h3
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput, NotFound
from fleet.events.latest import last_event_sql
from fleet.live.geo import BBox, haversine_m
from fleet.tenancy.models import Provider
from fleet.vehicles.models import Vehicle
from telemetry.hotstate.keys import SUPPLY_RESOLUTIONS
from telemetry.hotstate.store import HotState, LiveVehicle

ON_TRIP = "on_trip"


@dataclass(frozen=True)
class Scope:
    """Whose vehicles a caller sees, and whether positions on a trip are withheld."""

    provider_ids: tuple[uuid.UUID, ...] | None
    hide_on_trip: bool = False


@dataclass(frozen=True)
class LiveFilter:
    """Optional filters of a live query."""

    state: str | None = None
    vehicle_type: str | None = None
    min_battery: int | None = None
    max_battery: int | None = None

    def matches(self, v: LiveVehicle) -> bool:
        """Whether a vehicle passes every given filter."""
        if self.state is not None and v.state != self.state:
            return False
        if self.vehicle_type is not None and v.vehicle_type != self.vehicle_type:
            return False
        if self.min_battery is not None and (v.battery is None or v.battery < self.min_battery):
            return False
        return not (
            self.max_battery is not None and (v.battery is None or v.battery > self.max_battery)
        )


@dataclass(frozen=True)
class Found:
    """A vehicle in a live answer."""

    provider_id: uuid.UUID
    vehicle: LiveVehicle
    distance_m: float | None = None


async def providers_in(session: AsyncSession, *, scope: Scope) -> Sequence[uuid.UUID]:
    """The providers a scope covers."""
    if scope.provider_ids is not None:
        return scope.provider_ids
    return (await session.execute(select(Provider.provider_id))).scalars().all()


def _visible(v: LiveVehicle | None, scope: Scope, filters: LiveFilter) -> bool:
    if v is None or v.lat is None or v.lng is None:
        return False
    if scope.hide_on_trip and v.state == ON_TRIP:
        return False
    return filters.matches(v)


async def nearest(
    hot: HotState,
    providers: Sequence[uuid.UUID],
    *,
    point: tuple[float, float],
    radius_m: float,
    scope: Scope,
    filters: LiveFilter,
    limit: int,
) -> list[Found]:
    """Vehicles within `radius_m` of `point`, nearest first."""
    found: list[Found] = []
    for provider_id in providers:
        hits = await hot.within_radius(provider_id, point[0], point[1], radius_m)
        lives = await hot.vehicles(provider_id, [device for device, _ in hits])
        found += [
            Found(provider_id, v, haversine_m(point[0], point[1], v.lat, v.lng))
            for v in lives
            if v is not None
            and v.lat is not None
            and v.lng is not None
            and _visible(v, scope, filters)
        ]
    found = [f for f in found if f.distance_m is not None and f.distance_m <= radius_m]
    found.sort(key=lambda f: (f.distance_m, f.vehicle.device_id))
    return found[:limit]


async def in_box(
    hot: HotState,
    providers: Sequence[uuid.UUID],
    *,
    bbox: BBox,
    scope: Scope,
    filters: LiveFilter,
    limit: int,
) -> list[Found]:
    """Vehicles whose last position lies in `bbox`, by device id."""
    width, height = bbox.search_size_m()
    found: list[Found] = []
    for provider_id in providers:
        devices = await hot.within_box(provider_id, bbox.center, width, height)
        lives = await hot.vehicles(provider_id, devices)
        found += [
            Found(provider_id, v)
            for v in lives
            if v is not None
            and _visible(v, scope, filters)
            and bbox.contains(v.lat or 0.0, v.lng or 0.0)
        ]
    found.sort(key=lambda f: f.vehicle.device_id)
    return found[:limit]


@dataclass(frozen=True)
class CellSupply:
    """Available vehicles in one H3 cell."""

    cell: int
    counts: dict[str, int]

    @property
    def center(self) -> tuple[float, float]:
        """(lat, lng) of the cell centre."""
        lat, lng = h3.cell_to_latlng(self.cell)
        return float(lat), float(lng)


async def supply(
    hot: HotState,
    providers: Sequence[uuid.UUID],
    *,
    resolution: int,
    bbox: BBox | None,
    vehicle_type: str | None = None,
) -> list[CellSupply]:
    """Available vehicles per cell (centre inside `bbox`), summed over the providers."""
    if resolution not in SUPPLY_RESOLUTIONS:
        raise InvalidInput(
            f"resolution must be one of {', '.join(map(str, SUPPLY_RESOLUTIONS))}",
            fields=("resolution",),
        )
    cells: dict[int, dict[str, int]] = {}
    for provider_id in providers:
        for (cell, vtype), count in (await hot.supply(provider_id, resolution)).items():
            if vehicle_type is None or vtype == vehicle_type:
                per_type = cells.setdefault(cell, {})
                per_type[vtype] = per_type.get(vtype, 0) + count
    result = [CellSupply(cell, counts) for cell, counts in cells.items()]
    if bbox is not None:
        result = [c for c in result if bbox.contains(*c.center)]
    return sorted(result, key=lambda c: c.cell)


_LAST_EVENT = text(last_event_sql("record", provider=":provider_id", device=":device_id"))


async def vehicle_detail(
    session: AsyncSession, hot: HotState, *, scope: Scope, device_id: uuid.UUID
) -> tuple[dict[str, Any], LiveVehicle | None, dict[str, Any] | None]:
    """(registry record, live state, last event) of one vehicle in scope, else NotFound."""
    query = select(Vehicle.provider_id, Vehicle.record).where(Vehicle.device_id == device_id)
    if scope.provider_ids is not None:
        query = query.where(Vehicle.provider_id.in_(scope.provider_ids))
    # A city-wide scope may hold the same device id under several providers: one answer,
    # always the same one, unless the caller names the provider.
    row = (await session.execute(query.order_by(Vehicle.provider_id).limit(1))).first()
    if row is None:
        raise NotFound(f"vehicle {device_id} not found")
    [live] = await hot.vehicles(row.provider_id, [str(device_id)])
    last_event = (
        await session.execute(_LAST_EVENT, {"provider_id": row.provider_id, "device_id": device_id})
    ).scalar()
    if live is not None and scope.hide_on_trip and live.state == ON_TRIP:
        # No live position of a vehicle on a trip, not even the trip's origin.
        live = replace(live, lat=None, lng=None, cell8=None)
        last_event = {k: v for k, v in (last_event or {}).items() if k != "location"}
    return row.record, live, last_event
