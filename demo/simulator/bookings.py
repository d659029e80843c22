"""Riders and shops booking pods (pure): when they book, from and to where, and the
tally of how the bookings were served.

Bookings of one operator arrive as a Poisson process whose rate follows the city's day
(`demand.trips_per_hour` for each of its pods). Riders book a ride from a hotspot chosen
by its pull at that hour to a destination as far as a pod rides; shops at the hotspots
book a parcel's delivery to a home within a robot's reach. Some book ahead, for a pickup
wished later within a tolerance; the others want to be picked up now.
"""

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from app.core.auth import Mode
from app.core.mds import VehicleType
from app.core.mstime import from_ms
from demo.simulator import demand
from demo.simulator.citymap import XY, CityMap, distance
from demo.simulator.rides import MIN_RIDE_M, TRIES
from demo.simulator.vehicle import reach_of

MINUTE_MS = 60_000
# The rate is drawn again at least this often (the day's profile changes by the hour).
SPELL_MS = 15 * MINUTE_MS
AHEAD_SHARE = 0.2
AHEAD_MIN = (20.0, 60.0)
TOLERANCE_S = 300
KEEP_WAITS = 2_000
KEEP_PROBLEMS = 20


@dataclass(frozen=True)
class Booking:
    """One booking, on the simulated clock; `desired_ms` None: a pickup wanted now."""

    at_ms: int
    client_id: str
    kind: str  # "ride" or "delivery"
    pickup: tuple[float, float]
    dropoff: tuple[float, float]
    passengers: int = 0
    parcel_kg: float = 0.0
    parcel_l: float = 0.0
    desired_ms: int | None = None

    @property
    def wanted_ms(self) -> int:
        """When the customer wants the pickup: now, or the wished time."""
        return self.at_ms if self.desired_ms is None else self.desired_ms

    def body(self, server_ahead_ms: int) -> dict[str, Any]:
        """The body of `POST /v1/dispatch/requests`, its times on the server's clock
        (`server_ahead_ms` ahead of the simulated one)."""
        body: dict[str, Any] = {
            "kind": self.kind,
            "pickup": {"lat": self.pickup[0], "lng": self.pickup[1]},
            "dropoff": {"lat": self.dropoff[0], "lng": self.dropoff[1]},
            "request_id": self.client_id,
        }
        if self.kind == "ride":
            body["passengers"] = self.passengers
        else:
            body["parcel"] = {"weight_kg": self.parcel_kg, "volume_l": self.parcel_l}
        if self.desired_ms is not None:
            body["desired_pickup"] = from_ms(self.desired_ms + server_ahead_ms).isoformat()
            body["tolerance_s"] = TOLERANCE_S
        return body


class BookingStream:
    """One operator's customers, booking from `start_ms` on at `per_hour(ts)` an hour."""

    def __init__(
        self,
        mode: Mode,
        cmap: CityMap,
        tz: ZoneInfo,
        rng: random.Random,
        per_hour: Callable[[int], float],
        start_ms: int,
    ) -> None:
        self.kind = "ride" if mode is Mode.PASSENGER_SERVICES else "delivery"
        vehicle_type = VehicleType.OTHER if self.kind == "ride" else VehicleType.DELIVERY_ROBOT
        self.reach = reach_of(mode, vehicle_type)
        self.cmap = cmap
        self.tz = tz
        self.rng = rng
        self.per_hour = per_hour
        self.next_ms = start_ms
        self.count = 0
        self._draw()

    def _draw(self) -> None:
        """The next arrival after `next_ms`, or a later look at the rate (`SPELL_MS`);
        the process is memoryless, so a look that finds no arrival loses nothing."""
        rate_per_ms = max(self.per_hour(self.next_ms), 1e-6) / 3_600_000
        wait = round(self.rng.expovariate(rate_per_ms))
        self._arrives = wait <= SPELL_MS
        self.next_ms += min(wait, SPELL_MS)

    def due(self, until_ms: int) -> list[Booking]:
        """The bookings made up to `until_ms`, in time order."""
        made = []
        while self.next_ms <= until_ms:
            if self._arrives:
                booking = self._booking(self.next_ms)
                if booking is not None:
                    made.append(booking)
            self._draw()
        return made

    def _latlng(self, xy: XY) -> tuple[float, float]:
        lat, lng = self.cmap.frame.to_latlng(*xy)
        return (round(lat, 6), round(lng, 6))

    def _booking(self, at_ms: int) -> Booking | None:
        """A booking at `at_ms`, or None when no pickup and drop-off work out."""
        rng, cmap = self.rng, self.cmap
        weights = demand.hotspot_weights(cmap, at_ms, self.tz)
        for _ in range(TRIES):
            centre = rng.choices(cmap.hotspot_xy, weights)[0]
            pickup = cmap.parking_instead(demand.near(rng, centre, 120.0), rng)
            if pickup is None:
                continue
            raw = demand.destination(
                cmap, pickup, at_ms, self.tz, rng, self.reach.median_m, self.reach.max_m
            )
            dropoff = cmap.parking_instead(raw, rng)
            if dropoff is None or distance(pickup, dropoff) < MIN_RIDE_M:
                continue
            self.count += 1
            ahead = rng.random() < AHEAD_SHARE
            return Booking(
                at_ms=at_ms,
                client_id=f"sim-{at_ms}-{self.count}",
                kind=self.kind,
                pickup=self._latlng(pickup),
                dropoff=self._latlng(dropoff),
                passengers=rng.choice((1, 1, 1, 2, 2, 3)) if self.kind == "ride" else 0,
                parcel_kg=round(rng.uniform(0.5, 12.0), 1) if self.kind == "delivery" else 0.0,
                parcel_l=round(rng.uniform(2.0, 40.0)) if self.kind == "delivery" else 0.0,
                desired_ms=at_ms + round(rng.uniform(*AHEAD_MIN) * MINUTE_MS) if ahead else None,
            )
        return None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class ServiceTally:
    """One pod operator's bookings and how its pods served them, with their occupancy."""

    booked: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # by the 409's reason
    picked_up: int = 0
    delivered: int = 0
    # Pickup start less the time wanted (now, or the wished time), the latest ones.
    waits_s: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP_WAITS))
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    pods: int = 0
    busy: int = 0  # pods with stops to serve
    carrying: int = 0  # pods with someone or something aboard
    aboard: int = 0  # requests aboard

    def problem(self, what: str) -> None:
        """Count a booking request that failed (the simulation carries on)."""
        self.problem_count += 1
        if len(self.problems) < KEEP_PROBLEMS:
            self.problems.append(what[:300])

    def status(self) -> dict[str, Any]:
        """The counters as the status file holds them."""
        waits = list(self.waits_s)
        return {
            "booked": self.booked,
            "refused": dict(sorted(self.refused.items())),
            "picked_up": self.picked_up,
            "delivered": self.delivered,
            "wait_median_s": _quantile(waits, 0.5),
            "wait_p90_s": _quantile(waits, 0.9),
            "problems": self.problem_count,
            "pods": self.pods,
            "busy": self.busy,
            "carrying": self.carrying,
            "aboard": self.aboard,
        }

    def describe(self) -> str:
        """One line for the final report."""
        s = self.status()
        refused = ", ".join(f"{k} {n}" for k, n in s["refused"].items()) or "none"
        median = "-" if s["wait_median_s"] is None else f"{s['wait_median_s'] / 60:.1f} min"
        return (
            f"{self.booked} booked, refused {refused}, {self.picked_up} picked up, "
            f"{self.delivered} delivered, median wait {median}, {self.problem_count} problems"
        )
