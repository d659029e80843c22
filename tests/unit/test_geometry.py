"""Zone geometry parsing and validation (pure)."""

import copy
import math
from typing import Any

import h3.api.basic_int as h3
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geofencing.geometry import GeometryError, area_km2, parse_geometry, to_geojson

# A small block in central Helsingborg, counter-clockwise.
SQUARE = [[12.690, 56.040], [12.700, 56.040], [12.700, 56.046], [12.690, 56.046], [12.690, 56.040]]
HOLE = [[12.693, 56.042], [12.693, 56.044], [12.697, 56.044], [12.697, 56.042], [12.693, 56.042]]


def polygon(*rings: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [copy.deepcopy(r) for r in rings]}


def shifted(ring: list[list[float]], dx: float, dy: float = 0.0) -> list[list[float]]:
    return [[x + dx, y + dy] for x, y in ring]


def test_polygon_becomes_multipolygon() -> None:
    geom = parse_geometry(polygon(SQUARE, HOLE))
    assert isinstance(geom, MultiPolygon)
    assert len(geom.geoms) == 1
    assert len(geom.geoms[0].interiors) == 1
    assert geom.is_valid


def test_both_orientations_are_accepted() -> None:
    ccw = parse_geometry(polygon(SQUARE, HOLE))
    cw = parse_geometry(polygon(SQUARE[::-1], HOLE[::-1]))
    assert ccw.equals(cw)


def test_feature_wrapper_and_multipolygon() -> None:
    feature = {
        "type": "Feature",
        "properties": {"name": "x"},
        "geometry": {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted(SQUARE, 0.02)]]},
    }
    geom = parse_geometry(feature)
    assert len(geom.geoms) == 2


def test_altitude_is_dropped() -> None:
    geom = parse_geometry(polygon([[x, y, 12.5] for x, y in SQUARE]))
    assert not geom.has_z


def test_to_geojson_round_trip_and_rfc7946_orientation() -> None:
    geom = parse_geometry(polygon(SQUARE[::-1], HOLE))
    out = to_geojson(geom)
    assert out["type"] == "MultiPolygon"
    shell, hole = out["coordinates"][0]
    assert Polygon(shell).exterior.is_ccw
    assert not Polygon(hole).exterior.is_ccw
    assert parse_geometry(out).equals(geom)
    assert to_geojson(geom.geoms[0]) == out


def test_area_matches_h3_cell_area() -> None:
    cell = h3.latlng_to_cell(56.04, 12.69, 7)
    ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
    geom = parse_geometry(polygon([*ring, ring[0]]))
    assert area_km2(geom) == pytest.approx(h3.cell_area(cell, unit="km^2"), rel=1e-3)


def test_area_of_one_degree_square_at_the_equator() -> None:
    geom = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    # On the authalic sphere: R² · Δλ · sin(1°).
    expected = 6371.0072**2 * math.radians(1) * math.sin(math.radians(1))
    assert area_km2(geom) == pytest.approx(expected, rel=1e-9)


BAD: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "must be a GeoJSON object, got an array"),
    ("point", {"type": "Point", "coordinates": [12.7, 56.0]}, "must be Polygon or MultiPolygon"),
    ("no type", {"coordinates": []}, "got None"),
    (
        "feature collection",
        {"type": "FeatureCollection", "features": []},
        "a FeatureCollection is not a geometry",
    ),
    ("feature without geometry", {"type": "Feature", "geometry": None}, "must wrap a geometry"),
    (
        "feature of a point",
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}},
        "geometry.type: geometry type must be Polygon or MultiPolygon, got 'Point'",
    ),
    ("missing coordinates", {"type": "Polygon"}, "coordinates: missing"),
    ("coordinates not array", {"type": "Polygon", "coordinates": "x"}, "array of rings"),
    ("empty polygon", {"type": "Polygon", "coordinates": []}, "geometry is empty"),
    ("empty multipolygon", {"type": "MultiPolygon", "coordinates": []}, "geometry is empty"),
    (
        "polygon without rings",
        {"type": "MultiPolygon", "coordinates": [[SQUARE], []]},
        "coordinates[1]: polygon has no rings",
    ),
    ("ring not array", {"type": "Polygon", "coordinates": [5]}, "coordinates[0]: a linear ring"),
    (
        "position not array",
        polygon([*SQUARE[:2], 12.7, *SQUARE[2:]]),
        "coordinates[0][2]: a position must be an array of 2 or 3 numbers",
    ),
    ("position too short", polygon([*SQUARE[:2], [12.7], *SQUARE[2:]]), "got an array of 1"),
    (
        "position too long",
        polygon([*SQUARE[:2], [12.7, 56.0, 0, 0], *SQUARE[2:]]),
        "got an array of 4",
    ),
    (
        "string coordinate",
        polygon([*SQUARE[:1], ["12.7", 56.0], *SQUARE[1:]]),
        "coordinates[0][1][0]: coordinates must be numbers, got a string",
    ),
    (
        "boolean coordinate",
        polygon([*SQUARE[:1], [12.7, True], *SQUARE[1:]]),
        "coordinates[0][1][1]: coordinates must be numbers, got a boolean",
    ),
    ("null coordinate", polygon([*SQUARE[:1], [None, 56.0], *SQUARE[1:]]), "got null"),
    (
        "nan",
        polygon([*SQUARE[:1], [12.7, math.nan], *SQUARE[1:]]),
        "coordinates[0][1][1]: coordinates must be finite numbers, got nan",
    ),
    ("infinity", polygon([*SQUARE[:1], [math.inf, 56.0], *SQUARE[1:]]), "finite numbers, got inf"),
    (
        "swapped order",
        polygon([[56.04, 112.69], [56.04, 112.70], [56.046, 112.70], [56.04, 112.69]]),
        "coordinates[0][0]: positions must be [longitude, latitude]",
    ),
    (
        "longitude out of range",
        polygon([[190.0, 56.0], [191.0, 56.0], [191.0, 57.0], [190.0, 56.0]]),
        "longitude 190 is out of range [-180, 180]",
    ),
    (
        "latitude out of range",
        polygon([[120.0, 95.0], [121.0, 95.0], [121.0, 96.0], [120.0, 95.0]]),
        "latitude 95 is out of range [-90, 90]",
    ),
    (
        "too few positions",
        polygon([SQUARE[0], SQUARE[1], SQUARE[0]]),
        "coordinates[0]: a linear ring needs at least 4 positions (first = last), got 3",
    ),
    ("not closed", polygon(SQUARE[:-1]), "coordinates[0]: ring is not closed"),
    (
        "degenerate ring",
        polygon([SQUARE[0], SQUARE[1], SQUARE[1], SQUARE[0]]),
        "at least 3 distinct positions",
    ),
    (
        "collinear ring",
        polygon([[12.69, 56.04], [12.70, 56.04], [12.71, 56.04], [12.69, 56.04]]),
        "ring encloses no area",
    ),
    (
        "bowtie",
        polygon([[12.69, 56.04], [12.70, 56.05], [12.70, 56.04], [12.69, 56.05], [12.69, 56.04]]),
        "coordinates[0]: ring intersects itself at [12.695, 56.045]",
    ),
    (
        "self-touching ring",
        polygon([[0, 0], [4, 0], [4, 4], [2, 0], [0, 4], [0, 0]]),
        "coordinates[0]: ring intersects itself at [2, 0]",
    ),
    (
        "hole outside",
        polygon(SQUARE, shifted(HOLE, 0.05)),
        "coordinates[1]: hole lies outside its shell",
    ),
    (
        "hole crossing shell",
        polygon(SQUARE, shifted(HOLE, 0.006)),
        "coordinates[1]: hole crosses its shell",
    ),
    (
        "nested holes",
        polygon(
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[1, 1], [9, 1], [9, 9], [1, 9], [1, 1]],
            [[2, 2], [3, 2], [3, 3], [2, 2]],
        ),
        "coordinates: a hole lies inside another hole",
    ),
    (
        "disconnected interior",
        polygon(
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[0, 5], [5, 0], [10, 5], [5, 10], [0, 5]],
        ),
        "holes cut the polygon's interior into separate pieces",
    ),
    (
        "holes crossing each other",
        polygon(
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[1, 1], [5, 1], [5, 5], [1, 5], [1, 1]],
            [[3, 3], [7, 3], [7, 7], [3, 7], [3, 3]],
        ),
        "rings cross each other or share an edge",
    ),
    (
        "overlapping parts",
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted(SQUARE, 0.005)]]},
        "coordinates[0] and coordinates[1]: polygons of a MultiPolygon must not overlap",
    ),
    (
        "parts sharing an edge",
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted(SQUARE, 0.01)]]},
        "they overlap or share an edge",
    ),
    (
        "nested parts",
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [HOLE]]},
        "one lies inside the other",
    ),
    (
        "absurdly large",
        polygon([[10.0, 55.0], [14.0, 55.0], [14.0, 57.0], [10.0, 57.0], [10.0, 55.0]]),
        "geometry is absurdly large",
    ),
]


@pytest.mark.parametrize(
    ("obj", "message"), [(o, m) for _, o, m in BAD], ids=[n for n, _, _ in BAD]
)
def test_rejected(obj: Any, message: str) -> None:
    with pytest.raises(GeometryError) as info:
        parse_geometry(obj)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_area_limit_is_a_parameter() -> None:
    geom = polygon(SQUARE)
    area = area_km2(parse_geometry(geom))
    assert 0.4 < area < 0.5
    with pytest.raises(GeometryError, match=r"exceeds the limit of 0\.1 km²"):
        parse_geometry(geom, max_area_km2=0.1)


def test_parts_touching_at_a_point_and_hole_touching_shell_are_valid() -> None:
    corner = {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted(SQUARE, 0.01, 0.006)]]}
    assert len(parse_geometry(corner).geoms) == 2
    touching_hole = [[12.690, 56.043], [12.695, 56.042], [12.695, 56.044], [12.690, 56.043]]
    assert parse_geometry(polygon(SQUARE, touching_hole)).is_valid


def test_accepted_geometries_are_valid_for_shapely() -> None:
    geom = parse_geometry(polygon(SQUARE, HOLE))
    assert shapely.is_valid_reason(geom) == "Valid Geometry"
