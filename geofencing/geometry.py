"""GeoJSON zone geometry: strict parsing into a shapely ``MultiPolygon`` and back.

Pure: takes plain data (a decoded JSON object), returns shapely geometry, does no I/O.

Coordinates are RFC 7946 positions ``[longitude, latitude]`` (an optional altitude is
accepted and dropped) in WGS 84 (EPSG:4326); edges are straight lines in lon/lat, as in
shapely and PostGIS ``geometry``. Ring orientation is not enforced: RFC 7946 recommends
counter-clockwise shells but tells parsers not to reject the other way round, so both are
accepted; :func:`to_geojson` writes the recommended orientation.

Everything that is rejected raises :class:`GeometryError`, whose message names the problem
and where it is (``coordinates[1][0][3]`` is polygon 1, ring 0, position 3).

Area (:func:`area_km2`, and the "absurdly large" limit) is computed in the Lambert
cylindrical equal-area projection (x = R·λ, y = R·sin φ) on the authalic sphere: that
projection preserves area, so the planar area of the projected polygon is the polygon's area
on the sphere up to the shape of its edges (straight in lon/lat rather than in the
projection), far below 0.1 % for city-sized zones; the sphere differs from the WGS 84
ellipsoid by less than 0.5 %. It is the formula Turf and OpenLayers use. Good enough for a
sanity limit and for display, not for surveying.
"""

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

DEFAULT_MAX_AREA_KM2 = 5_000.0
AUTHALIC_RADIUS_KM = 6371.0072

_LOCATION = re.compile(r"\[([-+0-9.eE]+) ([-+0-9.eE]+)\]")


class GeometryError(ValueError):
    """A zone geometry that cannot be accepted; the message says why and where."""


def parse_geometry(obj: Any, *, max_area_km2: float = DEFAULT_MAX_AREA_KM2) -> MultiPolygon:
    """Validate a GeoJSON Polygon/MultiPolygon (or a Feature of one) into a MultiPolygon."""
    path = ""
    if not isinstance(obj, Mapping):
        raise GeometryError(f"geometry must be a GeoJSON object, got {_kind(obj)}")
    kind = obj.get("type")
    if kind == "Feature":
        obj = obj.get("geometry")
        path = "geometry."
        if not isinstance(obj, Mapping):
            raise GeometryError(
                f"geometry: a Feature must wrap a geometry object, got {_kind(obj)}"
            )
        kind = obj.get("type")
    if kind == "FeatureCollection":
        raise GeometryError(
            "a FeatureCollection is not a geometry: send one Polygon or MultiPolygon "
            "(or a Feature wrapping one)"
        )
    if kind not in ("Polygon", "MultiPolygon"):
        raise GeometryError(
            f"{path}type: geometry type must be Polygon or MultiPolygon, got {kind!r}"
        )
    if "coordinates" not in obj:
        raise GeometryError(f"{path}coordinates: missing")
    coords = obj["coordinates"]
    path = f"{path}coordinates"
    polygon_arrays: list[tuple[str, Any]]
    if kind == "Polygon":
        _require_list(coords, path, "a Polygon's coordinates must be an array of rings")
        polygon_arrays = [(path, coords)] if coords else []
    else:
        _require_list(coords, path, "a MultiPolygon's coordinates must be an array of polygons")
        polygon_arrays = [(f"{path}[{i}]", p) for i, p in enumerate(coords)]
    if not polygon_arrays:
        raise GeometryError(f"{path}: geometry is empty (no polygons)")
    polygons = [_polygon(p_path, rings) for p_path, rings in polygon_arrays]
    result = MultiPolygon(polygons)
    _check_parts(result, [p_path for p_path, _ in polygon_arrays])
    area = area_km2(result)
    if area > max_area_km2:
        raise GeometryError(
            f"geometry is absurdly large: {area:,.1f} km² exceeds the limit of "
            f"{max_area_km2:,.1f} km² (check the coordinates and their order)"
        )
    return result


def to_geojson(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    """GeoJSON MultiPolygon dict, shells counter-clockwise and holes clockwise (RFC 7946)."""
    polygons = []
    parts = [geom] if isinstance(geom, Polygon) else list(geom.geoms)
    for part in parts:
        oriented = orient(part, sign=1.0)
        rings = [oriented.exterior, *oriented.interiors]
        polygons.append([[[float(x), float(y)] for x, y in ring.coords] for ring in rings])
    return {"type": "MultiPolygon", "coordinates": polygons}


def area_km2(geom: Polygon | MultiPolygon) -> float:
    """Area on the authalic sphere in km² (Lambert cylindrical equal-area; see module doc)."""

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty_like(xy)
        out[:, 0] = np.radians(xy[:, 0]) * AUTHALIC_RADIUS_KM
        out[:, 1] = np.sin(np.radians(xy[:, 1])) * AUTHALIC_RADIUS_KM
        return out

    return float(shapely.transform(geom, project).area)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _require_list(value: Any, path: str, what: str) -> None:
    if not isinstance(value, list):
        raise GeometryError(f"{path}: {what}, got {_kind(value)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(x: float, y: float) -> str:
    return f"[{x:.7g}, {y:.7g}]"


def _position(value: Any, path: str) -> tuple[float, float]:
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        raise GeometryError(
            f"{path}: a position must be an array of 2 or 3 numbers "
            f"[longitude, latitude(, altitude)], got {_kind(value)}"
            + (f" of {len(value)}" if isinstance(value, list) else "")
        )
    for i, v in enumerate(value):
        if not _is_number(v):
            raise GeometryError(f"{path}[{i}]: coordinates must be numbers, got {_kind(v)}")
        if not math.isfinite(v):
            raise GeometryError(f"{path}[{i}]: coordinates must be finite numbers, got {v}")
    x, y = float(value[0]), float(value[1])
    if abs(x) <= 90 < abs(y) <= 180:
        raise GeometryError(
            f"{path}: positions must be [longitude, latitude]; {_fmt(x, y)} has a latitude "
            "beyond ±90 and looks like [latitude, longitude]"
        )
    if not -180 <= x <= 180:
        raise GeometryError(f"{path}: longitude {x:.7g} is out of range [-180, 180]")
    if not -90 <= y <= 90:
        raise GeometryError(f"{path}: latitude {y:.7g} is out of range [-90, 90]")
    return x, y


def _ring(value: Any, path: str) -> list[tuple[float, float]]:
    _require_list(value, path, "a linear ring must be an array of positions")
    positions = [_position(p, f"{path}[{i}]") for i, p in enumerate(value)]
    if len(positions) < 4:
        raise GeometryError(
            f"{path}: a linear ring needs at least 4 positions (first = last), got {len(positions)}"
        )
    if positions[0] != positions[-1]:
        raise GeometryError(
            f"{path}: ring is not closed: first position {_fmt(*positions[0])} differs from "
            f"last {_fmt(*positions[-1])}"
        )
    if len(set(positions)) < 3:
        raise GeometryError(f"{path}: ring needs at least 3 distinct positions")
    ring_polygon = Polygon(positions)
    reason = shapely.is_valid_reason(ring_polygon)
    if reason != "Valid Geometry":
        if ring_polygon.convex_hull.area == 0:
            raise GeometryError(
                f"{path}: ring encloses no area (all its positions are on one line)"
            )
        raise GeometryError(f"{path}: ring intersects itself{_where(reason)}")
    return positions


def _polygon(path: str, rings_value: Any) -> Polygon:
    _require_list(rings_value, path, "a polygon must be an array of linear rings")
    if not rings_value:
        raise GeometryError(f"{path}: polygon has no rings (empty polygon)")
    rings = [_ring(r, f"{path}[{i}]") for i, r in enumerate(rings_value)]
    shell = Polygon(rings[0])
    for i, hole_ring in enumerate(rings[1:], start=1):
        hole = Polygon(hole_ring)
        if shell.covers(hole):
            continue
        if shell.relate_pattern(hole, "T********"):
            raise GeometryError(f"{path}[{i}]: hole crosses its shell (ring {path}[0])")
        raise GeometryError(f"{path}[{i}]: hole lies outside its shell (ring {path}[0])")
    polygon = Polygon(rings[0], rings[1:])
    reason = shapely.is_valid_reason(polygon)
    if reason == "Valid Geometry":
        return polygon
    where = _where(reason)
    if reason.startswith("Holes are nested"):
        raise GeometryError(f"{path}: a hole lies inside another hole{where}")
    if reason.startswith("Interior is disconnected"):
        raise GeometryError(f"{path}: holes cut the polygon's interior into separate pieces{where}")
    if reason.startswith("Self-intersection") or reason.startswith("Ring Self-intersection"):
        raise GeometryError(f"{path}: rings cross each other or share an edge{where}")
    raise GeometryError(f"{path}: invalid polygon: {reason}")


def _check_parts(geom: MultiPolygon, paths: Sequence[str]) -> None:
    reason = shapely.is_valid_reason(geom)
    if reason == "Valid Geometry":
        return
    parts = list(geom.geoms)
    tree = shapely.STRtree(parts)
    left, right = tree.query(parts, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        pair = MultiPolygon([parts[i], parts[j]])
        pair_reason = shapely.is_valid_reason(pair)
        if pair_reason == "Valid Geometry":
            continue
        if parts[i].covers(parts[j]) or parts[j].covers(parts[i]):
            problem = "one lies inside the other"
        else:
            problem = "they overlap or share an edge"
        raise GeometryError(
            f"{paths[i]} and {paths[j]}: polygons of a MultiPolygon must not overlap or share "
            f"edges, but {problem}{_where(pair_reason)}; merge them into one polygon"
        )
    raise GeometryError(f"invalid MultiPolygon: {reason}")


def _where(reason: str) -> str:
    match = _LOCATION.search(reason)
    if match is None:
        return ""
    return f" at {_fmt(float(match.group(1)), float(match.group(2)))}"
