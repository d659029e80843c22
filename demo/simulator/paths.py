"""Plausible paths between two points without a street graph (pure, seeded).

A path is a gently curved polyline (a quadratic Bézier curve bent sideways by a random
fraction of its length). When it would leave the allowed area, it is bent less, then
straightened, then routed through a detour point; when nothing fits, there is no path
and the rider picks another destination.
"""

import itertools
import math
import random
from collections.abc import Callable, Sequence

from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from demo.simulator.citymap import XY, CityMap, distance, nearest_exit

# Vertices of a curve every this many metres, enough for a smooth ride.
VERTEX_SPACING_M = 40.0
MAX_BEND = 0.22
DETOUR_TRIES = 30

Check = Callable[[LineString], bool]


def curve(a: XY, b: XY, bend: float) -> list[XY]:
    """Vertices of a quadratic Bézier from a to b, its control point `bend` x length aside."""
    length = distance(a, b)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    if length == 0:
        return [a, b]
    # The unit normal to a→b, turned left.
    nx, ny = -(b[1] - a[1]) / length, (b[0] - a[0]) / length
    control = (mid[0] + nx * bend * length, mid[1] + ny * bend * length)
    count = max(2, math.ceil(length / VERTEX_SPACING_M))
    vertices = []
    for i in range(count + 1):
        t = i / count
        u = 1 - t
        vertices.append(
            (
                u * u * a[0] + 2 * u * t * control[0] + t * t * b[0],
                u * u * a[1] + 2 * u * t * control[1] + t * t * b[1],
            )
        )
    return vertices


def within(shape: BaseGeometry) -> Check:
    """A check that a line lies inside `shape`."""
    return lambda line: bool(shape.contains(line))


def leg(a: XY, b: XY, rng: random.Random, check: Check) -> list[XY] | None:
    """Vertices of a path a→b passing `check`, or None."""
    bend = rng.uniform(-MAX_BEND, MAX_BEND)
    for factor in (1.0, 0.5, 0.0):
        vertices = curve(a, b, bend * factor)
        if check(LineString(vertices)):
            return vertices
    length = distance(a, b)
    best: list[XY] | None = None
    best_length = math.inf
    for _ in range(DETOUR_TRIES):
        # A detour point around the middle, up to half the length (and 300 m) aside.
        radius = length / 2 + 300
        angle = rng.uniform(0, 2 * math.pi)
        r = radius * math.sqrt(rng.random())
        via = ((a[0] + b[0]) / 2 + r * math.cos(angle), (a[1] + b[1]) / 2 + r * math.sin(angle))
        first, second = curve(a, via, 0.0), curve(via, b, 0.0)
        total = distance(a, via) + distance(via, b)
        if total < best_length and check(LineString(first)) and check(LineString(second)):
            best, best_length = first + second[1:], total
    return best


def route(stops: Sequence[XY], rng: random.Random, checks: Sequence[Check]) -> LineString | None:
    """A path through `stops` in order, leg i passing `checks[i]`; None if a leg fails."""
    vertices: list[XY] = [stops[0]]
    for (a, b), check in zip(itertools.pairwise(stops), checks, strict=True):
        part = leg(a, b, rng, check)
        if part is None:
            return None
        vertices += part[1:]
    return LineString(vertices)


def ride(cmap: CityMap, a: XY, b: XY, rng: random.Random) -> LineString | None:
    """A well-behaved ride a→b: inside the service area, away from no-ride zones."""
    return route([a, b], rng, [cmap.can_ride])


def ride_via(cmap: CityMap, a: XY, via: XY, b: XY, rng: random.Random) -> LineString | None:
    """A ride a→via→b that may cross no-ride zones (it is meant to enter one)."""
    inside = within(cmap.inner)
    return route([a, via, b], rng, [inside, inside])


def ride_out(cmap: CityMap, a: XY, b: XY, rng: random.Random) -> LineString | None:
    """A ride a→b with an excursion out of the service area past its nearest edge.

    The excursion goes 60-150 m beyond the outline, so that fleetbed sees the vehicle
    leave (more than its hysteresis depth, for longer than its dwell time)."""
    edge = nearest_exit(cmap.service_area, a)
    reach = distance(a, edge)
    if reach == 0:
        return None
    ux, uy = (edge[0] - a[0]) / reach, (edge[1] - a[1]) / reach
    back = (edge[0] - ux * 15, edge[1] - uy * 15)
    for _ in range(5):
        out = rng.uniform(60, 150)
        outside = (edge[0] + ux * out, edge[1] + uy * out)
        point = Point(outside)
        if not cmap.service_area.contains(point) and (
            cmap.service_area.exterior.distance(point) > 40
        ):
            break
    else:
        return None
    area = within(cmap.service_area)
    to_edge = route([a, back], rng, [area])
    home = route([back, b], rng, [area])
    if to_edge is None or home is None:
        return None
    path = LineString([*to_edge.coords, outside, *home.coords])
    # Only this rule is to be broken: no detour through a no-ride zone.
    return None if cmap.avoid.intersects(path) else path
