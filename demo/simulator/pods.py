"""A dispatched pod's work (pure): its `set_route` command read into stops, and the MDS
events it sends as it sets out for, reaches and serves each stop.

Each event names the trip id of the stop's request only, so that each request sees its
own events. The vehicle state alone decides the events, every one a transition of the
mode's state table: an idle pod (`available`) sets out with `reservation_start` →
`reserved`; it reaches a stop with `reservation_stop` (from `reserved`) or, carrying
someone, with `trip_stop` (passenger services) or `order_pick_up` / `order_drop_off`
(delivery robots) → `stopped`; it serves a pickup with `trip_start` → `on_trip` and a
drop-off with `trip_end` → `available`. A pooled pod that drops one request off while
carrying another is `available` for that instant and sets out again with
`reservation_start`: the tables have no way from `stopped` back to `on_trip` that also
ends a trip, and each request must see its own `trip_end`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.core.auth import Mode
from app.core.mstime import to_ms

POD_MODES = frozenset({Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS})
PICKUP = "pickup"
DROPOFF = "dropoff"


@dataclass(frozen=True)
class Stop:
    """One stop of a route: whose, where, and when its service starts and ends."""

    request_id: str
    trip_id: str
    kind: str
    lat: float
    lng: float
    start_ms: int
    depart_ms: int

    @property
    def key(self) -> tuple[str, str]:
        """The stop's identity across routes: its request and kind."""
        return (self.request_id, self.kind)


@dataclass(frozen=True)
class Route:
    """A pod's stops in order; a higher version supersedes a lower one."""

    version: int
    stops: tuple[Stop, ...]

    def shifted(self, by_ms: int) -> "Route":
        """The same route with every time moved by `by_ms` (server to simulated clock)."""
        return replace(
            self,
            stops=tuple(
                replace(s, start_ms=s.start_ms + by_ms, depart_ms=s.depart_ms + by_ms)
                for s in self.stops
            ),
        )


def _stop(item: Mapping[str, Any]) -> Stop:
    kind, trip_id = item["kind"], item["trip_id"]
    if kind not in (PICKUP, DROPOFF) or not isinstance(trip_id, str):
        raise ValueError(f"not a stop: {kind} of trip {trip_id}")
    return Stop(
        request_id=str(item["request_id"]),
        trip_id=trip_id,
        kind=kind,
        lat=float(item["lat"]),
        lng=float(item["lng"]),
        start_ms=to_ms(datetime.fromisoformat(item["start_at"])),
        depart_ms=to_ms(datetime.fromisoformat(item["depart_at"])),
    )


def parse_route(params: Mapping[str, Any] | None) -> Route | None:
    """The route of a `set_route` command's params; None when they are not one."""
    if params is None:
        return None
    try:
        version = params["version"]
        stops = tuple(_stop(item) for item in params["stops"])
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    return Route(version, stops)


@dataclass(frozen=True)
class Step:
    """One event: its type and the vehicle state it leaves the pod in."""

    event_type: str
    state: str


@dataclass(frozen=True)
class Visit:
    """The events of serving one stop: on setting out (if idle), on reaching it (if
    moving), and on serving it."""

    set_out: Step | None
    arrive: Step | None
    serve: Step


def visit(mode: Mode, state: str, kind: str) -> Visit:
    """The events a pod in vehicle state `state` sends to serve a stop of `kind`."""
    set_out = Step("reservation_start", "reserved") if state == "available" else None
    moving = set_out.state if set_out else state
    arrive: Step | None = None
    if moving == "reserved":
        arrive = Step("reservation_stop", "stopped")
    elif moving == "on_trip":
        if mode is Mode.PASSENGER_SERVICES:
            arrive = Step("trip_stop", "stopped")
        else:
            arrive = Step("order_pick_up" if kind == PICKUP else "order_drop_off", "stopped")
    serve = Step("trip_start", "on_trip") if kind == PICKUP else Step("trip_end", "available")
    return Visit(set_out, arrive, serve)
