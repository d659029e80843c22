"""Zones and points for the pure geofencing tests: random zones (hypothesis strategies),
probe points that stress edges and H3 cells, the MDS geography examples, Helsingborg."""

import json
import math
from typing import Any

import h3.api.basic_int as h3
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geofencing.covers import Cover
from geofencing.geometry import parse_geometry
from tests.mds_schemas import PROJECT_ROOT, specs_dir

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


def mds_example_zones() -> list[tuple[str, MultiPolygon]]:
    """Every polygonal feature of the MDS geography examples (skips when absent)."""
    folder = specs_dir() / "mds-2.0" / "spec" / "geography" / "examples"
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
