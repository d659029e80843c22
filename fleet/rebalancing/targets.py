"""Target fleet per H3 cell (pure): how many vehicles each cell needs for the horizon.

One vehicle type at a time (the caller loops over the types): the demand is that type's
forecast summed over the horizon (`Forecast.horizon_totals()`), the supply its available
vehicles with enough battery per cell, both computed by the caller, as are the cells
where parking is allowed (inside the service area, outside no-parking zones) and the
hub cells (mandatory-parking hubs, always a place to park).

Model. Within the horizon, starts and ends in a cell arrive as independent Poisson
processes with the forecast's means S and E, spread evenly in time. A cell holding n
vehicles runs out when a rider wants to start and none is there, i.e. when starts minus
ends, counted from the horizon's beginning, ever exceeds n. So an end counts only if it
arrives before the start it would serve; ends after it do not. The target is the
smallest n with P(max over the horizon of (starts - ends) <= n) >= p, the service level.
Treating every end as too late (ignoring ends) would give the Poisson(S) quantile; a
Skellam quantile of S - E would count every end, also those that arrive too late; the
running maximum lies between them. Its distribution comes from the events' order alone:
the number of events is Poisson(S + E), each one a start with probability S / (S + E),
and the running maximum of a walk with independent steps has the law of the same walk
reflected at 0 (Lindley), so one pass over the number of events gives
P(max <= n) for every n. The Poisson weights are computed in log space, so the means can
be large. With no ends it is the Poisson quantile; with no demand the target is 0; it is
non-decreasing in p and non-increasing in E.

Cells where parking is not allowed get target 0; their demand moves to the nearest
cell where parking is allowed (grid_disk rings outward, the nearest centre first),
except that a hub within `hub_radius` rings is taken first. Demand finding no such cell
within `max_radius` rings is reported as unplaced.
"""

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt

from fleet.rebalancing.forecast import CellDemand

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

DEFAULT_SERVICE_LEVEL = 0.9
DEFAULT_HUB_RADIUS = 1
DEFAULT_MAX_RADIUS = 10
# Events beyond mean + TAIL_SIGMAS * sd + TAIL_EVENTS carry a negligible Poisson mass
# (far below 1e-12); it is counted as running out, so targets err on the safe side.
TAIL_SIGMAS = 12.0
TAIL_EVENTS = 30
NO_DEMAND = CellDemand(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class CellTarget:
    """A cell's supply, target and the expected demand (after relocation) it is set for."""

    cell: int
    supply: int
    target: int
    starts: float
    ends: float

    @property
    def surplus(self) -> int:
        """Vehicles beyond the target (negative: the deficit)."""
        return self.supply - self.target


@dataclass(frozen=True, slots=True)
class FleetTargets:
    """Targets of every cell with demand or supply (sorted by cell), and the totals."""

    cells: tuple[CellTarget, ...]
    unplaced: CellDemand  # demand of disallowed cells with no parkable cell near enough

    @property
    def supply(self) -> int:
        """Vehicles available fleet-wide."""
        return sum(c.supply for c in self.cells)

    @property
    def target(self) -> int:
        """Vehicles needed fleet-wide."""
        return sum(c.target for c in self.cells)

    @property
    def surplus(self) -> int:
        """Fleet-wide supply minus target (negative: the fleet is short)."""
        return self.supply - self.target


def fleet_targets(
    demand: Mapping[int, CellDemand],
    supply: Mapping[int, int],
    allowed: Collection[int],
    hubs: Collection[int] = (),
    *,
    service_level: float = DEFAULT_SERVICE_LEVEL,
    hub_radius: int = DEFAULT_HUB_RADIUS,
    max_radius: int = DEFAULT_MAX_RADIUS,
) -> FleetTargets:
    """Supply, target and surplus per cell of one vehicle type for the horizon."""
    _check_level(service_level)
    if any(n < 0 for n in supply.values()):
        raise ValueError("supply must be >= 0")
    hub_cells = frozenset(hubs)
    parkable = frozenset(allowed) | hub_cells
    placed, unplaced = relocate_demand(
        demand, parkable, hub_cells, hub_radius=hub_radius, max_radius=max_radius
    )
    cells = sorted(
        {c for c, d in placed.items() if d.starts > 0 or d.ends > 0}
        | {c for c, n in supply.items() if n > 0}
    )
    wanted = [placed.get(c, NO_DEMAND) for c in cells]
    targets = target_stocks(
        np.array([d.starts for d in wanted]), np.array([d.ends for d in wanted]), service_level
    )
    rows = tuple(
        CellTarget(cell, supply.get(cell, 0), int(target), d.starts, d.ends)
        for cell, d, target in zip(cells, wanted, targets, strict=True)
    )
    return FleetTargets(rows, unplaced)


def relocate_demand(
    demand: Mapping[int, CellDemand],
    parkable: Collection[int],
    hubs: Collection[int] = (),
    *,
    hub_radius: int = DEFAULT_HUB_RADIUS,
    max_radius: int = DEFAULT_MAX_RADIUS,
) -> tuple[dict[int, CellDemand], CellDemand]:
    """Demand per parkable cell, with that of the other cells moved in, and what found none."""
    # Each other cell's demand goes to the nearest parkable cell, or to a parkable hub
    # within `hub_radius` rings if there is one; none within `max_radius` rings: unplaced.
    if hub_radius < 0 or max_radius < 1:
        raise ValueError("hub_radius must be >= 0 and max_radius >= 1")
    parkable, hubs = frozenset(parkable), frozenset(hubs) & frozenset(parkable)
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    lost = [0.0, 0.0]
    for cell, d in demand.items():
        _check_demand(cell, d)
        to = (
            cell if cell in parkable else _destination(cell, parkable, hubs, hub_radius, max_radius)
        )
        if to is None:
            lost[0] += d.starts
            lost[1] += d.ends
            continue
        starts[to] = starts.get(to, 0.0) + d.starts
        ends[to] = ends.get(to, 0.0) + d.ends
    placed = {cell: CellDemand(starts[cell], ends[cell]) for cell in starts}
    return placed, CellDemand(lost[0], lost[1])


def target_stock(starts: float, ends: float, service_level: float = DEFAULT_SERVICE_LEVEL) -> int:
    """The fewest vehicles that keep a cell from running out with probability >= p."""
    return int(target_stocks(np.array([starts]), np.array([ends]), service_level)[0])


def target_stocks(
    starts: Floats, ends: Floats, service_level: float = DEFAULT_SERVICE_LEVEL
) -> Ints:
    """`target_stock` for arrays of cells at once."""
    _check_level(service_level)
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    targets = np.zeros(len(starts), dtype=np.int64)
    for rows, probabilities in _service_curves(starts, ends):
        enough = probabilities >= service_level
        # Where even the last level falls short (a tail of ~1e-12), take the last level.
        first = np.where(enough.any(axis=1), enough.argmax(axis=1), enough.shape[1] - 1)
        targets[rows] = first
    return targets


def service_probability(stock: int, starts: float, ends: float) -> float:
    """P(a cell holding `stock` vehicles does not run out over the horizon)."""
    if stock < 0:
        return 0.0
    curves = list(_service_curves(np.array([float(starts)]), np.array([float(ends)])))
    if not curves:
        return 1.0
    probabilities = curves[0][1][0]
    return float(probabilities[min(stock, len(probabilities) - 1)])


def _service_curves(starts: Floats, ends: Floats) -> Iterator[tuple[Ints, Floats]]:
    """For the cells with starts, grouped by size: their rows and P(max <= n) per n."""
    if not (np.all(np.isfinite(starts)) and np.all(np.isfinite(ends))):
        raise ValueError("demand must be finite")
    if np.any(starts < 0) or np.any(ends < 0):
        raise ValueError("demand must be >= 0")
    events = starts + ends
    limits = np.ceil(events + TAIL_SIGMAS * np.sqrt(events) + TAIL_EVENTS).astype(np.int64)
    # Cells grouped by the next power of two of their event limit share one pass.
    sizes = np.where(starts > 0, 2 ** np.ceil(np.log2(limits)).astype(np.int64), 0)
    for size in np.unique(sizes[sizes > 0]):
        rows = np.flatnonzero(sizes == size)
        yield rows, _running_max_cdf(starts[rows], ends[rows], int(size))


def _running_max_cdf(starts: Floats, ends: Floats, steps: int) -> Floats:
    """P(max over the horizon of (starts - ends) <= n) for n = 0..steps, per cell (rows)."""
    events = starts + ends
    up = (starts / events)[:, None]
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, steps + 1)))])
    m = np.arange(steps + 1)
    weights = np.exp(m * np.log(events)[:, None] - events[:, None] - log_factorial)
    # The walk reflected at 0 after m events has the law of the running maximum.
    level = np.zeros((len(starts), steps + 2))
    level[:, 0] = 1.0
    cdf = np.zeros((len(starts), steps + 1))
    for k in range(steps + 1):
        cdf += weights[:, k, None] * level[:, : steps + 1]
        moved = np.zeros_like(level)
        moved[:, 1:] = up * level[:, :-1]
        moved[:, :-1] += (1 - up) * level[:, 1:]
        moved[:, 0] += (1 - up[:, 0]) * level[:, 0]
        level = moved
    result: Floats = np.cumsum(cdf, axis=1)
    return result


def _destination(
    cell: int, parkable: frozenset[int], hubs: frozenset[int], hub_radius: int, max_radius: int
) -> int | None:
    """The hub nearest `cell` within `hub_radius`, else the nearest parkable cell."""
    for radius, choices in ((hub_radius, hubs), (max_radius, parkable)):
        for ring in _rings(cell, radius):
            found = [c for c in ring if c in choices]
            if found:
                return found[0]
    return None


def _rings(cell: int, radius: int) -> Iterator[list[int]]:
    """grid_disk rings 1..radius around `cell`, each sorted by distance between centres."""
    centre = h3.cell_to_latlng(cell)
    inner = {cell}
    for k in range(1, radius + 1):
        disk = set(h3.grid_disk(cell, k))
        ring = disk - inner
        inner = disk
        yield sorted(
            ring, key=lambda c: (h3.great_circle_distance(centre, h3.cell_to_latlng(c)), c)
        )


def _check_level(service_level: float) -> None:
    if not 0 < service_level < 1:
        raise ValueError("service_level must be within (0, 1)")


def _check_demand(cell: int, demand: CellDemand) -> None:
    values = (demand.starts, demand.ends)
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"demand of cell {cell} must be finite and >= 0")
