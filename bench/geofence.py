"""Geofence benchmark: which zones contain each point, ZoneIndex against STRtree and PostGIS.

Run as `python -m bench.geofence [--quick]`. Builds 1,000 zones of mixed sizes and shapes over
Helsingborg (circles, ellipses, stars, some with holes, tiny ones smaller than an H3 cell,
thin corridors, MultiPolygons, a few large districts) and 1,000,000 points (half uniform over
the area, half scattered around zones, where the boundaries are), then in the same run:

* compiles the H3 covers and builds the ZoneIndex (time, memory);
* classifies every point with the ZoneIndex (points/s);
* answers the same question with a shapely STRtree (bulk query, then the exact
  ``intersects_xy`` on the prepared candidates, vectorised); this is also the reference
  for the exactness rate, which must be 100 % (the run exits 1 otherwise);
* and with PostGIS: ``ST_Intersects`` (the same closed-set rule) against a zones table with
  a GiST index, points sent in chunks as arrays and expanded with ``unnest``, in a scratch
  database ``fleetbed_bench_geo`` that the run creates and drops. PostGIS is timed on as many
  chunks as fit in a time budget; the report says how many points that was;
* a table of how cover build time, cells and memory grow with resolution and zone count.

`--quick`: 200 zones, 200,000 points (under a minute). The last line is
`RESULT geofence points_per_s=<zoneindex> baseline=<postgis> ratio=<zoneindex/postgis>`.
"""

import argparse
import asyncio
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon

from geofencing.covers import DEFAULT_RESOLUTION, Cover, compile_cover
from geofencing.geometry import area_km2, parse_geometry, to_geojson
from geofencing.zone_index import ZoneIndex

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DB = "fleetbed_bench_geo"
SOUTH, NORTH, WEST, EAST = 56.00, 56.15, 12.55, 12.85
LAT0 = (SOUTH + NORTH) / 2
M_PER_DEG_LAT = 111_250.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(LAT0))
CHUNK = 100_000
PG_CHUNK = 10_000
BRUTE_FORCE_POINTS = 5_000

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Plan:
    """What to run."""

    zones: int
    points: int
    resolutions: tuple[int, ...]
    postgis_budget_s: float
    seed: int


FULL = Plan(
    zones=1000, points=1_000_000, resolutions=(9, 10, 11, 12), postgis_budget_s=30.0, seed=1283
)
QUICK = Plan(zones=200, points=200_000, resolutions=(9, 10, 11), postgis_budget_s=8.0, seed=1283)


# ---------------------------------------------------------------- workload


def _local(shape: Polygon, lng: float, lat: float, angle: float) -> Polygon:
    """A shape drawn in metres around (0, 0), rotated, placed at (lng, lat) in degrees."""
    rotated = affinity.rotate(shape, angle, origin=(0, 0))
    scaled = affinity.scale(rotated, 1 / M_PER_DEG_LNG, 1 / M_PER_DEG_LAT, origin=(0, 0))
    placed: Polygon = affinity.translate(scaled, lng, lat)
    return placed


def _ellipse(rng: np.random.Generator, radius: float) -> Polygon:
    circle = Point(0, 0).buffer(radius, quad_segs=int(rng.integers(4, 12)))
    scaled: Polygon = affinity.scale(circle, 1.0, rng.uniform(0.4, 1.0), origin=(0, 0))
    return scaled


def _star(rng: np.random.Generator, radius: float) -> Polygon:
    n = int(rng.integers(5, 13))
    inner = rng.uniform(0.35, 0.7)
    angles = np.arange(2 * n) * math.pi / n
    radii = np.where(np.arange(2 * n) % 2 == 0, radius, radius * inner)
    return Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))


def _blob(rng: np.random.Generator, radius: float) -> Polygon:
    return _star(rng, radius) if rng.random() < 0.4 else _ellipse(rng, radius)


def _with_holes(rng: np.random.Generator, shell: Polygon, radius: float) -> Polygon:
    result = shell
    for _ in range(int(rng.integers(1, 3))):
        r = radius * rng.uniform(0.1, 0.25)
        offset = radius * rng.uniform(-0.3, 0.3, 2)
        hole = affinity.translate(_blob(rng, r), *offset)
        if result.contains(hole):
            result = result.difference(hole)
    return result if isinstance(result, Polygon) else shell


def _corridor(rng: np.random.Generator) -> Polygon:
    length = rng.uniform(300, 2000)
    width = rng.uniform(4, 20)
    return Polygon(
        [
            (-length / 2, -width / 2),
            (length / 2, -width / 2),
            (length / 2, width / 2),
            (-length / 2, width / 2),
        ]
    )


def make_zones(count: int, seed: int) -> list[MultiPolygon]:
    """Zones of mixed sizes and shapes over Helsingborg, validated by the real parser."""
    rng = np.random.default_rng(seed)
    zones: list[MultiPolygon] = []
    mix = ["tiny"] * 15 + ["small"] * 40 + ["medium"] * 25 + ["holes"] * 6
    mix += ["corridor"] * 8 + ["multi"] * 5 + ["large"] * 1
    # The same mix in every block of 100 zones, shuffled, so any prefix is representative.
    kinds = [k for _ in range(math.ceil(count / len(mix))) for k in rng.permutation(mix)]
    while len(zones) < count:
        kind = kinds[len(zones)]
        lng = rng.uniform(WEST + 0.01, EAST - 0.01)
        lat = rng.uniform(SOUTH + 0.005, NORTH - 0.005)
        angle = rng.uniform(0, 180)
        parts: list[Polygon]
        if kind == "tiny":
            parts = [_blob(rng, rng.uniform(3, 25))]
        elif kind == "small":
            parts = [_blob(rng, rng.uniform(40, 200))]
        elif kind == "medium":
            radius = rng.uniform(200, 800)
            shell = _blob(rng, radius)
            parts = [_with_holes(rng, shell, radius) if rng.random() < 0.3 else shell]
        elif kind == "holes":
            radius = rng.uniform(150, 1200)
            parts = [_with_holes(rng, _blob(rng, radius), radius)]
        elif kind == "corridor":
            parts = [_corridor(rng)]
        elif kind == "multi":
            parts = []
            for i in range(int(rng.integers(2, 5))):
                part = affinity.translate(
                    _blob(rng, rng.uniform(20, 150)), i * 400.0, rng.uniform(-200, 200)
                )
                parts.append(part)
        else:
            radius = rng.uniform(2000, 4500)
            parts = [_with_holes(rng, _blob(rng, radius), radius)]
        placed = MultiPolygon([_local(p, lng, lat, angle) for p in parts])
        zones.append(parse_geometry(to_geojson(placed)))
    return zones


def make_points(zones: Sequence[MultiPolygon], count: int, seed: int) -> tuple[Array, Array]:
    """Half uniform over the area, half scattered around zones (where boundaries are)."""
    rng = np.random.default_rng(seed + 1)
    uniform = count // 2
    lat = [rng.uniform(SOUTH, NORTH, uniform)]
    lng = [rng.uniform(WEST, EAST, uniform)]
    near = count - uniform
    bounds = shapely.bounds(np.asarray(zones, dtype=object))
    pick = rng.integers(0, len(zones), near)
    cx = (bounds[pick, 0] + bounds[pick, 2]) / 2
    cy = (bounds[pick, 1] + bounds[pick, 3]) / 2
    sx = np.maximum((bounds[pick, 2] - bounds[pick, 0]) / 2, 1e-5)
    sy = np.maximum((bounds[pick, 3] - bounds[pick, 1]) / 2, 1e-5)
    lng.append(cx + rng.normal(0, 1, near) * sx)
    lat.append(cy + rng.normal(0, 1, near) * sy)
    order = rng.permutation(count)
    return np.concatenate(lat)[order], np.concatenate(lng)[order]


# ---------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Pairs:
    """(point, zone) pairs sorted by point then zone."""

    point: NDArray[np.int64]
    zone: NDArray[np.int64]

    @staticmethod
    def sorted(point: NDArray[np.int64], zone: NDArray[np.int64]) -> "Pairs":
        order = np.lexsort((zone, point))
        return Pairs(point[order].astype(np.int64), zone[order].astype(np.int64))

    def keys(self, zone_count: int) -> NDArray[np.int64]:
        return self.point * zone_count + self.zone


def chunked(
    lat: Array,
    lng: Array,
    size: int,
    fn: Callable[[Array, Array], tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> tuple[Pairs, float]:
    """Run `fn` over chunks of points; pairs with global point indexes, and the seconds."""
    points: list[NDArray[np.int64]] = []
    zones: list[NDArray[np.int64]] = []
    started = time.perf_counter()
    for start in range(0, lat.size, size):
        p, z = fn(lat[start : start + size], lng[start : start + size])
        points.append(p + start)
        zones.append(z)
    elapsed = time.perf_counter() - started
    return Pairs(np.concatenate(points), np.concatenate(zones)), elapsed


def build_covers(zones: Sequence[MultiPolygon], resolution: int) -> tuple[list[Cover], list[float]]:
    """Covers and the seconds each took."""
    covers: list[Cover] = []
    seconds: list[float] = []
    for zone in zones:
        started = time.perf_counter()
        covers.append(compile_cover(zone, resolution))
        seconds.append(time.perf_counter() - started)
    return covers, seconds


def build_index(
    zones: Sequence[MultiPolygon], covers: Sequence[Cover], resolution: int
) -> tuple[ZoneIndex[int], float]:
    started = time.perf_counter()
    index = ZoneIndex.build(
        [(i, z, c) for i, (z, c) in enumerate(zip(zones, covers, strict=True))], resolution
    )
    return index, time.perf_counter() - started


def zoneindex_run(
    index: ZoneIndex[int], lat: Array, lng: Array, size: int
) -> tuple[Pairs, float, int]:
    exact = 0

    def classify(la: Array, ln: Array) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        nonlocal exact
        found = index.classify(la, ln)
        exact += found.exact_tests
        return found.point_index, found.zone_index

    pairs, elapsed = chunked(lat, lng, size, classify)
    return pairs, elapsed, exact


def strtree_run(zones: Sequence[MultiPolygon], lat: Array, lng: Array) -> tuple[Pairs, float]:
    geoms = np.asarray([shapely.from_wkb(shapely.to_wkb(z)) for z in zones], dtype=object)
    tree = shapely.STRtree(geoms)
    shapely.prepare(geoms)

    def query(la: Array, ln: Array) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        point_idx, zone_idx = tree.query(shapely.points(ln, la))
        hit = shapely.intersects_xy(geoms[zone_idx], ln[point_idx], la[point_idx])
        return point_idx[hit], zone_idx[hit]

    query(lat[:1000], lng[:1000])
    pairs, elapsed = chunked(lat, lng, CHUNK, query)
    return Pairs.sorted(pairs.point, pairs.zone), elapsed


def brute_force(zones: Sequence[MultiPolygon], lat: Array, lng: Array) -> Pairs:
    """Every zone against every point, on unprepared copies: independent of any index."""
    points: list[NDArray[np.int64]] = []
    zone_ids: list[NDArray[np.int64]] = []
    for z, zone in enumerate(zones):
        inside = np.flatnonzero(
            shapely.intersects_xy(shapely.from_wkb(shapely.to_wkb(zone)), lng, lat)
        )
        points.append(inside.astype(np.int64))
        zone_ids.append(np.full(inside.size, z, dtype=np.int64))
    return Pairs.sorted(np.concatenate(points), np.concatenate(zone_ids))


def mismatched_points(got: Pairs, want: Pairs, zone_count: int) -> NDArray[np.int64]:
    """Points whose set of zones differs."""
    diff = np.setxor1d(got.keys(zone_count), want.keys(zone_count), assume_unique=True)
    return np.unique(diff // zone_count)


# ---------------------------------------------------------------- PostGIS


@dataclass(frozen=True)
class PostgisFigures:
    points: int
    seconds: float
    pairs: Pairs
    version: str

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0


async def postgis_run(
    zones: Sequence[MultiPolygon], lat: Array, lng: Array, budget_s: float
) -> PostgisFigures:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
    finally:
        await admin.close()
    scratch_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    try:
        conn = await asyncpg.connect(scratch_url)
        try:
            return await _postgis_measure(conn, zones, lat, lng, budget_s)
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        finally:
            await admin.close()


async def _postgis_measure(
    conn: asyncpg.Connection, zones: Sequence[MultiPolygon], lat: Array, lng: Array, budget_s: float
) -> PostgisFigures:
    await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    version = await conn.fetchval("SELECT postgis_lib_version()")
    await conn.execute(
        "CREATE TABLE zones (id int PRIMARY KEY, geom geometry(MultiPolygon, 4326) NOT NULL)"
    )
    await conn.executemany(
        "INSERT INTO zones VALUES ($1, ST_GeomFromWKB($2, 4326))",
        [(i, shapely.to_wkb(z)) for i, z in enumerate(zones)],
    )
    await conn.execute("CREATE INDEX zones_geom ON zones USING gist (geom)")
    await conn.execute("ANALYZE zones")
    query = await conn.prepare(
        "SELECT p.i, z.id FROM unnest($1::int4[], $2::float8[], $3::float8[]) AS p(i, x, y) "
        "JOIN zones z ON ST_Intersects(z.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))"
    )
    await query.fetch(list(range(100)), lng[:100].tolist(), lat[:100].tolist())
    points: list[int] = []
    zone_ids: list[int] = []
    done = 0
    started = time.perf_counter()
    while done < lat.size and time.perf_counter() - started < budget_s:
        end = min(done + PG_CHUNK, lat.size)
        rows = await query.fetch(
            list(range(done, end)), lng[done:end].tolist(), lat[done:end].tolist()
        )
        points.extend(r[0] for r in rows)
        zone_ids.extend(r[1] for r in rows)
        done = end
    elapsed = time.perf_counter() - started
    pairs = Pairs.sorted(np.asarray(points, dtype=np.int64), np.asarray(zone_ids, dtype=np.int64))
    return PostgisFigures(done, elapsed, pairs, str(version))


# ---------------------------------------------------------------- report


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 zones, 200,000 points")
    parser.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    resolution: int = args.resolution
    print(
        f"geofence benchmark: {plan.zones} zones, {plan.points:,} points, "
        f"H3 resolution {resolution}"
    )

    started = time.perf_counter()
    zones = make_zones(plan.zones, plan.seed)
    lat, lng = make_points(zones, plan.points, plan.seed)
    areas = np.array([area_km2(z) for z in zones])
    vertices = int(shapely.get_num_coordinates(np.asarray(zones, dtype=object)).sum())
    holes = sum(len(p.interiors) for z in zones for p in z.geoms)
    print(
        f"workload: made in {time.perf_counter() - started:.1f} s; zone area "
        f"min {areas.min() * 1e6:,.0f} m², median {np.median(areas) * 1e6:,.0f} m², "
        f"max {areas.max():,.1f} km²; {vertices:,} vertices, {holes} holes, "
        f"{sum(len(z.geoms) > 1 for z in zones)} MultiPolygons"
    )

    # Covers and index at the chosen resolution.
    covers, seconds = build_covers(zones, resolution)
    index, index_s = build_index(zones, covers, resolution)
    cells = sum(c.cell_count for c in covers)
    interior = sum(c.interior.size for c in covers)
    print(
        f"\ncovers (resolution {resolution}): {sum(seconds):.2f} s for {plan.zones} zones "
        f"(max {max(seconds) * 1000:.0f} ms per zone), {cells:,} cells "
        f"({interior / cells:.0%} interior), {mib(sum(c.nbytes for c in covers))}"
    )
    print(
        f"ZoneIndex build: {index_s:.2f} s; {index.cells.size:,} distinct cells, "
        f"{index.entry_count:,} entries, {mib(index.nbytes)} "
        "(lookup arrays; the zone geometries are shared)"
    )

    # ZoneIndex.
    index.classify(lat[:10_000], lng[:10_000])
    runs = [zoneindex_run(index, lat, lng, CHUNK) for _ in range(5)]
    zi_pairs, _, exact_tests = runs[0]
    zi_s = statistics.median(r[1] for r in runs)
    zi_rate = lat.size / zi_s
    zi_best = lat.size / min(r[1] for r in runs)
    batch_rows = []
    sample = min(lat.size, 200_000)
    for size in (100, 1_000, 10_000, CHUNK):
        _, s, _ = zoneindex_run(index, lat[:sample], lng[:sample], size)
        batch_rows.append([f"{size:,}", f"{sample / s:,.0f}"])
    print(
        f"\nZoneIndex: {zi_rate:,.0f} points/s (median of 5 runs, best {zi_best:,.0f}, over "
        f"{lat.size:,} points in chunks of {CHUNK:,}); {len(zi_pairs.point):,} (point, zone) "
        f"pairs, {exact_tests / lat.size:.3f} exact tests per point"
    )
    print(table(["batch size", "points/s"], batch_rows))

    # STRtree, also the reference.
    ref, tree_s = strtree_run(zones, lat, lng)
    tree_rate = lat.size / tree_s
    print(
        f"\nshapely STRtree (query + prepared intersects_xy, vectorised): {tree_rate:,.0f} points/s"
    )
    bad = mismatched_points(zi_pairs, ref, plan.zones)
    exactness = 1 - bad.size / lat.size
    print(
        f"exactness of ZoneIndex vs shapely: {exactness:.4%} "
        f"({bad.size} of {lat.size:,} points differ)"
    )
    sample = min(lat.size, BRUTE_FORCE_POINTS)
    brute = brute_force(zones, lat[:sample], lng[:sample])
    head = zi_pairs.point < sample
    brute_bad = mismatched_points(
        Pairs(zi_pairs.point[head], zi_pairs.zone[head]), brute, plan.zones
    )
    print(
        f"cross-check against brute force (unprepared geometries, every zone) on the first "
        f"{sample:,} points: {brute_bad.size} differ"
    )
    bad = np.union1d(bad, brute_bad)
    exactness = 1 - bad.size / lat.size
    if bad.size:
        for p in bad[:10].tolist():
            print(f"  point {p}: lat={lat[p]!r} lng={lng[p]!r}")

    # PostGIS.
    try:
        pg = asyncio.run(postgis_run(zones, lat, lng, plan.postgis_budget_s))
    except (OSError, asyncpg.PostgresError) as exc:
        print(
            f"\nPostGIS baseline failed: {exc!r} "
            f"(is PostgreSQL with PostGIS running on {ADMIN_URL}?)"
        )
        return 2
    pg_ref = Pairs(ref.point[ref.point < pg.points], ref.zone[ref.point < pg.points])
    pg_bad = mismatched_points(pg.pairs, pg_ref, plan.zones)
    sampled = (
        "all points"
        if pg.points == lat.size
        else (
            f"the first {pg.points:,} points: the full run would take ~{lat.size / pg.rate:.0f} s"
        )
    )
    print(
        f"\nPostGIS {pg.version} (ST_Intersects, GiST, unnest of {PG_CHUNK:,}-point arrays): "
        f"{pg.rate:,.0f} points/s, timed on {sampled}; agrees with shapely on "
        f"{1 - pg_bad.size / pg.points:.4%} of them"
    )

    # Growth with resolution and zone count.
    print("\ngrowth of covers with resolution and zone count (single process):")
    rows = []
    counts = sorted({plan.zones // 4, plan.zones // 2, plan.zones})
    growth_sample = min(lat.size, 200_000)
    for res in plan.resolutions:
        res_covers, res_seconds = (
            (covers, seconds) if res == resolution else build_covers(zones, res)
        )
        for count in counts:
            sub_index, sub_build_s = build_index(zones[:count], res_covers[:count], res)
            rate = exact_per_point = float("nan")
            if count == plan.zones:
                _, s, exact = zoneindex_run(
                    sub_index, lat[:growth_sample], lng[:growth_sample], CHUNK
                )
                rate = growth_sample / s
                exact_per_point = exact / growth_sample
            rows.append(
                [
                    str(res),
                    f"{count:,}",
                    f"{sum(res_seconds[:count]):.2f}",
                    f"{sub_build_s:.2f}",
                    f"{sub_index.entry_count:,}",
                    f"{sub_index.interior_entry_count / max(sub_index.entry_count, 1):.0%}",
                    mib(sub_index.nbytes),
                    "" if math.isnan(exact_per_point) else f"{exact_per_point:.3f}",
                    "" if math.isnan(rate) else f"{rate:,.0f}",
                ]
            )
    print(
        table(
            [
                "res",
                "zones",
                "covers s",
                "index s",
                "entries",
                "interior",
                "memory",
                "exact/pt",
                "points/s",
            ],
            rows,
        )
    )

    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    if exactness < 1.0:
        print("FAILED: the ZoneIndex disagrees with shapely")
        return 1
    ratio = zi_rate / pg.rate if pg.rate else float("inf")
    print(f"RESULT geofence points_per_s={zi_rate:.1f} baseline={pg.rate:.1f} ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
