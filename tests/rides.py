"""A straight ride as a gateway posts it: start and end events and the telemetry between."""

import itertools
from typing import Any

from fleet.live.geo import haversine_m
from tests.conftest import Tenant
from tests.payloads import event, point
from tests.zones import CENTRE

STEP = 0.0004  # degrees of latitude between fixes, about 44 m


def ride(
    gateway: Tenant, device: str, trip: str, t: int, steps: int
) -> tuple[list[Any], list[Any], float]:
    """A straight ride north from the centre: start and end events, telemetry, its length."""
    path = [(CENTRE[0] + STEP * i, CENTRE[1]) for i in range(steps + 1)]
    points = [
        point(
            gateway,
            device,
            timestamp=t + 10_000 * i,
            trip_ids=[trip],
            location={"lat": lat, "lng": lng, "horizontal_accuracy": 5.0},
        )
        for i, (lat, lng) in enumerate(path)
    ]
    start = event(
        gateway,
        device,
        timestamp=t,
        vehicle_state="on_trip",
        event_types=["trip_start"],
        trip_ids=[trip],
        location={"lat": path[0][0], "lng": path[0][1]},
    )
    end = event(
        gateway,
        device,
        timestamp=t + 10_000 * steps,
        vehicle_state="available",
        event_types=["trip_end"],
        trip_ids=[trip],
        location={"lat": path[-1][0], "lng": path[-1][1]},
    )
    length = sum(haversine_m(*a, *b) for a, b in itertools.pairwise(path))
    return points, [start, end], length
