"""Which ride a rider takes: where to, along which path, and which rule it breaks (pure)."""

import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from shapely.geometry import LineString

from demo.simulator import demand, paths
from demo.simulator.citymap import XY, CityMap, distance
from demo.simulator.misbehaviour import (
    Misbehaviour,
    Rates,
    no_ride_target,
    parking_target,
    slow_zone_crossing,
    trip_misbehaviour,
)

MIN_RIDE_M = 150.0
TRIES = 8


@dataclass(frozen=True)
class Reach:
    """How far a kind of vehicle goes: a typical ride and the longest."""

    median_m: float
    max_m: float


@dataclass(frozen=True)
class Ride:
    """A planned ride: its path and the rule it is meant to break (None: none)."""

    path: LineString
    misbehaviour: Misbehaviour | None = None


def _path(
    cmap: CityMap, origin: XY, kind: Misbehaviour | None, end: XY, rng: random.Random, reach: Reach
) -> LineString | None:
    """The path a ride breaking `kind` takes; a well-behaved one for None and parking (the
    destination breaks that rule, not the way there)."""
    if kind is Misbehaviour.SPEEDING:
        crossing = slow_zone_crossing(cmap, origin, rng, reach.max_m)
        if crossing is None:
            return None
        return paths.route([origin, crossing, end], rng, [cmap.can_ride, cmap.can_ride])
    if kind is Misbehaviour.NO_RIDE:
        target = no_ride_target(cmap, origin, rng, reach.max_m)
        return None if target is None else paths.ride_via(cmap, origin, target, end, rng)
    if kind is Misbehaviour.LEAVE_AREA:
        return paths.ride_out(cmap, origin, end, rng)
    return paths.ride(cmap, origin, end, rng)


def plan_ride(
    cmap: CityMap,
    origin: XY,
    ts_ms: int,
    tz: ZoneInfo,
    rng: random.Random,
    reach: Reach,
    rates: Rates,
    allowed: frozenset[Misbehaviour],
) -> Ride | None:
    """A ride from `origin` at `ts_ms`; None when no destination works out (try later)."""
    kind = trip_misbehaviour(rates, rng, allowed)
    for attempt in range(2 * TRIES):
        if attempt == TRIES:
            kind = None  # the misbehaviour does not fit here: ride well instead
        end: XY | None
        if kind is Misbehaviour.PARKING:
            end = parking_target(cmap, origin, rng, reach.max_m)
        else:
            raw = demand.destination(cmap, origin, ts_ms, tz, rng, reach.median_m, reach.max_m)
            end = cmap.parking_instead(raw, rng)
        if end is None or distance(origin, end) < MIN_RIDE_M:
            continue
        path = _path(cmap, origin, kind, end, rng, reach)
        if path is not None and path.length <= 1.6 * reach.max_m:
            return Ride(path, kind)
    return None
