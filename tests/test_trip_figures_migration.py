"""Migration 20261203_0011: existing trips' figures become measured or operator figures."""

import json
import uuid
from typing import Any

from sqlalchemy import make_url

from app.migrations import downgrade, upgrade
from tests.sql import fetchval

BEFORE = "20261203_0010"
_INSERT = """
INSERT INTO trips (trip_id, provider_id, device_id, status, start_at, end_at, duration_s,
                   distance_m, route_points, has_gaps, parking_category, details)
VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'closed', '2026-12-01T10:00:00Z',
        '2026-12-01T10:10:00Z', $2, $3, $4, false, $5, CAST($6 AS jsonb))
"""
_FIGURES = """
SELECT json_build_object(
    'city', json_build_array(duration_s, distance_m, parking_category),
    'operator', json_build_array(operator_duration_s, operator_distance_m,
                                 operator_parking_category),
    'measured', json_build_array(measured_duration_s, measured_distance_m,
                                 measured_parking_category, measured_route_points),
    'discrepancies', discrepancies)::text
FROM trips WHERE trip_id = $1
"""


def _agency(duration: int, distance: int, **fields: Any) -> str:
    return json.dumps({"agency": {"duration": duration, "distance": distance, **fields}})


def test_existing_trips_keep_how_their_figures_came(scratch_database_url: str) -> None:
    database = make_url(scratch_database_url).database
    upgrade(scratch_database_url, BEFORE)
    measured, posted, both, agreeing = (uuid.uuid4() for _ in range(4))
    rows = [
        # Closed by events and measured (route points), no operator record.
        (measured, 600, 800, 12, "other_valid", "{}"),
        # Posted by its operator alone: the figures are the operator's.
        (posted, 600, 1_400, None, "rack", _agency(600, 1_400, parking_category="rack")),
        # Measured from events, then posted with a far longer distance.
        (both, 600, 500, 9, "invalid", _agency(600, 2_000, parking_category="rack")),
        # Within the share, and both call the parking valid.
        (agreeing, 600, 1_000, 9, "other_valid", _agency(700, 800, parking_category="rack")),
    ]
    for row in rows:
        fetchval(_INSERT, *row, database=database)
    upgrade(scratch_database_url)

    def figures(trip_id: uuid.UUID) -> dict[str, Any]:
        return dict(json.loads(fetchval(_FIGURES, trip_id, database=database)))

    assert figures(measured) == {
        "city": [600, 800, "other_valid"],
        "operator": [None, None, None],
        "measured": [600, 800, "other_valid", 12],
        "discrepancies": [],
    }
    assert figures(posted) == {
        "city": [600, 1_400, "rack"],
        "operator": [600, 1_400, "rack"],
        "measured": [None, None, None, None],
        "discrepancies": [],
    }
    assert figures(both) == {
        "city": [600, 2_000, "rack"],
        "operator": [600, 2_000, "rack"],
        "measured": [600, 500, "invalid", 9],
        "discrepancies": ["distance", "parking_category"],
    }
    assert figures(agreeing)["city"] == [700, 800, "rack"]
    assert figures(agreeing)["discrepancies"] == []
    downgrade(scratch_database_url, BEFORE)
    assert fetchval("SELECT count(*) FROM trips", database=database) == 4
