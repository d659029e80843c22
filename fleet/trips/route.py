"""The distance of a trip along its telemetry, with GPS jitter and gaps handled (pure).

Method, in order, over the points sorted by time:

1. A point is dropped when reaching it from the last kept point would need a speed above
   `max_speed_m_s`: a GPS jump, not a movement.
2. A point is dropped when it lies within its own reported horizontal accuracy (at least
   `min_step_m`) of the last kept point: standing still, the fix wanders, and summing that
   wandering would lengthen a parked trip for every minute it stands.
3. The distance is the sum of great-circle legs between kept points. A leg across a gap
   longer than `max_gap_s` is still counted as a straight line (the vehicle did get
   there), but the route is reported as having gaps.

The trip's end point is always kept, so the distance reaches where the trip ended.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from fleet.live.geo import haversine_m


@dataclass(frozen=True)
class Fix:
    """One telemetry point of a trip."""

    ts_ms: int
    lat: float
    lng: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class RouteLimits:
    """What counts as a jump, as standing still, and as a gap."""

    max_speed_m_s: float = 20.0
    min_step_m: float = 5.0
    max_gap_s: float = 60.0


@dataclass(frozen=True)
class Route:
    """The kept points, the distance along them, and whether the telemetry had gaps."""

    points: tuple[Fix, ...]
    distance_m: float
    dropped: int
    has_gaps: bool


def measure_route(fixes: Sequence[Fix], limits: RouteLimits = RouteLimits()) -> Route:
    """Filter jitter and jumps out of a trip's fixes and measure what remains."""
    ordered = sorted(fixes, key=lambda f: f.ts_ms)
    if not ordered:
        return Route((), 0.0, 0, False)
    kept = [ordered[0]]
    for fix in ordered[1:-1]:
        last = kept[-1]
        step = haversine_m(last.lat, last.lng, fix.lat, fix.lng)
        seconds = (fix.ts_ms - last.ts_ms) / 1000
        if seconds > 0 and step / seconds > limits.max_speed_m_s:
            continue
        if step < max(limits.min_step_m, fix.accuracy_m or 0.0):
            continue
        kept.append(fix)
    if len(ordered) > 1:
        kept.append(ordered[-1])
    distance = 0.0
    gaps = False
    for a, b in pairwise(kept):
        distance += haversine_m(a.lat, a.lng, b.lat, b.lng)
        gaps = gaps or (b.ts_ms - a.ts_ms) / 1000 > limits.max_gap_s
    return Route(tuple(kept), distance, len(ordered) - len(kept), gaps)
