"""H3 covers of zones: the cells a zone touches, split into interior and boundary cells.

Pure: takes a shapely geometry and a resolution, returns numpy arrays; no I/O.

A :class:`Cover` at resolution ``r`` lists, as sorted unique ``uint64`` H3 cell ids
(``h3.api.basic_int`` numbering):

* ``interior``: cells wholly inside the zone. Any point that H3 assigns to such a cell is
  inside the zone; no exact test is needed.
* ``boundary``: cells that touch the zone but are not known to be wholly inside. A point in
  one of them needs the exact point-in-polygon test.

Cells that do not touch the zone are left out: a point whose cell is in neither array is
outside the zone.

How a zone is compiled (everything vectorised):

1. Candidates: the cells whose centre lies in the zone buffered by ``D`` (planar degrees),
   plus the cell of every vertex. ``D`` is 1.5 x a bound on any cell's circumradius at the
   resolution (the largest centre-to-vertex distance is ≤ 1.11 x the average hexagon edge
   length at every resolution, measured over the globe incl. pentagons; we take 1.5 x),
   converted from metres to degrees with the smallest metres-per-degree within the zone's
   latitudes (``110,574 · cos φmax``). A cell that touches the zone has its centre within its
   circumradius of a zone point, hence inside the buffer, so no touching cell is missed; the
   vertex cells make sure zones much smaller than one cell get cells as well.
2. Classification with a margin ``eps`` (degrees), treating H3 cell edges as slightly
   uncertain. H3 cells are bounded by great-circle arcs (and the assignment of a point to a
   cell is floating-point arithmetic); the cell polygons we test with have straight lon/lat
   edges between the same vertices. The two differ by at most the sagitta of an edge drawn
   on the lon/lat plane, ≈ L² (1 + tan φ) / (8 R) metres for an edge of length L at
   latitude φ (0.3 mm for resolution 10 in Helsingborg; measured: points never fall more
   than 1e-9° outside their own straight-edged cell at resolutions ≥ 9, 3.4e-6° at
   resolution 6 at 56° N). So every point H3 puts into a cell lies within ``eps`` of that
   cell's straight-edged polygon, with
   ``eps = max(1e-6°, 4 x sagitta bound converted to degrees)``; 1e-6° is about 0.1 m, so
   the margin costs nothing measurable (only cells within 0.1 m of the zone's boundary
   become boundary cells instead of interior or dropped ones). The margin also absorbs the
   last-bit differences between H3 implementations: h3ronpy (h3o, Rust) assigns points and
   draws cells here, the h3 C library elsewhere, and a zone drawn from one's cell vertices
   does not share the other's edges exactly (without the margin the tests find points on
   such a shared edge that are lost).

   * a cell is **interior** only if its polygon grown by ``eps`` lies within the zone: its
     distance to the zone's boundary is more than ``eps`` and its centre is in the zone;
   * it is **dropped** only if its polygon grown by ``eps`` is disjoint from the zone: its
     distance to the boundary is more than ``eps`` and its centre is outside;
   * every other candidate is a **boundary** cell.

   Only the cells whose centre lies within ``radius + eps`` of the zone's boundary (found as
   the cells of a band around the boundary, 25 % wider than that) can come within ``eps``
   of it, so only their polygons are tested; the others are decided by their centre.

   Why that is safe: a point ``p`` that H3 assigns to an interior cell lies within ``eps``
   of the cell polygon, and the ``eps``-grown polygon lies in the zone, so ``p`` is in the
   zone; a point assigned to a dropped cell is likewise outside the zone; a point in a zone
   lies in a candidate cell (step 1). Hence "interior → inside, absent → outside, boundary
   → exact test" gives the exact answer for every point.

Choosing the resolution (``DEFAULT_RESOLUTION = 10``, edge ≈ 76 m, cell ≈ 0.015 km²):
classification cost is dominated by computing the H3 cell of each point, which does not
depend on the resolution; the exact tests halve with each finer level while memory, cover
build time and stored rows grow about 6-7 x. Measured with 1,000 mixed Helsingborg zones
and 1,000,000 points (``bench/geofence.py``): resolution 9: 2.4 exact tests per point,
0.1 MiB, 1.3 M points/s; 10: 1.1 tests, 0.6 MiB, 1.5 M points/s; 11: 0.5 tests, 3.5 MiB,
1.55 M points/s; 12: 0.2 tests, 24 MiB, 1.4 M points/s (the larger table makes the lookup
slower). 10 and 11 classify equally fast; 10 keeps covers 6 x smaller, which matters for
large zones (Helsingborg municipality, 355 km²: 29,600 cells at 10, 205,000 at 11; a zone at the
5,000 km² limit: ~420,000 at 10, ~2.9 million at 11), for the rows stored per zone and for
the time to reload them into every process.

Limits: resolutions 5 to 15; zones must stay 1° away from the antimeridian and within
±85° latitude (planar lon/lat polygons mean little beyond that, and the degree conversions
above assume it). :func:`compile_cover` raises ``ValueError`` otherwise.
"""

import math
from dataclasses import dataclass

import h3.api.basic_int as h3
import numpy as np
import shapely
from h3ronpy import ContainmentMode  # type: ignore[import-untyped]
from h3ronpy.vector import (  # type: ignore[import-untyped]
    cells_to_coordinates,
    cells_to_wkb_polygons,
    coordinates_to_cells,
    geometry_to_cells,
)
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

DEFAULT_RESOLUTION = 10
MIN_RESOLUTION = 5
MAX_RESOLUTION = 15
MAX_ABS_LATITUDE = 85.0
EARTH_RADIUS_M = 6_371_007.2
METRES_PER_DEGREE_LAT_MIN = 110_574.0
EPS_FLOOR_DEG = 1e-6
CIRCUMRADIUS_FACTOR = 1.5


@dataclass(frozen=True, slots=True)
class Cover:
    """The H3 cells of one zone at one resolution (sorted, unique, uint64)."""

    resolution: int
    interior: NDArray[np.uint64]
    boundary: NDArray[np.uint64]

    @property
    def nbytes(self) -> int:
        """Bytes held by the two cell arrays."""
        return int(self.interior.nbytes + self.boundary.nbytes)

    @property
    def cell_count(self) -> int:
        """Number of cells (interior + boundary)."""
        return int(self.interior.size + self.boundary.size)


def cover_epsilon_deg(resolution: int, max_abs_lat: float) -> float:
    """Margin in degrees by which H3 cells may differ from their straight-edged polygons."""
    edge_m = float(h3.average_hexagon_edge_length(resolution, unit="m")) * CIRCUMRADIUS_FACTOR
    phi = math.radians(min(max_abs_lat, MAX_ABS_LATITUDE))
    sagitta_m = edge_m**2 * (1.0 + math.tan(phi)) / (8.0 * EARTH_RADIUS_M)
    return max(EPS_FLOOR_DEG, 4.0 * float(sagitta_m) / _metres_per_degree_min(max_abs_lat))


def cell_radius_deg(resolution: int, max_abs_lat: float) -> float:
    """Upper bound, in planar degrees, on the distance from a cell's centre to its vertices."""
    radius_m = float(h3.average_hexagon_edge_length(resolution, unit="m")) * CIRCUMRADIUS_FACTOR
    return radius_m / _metres_per_degree_min(max_abs_lat)


def compile_cover(geom: Polygon | MultiPolygon, resolution: int) -> Cover:
    """Interior and boundary H3 cells of a lon/lat zone at a resolution (see module doc)."""
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(
            f"resolution must be between {MIN_RESOLUTION} and {MAX_RESOLUTION}, got {resolution}"
        )
    if geom.is_empty:
        raise ValueError("cannot cover an empty geometry")
    if not geom.is_valid:
        raise ValueError(f"cannot cover an invalid geometry: {shapely.is_valid_reason(geom)}")
    minx, miny, maxx, maxy = geom.bounds
    max_abs_lat = max(abs(miny), abs(maxy))
    radius0 = cell_radius_deg(resolution, MAX_ABS_LATITUDE)
    if max_abs_lat > MAX_ABS_LATITUDE - radius0 * 2:
        raise ValueError(f"zones must lie within ±{MAX_ABS_LATITUDE}° latitude")
    if minx < -179.0 or maxx > 179.0:
        raise ValueError("zones must stay 1° away from the antimeridian")

    # The buffer reaches beyond the zone: use the latitude the buffer can reach.
    lat_bound = max_abs_lat + 2 * cell_radius_deg(resolution, max_abs_lat + 1.0)
    radius = cell_radius_deg(resolution, lat_bound)
    eps = cover_epsilon_deg(resolution, lat_bound)

    candidates = _fill(shapely.buffer(geom, radius * CIRCUMRADIUS_FACTOR, quad_segs=4), resolution)
    vertex_cells = _vertex_cells(geom, resolution)
    candidates = _sorted_unique(np.concatenate([candidates, vertex_cells]))
    lat_lng = cells_to_coordinates(candidates)
    lat = np.asarray(lat_lng.column("lat"), dtype=np.float64)
    lng = np.asarray(lat_lng.column("lng"), dtype=np.float64)

    shapely.prepare(geom)
    boundary_line = geom.boundary
    shapely.prepare(boundary_line)
    centre_inside = shapely.intersects_xy(geom, lng, lat)
    # Only a cell whose centre is within radius + eps of the zone's boundary can come within
    # eps of it; those are the cells whose centre lies in a band around the boundary (made
    # 25 % wider than needed, so the band's own approximations do not matter).
    band = shapely.buffer(boundary_line, (radius + eps) * 1.25, quad_segs=4)
    near_cells = _sorted_unique(np.concatenate([_fill(band, resolution), vertex_cells]))
    near_idx = np.flatnonzero(np.isin(candidates, near_cells, assume_unique=True))
    touches_boundary = np.zeros(candidates.size, dtype=bool)
    if near_idx.size:
        polygons = shapely.from_wkb(cells_to_wkb_polygons(candidates[near_idx]).to_pylist())
        touches_boundary[near_idx] = shapely.dwithin(boundary_line, polygons, eps)

    interior = candidates[~touches_boundary & centre_inside]
    boundary = candidates[touches_boundary]
    return Cover(resolution=resolution, interior=interior, boundary=boundary)


def _fill(geom: Polygon | MultiPolygon, resolution: int) -> NDArray[np.uint64]:
    """Cells whose centre lies in the geometry."""
    cells = geometry_to_cells(geom, resolution, containment_mode=ContainmentMode.ContainsCentroid)
    return np.asarray(cells, dtype=np.uint64)


def _vertex_cells(geom: Polygon | MultiPolygon, resolution: int) -> NDArray[np.uint64]:
    """The cell of every vertex of the geometry."""
    coords = shapely.get_coordinates(geom)
    cells = coordinates_to_cells(
        np.ascontiguousarray(coords[:, 1]), np.ascontiguousarray(coords[:, 0]), resolution
    )
    return np.asarray(cells, dtype=np.uint64)


def _sorted_unique(cells: NDArray[np.uint64]) -> NDArray[np.uint64]:
    ordered = np.sort(cells)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _metres_per_degree_min(max_abs_lat: float) -> float:
    phi = math.radians(min(max_abs_lat, MAX_ABS_LATITUDE + 1.0))
    return METRES_PER_DEGREE_LAT_MIN * math.cos(phi)
