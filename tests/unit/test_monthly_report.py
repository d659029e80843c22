"""MDS Provider monthly report rows and CSV (pure)."""

import csv
import io
import uuid
from datetime import date

from fleet.reporting.monthly_report import (
    HEADER,
    TripCounts,
    render_csv,
    report_rows,
)

PROVIDER = uuid.UUID("48415839-3e38-4ba5-a557-e45fb4e6a0a3")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000001")
ZONE_A = uuid.UUID("03db06d0-3998-406a-92c7-25a83fc2784a")
ZONE_B = uuid.UUID("44428624-186b-4fc3-a7fb-124f487464a1")
NOVEMBER = date(2026, 11, 1)


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_combination_is_a_row_and_small_counts_are_suppressed() -> None:
    rows = report_rows(
        month=NOVEMBER,
        fleets={PROVIDER: {"scooter_standing", "bicycle"}},
        geographies=[ZONE_B, ZONE_A],
        counts={
            (PROVIDER, ZONE_A, "scooter_standing"): TripCounts(trips=10, adaptive=9),
            (PROVIDER, ZONE_B, "bicycle"): TripCounts(trips=9),
            (PROVIDER, ZONE_B, "scooter_standing"): TripCounts(trips=250, adaptive=12),
        },
        k=10,
    )
    got = [
        (r.geography_id, r.vehicle_type, r.special_group_type, r.trip_count, r.rider_count)
        for r in rows
    ]
    assert got == [
        (ZONE_A, "bicycle", "all_riders", -1, -1),  # none is suppressed like few
        (ZONE_A, "scooter_standing", "all_riders", 10, -1),
        (ZONE_A, "scooter_standing", "adaptive_scooter", -1, -1),
        (ZONE_B, "bicycle", "all_riders", -1, -1),
        (ZONE_B, "scooter_standing", "all_riders", 250, -1),
        (ZONE_B, "scooter_standing", "adaptive_scooter", 12, -1),
    ]
    assert {(r.provider_id, r.start_date) for r in rows} == {(PROVIDER, NOVEMBER)}


def test_k_comes_from_the_caller() -> None:
    rows = report_rows(
        month=NOVEMBER,
        fleets={PROVIDER: {"bicycle"}},
        geographies=[ZONE_A],
        counts={(PROVIDER, ZONE_A, "bicycle"): TripCounts(trips=3)},
        k=3,
    )
    assert [r.trip_count for r in rows] == [3]


def test_without_geographies_counts_cover_the_whole_area() -> None:
    rows = report_rows(
        month=NOVEMBER,
        fleets={OTHER: {"moped"}, PROVIDER: {"moped"}},
        geographies=[],
        counts={(PROVIDER, None, "moped"): TripCounts(trips=40)},
        k=10,
    )
    assert [(r.provider_id, r.geography_id, r.trip_count) for r in rows] == [
        (OTHER, None, -1),
        (PROVIDER, None, 40),
    ]


def test_csv_has_the_spec_header_and_null_geographies_are_empty() -> None:
    rows = report_rows(
        month=NOVEMBER,
        fleets={PROVIDER: {"scooter_seated"}},
        geographies=[],
        counts={(PROVIDER, None, "scooter_seated"): TripCounts(trips=1302, adaptive=201)},
        k=10,
    )
    text = render_csv(rows)
    assert text.splitlines()[0] == ",".join(HEADER)
    assert parsed(text) == [
        {
            "provider_id": str(PROVIDER),
            "start_date": "2026-11-01",
            "duration": "P1M",
            "special_group_type": group,
            "geography_id": "",
            "vehicle_type": "scooter_seated",
            "trip_count": count,
            "rider_count": "-1",
        }
        for group, count in (("all_riders", "1302"), ("adaptive_scooter", "201"))
    ]


def test_no_fleet_is_a_header_only_file() -> None:
    rows = report_rows(month=NOVEMBER, fleets={}, geographies=[ZONE_A], counts={}, k=10)
    assert render_csv(rows).splitlines() == [",".join(HEADER)]
