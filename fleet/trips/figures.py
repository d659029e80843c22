"""The operator's trip figures beside fleetbed's measurement (pure).

The city is given the operator's figure where the operator reported one (it is their
data), else fleetbed's. A figure whose two values differ by more than a share of the
larger one is a discrepancy, so auditors can find implausible reports.
"""

from dataclasses import dataclass
from typing import TypeVar

DURATION = "duration"
DISTANCE = "distance"
PARKING = "parking_category"
INVALID = "invalid"

T = TypeVar("T")


@dataclass(frozen=True)
class Figures:
    """A trip's duration, distance and parking category, each possibly unknown."""

    duration_s: int | None = None
    distance_m: int | None = None
    parking_category: str | None = None


def _first(own: T | None, ours: T | None) -> T | None:
    return own if own is not None else ours


def city_figures(operator: Figures, measured: Figures) -> Figures:
    """The operator's figure where given, else the measured one."""
    return Figures(
        _first(operator.duration_s, measured.duration_s),
        _first(operator.distance_m, measured.distance_m),
        _first(operator.parking_category, measured.parking_category),
    )


def _apart(a: int | None, b: int | None, share: float) -> bool:
    return a is not None and b is not None and abs(a - b) > share * max(abs(a), abs(b))


def _validity_differs(own: str | None, ours: str | None) -> bool:
    # Fleetbed tells valid parking only as corral or other_valid, where an operator may
    # say rack or curb: the categories disagree when one side calls the parking invalid.
    return own is not None and ours is not None and (own == INVALID) != (ours == INVALID)


def discrepancies(operator: Figures, measured: Figures, share: float) -> list[str]:
    """The names of the figures known to both sides that disagree: numbers by more than
    `share` of the larger value, parking when one side calls it invalid and the other not."""
    found = []
    if _apart(operator.duration_s, measured.duration_s, share):
        found.append(DURATION)
    if _apart(operator.distance_m, measured.distance_m, share):
        found.append(DISTANCE)
    if _validity_differs(operator.parking_category, measured.parking_category):
        found.append(PARKING)
    return found
