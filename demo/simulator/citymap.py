"""The city as the simulated riders see it: the service area and the zones, in metres.

Everything is projected once to a local plane (x east, y north, metres from a reference
point). The projection is affine in longitude and latitude, so a straight edge in degrees
(what fleetbed tests points against) stays straight and containment is the same in both;
distances are off by under 1 % across the municipality, which riders do not notice.

Riders keep away from boundaries by margins wider than the GPS jitter, so a well-behaved
vehicle never sets off fleetbed's rules by accident; only deliberate misbehaviour does.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from demo.city import DemoZone, Hotspot, Ring

METRES_PER_DEG_LAT = 110_574.0
METRES_PER_DEG_LNG_EQUATOR = 111_320.0

# Riders keep this far inside the service area...
AREA_MARGIN_M = 40.0
# ...this far from no-ride zones (unless misbehaving), and they slow down this far
# ahead of a slow zone, so that jittered positions never show them in it at speed.
NO_RIDE_MARGIN_M = 20.0
SLOW_MARGIN_M = 25.0
# A parked vehicle keeps this far out of no-parking zones, and this far inside a hub.
PARKING_MARGIN_M = 6.0
# Riders heading for a no-parking zone look for a hub this close.
HUB_REACH_M = 400.0

XY = tuple[float, float]


@dataclass(frozen=True)
class LocalFrame:
    """An equirectangular projection around a reference point: (lat, lng) <-> (x, y) metres."""

    lat0: float
    lng0: float

    @property
    def _kx(self) -> float:
        return METRES_PER_DEG_LNG_EQUATOR * math.cos(math.radians(self.lat0))

    def to_xy(self, lat: float, lng: float) -> XY:
        """Metres east and north of the reference point."""
        return ((lng - self.lng0) * self._kx, (lat - self.lat0) * METRES_PER_DEG_LAT)

    def to_latlng(self, x: float, y: float) -> tuple[float, float]:
        """The inverse of `to_xy`."""
        return (self.lat0 + y / METRES_PER_DEG_LAT, self.lng0 + x / self._kx)

    def ring(self, ring: Ring) -> list[XY]:
        """A GeoJSON ring ((lng, lat) pairs) in metres."""
        return [self.to_xy(lat, lng) for lng, lat in ring]

    def polygon(self, rings: Sequence[Ring]) -> Polygon:
        """A polygon (shell, then holes) in metres."""
        return Polygon(self.ring(rings[0]), [self.ring(r) for r in rings[1:]])


@dataclass(frozen=True)
class SlowZone:
    """A slow zone: its shape, its limit, and the wider band where riders slow down."""

    shape: Polygon
    max_speed_kph: float
    approach: Polygon


@dataclass(frozen=True)
class CityMap:
    """The service area and zones in metres, with the derived shapes riders navigate by."""

    frame: LocalFrame
    service_area: Polygon
    # Where well-behaved riders go: the service area less margins and no-ride zones.
    rideable: BaseGeometry
    # The service area less its margin (no-ride zones not taken out).
    inner: BaseGeometry
    # The no-ride zones with their margin.
    avoid: BaseGeometry
    slow_zones: tuple[SlowZone, ...]
    no_ride: tuple[Polygon, ...]
    no_parking: tuple[Polygon, ...]
    # Where parking is wrong, with the margin: no-parking zones grown by it.
    no_parking_band: BaseGeometry
    hubs: tuple[Polygon, ...]
    hotspots: tuple[Hotspot, ...]
    hotspot_xy: tuple[XY, ...]

    @classmethod
    def build(
        cls, service_area: Ring, zones: Sequence[DemoZone], hotspots: Sequence[Hotspot]
    ) -> "CityMap":
        """The map of a service area outline, the zones published in it and its hotspots."""
        frame = LocalFrame(sum(h.lat for h in hotspots) / len(hotspots), hotspots[0].lng)
        area = frame.polygon([service_area])
        shapes = {z.key: frame.polygon(z.rings) for z in zones}
        no_ride = tuple(shapes[z.key] for z in zones if z.kind == "no_ride")
        no_parking = tuple(shapes[z.key] for z in zones if z.kind == "no_parking")
        slow = tuple(
            SlowZone(
                shapes[z.key],
                float(dict(z.fields)["max_speed_kph"]),
                shapes[z.key].buffer(SLOW_MARGIN_M),
            )
            for z in zones
            if z.kind == "slow"
        )
        inner = area.buffer(-AREA_MARGIN_M)
        avoid = shapely.union_all([z.buffer(NO_RIDE_MARGIN_M) for z in no_ride])
        rideable = inner.difference(avoid)
        band = shapely.union_all([z.buffer(PARKING_MARGIN_M) for z in no_parking])
        for geometry in (rideable, inner, avoid, band):
            shapely.prepare(geometry)
        return cls(
            frame=frame,
            service_area=area,
            rideable=rideable,
            inner=inner,
            avoid=avoid,
            slow_zones=slow,
            no_ride=no_ride,
            no_parking=no_parking,
            no_parking_band=band,
            hubs=tuple(shapes[z.key] for z in zones if z.kind == "parking"),
            hotspots=tuple(hotspots),
            hotspot_xy=tuple(frame.to_xy(h.lat, h.lng) for h in hotspots),
        )

    def can_park(self, p: XY) -> bool:
        """Whether a well-behaved rider may leave a vehicle at `p`."""
        point = Point(p)
        return self.rideable.contains(point) and not self.no_parking_band.intersects(point)

    def can_ride(self, line: LineString) -> bool:
        """Whether a well-behaved rider may ride along `line`."""
        return bool(self.rideable.contains(line))

    def slow_limit_kph(self, a: XY, b: XY) -> float | None:
        """The lowest speed limit of the slow zones whose approach band the step a→b touches."""
        step = LineString([a, b]) if a != b else Point(a)
        limits = [z.max_speed_kph for z in self.slow_zones if z.approach.intersects(step)]
        return min(limits) if limits else None

    def parking_instead(self, p: XY, rng: random.Random) -> XY | None:
        """Where a well-behaved rider heading for `p` parks: `p` if allowed, else in the
        nearest hub within reach that has room, else nowhere (None: go elsewhere)."""
        if self.can_park(p):
            return p
        for hub in sorted(self.hubs, key=lambda h: h.distance(Point(p))):
            if hub.distance(Point(p)) > HUB_REACH_M:
                break
            room = hub.buffer(-PARKING_MARGIN_M).intersection(self.rideable)
            room = room.difference(self.no_parking_band)
            if room.area > 1.0:
                return point_in(room, rng)
        return None


def point_in(shape: BaseGeometry, rng: random.Random) -> XY:
    """A uniformly random point inside a polygon (rejection sampling in its bounds)."""
    min_x, min_y, max_x, max_y = shape.bounds
    for _ in range(1000):
        p = (rng.uniform(min_x, max_x), rng.uniform(min_y, max_y))
        if shape.contains(Point(p)):
            return p
    centre = shape.representative_point()
    return (centre.x, centre.y)


def nearest_exit(shape: Polygon, p: XY) -> XY:
    """The point of `shape`'s outline nearest to `p`."""
    nearest = shape.exterior.interpolate(shape.exterior.project(Point(p)))
    return (nearest.x, nearest.y)


def distance(a: XY, b: XY) -> float:
    """Metres between two points of the plane."""
    return math.hypot(b[0] - a[0], b[1] - a[1])
