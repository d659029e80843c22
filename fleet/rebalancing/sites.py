"""From cells' surpluses and the parked vehicles to the planner's sites, and from a plan
back to the cells' balance (pure)."""

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import h3.api.basic_int as h3

from fleet.rebalancing.model import Place, Plan, Site, Vehicle


@dataclass(frozen=True, slots=True)
class Parked:
    """An available vehicle where it stands; `charged` when its battery is enough to rent."""

    device_id: str
    lat: float
    lng: float
    charged: bool


def site_id(cell: int) -> str:
    """A cell's site id: its H3 index as text."""
    return str(h3.int_to_str(cell))


def cell_of_site(site: str) -> int:
    """The cell a site id names."""
    return int(h3.str_to_int(site))


def sites_of(
    surplus: Mapping[int, int],
    parked: Sequence[Parked],
    places: Mapping[int, tuple[float, float]],
    resolution: int,
) -> tuple[Site, ...]:
    """One site per cell with work: a surplus to pick up (among the charged vehicles there),
    a deficit to fill (at the cell's place: a hub's point or its centre), or low-battery
    vehicles to collect. A deficit in a cell with no place of its own is left alone."""
    by_cell: dict[int, list[Parked]] = defaultdict(list)
    for vehicle in parked:
        by_cell[h3.latlng_to_cell(vehicle.lat, vehicle.lng, resolution)].append(vehicle)
    sites = []
    for cell in sorted(set(surplus) | set(by_cell)):
        here = by_cell.get(cell, [])
        charged = [v for v in here if v.charged]
        low = [v for v in here if not v.charged]
        wanted = min(surplus.get(cell, 0), len(charged))
        if wanted > 0 or low:
            listed = (charged if wanted > 0 else []) + low
            sites.append(
                Site(
                    site_id(cell),
                    _centroid(listed),
                    max(wanted, 0),
                    tuple(Vehicle(v.device_id, not v.charged) for v in listed),
                )
            )
        elif wanted < 0 and cell in places:
            sites.append(Site(site_id(cell), Place(*places[cell]), wanted))
    return tuple(sites)


def balance_after(surplus: Mapping[int, int], plan: Plan, charged: set[str]) -> dict[int, int]:
    """Each cell's surplus once the plan is done: charged vehicles picked up leave their
    cell, every vehicle dropped (a swapped one included) counts where it is left."""
    after = Counter(surplus)
    for route in plan.routes:
        for stop in route.stops:
            if stop.site_id is None:
                continue
            cell = cell_of_site(stop.site_id)
            after[cell] -= sum(1 for d in stop.picked if d in charged)
            after[cell] += len(stop.dropped) + stop.dropped_stock
    return dict(after)


def balance(surplus: Mapping[int, int]) -> dict[str, int]:
    """Cells in deficit, vehicles lacking and vehicles too many."""
    return {
        "cells_in_deficit": sum(1 for s in surplus.values() if s < 0),
        "deficit": -sum(s for s in surplus.values() if s < 0),
        "surplus": sum(s for s in surplus.values() if s > 0),
    }


def _centroid(vehicles: Sequence[Parked]) -> Place:
    return Place(
        sum(v.lat for v in vehicles) / len(vehicles), sum(v.lng for v in vehicles) / len(vehicles)
    )
