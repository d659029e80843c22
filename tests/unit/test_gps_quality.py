"""GPS sentinel values: legal in MDS, unknown to fleetbed's computations (pure)."""

import pytest

from geofencing.violations import RIDING_IN_NO_RIDE_ZONE, violations_of
from telemetry.quality import is_sentinel, known, sentinel_counts
from tests.unit.observations import ZONES, obs


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (-1.0, None), (-0.001, None), (0.0, 0.0), (4.5, 4.5)]
)
def test_negative_speeds_and_accuracies_are_unknown(
    value: float | None, expected: float | None
) -> None:
    assert known(value) == expected


@pytest.mark.parametrize(
    ("field", "value", "sentinel"),
    [
        ("speed", -1.0, True),
        ("speed", 0.0, False),
        ("horizontal_accuracy", -3.0, True),
        ("vertical_accuracy", -1.0, True),
        ("vertical_accuracy", 2.5, False),
        ("heading", -1.0, True),
        ("heading", 361.0, True),
        ("heading", 0.0, False),
        ("heading", 360.0, False),
    ],
)
def test_sentinels_per_field(field: str, value: float, sentinel: bool) -> None:
    assert is_sentinel(field, value) is sentinel


def test_counts_are_per_field_and_skip_absent_and_plain_values() -> None:
    locations = [
        {"lat": 56.0, "lng": 12.7, "speed": -1.0, "horizontal_accuracy": -1.0},
        {"lat": 56.0, "lng": 12.7, "speed": -1.0, "heading": 400.0},
        {"lat": 56.0, "lng": 12.7, "speed": 3.0, "altitude": -20.0},
        {"lat": 56.0, "lng": 12.7},
    ]
    assert sentinel_counts(locations) == {"speed": 2, "horizontal_accuracy": 1, "heading": 1}


def test_a_sentinel_speed_does_not_hide_riding_in_a_no_ride_zone() -> None:
    # Taken as given, -1 m/s would read as standing still and excuse the ride.
    ride = obs(0, {"noride"}, speed=known(-1.0))
    kinds = [kind for kind, _zone, _details in violations_of(ride, ZONES, "scooter_standing")]
    assert kinds == [RIDING_IN_NO_RIDE_ZONE]
