"""In-process index of zone covers: which zones contain each point of a batch, exactly.

Pure: built from plain data (keys, shapely geometries, :class:`~geofencing.covers.Cover`),
no I/O. This is the hot path of telemetry ingest; :meth:`ZoneIndex.classify` is vectorised
end to end:

1. H3 cell of every point (``h3ronpy``, one call for the batch);
2. lookup of the cells in a CSR table (sorted unique cells, offsets, and per entry the zone
   and an "interior" flag) with ``np.searchsorted``, expanded into (point, zone) pairs;
3. pairs from interior cells are accepted as they are; pairs from boundary cells get the
   exact test, ``shapely.intersects_xy`` against the prepared zone geometry, in one
   vectorised call for all zones.

The answer equals ``shapely.intersects_xy(zone, lng, lat)`` for every point and zone (see
the covers module for why interior cells and absent cells need no test).

**Boundary rule: a zone is a closed set.** A point exactly on an edge or a vertex of a zone,
including the edges and vertices of its holes, is inside the zone (``intersects``, not
``contains``; PostGIS ``ST_Intersects`` answers the same). A point inside a hole, off its
edges, is outside. Points with non-finite coordinates, latitudes beyond ±90 or longitudes
beyond ±180 are in no zone.

Edges are straight lines in lon/lat (planar, like shapely and PostGIS ``geometry``), not
great circles. The geometries must be valid (:meth:`ZoneIndex.build` raises otherwise: GEOS
answers point queries on invalid polygons inconsistently); ``build`` prepares them in place
and warms their point locators, so that concurrent readers of a built index never race to
build one. :meth:`ZoneIndex.zones_at` is the single-point path (a few microseconds).

Memory: :attr:`ZoneIndex.nbytes` counts the lookup arrays (8 bytes per distinct cell, 8 per
offset, 5 per (cell, zone) entry); the zone geometries themselves are shared with the
caller and not counted.
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import h3.api.basic_int as h3
import numpy as np
import shapely
from h3ronpy.vector import coordinates_to_cells  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon

from geofencing.covers import Cover

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Membership:
    """All (point, zone) pairs with the point in the zone, sorted by point then zone.

    ``exact_tests`` counts the (point, zone) candidates that needed the exact test (their
    cell straddles the zone's boundary); the others were decided by the cover alone.
    """

    point_index: NDArray[np.int64]
    zone_index: NDArray[np.int64]
    exact_tests: int = 0

    def __len__(self) -> int:
        return int(self.point_index.size)


class ZoneIndex(Generic[K]):
    """Zones by H3 cell, with exact tests only where a cell straddles a zone's boundary."""

    __slots__ = (
        "_entry_interior",
        "_entry_zone",
        "_geometry_array",
        "cells",
        "geometries",
        "keys",
        "offsets",
        "resolution",
    )

    def __init__(
        self,
        resolution: int,
        keys: tuple[K, ...],
        geometries: tuple[Polygon | MultiPolygon, ...],
        cells: NDArray[np.uint64],
        offsets: NDArray[np.int64],
        entry_zone: NDArray[np.int32],
        entry_interior: NDArray[np.bool_],
    ) -> None:
        self.resolution = resolution
        self.keys = keys
        self.geometries = geometries
        self.cells = cells
        self.offsets = offsets
        self._entry_zone = entry_zone
        self._entry_interior = entry_interior
        self._geometry_array = np.empty(len(geometries), dtype=object)
        self._geometry_array[:] = geometries

    @staticmethod
    def check_zone(
        key: Hashable, geom: Polygon | MultiPolygon, cover: Cover, resolution: int
    ) -> NDArray[np.uint64]:
        """The zone's cells, or ValueError if the index cannot take this zone."""
        if cover.resolution != resolution:
            raise ValueError(
                f"zone {key!r}: cover has resolution {cover.resolution}, index {resolution}"
            )
        if geom.is_empty:
            raise ValueError(f"zone {key!r}: empty geometry")
        if not geom.is_valid:
            # GEOS answers point queries on invalid polygons inconsistently (a prepared
            # MultiPolygon with overlapping parts puts the overlap outside).
            raise ValueError(f"zone {key!r}: invalid geometry: {shapely.is_valid_reason(geom)}")
        cells = np.concatenate([cover.interior, cover.boundary]).astype(np.uint64)
        if np.unique(cells).size != cells.size:
            raise ValueError(f"zone {key!r}: cover lists a cell twice")
        return cells

    @classmethod
    def build(
        cls,
        zones: Sequence[tuple[K, Polygon | MultiPolygon, Cover]],
        resolution: int,
    ) -> "ZoneIndex[K]":
        """Index zones given as (key, lon/lat geometry, cover at ``resolution``)."""
        keys = tuple(key for key, _, _ in zones)
        geometries = tuple(geom for _, geom, _ in zones)
        cell_parts: list[NDArray[np.uint64]] = []
        zone_parts: list[NDArray[np.int32]] = []
        flag_parts: list[NDArray[np.bool_]] = []
        for z, (key, geom, cover) in enumerate(zones):
            cells = cls.check_zone(key, geom, cover, resolution)
            cell_parts.append(cells)
            zone_parts.append(np.full(cells.size, z, dtype=np.int32))
            flag_parts.append(
                np.concatenate(
                    [
                        np.ones(cover.interior.size, dtype=np.bool_),
                        np.zeros(cover.boundary.size, dtype=np.bool_),
                    ]
                )
            )
        all_cells = np.concatenate(cell_parts) if cell_parts else np.empty(0, np.uint64)
        all_zones = np.concatenate(zone_parts) if zone_parts else np.empty(0, np.int32)
        all_flags = np.concatenate(flag_parts) if flag_parts else np.empty(0, np.bool_)
        order = np.lexsort((all_zones, all_cells))
        all_cells, all_zones, all_flags = all_cells[order], all_zones[order], all_flags[order]
        new_cell = np.ones(all_cells.size, dtype=np.bool_)
        np.not_equal(all_cells[1:], all_cells[:-1], out=new_cell[1:])
        starts = np.flatnonzero(new_cell)
        offsets = np.append(starts, all_cells.size).astype(np.int64)
        for geom in geometries:
            shapely.prepare(geom)
            # GEOS builds the point locator lazily: do it now, not in a concurrent query.
            x, y = geom.representative_point().coords[0]
            shapely.intersects_xy(geom, x, y)
        return cls(
            resolution,
            keys,
            geometries,
            np.ascontiguousarray(all_cells[starts]),
            offsets,
            np.ascontiguousarray(all_zones),
            np.ascontiguousarray(all_flags),
        )

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """Bytes of the lookup arrays (cells, offsets, zone entries, interior flags)."""
        return int(
            self.cells.nbytes
            + self.offsets.nbytes
            + self._entry_zone.nbytes
            + self._entry_interior.nbytes
        )

    @property
    def entry_count(self) -> int:
        """Number of (cell, zone) entries."""
        return int(self._entry_zone.size)

    @property
    def interior_entry_count(self) -> int:
        """Number of (cell, zone) entries whose cell is wholly inside the zone."""
        return int(np.count_nonzero(self._entry_interior))

    def classify(self, lats: ArrayLike, lngs: ArrayLike) -> Membership:
        """Every (point, zone) pair with the point in the zone (closed set; see module doc)."""
        lat = np.ascontiguousarray(lats, dtype=np.float64)
        lng = np.ascontiguousarray(lngs, dtype=np.float64)
        if lat.ndim != 1 or lat.shape != lng.shape:
            raise ValueError("lats and lngs must be 1-D arrays of the same length")
        empty = Membership(np.empty(0, np.int64), np.empty(0, np.int64))
        if lat.size == 0 or self.cells.size == 0:
            return empty

        # NaN fails both comparisons, so it is dropped here too.
        valid = (np.abs(lat) <= 90.0) & (np.abs(lng) <= 180.0)
        if valid.all():
            point_of = None
            cells = _cells(lat, lng, self.resolution)
        else:
            point_of = np.flatnonzero(valid)
            if point_of.size == 0:
                return empty
            cells = _cells(lat[point_of], lng[point_of], self.resolution)

        pos = np.searchsorted(self.cells, cells)
        np.minimum(pos, self.cells.size - 1, out=pos)
        hit = np.flatnonzero(self.cells[pos] == cells)
        if hit.size == 0:
            return empty
        hit_pos = pos[hit]
        start = self.offsets[hit_pos]
        count = self.offsets[hit_pos + 1] - start
        points = hit if point_of is None else point_of[hit]

        if int(count.max()) == 1:
            # Common case: each hit cell belongs to one zone.
            pair_point = points
            entries = start
        else:
            pair_point = np.repeat(points, count)
            first = np.cumsum(count) - count
            entries = np.arange(pair_point.size, dtype=np.int64) + np.repeat(start - first, count)
        zone = self._entry_zone[entries]
        interior = self._entry_interior[entries]

        test = np.flatnonzero(~interior)
        if test.size:
            tp = pair_point[test]
            inside = shapely.intersects_xy(self._geometry_array[zone[test]], lng[tp], lat[tp])
            keep = interior
            keep[test] = inside
            pair_point = pair_point[keep]
            zone = zone[keep]
        return Membership(
            pair_point.astype(np.int64, copy=False), zone.astype(np.int64), int(test.size)
        )

    def zones_at(self, lat: float, lng: float) -> list[K]:
        """Keys of the zones containing one point (closed set; see module doc)."""
        if not (abs(lat) <= 90.0 and abs(lng) <= 180.0) or self.cells.size == 0:
            return []
        # h3's C library here, h3ronpy in `classify`: the covers' margin absorbs any
        # difference between the two for points on a cell edge.
        cell = np.uint64(h3.latlng_to_cell(lat, lng, self.resolution))
        i = int(np.searchsorted(self.cells, cell))
        if i == self.cells.size or self.cells[i] != cell:
            return []
        found: list[K] = []
        for entry in range(int(self.offsets[i]), int(self.offsets[i + 1])):
            z = int(self._entry_zone[entry])
            if self._entry_interior[entry] or shapely.intersects_xy(self.geometries[z], lng, lat):
                found.append(self.keys[z])
        return found


def _cells(
    lat: NDArray[np.float64], lng: NDArray[np.float64], resolution: int
) -> NDArray[np.uint64]:
    return np.asarray(coordinates_to_cells(lat, lng, resolution), dtype=np.uint64)
