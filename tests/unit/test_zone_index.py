"""ZoneIndex (pure): its answer equals shapely's exact point-in-polygon test for every point."""

import math

import h3.api.basic_int as h3
import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Point, Polygon

from geofencing.covers import Cover, compile_cover
from geofencing.geometry import parse_geometry
from geofencing.zone_index import Membership, ZoneIndex
from tests.unit.zone_samples import (
    PROPERTY_SETTINGS,
    fresh,
    helsingborg,
    mds_example_zones,
    probe_points,
    zone_sets,
)


def build(geoms: list[MultiPolygon], resolution: int) -> tuple[ZoneIndex[int], list[Cover]]:
    covers = [compile_cover(g, resolution) for g in geoms]
    zones = [(i, g, c) for i, (g, c) in enumerate(zip(geoms, covers, strict=True))]
    return ZoneIndex.build(zones, resolution), covers


def expected_pairs(
    geoms: list[MultiPolygon], lat: NDArray[np.float64], lng: NDArray[np.float64]
) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for z, geom in enumerate(geoms):
        inside = shapely.intersects_xy(fresh(geom), lng, lat)
        pairs.update((int(p), z) for p in np.flatnonzero(inside))
    return pairs


def assert_exact(
    index: ZoneIndex[int],
    geoms: list[MultiPolygon],
    lat: NDArray[np.float64],
    lng: NDArray[np.float64],
) -> Membership:
    got = index.classify(lat, lng)
    assert got.point_index.dtype == np.int64
    assert got.zone_index.dtype == np.int64
    order = np.lexsort((got.zone_index, got.point_index))
    assert np.array_equal(order, np.arange(len(got))), "pairs must be sorted by point, zone"
    pairs = set(zip(got.point_index.tolist(), got.zone_index.tolist(), strict=True))
    want = expected_pairs(geoms, lat, lng)
    missing = sorted(want - pairs)[:5]
    extra = sorted(pairs - want)[:5]
    where = ", ".join(f"({lat[p]!r}, {lng[p]!r}) zone {z}" for p, z in missing + extra)
    assert not missing, f"pairs missing: {missing}: {where}"
    assert not extra, f"pairs too many: {extra}: {where}"
    return got


@PROPERTY_SETTINGS
@given(zone_sets(max_zones=4), st.integers(0, 2**32 - 1))
def test_classification_equals_shapely(case: tuple[int, list[MultiPolygon]], seed: int) -> None:
    resolution, geoms = case
    index, covers = build(geoms, resolution)
    lat, lng = probe_points(geoms, covers, seed)
    got = assert_exact(index, geoms, lat, lng)
    # The single-point path gives the same answer.
    step = max(1, lat.size // 300)
    for p in range(0, lat.size, step):
        want = got.zone_index[got.point_index == p].tolist()
        assert index.zones_at(float(lat[p]), float(lng[p])) == want, (lat[p], lng[p])


SQUARE = Polygon(
    [(12.690, 56.040), (12.700, 56.040), (12.700, 56.046), (12.690, 56.046)],
    [[(12.693, 56.042), (12.697, 56.042), (12.697, 56.044), (12.693, 56.044)]],
)


@pytest.mark.parametrize("resolution", [8, 10, 12])
def test_boundary_rule_closed_set(resolution: int) -> None:
    geom = MultiPolygon([SQUARE])
    index, _ = build([geom], resolution)
    on_shell_vertex = (56.040, 12.690)
    on_shell_edge = (56.040, 12.695)
    on_hole_vertex = (56.042, 12.693)
    on_hole_edge = (56.043, 12.697)
    in_hole = (56.043, 12.695)
    inside = (56.041, 12.691)
    outside = (56.039, 12.695)
    for point in (on_shell_vertex, on_shell_edge, on_hole_vertex, on_hole_edge, inside):
        assert index.zones_at(*point) == [0], point
    for point in (in_hole, outside):
        assert index.zones_at(*point) == [], point


def test_overlapping_zones_and_keys() -> None:
    a = MultiPolygon([Point(12.69, 56.04).buffer(0.01)])
    b = MultiPolygon([Point(12.70, 56.04).buffer(0.01)])
    covers = [compile_cover(g, 10) for g in (a, b)]
    index = ZoneIndex.build([("a", a, covers[0]), ("b", b, covers[1])], 10)
    assert len(index) == 2
    assert index.zones_at(56.04, 12.695) == ["a", "b"]
    assert index.zones_at(56.04, 12.685) == ["a"]
    assert index.zones_at(56.04, 12.705) == ["b"]
    assert index.zones_at(56.10, 12.695) == []
    got = index.classify([56.04, 56.10, 56.04], [12.695, 12.695, 12.705])
    assert got.point_index.tolist() == [0, 0, 2]
    assert got.zone_index.tolist() == [0, 1, 1]


def test_invalid_points_are_in_no_zone() -> None:
    geom = MultiPolygon([Point(12.69, 56.04).buffer(0.01)])
    index, _ = build([geom], 10)
    lat = np.array([math.nan, 56.04, 91.0, 56.04, -math.inf, 56.04])
    lng = np.array([12.69, math.nan, 12.69, 181.0, 12.69, 12.69])
    got = index.classify(lat, lng)
    assert got.point_index.tolist() == [5]
    assert index.classify(np.array([math.nan]), np.array([0.0])).point_index.size == 0


def test_empty_inputs() -> None:
    geom = MultiPolygon([Point(12.69, 56.04).buffer(0.01)])
    index, _ = build([geom], 10)
    assert len(index.classify(np.empty(0), np.empty(0))) == 0
    empty_index: ZoneIndex[int] = ZoneIndex.build([], 10)
    assert len(empty_index.classify([56.04], [12.69])) == 0
    assert empty_index.zones_at(56.04, 12.69) == []
    assert empty_index.entry_count == 0
    assert empty_index.nbytes == 8  # the one offset that ends the empty cell list
    with pytest.raises(ValueError, match="same length"):
        index.classify(np.zeros(3), np.zeros(2))


def test_build_rejects_a_cover_of_another_resolution() -> None:
    geom = MultiPolygon([Point(12.69, 56.04).buffer(0.01)])
    with pytest.raises(ValueError, match="resolution 9"):
        ZoneIndex.build([(1, geom, compile_cover(geom, 9))], 10)


def test_build_rejects_invalid_geometry() -> None:
    overlapping = MultiPolygon(
        [Point(12.69, 56.04).buffer(0.01), Point(12.695, 56.04).buffer(0.01)]
    )
    cover = compile_cover(MultiPolygon([Point(12.69, 56.04).buffer(0.01)]), 10)
    with pytest.raises(ValueError, match="invalid geometry: Self-intersection"):
        ZoneIndex.build([(1, overlapping, cover)], 10)


def test_build_accepts_unsorted_covers_as_loaded_from_storage() -> None:
    geom = MultiPolygon([SQUARE])
    cover = compile_cover(geom, 11)
    shuffled = Cover(11, cover.interior[::-1].copy(), cover.boundary[::-1].copy())
    index = ZoneIndex.build([(7, geom, shuffled)], 11)
    rng = np.random.default_rng(0)
    lat = rng.uniform(56.039, 56.047, 20_000)
    lng = rng.uniform(12.689, 12.701, 20_000)
    assert_exact(index, [geom], lat, lng)


def test_memory_and_counts() -> None:
    geoms = [MultiPolygon([Point(12.69 + i * 0.005, 56.04).buffer(0.004)]) for i in range(3)]
    index, covers = build(geoms, 10)
    entries = sum(c.cell_count for c in covers)
    assert index.entry_count == entries
    assert index.interior_entry_count == sum(c.interior.size for c in covers)
    assert index.cells.size < entries  # the zones overlap, so cells are shared
    assert index.nbytes == 8 * index.cells.size + 8 * (index.cells.size + 1) + 5 * entries


def test_counts_exact_tests() -> None:
    geom = MultiPolygon([Point(12.69, 56.04).buffer(0.01)])
    index, _ = build([geom], 10)
    got = index.classify([56.04, 56.04 + 0.01 * 0.999999], [12.69, 12.69])
    assert got.point_index.tolist() == [0, 1]
    assert got.exact_tests == 1


def test_mds_example_geographies() -> None:
    named = mds_example_zones()
    geoms = [g for _, g in named]
    rng = np.random.default_rng(11)
    for resolution in (9, 10, 11):
        index, covers = build(geoms, resolution)
        lats, lngs = [], []
        for geom in geoms:
            minx, miny, maxx, maxy = geom.bounds
            lats.append(rng.uniform(miny, maxy, 4000))
            lngs.append(rng.uniform(minx, maxx, 4000))
        lat, lng = np.concatenate(lats), np.concatenate(lngs)
        assert_exact(index, geoms, lat, lng)
        lat, lng = probe_points(geoms, covers, seed=resolution, uniform=0)
        assert_exact(index, geoms, lat, lng)


def test_helsingborg_outline_and_zones_within_it() -> None:
    city = helsingborg()
    centre = parse_geometry(
        {
            "type": "Polygon",
            "coordinates": [
                [
                    [12.686, 56.036],
                    [12.700, 56.036],
                    [12.700, 56.050],
                    [12.686, 56.050],
                    [12.686, 56.036],
                ],
                [[12.690, 56.040], [12.695, 56.040], [12.695, 56.045], [12.690, 56.040]],
            ],
        }
    )
    tiny = MultiPolygon([Point(12.6940, 56.0440).buffer(0.00002)])
    geoms = [city, centre, tiny]
    for resolution in (9, 10, 11):
        index, covers = build(geoms, resolution)
        minx, miny, maxx, maxy = city.bounds
        rng = np.random.default_rng(resolution)
        lat = rng.uniform(miny, maxy, 100_000)
        lng = rng.uniform(minx, maxx, 100_000)
        assert_exact(index, geoms, lat, lng)
        lat, lng = probe_points(geoms, covers, seed=resolution, uniform=0)
        assert_exact(index, geoms, lat, lng)


def test_points_on_h3_cell_edges_next_to_zone_edges() -> None:
    # A zone whose edge runs along an H3 cell edge: the points H3 puts on either side of
    # the shared cell edge are decided exactly.
    resolution = 10
    cell = h3.latlng_to_cell(56.044, 12.694, resolution)
    ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
    geom = MultiPolygon([Polygon(ring)])
    index, _ = build([geom], resolution)
    a, b = np.array(ring), np.roll(np.array(ring), -1, axis=0)
    t = np.linspace(0, 1, 101)[:, None, None]
    on_edges = (a + t * (b - a)).reshape(-1, 2)
    jitter = np.random.default_rng(0).normal(0, 1e-9, on_edges.shape)
    pts = np.vstack([on_edges, on_edges + jitter])
    assert_exact(index, [geom], pts[:, 1], pts[:, 0])
