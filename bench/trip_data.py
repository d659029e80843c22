"""Closed trips (and the vehicles they name) generated inside PostgreSQL for the export bench.

Everything is made server-side with `INSERT … SELECT … FROM generate_series`, so a million
trips take seconds and no row crosses the wire. Values look like Helsingborg's shared
micromobility: both ends inside 56.03 to 56.07 N, 12.68 to 12.74 E, a route 1.2 to 1.6 times the
straight line ridden at 9 to 22 km/h, end times spread uniformly over the window.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from bench.services import _connect

# Vehicle number n: its device id and provider follow from n, so a trip names vehicle
# `i % vehicles` without looking it up. One in ten of each type but scooters.
_VEHICLES = """
INSERT INTO vehicles (device_id, provider_id, vehicle_id, vehicle_type, record)
SELECT s.device_id, s.provider_id, s.vehicle_id, s.vehicle_type,
       jsonb_build_object(
           'device_id', s.device_id, 'provider_id', s.provider_id,
           'vehicle_id', s.vehicle_id, 'vehicle_type', s.vehicle_type,
           'propulsion_types', CASE WHEN s.vehicle_type = 'bicycle'
                                    THEN '["human"]'::jsonb ELSE '["electric"]'::jsonb END)
FROM (
    SELECT md5('fleetbed-bench-vehicle-' || n)::uuid AS device_id,
           ($1::uuid[])[1 + n % cardinality($1::uuid[])] AS provider_id,
           'BENCH-' || lpad(n::text, 7, '0') AS vehicle_id,
           (ARRAY['scooter_standing', 'scooter_standing', 'scooter_standing',
                  'scooter_standing', 'scooter_standing', 'scooter_standing',
                  'bicycle', 'bicycle', 'cargo_bicycle', 'moped'])[1 + n % 10] AS vehicle_type
    FROM generate_series(0, $2 - 1) AS n
) AS s
"""

# Trips are written in the order they end, as fleetbed writes them (a trip's row gets its
# final version when it closes), so the table is physically ordered by end time, as a real
# one is. Straight-line metres per degree at 56.05 N: 111,320 north, 111,320 * cos(56.05°) east.
_TRIPS = """
INSERT INTO trips (trip_id, provider_id, device_id, status, start_at, start_lat, start_lng,
                   end_at, end_lat, end_lng, duration_s, distance_m, measured_route_points,
                   measured_has_gaps, parking_category)
SELECT gen_random_uuid(), ($1::uuid[])[1 + m.v % cardinality($1::uuid[])],
       md5('fleetbed-bench-vehicle-' || m.v)::uuid, 'closed',
       m.end_at - make_interval(secs => m.duration_s), m.start_lat, m.start_lng,
       m.end_at, m.end_lat, m.end_lng, m.duration_s, m.distance_m,
       greatest(2, m.duration_s / 5), random() < 0.02,
       CASE WHEN m.p < 0.55 THEN 'curb' WHEN m.p < 0.75 THEN 'rack'
            WHEN m.p < 0.90 THEN 'corral' WHEN m.p < 0.95 THEN 'other_valid'
            WHEN m.p < 0.98 THEN 'invalid' END
FROM (
    SELECT r.*, round(r.distance_m * 3.6 / (9 + 13 * random()))::int AS duration_s
    FROM (
        SELECT l.*,
               greatest(50, round((1.2 + 0.4 * random()) * sqrt(
                   power((l.end_lat - l.start_lat) * 111320, 2)
                   + power((l.end_lng - l.start_lng) * 62240, 2))))::int AS distance_m
        FROM (
            SELECT i % $2 AS v,
                   $3::timestamptz
                       + (i + random()) / $7 * ($4::timestamptz - $3::timestamptz) AS end_at,
                   56.03 + 0.04 * random() AS start_lat, 12.68 + 0.06 * random() AS start_lng,
                   56.03 + 0.04 * random() AS end_lat, 12.68 + 0.06 * random() AS end_lng,
                   random() AS p
            FROM generate_series($5::bigint, $6::bigint - 1) AS i
        ) AS l
    ) AS r
) AS m
"""

# The window is half-open, [start, end); random() < 1, so every trip ends inside it.
_COUNT = "SELECT count(*) FROM trips WHERE status = 'closed' AND end_at >= $1 AND end_at < $2"


@dataclass(frozen=True)
class TripSet:
    """What was generated: how many trips, vehicles and the window their ends fall in."""

    trips: int
    vehicles: int
    start: datetime
    end: datetime
    insert_s: float
    table_mb: float


async def generate(
    database_url: str,
    *,
    provider_ids: list[uuid.UUID],
    trips: int,
    vehicles: int,
    start: datetime,
    end: datetime,
    chunk: int = 250_000,
) -> TripSet:
    """Insert the vehicles, then `trips` closed trips ending in [start, end), then VACUUM."""
    conn = await _connect(database_url)
    try:
        began = await conn.fetchval("SELECT clock_timestamp()")
        await conn.execute(_VEHICLES, provider_ids, vehicles)
        # Chunks keep each statement's sort/WAL burst bounded; one commit per chunk.
        for first in range(0, trips, chunk):
            await conn.execute(
                _TRIPS, provider_ids, vehicles, start, end, first, min(trips, first + chunk), trips
            )
        # Readers then find hint bits set and fresh statistics: both servers read alike.
        await conn.execute("VACUUM (ANALYZE) trips, vehicles")
        took = await conn.fetchval("SELECT extract(epoch FROM clock_timestamp() - $1)", began)
        counted = await conn.fetchval(_COUNT, start, end)
        size = await conn.fetchval("SELECT pg_total_relation_size('trips')")
    finally:
        await conn.close()
    return TripSet(int(counted), vehicles, start, end, float(took), size / 2**20)
