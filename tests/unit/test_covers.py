"""H3 covers of zones (pure): interior cells are inside, absent cells are outside.

The strategies here (random zones and probe points) are shared with test_zone_index.
"""

import json
import math
import os
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3
import numpy as np
import pytest
import shapely
from h3ronpy.vector import coordinates_to_cells  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geofencing.covers import (
    DEFAULT_RESOLUTION,
    EPS_FLOOR_DEG,
    Cover,
    compile_cover,
    cover_epsilon_deg,
)
from geofencing.geometry import area_km2, parse_geometry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = Path(os.environ.get("FLEETBED_SPECS_DIR", PROJECT_ROOT.parent / "shared" / "specs"))
GEODATA_DIR = PROJECT_ROOT.parent / "shared" / "geodata"

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- random zones


def _lon_scale(lat: float) -> float:
    return 1.0 / math.cos(math.radians(lat))


def star(cx: float, cy: float, size: float, angles: list[float], radii: list[float]) -> Polygon:
    """A star-shaped polygon around (cx, cy): simple whenever the angles are distinct."""
    k = _lon_scale(cy)
    ring = [
        (cx + r * size * k * math.cos(a), cy + r * size * math.sin(a))
        for a, r in zip(angles, radii, strict=True)
    ]
    return Polygon(ring)


@st.composite
def star_shapes(draw: st.DrawFn, cx: float, cy: float, size: float) -> Polygon:
    n = draw(st.integers(3, 14))
    angles = sorted(
        draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n))
    )
    radii = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
    shape = star(cx, cy, size, angles, radii)
    if not shape.is_valid or shape.area <= 0:
        step = 2 * math.pi / n
        shape = star(cx, cy, size, [i * step for i in range(n)], [1.0] * n)
    return shape


@st.composite
def polygons_with_holes(draw: st.DrawFn, cx: float, cy: float, size: float) -> Polygon:
    shell = draw(star_shapes(cx, cy, size))
    holes: list[Polygon] = []
    for _ in range(draw(st.integers(1, 3))):
        fx = draw(st.floats(-0.5, 0.5))
        fy = draw(st.floats(-0.5, 0.5))
        hole = draw(
            star_shapes(
                cx + fx * size * _lon_scale(cy), cy + fy * size, size * draw(st.floats(0.05, 0.4))
            )
        )
        if shell.contains(hole) and all(hole.disjoint(h) for h in holes):
            holes.append(hole)
    candidate = Polygon(shell.exterior.coords, [h.exterior.coords for h in holes])
    return candidate if candidate.is_valid else shell


@st.composite
def slivers(draw: st.DrawFn, cx: float, cy: float, size: float) -> Polygon:
    length = size * draw(st.floats(1.0, 8.0))
    width = size * 10 ** -draw(st.integers(1, 7))
    angle = draw(st.floats(0, math.pi))
    k = _lon_scale(cy)
    dx, dy = math.cos(angle), math.sin(angle)
    nx, ny = -dy, dx
    corners = [
        (-length / 2, -width / 2),
        (length / 2, -width / 2),
        (length / 2, width / 2),
        (-length / 2, width / 2),
    ]
    shape = Polygon([(cx + (u * dx + v * nx) * k, cy + u * dy + v * ny) for u, v in corners])
    if not shape.is_valid or shape.area <= 0:
        return draw(star_shapes(cx, cy, size))
    return shape


@st.composite
def zones(draw: st.DrawFn, cx: float, cy: float, edge_deg: float) -> MultiPolygon:
    """One zone near (cx, cy) whose size is drawn relative to the cell edge length."""
    kind = draw(st.sampled_from(["star", "holes", "multi", "tiny", "sliver"]))
    size = edge_deg * draw(st.sampled_from([3.0, 8.0, 1.0, 0.3, 15.0, 0.05]))
    if kind == "tiny":
        size = edge_deg * draw(st.sampled_from([1e-5, 1e-3, 0.02, 0.2]))
    cx += draw(st.floats(-2, 2)) * edge_deg * _lon_scale(cy)
    cy += draw(st.floats(-2, 2)) * edge_deg
    if kind == "holes":
        return MultiPolygon([draw(polygons_with_holes(cx, cy, size))])
    if kind == "sliver":
        return MultiPolygon([draw(slivers(cx, cy, size))])
    if kind == "multi":
        parts: list[Polygon] = []
        for i in range(draw(st.integers(2, 4))):
            angle = i * 2.1
            part_cx = cx + math.cos(angle) * 2.5 * size * i * _lon_scale(cy)
            part_cy = cy + math.sin(angle) * 2.5 * size * i
            maker = draw(st.sampled_from([star_shapes, polygons_with_holes, slivers]))
            part = draw(maker(part_cx, part_cy, size * draw(st.floats(0.2, 1.0))))
            if all(part.disjoint(p) for p in parts):
                parts.append(part)
        return MultiPolygon(parts)
    return MultiPolygon([draw(star_shapes(cx, cy, size))])


@st.composite
def zone_sets(draw: st.DrawFn, max_zones: int = 4) -> tuple[int, list[MultiPolygon]]:
    """A resolution and a few zones (possibly overlapping) somewhere on Earth."""
    resolution = draw(st.sampled_from([7, 8, 9, 10, 11, 12]))
    cy = draw(st.floats(-70, 70))
    cx = draw(st.floats(-170, 170))
    edge_deg = h3.average_hexagon_edge_length(resolution, unit="m") / 111_000
    count = draw(st.integers(1, max_zones))
    return resolution, [draw(zones(cx, cy, edge_deg)) for _ in range(count)]


# ---------------------------------------------------------------- probe points


def probe_points(
    geoms: list[MultiPolygon], covers: list[Cover], seed: int, uniform: int = 300
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points that stress the classification: vertices, points on edges, a hair inside and
    outside of edges, H3 cell vertices and edges near the zones, and uniform points."""
    rng = np.random.default_rng(seed)
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    padx, pady = (maxx - minx) * 0.3 + 1e-9, (maxy - miny) * 0.3 + 1e-9
    xs.append(rng.uniform(minx - padx, maxx + padx, uniform))
    ys.append(rng.uniform(miny - pady, maxy + pady, uniform))
    for geom in geoms:
        for ring in shapely.get_rings(shapely.get_parts(geom)):
            coords = shapely.get_coordinates(ring)
            a, b = coords[:-1], coords[1:]
            xs.append(coords[:, 0])
            ys.append(coords[:, 1])
            for _ in range(2):
                t = rng.random(len(a))[:, None]
                on_edge = a + t * (b - a)
                xs.append(on_edge[:, 0])
                ys.append(on_edge[:, 1])
                direction = b - a
                norm = np.hypot(direction[:, 0], direction[:, 1])[:, None]
                normal = np.column_stack([-direction[:, 1], direction[:, 0]]) / np.where(
                    norm > 0, norm, 1
                )
                for delta in (1e-13, 1e-11, 1e-9, 1e-7, 1e-6, 3e-6):
                    for sign in (-1.0, 1.0):
                        moved = on_edge + sign * delta * normal
                        xs.append(moved[:, 0])
                        ys.append(moved[:, 1])
    for cover in covers:
        cells = np.concatenate([cover.boundary[:40], cover.interior[:10]])
        for cell in cells.tolist():
            boundary = np.array([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
            nxt = np.roll(boundary, -1, axis=0)
            mid = (boundary + nxt) / 2
            lat, lng = h3.cell_to_latlng(cell)
            pts = np.vstack([boundary, mid, mid + 1e-10, mid - 1e-10, [[lng, lat]]])
            xs.append(pts[:, 0])
            ys.append(pts[:, 1])
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    keep = (np.abs(y) <= 90) & (np.abs(x) <= 180)
    return y[keep], x[keep]


def fresh(geom: MultiPolygon) -> MultiPolygon:
    """An unprepared copy, so the reference answer does not share state with the index."""
    copy: MultiPolygon = shapely.from_wkb(shapely.to_wkb(geom))
    return copy


# ---------------------------------------------------------------- tests


def _cells(lat: NDArray[np.float64], lng: NDArray[np.float64], res: int) -> NDArray[np.uint64]:
    return np.asarray(coordinates_to_cells(lat, lng, res), dtype=np.uint64)


def assert_cover_is_sound(
    geom: MultiPolygon, cover: Cover, lat: NDArray[np.float64], lng: NDArray[np.float64]
) -> None:
    inside = shapely.intersects_xy(fresh(geom), lng, lat)
    cells = _cells(lat, lng, cover.resolution)
    in_interior = np.isin(cells, cover.interior)
    in_cover = in_interior | np.isin(cells, cover.boundary)
    wrong_interior = np.flatnonzero(in_interior & ~inside)
    missed = np.flatnonzero(inside & ~in_cover)
    assert wrong_interior.size == 0, f"outside points in interior cells: {wrong_interior[:5]}"
    assert missed.size == 0, f"inside points in cells missing from the cover: {missed[:5]}"


def assert_well_formed(cover: Cover, resolution: int) -> None:
    assert cover.resolution == resolution
    for arr in (cover.interior, cover.boundary):
        assert arr.dtype == np.uint64
        assert np.all(arr[1:] > arr[:-1])
    assert np.intersect1d(cover.interior, cover.boundary).size == 0
    assert cover.nbytes == 8 * cover.cell_count


@PROPERTY_SETTINGS
@given(zone_sets(max_zones=1), st.integers(0, 2**32 - 1))
def test_cover_is_sound_for_random_zones(case: tuple[int, list[MultiPolygon]], seed: int) -> None:
    resolution, geoms = case
    geom = geoms[0]
    cover = compile_cover(geom, resolution)
    assert_well_formed(cover, resolution)
    lat, lng = probe_points([geom], [cover], seed)
    assert_cover_is_sound(geom, cover, lat, lng)


def test_zone_smaller_than_a_cell() -> None:
    resolution = 9
    geom = MultiPolygon([Point(12.694, 56.044).buffer(0.00005)])
    cover = compile_cover(geom, resolution)
    assert cover.interior.size == 0
    assert h3.latlng_to_cell(56.044, 12.694, resolution) in cover.boundary.tolist()
    assert 1 <= cover.boundary.size <= 3


def test_zone_on_a_cell_vertex_gets_all_three_cells() -> None:
    resolution = 10
    cell = h3.latlng_to_cell(56.044, 12.694, resolution)
    lat, lng = h3.cell_to_boundary(cell)[0]
    geom = MultiPolygon([Point(lng, lat).buffer(1e-7)])
    cover = compile_cover(geom, resolution)
    around = {
        h3.latlng_to_cell(lat + dy, lng + dx, resolution)
        for dx in (-1e-6, 0, 1e-6)
        for dy in (-1e-6, 0, 1e-6)
    }
    assert around <= set(cover.boundary.tolist())


def test_thin_sliver_has_only_boundary_cells() -> None:
    geom = MultiPolygon(
        [LineString([(12.60, 56.02), (12.75, 56.10)]).buffer(1e-7, cap_style="flat")]
    )
    cover = compile_cover(geom, 10)
    assert cover.interior.size == 0
    assert cover.boundary.size > 100
    lat, lng = probe_points([geom], [cover], seed=1, uniform=2000)
    assert_cover_is_sound(geom, cover, lat, lng)


def test_large_zone_interior_and_boundary_cells() -> None:
    geom = parse_geometry(
        {
            "type": "Polygon",
            "coordinates": [
                [[12.60, 56.00], [12.80, 56.00], [12.80, 56.12], [12.60, 56.12], [12.60, 56.00]],
                [[12.68, 56.04], [12.72, 56.04], [12.72, 56.07], [12.68, 56.04]],
            ],
        }
    )
    cover = compile_cover(geom, 9)
    assert_well_formed(cover, 9)
    interior_polygons = shapely.from_wkb(
        [
            shapely.to_wkb(Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]))
            for c in cover.interior.tolist()
        ]
    )
    assert shapely.within(interior_polygons, geom).all()

    # Interior cells lie in the zone; interior and boundary cells cover it.
    def cells_area(cells: NDArray[np.uint64]) -> float:
        return float(sum(h3.cell_area(c, unit="km^2") for c in cells.tolist()))

    assert cells_area(cover.interior) < area_km2(geom)
    assert cells_area(cover.interior) + cells_area(cover.boundary) > area_km2(geom)
    assert h3.latlng_to_cell(56.05, 12.70, 9) not in cover.interior.tolist()
    rng = np.random.default_rng(7)
    lat = rng.uniform(55.99, 56.13, 50_000)
    lng = rng.uniform(12.59, 12.81, 50_000)
    assert_cover_is_sound(geom, cover, lat, lng)


def test_epsilon() -> None:
    assert cover_epsilon_deg(10, 56.0) == EPS_FLOOR_DEG
    assert cover_epsilon_deg(5, 80.0) > EPS_FLOOR_DEG
    assert cover_epsilon_deg(5, 80.0) > cover_epsilon_deg(5, 56.0) > cover_epsilon_deg(5, 0.0)


def test_default_resolution_is_supported() -> None:
    geom = MultiPolygon([Point(12.694, 56.044).buffer(0.001)])
    assert compile_cover(geom, DEFAULT_RESOLUTION).cell_count > 0


@pytest.mark.parametrize(
    ("geom", "resolution", "message"),
    [
        (Point(12.7, 56.0).buffer(0.01), 4, "resolution must be between"),
        (Point(12.7, 56.0).buffer(0.01), 16, "resolution must be between"),
        (Polygon(), 10, "empty"),
        (Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), 10, "invalid geometry: Self-intersection"),
        (Point(179.5, 0.0).buffer(0.01), 10, "antimeridian"),
        (Point(-179.5, 0.0).buffer(0.01), 10, "antimeridian"),
        (Point(10.0, 86.0).buffer(0.01), 10, "latitude"),
    ],
)
def test_rejected_inputs(geom: Polygon, resolution: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_cover(geom, resolution)


def _mds_example_zones() -> list[tuple[str, MultiPolygon]]:
    folder = SPECS_DIR / "mds-2.0" / "spec" / "geography" / "examples"
    if not folder.is_dir():
        pytest.skip(f"MDS geography examples not found in {folder} (set FLEETBED_SPECS_DIR)")
    found: list[tuple[str, MultiPolygon]] = []
    for path in sorted(folder.glob("*.json")):
        doc: dict[str, Any] = json.loads(path.read_text())
        geographies = doc.get("geographies") or [doc.get("geography", {})]
        for geography in geographies:
            collection = geography.get("geography_json") or {}
            for i, feature in enumerate(collection.get("features", [])):
                if feature.get("geometry", {}).get("type") in ("Polygon", "MultiPolygon"):
                    name = f"{path.name}:{geography.get('name')}:{i}"
                    found.append((name, parse_geometry(feature)))
    assert found, f"no polygon geographies in {folder}"
    return found


def mds_example_zones() -> list[tuple[str, MultiPolygon]]:
    """Every polygonal feature of the MDS geography examples (skips when absent)."""
    return _mds_example_zones()


def helsingborg() -> MultiPolygon:
    """The Helsingborg municipality outline (skips when the geodata is absent)."""
    path = GEODATA_DIR / "municipalities-nw-skane.geojson"
    if not path.is_file():
        pytest.skip(f"Helsingborg outline not found at {path}")
    doc = json.loads(path.read_text())
    for feature in doc["features"]:
        if feature["properties"].get("kom_namn") == "Helsingborg":
            return parse_geometry(feature)
    pytest.fail("no Helsingborg feature in the geodata")


def test_mds_example_covers_are_sound() -> None:
    rng = np.random.default_rng(3)
    for _name, geom in mds_example_zones():
        cover = compile_cover(geom, 10)
        assert_well_formed(cover, 10)
        minx, miny, maxx, maxy = geom.bounds
        lat = rng.uniform(miny, maxy, 5000)
        lng = rng.uniform(minx, maxx, 5000)
        assert_cover_is_sound(geom, cover, lat, lng)


def test_helsingborg_cover_is_sound() -> None:
    geom = helsingborg()
    cover = compile_cover(geom, 9)
    assert cover.interior.size > 1000
    lat, lng = probe_points([geom], [cover], seed=5, uniform=20_000)
    assert_cover_is_sound(geom, cover, lat, lng)
