"""When and where people ride: hour-of-day and weekday profiles, hotspots, trip lengths (pure).

Each hotspot's pull mixes a commute profile (peaks at 7-9 and 16-18 on weekdays) and a
leisure profile (afternoons and evenings, all week) by its `commute` share. Riders head
for a hotspot chosen by that pull, or wander a lognormal distance in any direction.
"""

import math
import random
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from app.core.mstime import from_ms
from demo.simulator.citymap import XY, CityMap, distance

# Relative demand per local hour (0-23); each profile averages 1 over a day.
_COMMUTE = (
    0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1.6, 3.2, 3.0, 1.4, 0.8, 0.8,
    1.0, 0.9, 0.9, 1.3, 2.6, 3.0, 1.8, 0.9, 0.6, 0.4, 0.3, 0.2,
)  # fmt: skip
_LEISURE = (
    0.4, 0.3, 0.2, 0.1, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3,
    1.5, 1.6, 1.7, 1.7, 1.7, 1.7, 1.7, 1.6, 1.4, 1.2, 0.9, 0.6,
)  # fmt: skip
_WEEKEND_LEISURE = 1.25


def _norm(profile: Sequence[float]) -> tuple[float, ...]:
    mean = sum(profile) / len(profile)
    return tuple(v / mean for v in profile)


COMMUTE, LEISURE = _norm(_COMMUTE), _norm(_LEISURE)


def local_time(ts_ms: int, tz: ZoneInfo) -> datetime:
    """The city's local time at `ts_ms`."""
    return from_ms(ts_ms).astimezone(tz)


def activity(ts_ms: int, tz: ZoneInfo, commute_share: float) -> float:
    """Relative demand at `ts_ms` for a mix of commuters and leisure riders (mean ≈ 1)."""
    local = local_time(ts_ms, tz)
    # Interpolate between hours, so demand does not jump on the hour.
    hour = local.hour + local.minute / 60
    h0, frac = int(hour) % 24, hour - int(hour)
    h1 = (h0 + 1) % 24
    leisure = LEISURE[h0] * (1 - frac) + LEISURE[h1] * frac
    if local.weekday() >= 5:
        return leisure * _WEEKEND_LEISURE
    commute = COMMUTE[h0] * (1 - frac) + COMMUTE[h1] * frac
    return commute_share * commute + (1 - commute_share) * leisure


def trips_per_hour(ts_ms: int, tz: ZoneInfo, trips_per_day: float, steady: bool = False) -> float:
    """How many trips an idle vehicle starts per hour at `ts_ms`, on average; `steady`:
    the same at every hour (a load that does not depend on the time of day)."""
    return trips_per_day / 24 * (1.0 if steady else activity(ts_ms, tz, 0.5))


def hotspot_weights(cmap: CityMap, ts_ms: int, tz: ZoneInfo) -> list[float]:
    """The pull of each hotspot at `ts_ms`."""
    return [h.weight * activity(ts_ms, tz, h.commute) for h in cmap.hotspots]


def wander_m(rng: random.Random, median_m: float, max_m: float) -> float:
    """A lognormal trip length around `median_m`, between 300 m and `max_m`."""
    return min(max(rng.lognormvariate(math.log(median_m), 0.55), 300.0), max_m)


def near(rng: random.Random, centre: XY, sigma_m: float) -> XY:
    """A point scattered around `centre` (normal, `sigma_m` per axis)."""
    return (centre[0] + rng.gauss(0, sigma_m), centre[1] + rng.gauss(0, sigma_m))


def destination(
    cmap: CityMap,
    origin: XY,
    ts_ms: int,
    tz: ZoneInfo,
    rng: random.Random,
    median_m: float,
    max_m: float,
) -> XY:
    """A raw destination (not yet checked for parking): a hotspot within reach by its
    pull, or a wander from `origin`."""
    if rng.random() < 0.6:
        weights = hotspot_weights(cmap, ts_ms, tz)
        reachable = [
            (xy, w)
            for xy, w in zip(cmap.hotspot_xy, weights, strict=True)
            if 200 < distance(origin, xy) <= max_m
        ]
        if reachable:
            centre = rng.choices([xy for xy, _ in reachable], [w for _, w in reachable])[0]
            return near(rng, centre, 120.0)
    length = wander_m(rng, median_m, max_m)
    angle = rng.uniform(0, 2 * math.pi)
    return (origin[0] + length * math.cos(angle), origin[1] + length * math.sin(angle))


def parking_spot(cmap: CityMap, rng: random.Random) -> XY:
    """Where a vehicle is dropped off: a legal spot near a hotspot (by weight), or further
    out around one."""
    weights = [h.weight for h in cmap.hotspots]
    for _ in range(100):
        centre = rng.choices(cmap.hotspot_xy, weights)[0]
        spot = cmap.parking_instead(near(rng, centre, 150.0 if rng.random() < 0.7 else 600.0), rng)
        if spot is not None:
            return spot
    raise ValueError("no legal parking spot near any hotspot")
