"""The van-route planner's input and output: plain frozen dataclasses, validated on creation.

Times are whole seconds from the plan's start. A `Problem` checks itself when it is made
and raises `PlanningError` naming the offending field, so a planner only ever sees valid
input.
"""

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from app.core.errors import InvalidInput

if TYPE_CHECKING:
    from fleet.rebalancing.travel import TravelTimes

StopKind = Literal["start", "pickup", "dropoff", "depot"]


class PlanningError(InvalidInput):
    """The planning input is not acceptable; `field` names the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", fields=(field,))
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type["PlanningError"], tuple[str, str]]:
        # Raised in a worker process, it is pickled back with both arguments.
        return (PlanningError, (self.field, self.message))


@dataclass(frozen=True, slots=True)
class Place:
    """A point: WGS 84 degrees."""

    lat: float  # latitude, degrees in [-90, 90]
    lng: float  # longitude, degrees in [-180, 180]


@dataclass(frozen=True, slots=True)
class Van:
    """A rebalancing van and its shift."""

    van_id: str  # the van's id, unique in the problem
    start: Place  # where the van is when the plan starts
    depot: Place  # where the van's route ends
    capacity: int  # vehicles the van carries at most, >= 1
    shift_end_s: int  # the van is back at its depot by then, >= 0
    batteries: int = 0  # charged batteries on board; > 0 makes the van swap on board
    start_load: int = 0  # charged vehicles on board at the start (ignored if free_start_load)
    agent_id: str | None = None  # the field agent driving it, passed through to the caller


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle parked at a site."""

    device_id: str  # the vehicle's device id, unique in the problem
    low_battery: bool  # unusable until its battery is swapped


@dataclass(frozen=True, slots=True)
class Site:
    """A place whose fleet should change."""

    site_id: str  # unique in the problem
    place: Place  # where the vans stop
    surplus: int  # > 0: charged vehicles to pick up; < 0: vehicles lacking (to drop off)
    vehicles: tuple[Vehicle, ...] = ()  # those parked there; the low-battery ones are collected


@dataclass(frozen=True, slots=True)
class Problem:
    """Everything one planning run needs."""

    vans: tuple[Van, ...]  # at least one
    sites: tuple[Site, ...]  # sites with nothing to do are ignored
    travel: "TravelTimes"  # driving seconds between places
    stop_s: int  # seconds to park and leave at a site
    handle_s: int  # seconds per vehicle loaded or unloaded
    swap_s: int  # seconds per battery swapped on board
    unserved_penalty_s: int  # objective cost per vehicle of imbalance left
    must_balance: bool  # every site visited once and fully balanced (the benchmark's rule)
    free_start_load: bool  # vans leave with any load in [0, capacity] (the benchmark's rule)
    time_limit_s: float  # search time of the solver, > 0

    def __post_init__(self) -> None:
        _check_problem(self)


@dataclass(frozen=True, slots=True)
class Stop:
    """One stop of a route: what the van does there and when."""

    site_id: str | None  # the site, None at the start and the depot
    kind: StopKind  # start, pickup (surplus or low-battery vehicles), dropoff, depot (end)
    place: Place  # where the stop is
    arrive_s: int  # arrival, seconds from the plan's start
    depart_s: int  # departure, after parking, handling and swapping
    picked: tuple[str, ...] = ()  # device ids loaded here (charged ones, then low-battery)
    dropped: tuple[str, ...] = ()  # device ids unloaded here (at the depot: all left on board)
    dropped_stock: int = 0  # vehicles unloaded that came from the start load (no device id)
    swapped: tuple[str, ...] = ()  # low-battery vehicles loaded here and swapped on board
    to_depot: tuple[str, ...] = ()  # low-battery vehicles loaded here and kept for the depot
    load_after: int = 0  # vehicles on board when the van leaves


@dataclass(frozen=True, slots=True)
class Route:
    """One van's stops, from its start to its depot; empty if the van is not needed."""

    van_id: str  # the van
    stops: tuple[Stop, ...]  # start, site stops, depot; () when the van stays


@dataclass(frozen=True, slots=True)
class Plan:
    """The routes of every van and what they cost."""

    routes: tuple[Route, ...]  # one per van, in the problem's order
    travel_s: int  # driving seconds of all routes
    unserved: int  # vehicles of imbalance left (surplus, deficit and low-battery ones)
    objective: int  # travel_s + unserved_penalty_s * unserved
    solver: str  # what found the plan: "exact", "ortools", "search" or "greedy"


def _check_problem(problem: Problem) -> None:
    _require(bool(problem.vans), "vans", "at least one van is needed")
    _require_unique([v.van_id for v in problem.vans], "vans", "van_id")
    for i, van in enumerate(problem.vans):
        _check_van(van, f"vans[{i}]")
    _require_unique([s.site_id for s in problem.sites], "sites", "site_id")
    device_ids = [v.device_id for s in problem.sites for v in s.vehicles]
    _require_unique(device_ids, "sites", "device_id")
    for i, site in enumerate(problem.sites):
        _check_site(site, f"sites[{i}]")
    for name in ("stop_s", "handle_s", "swap_s", "unserved_penalty_s"):
        _require(getattr(problem, name) >= 0, name, "must not be negative")
    limit = problem.time_limit_s
    _require(math.isfinite(limit) and limit > 0, "time_limit_s", "must be a positive number")


def _check_van(van: Van, path: str) -> None:
    _check_place(van.start, f"{path}.start")
    _check_place(van.depot, f"{path}.depot")
    _require(van.capacity >= 1, f"{path}.capacity", "must be at least 1")
    _require(van.shift_end_s >= 0, f"{path}.shift_end_s", "must not be negative")
    _require(van.batteries >= 0, f"{path}.batteries", "must not be negative")
    _require(0 <= van.start_load <= van.capacity, f"{path}.start_load", "must be in [0, capacity]")


def _check_site(site: Site, path: str) -> None:
    _check_place(site.place, f"{path}.place")
    charged = sum(not v.low_battery for v in site.vehicles)
    _require(
        site.surplus <= charged,
        f"{path}.surplus",
        f"{site.surplus} to pick up, but only {charged} charged vehicles are listed",
    )


def _check_place(place: Place, path: str) -> None:
    _require(math.isfinite(place.lat) and -90 <= place.lat <= 90, f"{path}.lat", "not in [-90, 90]")
    _require(
        math.isfinite(place.lng) and -180 <= place.lng <= 180, f"{path}.lng", "not in [-180, 180]"
    )


def _require_unique(values: Sequence[str], field: str, name: str) -> None:
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    _require(not repeated, field, f"{name} repeated: {', '.join(repeated[:5])}")


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise PlanningError(field, message)
