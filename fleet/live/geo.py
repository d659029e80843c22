"""Small geometry helpers for live queries (pure)."""

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BBox:
    """A longitude/latitude box that does not cross the antimeridian."""

    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> "BBox":
        """`MINLNG,MINLAT,MAXLNG,MAXLAT`; ValueError says what is wrong."""
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError("bbox must be MINLNG,MINLAT,MAXLNG,MAXLAT")
        min_lng, min_lat, max_lng, max_lat = (float(p) for p in parts)
        if not all(map(math.isfinite, (min_lng, min_lat, max_lng, max_lat))):
            raise ValueError("bbox values must be finite numbers")
        if not (-180 <= min_lng < max_lng <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValueError("bbox needs -180<=MINLNG<MAXLNG<=180 and -90<=MINLAT<MAXLAT<=90")
        return cls(min_lng, min_lat, max_lng, max_lat)

    def contains(self, lat: float, lng: float) -> bool:
        """Whether the point lies in the box (edges included)."""
        return self.min_lat <= lat <= self.max_lat and self.min_lng <= lng <= self.max_lng

    @property
    def center(self) -> tuple[float, float]:
        """(lat, lng) of the middle."""
        return (self.min_lat + self.max_lat) / 2, (self.min_lng + self.max_lng) / 2

    def search_size_m(self) -> tuple[float, float]:
        """(width, height) in metres of a box around the centre that covers this one."""
        # The box is widest at the edge nearest the equator; measure there, with a margin.
        widest = min(abs(self.min_lat), abs(self.max_lat)) if self.min_lat * self.max_lat > 0 else 0
        width = haversine_m(widest, self.min_lng, widest, self.max_lng)
        height = haversine_m(self.min_lat, 0, self.max_lat, 0)
        return width * 1.01 + 1, height * 1.01 + 1


def parse_point(text: str) -> tuple[float, float]:
    """`LAT,LNG`; ValueError says what is wrong."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError("near must be LAT,LNG")
    lat, lng = float(parts[0]), float(parts[1])
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError("near needs -90<=LAT<=90 and -180<=LNG<=180")
    return lat, lng
