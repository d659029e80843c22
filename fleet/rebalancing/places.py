"""Where rebalancing may leave vehicles: the H3 cells inside the service area whose centre
is a valid place to park, and among them the cells of parking hubs."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import h3.api.basic_int as h3

from fleet.ingest.rules import ZoneRules
from geofencing.rules import ZoneKind
from geofencing.zones import CompiledZone

# How far around a cell that may not be parked in other cells are judged.
NEIGHBOUR_RINGS = 3


@dataclass(frozen=True)
class ParkingCells:
    """Cells a vehicle of one type may be left in, and where in each to leave it."""

    # (lat, lng) per allowed cell: a hub's point in a hub cell, else the cell's centre.
    allowed: dict[int, tuple[float, float]]
    hubs: frozenset[int]
    # Cells of the service areas in force, empty when no service area applies.
    area: frozenset[int]


def zones_in_force(
    rules: ZoneRules, *, provider_id: uuid.UUID, vehicle_type: str, when: datetime
) -> list[CompiledZone]:
    """The zones whose rules bind this provider's vehicles of this type at `when`."""
    registry = rules.registry
    return [
        z
        for z in registry.snapshot.zones
        if registry.applies(z, when, vehicle_type, str(provider_id))
    ]


def parking_cells(
    rules: ZoneRules,
    cells: Iterable[int],
    *,
    resolution: int,
    provider_id: uuid.UUID,
    vehicle_type: str,
    when: datetime,
) -> ParkingCells:
    """Judge the service area's cells and `cells` (e.g. those with demand or vehicles) at
    their centres, by the parking rules trips are judged by."""
    zones = zones_in_force(rules, provider_id=provider_id, vehicle_type=vehicle_type, when=when)
    area = frozenset(
        c for z in zones if z.rule.kind is ZoneKind.SERVICE_AREA for c in _cells_of(z, resolution)
    )
    points = {cell: h3.cell_to_latlng(cell) for cell in area | set(cells)}
    # A hub is judged at a point of its own: one smaller than a cell may hold no centre.
    for zone in zones:
        if zone.rule.kind is ZoneKind.PARKING:
            point = zone.geometry.representative_point()
            points[h3.latlng_to_cell(point.y, point.x, resolution)] = (point.y, point.x)
    allowed: dict[int, tuple[float, float]] = {}
    hubs: set[int] = set()
    refused = _judge(rules, points, area, allowed, hubs, provider_id, vehicle_type, when)
    if not area:
        # Without a service area the cells around a refused one are candidates too: its
        # demand moves to the nearest of them that may be parked in.
        near = {c for cell in refused for c in h3.grid_disk(cell, NEIGHBOUR_RINGS)}
        extra = {c: h3.cell_to_latlng(c) for c in near - points.keys()}
        _judge(rules, extra, area, allowed, hubs, provider_id, vehicle_type, when)
    return ParkingCells(allowed, frozenset(hubs), area)


def _judge(
    rules: ZoneRules,
    points: dict[int, tuple[float, float]],
    area: frozenset[int],
    allowed: dict[int, tuple[float, float]],
    hubs: set[int],
    provider_id: uuid.UUID,
    vehicle_type: str,
    when: datetime,
) -> list[int]:
    """Add the cells whose point may be parked at to `allowed` (and `hubs`); the refused."""
    refused = []
    for cell, (lat, lng) in points.items():
        if area and cell not in area:
            continue
        verdict = rules.parking(lat, lng, when, vehicle_type, provider_id)
        if verdict.category == "invalid":
            refused.append(cell)
            continue
        allowed[cell] = (lat, lng)
        if verdict.category == "corral":
            hubs.add(cell)
    return refused


def _cells_of(zone: CompiledZone, resolution: int) -> list[int]:
    """Cells whose centre lies in the zone."""
    return list(h3.geo_to_cells(zone.geometry, resolution))
