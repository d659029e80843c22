"""MDS Provider Reports (pure): the rows of a monthly report and its CSV.

What fleetbed can and cannot count:

- `trip_count` counts closed trips that started in the month (the city's local month) in
  a geography (the published city-wide zone versions in effect at the trip's start that
  cover its start point), per vehicle type. Trips the provider labels as operator trips
  (`trip_type` rebalance, maintenance, or empty) carry no rider and are left out.
- `rider_count` is always -1: fleetbed holds no rider identities, and no MDS Trip field
  identifies riders, so unique riders cannot be counted. -1 is the spec's "not reported"
  value, so no consumer can mistake it for a count.
- Special groups: `all_riders` for every vehicle type, and `adaptive_scooter` for scooter
  types, counting trips on a vehicle registered with the `adaptive` accessibility
  attribute or whose trip record reports it. `low_income` is not reported: no MDS data
  fleetbed receives says whether a low-income discount applied.
- Counts below k (zero included) are -1, as the spec's data redaction requires.
"""

import csv
import io
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from fleet.reporting.metrics_compute import SUPPRESSED, suppressed

HEADER = (
    "provider_id",
    "start_date",
    "duration",
    "special_group_type",
    "geography_id",
    "vehicle_type",
    "trip_count",
    "rider_count",
)
MONTHLY = "P1M"
ALL_RIDERS = "all_riders"
ADAPTIVE_SCOOTER = "adaptive_scooter"
ADAPTIVE = "adaptive"
SCOOTER_TYPES = frozenset({"scooter_standing", "scooter_seated"})
# Provider trip types (MDS `trip_type`) of trips nobody rode as a customer.
NON_RIDER_TRIP_TYPES = ("rebalance", "maintenance", "empty")

Key = tuple[uuid.UUID, uuid.UUID | None, str]


@dataclass(frozen=True)
class TripCounts:
    """Rider trips in one (provider, geography, vehicle type), and how many were adaptive."""

    trips: int = 0
    adaptive: int = 0


@dataclass(frozen=True)
class ReportRow:
    """One row of a monthly report, counts already suppressed."""

    provider_id: uuid.UUID
    start_date: date
    special_group_type: str
    geography_id: uuid.UUID | None
    vehicle_type: str
    trip_count: int
    rider_count: int

    def cells(self) -> tuple[str, ...]:
        """The row as CSV cells; a missing geography is an empty cell (null)."""
        return (
            str(self.provider_id),
            self.start_date.isoformat(),
            MONTHLY,
            self.special_group_type,
            str(self.geography_id) if self.geography_id else "",
            self.vehicle_type,
            str(self.trip_count),
            str(self.rider_count),
        )


def groups_of(vehicle_type: str) -> tuple[str, ...]:
    """The special groups reported for a vehicle type."""
    return (ALL_RIDERS, ADAPTIVE_SCOOTER) if vehicle_type in SCOOTER_TYPES else (ALL_RIDERS,)


def report_rows(
    *,
    month: date,
    fleets: Mapping[uuid.UUID, Collection[str]],
    geographies: Sequence[uuid.UUID],
    counts: Mapping[Key, TripCounts],
    k: int,
) -> list[ReportRow]:
    """Every combination of provider, geography, vehicle type in operation and special group.

    `fleets` maps each provider to its vehicle types in operation during the month; without
    geographies, counts are for the whole area and the geography is null.
    """
    places: Sequence[uuid.UUID | None] = sorted(geographies, key=str) or [None]
    rows: list[ReportRow] = []
    for provider_id in sorted(fleets, key=str):
        for geography_id in places:
            for vehicle_type in sorted(fleets[provider_id]):
                found = counts.get((provider_id, geography_id, vehicle_type), TripCounts())
                for group in groups_of(vehicle_type):
                    trips = found.trips if group == ALL_RIDERS else found.adaptive
                    rows.append(
                        ReportRow(
                            provider_id,
                            month,
                            group,
                            geography_id,
                            vehicle_type,
                            suppressed(trips, k),
                            SUPPRESSED,
                        )
                    )
    return rows


def render_csv(rows: Sequence[ReportRow]) -> str:
    """The report as CSV text with the spec's header, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(row.cells() for row in rows)
    return out.getvalue()
