"""H3 covers of zones (pure): interior cells are inside, absent cells are outside.

The random zones and probe points come from tests/unit/zone_samples.py.
"""

import h3.api.basic_int as h3
import numpy as np
import pytest
import shapely
from h3ronpy.vector import coordinates_to_cells  # type: ignore[import-untyped]
from hypothesis import given
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
from tests.unit.zone_samples import (
    PROPERTY_SETTINGS,
    fresh,
    helsingborg,
    mds_example_zones,
    probe_points,
    zone_sets,
)


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
