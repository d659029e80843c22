"""A straight ride as a gateway posts it: start and end events and the telemetry between."""

import itertools
from typing import Any

from fleet.live.geo import haversine_m
from tests.conftest import Tenant
from tests.payloads import event, point
from tests.zones import CENTRE

STEP = 0.0004  # degrees of latitude between fixes, about 44 m
Path = list[tuple[float, float]]


def ride_along(
    gateway: Tenant, device: str, trip: str, t: int, path: Path
) -> tuple[list[Any], list[Any], float]:
    """A ride along `path`, one fix every 10 s from `t`: its telemetry, its start and end
    events, and its length."""
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

    def at(i: int, state: str, kind: str) -> dict[str, Any]:
        lat, lng = path[i]
        return event(
            gateway,
            device,
            timestamp=t + 10_000 * i,
            vehicle_state=state,
            event_types=[kind],
            trip_ids=[trip],
            location={"lat": lat, "lng": lng},
        )

    events = [at(0, "on_trip", "trip_start"), at(len(path) - 1, "available", "trip_end")]
    length = sum(haversine_m(*a, *b) for a, b in itertools.pairwise(path))
    return points, events, length


def ride(
    gateway: Tenant, device: str, trip: str, t: int, steps: int
) -> tuple[list[Any], list[Any], float]:
    """A straight ride north from the centre, `steps` fixes long."""
    path = [(CENTRE[0] + STEP * i, CENTRE[1]) for i in range(steps + 1)]
    return ride_along(gateway, device, trip, t, path)
