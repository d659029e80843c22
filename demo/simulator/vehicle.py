"""One simulated vehicle: its life as a script following its MDS mode's state machine (pure).

The script is a generator: it yields the simulated time it next wants to act at, and
`advance` runs it up to a given time, its telemetry, events and trips going to an
`Outbox`. Each vehicle draws from its own random generator, seeded by the run's seed and
its device id, so a vehicle lives the same life whatever the others do.

Micromobility: available → (reserved →) on_trip → available, with reservation and trip
cancellations; low battery after a trip (battery_low → non_operational), then
a battery swap in place (battery_charged) or a pick-up for charging (maintenance_pick_up →
removed, provider_drop_off → available); occasional maintenance; night rebalancing; and
the operator's van, which loads an idle vehicle (rebalance_pick_up, or maintenance_pick_up
when it is taken in to charge → removed) and leaves it where its plan says
(provider_drop_off → available), or at the depot, whence it comes back charged later.
Passenger services and delivery robots: service_start → available; an order is
reservation_start → reserved (driving to the pick-up) → reservation_stop → stopped →
trip_start → on_trip → trip_stop (pods) or order_drop_off (robots) → stopped → trip_end →
available, with cancellations by passengers or customers; service_end to charge. Their
trips are also reported whole, with journey, trip and fare attributes.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import LineString, Point

from app.core.auth import Mode
from app.core.mds import VehicleType
from demo.fleet_plan import PlannedVehicle
from demo.simulator import demand, paths, payloads, rides
from demo.simulator.batches import Outbox
from demo.simulator.citymap import XY, CityMap, distance
from demo.simulator.controls import Controls
from demo.simulator.misbehaviour import TRIP_KINDS, Misbehaviour, Rates
from demo.simulator.motion import Motion, jitter, reported_speed
from demo.simulator.rebalancing import VanMove

MINUTE_MS = 60_000
# An idle vehicle reconsiders at least this often (demand changes by the hour).
SPELL_MS = 15 * MINUTE_MS
LOW_BATTERY = 15.0
SERVICE_BATTERY = 25.0
# The demand riders put on a vehicle with little charge left, relative to a full one.
LOW_BATTERY_APPEAL = 0.3
# A van loads only vehicles standing on the street (not ridden, reserved or taken away).
LOADABLE = frozenset({"available", "non_operational"})
# Vehicles a van leaves together stand this far apart, about.
VAN_SPREAD_M = 4.0

Script = Iterator[int]


@dataclass(frozen=True)
class Environment:
    """What every vehicle of a run shares: the city, the clock's zone, the rates."""

    cmap: CityMap
    tz: ZoneInfo
    rates: Rates
    trips_per_day: float = 8.0
    steady: bool = False
    trip_interval_ms: int = 3_000
    idle_interval_ms: int = 60_000
    # A share of telemetry points lost on the way (GPS or radio).
    gap_rate: float = 0.01
    jitter_m: float = 3.0


def reach_of(mode: Mode, vehicle_type: VehicleType) -> rides.Reach:
    """How far a kind of vehicle rides."""
    if mode is Mode.DELIVERY_ROBOTS:
        return rides.Reach(800.0, 1_800.0)
    if mode is Mode.PASSENGER_SERVICES:
        return rides.Reach(1_800.0, 5_000.0)
    if vehicle_type is VehicleType.MOPED:
        return rides.Reach(2_500.0, 7_000.0)
    return rides.Reach(1_500.0, 5_000.0)


def allowed_misbehaviour(mode: Mode) -> frozenset[Misbehaviour]:
    """The rules a vehicle of this mode may break (robots are governed below 8 km/h)."""
    if mode is Mode.DELIVERY_ROBOTS:
        return frozenset(TRIP_KINDS) - {Misbehaviour.SPEEDING}
    return frozenset(TRIP_KINDS)


class VehicleSim:
    """A vehicle, its state and its script."""

    def __init__(
        self,
        planned: PlannedVehicle,
        provider_id: str,
        mode: Mode,
        env: Environment,
        seed: int,
        start_ms: int,
    ) -> None:
        self.planned = planned
        self.device_id = str(planned.device_id)
        self.provider_id = provider_id
        self.mode = mode
        self.env = env
        # Simulation, not secrets: a seeded generator makes runs repeatable.
        self.rng = random.Random(f"{seed}/{self.device_id}")  # noqa: S311
        self.reach = reach_of(mode, planned.vehicle_type)
        self.allowed = allowed_misbehaviour(mode)
        self.state = "removed" if mode is Mode.MICROMOBILITY else "non_operational"
        self.xy: XY = demand.parking_spot(env.cmap, self.rng)
        self.battery = self.rng.uniform(35, 100)
        self.cruise_ms = planned.cruise_kph / 3.6 * self.rng.uniform(0.92, 1.08)
        self.drain_per_m = 100 / (planned.range_km * 1000) * self.rng.uniform(0.9, 1.2)
        self.silent_until = 0
        self.last_event_ms = 0
        self.last_point_ms = 0
        self.now = start_ms
        self.due = start_ms + self.rng.randrange(30_000)
        self.controls = Controls()
        self._out = Outbox()
        self._script = self._life()

    def advance(self, until_ms: int, out: Outbox) -> None:
        """Live up to `until_ms`, sending what happens to `out`."""
        self._out = out
        while self.due <= until_ms:
            self.now = self.due
            self.due = max(self.now, next(self._script))

    def carry(self, move: VanMove) -> bool:
        """Load the vehicle into a rebalancing van at `move.picked_ms`, its life so far
        advanced up to then; False when it is not standing idle on the street."""
        if self.mode is not Mode.MICROMOBILITY or self.state not in LOADABLE:
            return False
        self.now = max(self.now, move.picked_ms)
        self._event("removed", ["maintenance_pick_up" if move.to_charge else "rebalance_pick_up"])
        self._script = self._in_van(move)
        self.due = self.now
        return True

    # --- what the gateway reports ---------------------------------------------------

    def _latlng(self, xy: XY) -> tuple[float, float]:
        return self.env.cmap.frame.to_latlng(*xy)

    def _point(
        self,
        speed: float = 0.0,
        heading: float | None = None,
        trip_ids: list[str] | None = None,
        journey_id: str | None = None,
    ) -> None:
        silent = self.now < self.silent_until
        lost = self.rng.random() < self.env.gap_rate
        sigma = self.env.jitter_m if speed > 0 else self.env.jitter_m / 2
        lat, lng = self._latlng(jitter(self.xy, self.rng, sigma))
        # fleetbed knows a point by device and timestamp: one point per millisecond.
        if silent or lost or self.now <= self.last_point_ms:
            return
        self.last_point_ms = self.now
        extra = {"speed": speed, "horizontal_accuracy": round(2 * sigma, 1)}
        if heading is not None:
            extra["heading"] = round(heading, 1)
        self._out.telemetry.append(
            payloads.telemetry(
                device_id=self.device_id,
                provider_id=self.provider_id,
                telemetry_id=payloads.random_uuid(self.rng),
                ts_ms=self.now,
                location=payloads.gps(lat, lng, **extra),
                battery=self.battery,
                trip_ids=trip_ids,
                journey_id=journey_id,
            )
        )

    def _event(self, state: str, types: list[str], trip_id: str | None = None) -> None:
        # Events of one vehicle never share a timestamp, so their order is never in doubt.
        ts = max(self.now, self.last_event_ms + 1)
        self.last_event_ms = ts
        self.state = state
        self._out.events.append(
            payloads.event(
                device_id=self.device_id,
                provider_id=self.provider_id,
                event_id=payloads.random_uuid(self.rng),
                ts_ms=ts,
                vehicle_state=state,
                event_types=types,
                location=payloads.gps(*self._latlng(self.xy)),
                battery=self.battery,
                trip_ids=[trip_id] if trip_id else None,
            )
        )

    # --- building blocks ------------------------------------------------------------

    def _wait(self, until_ms: int, heartbeat: bool = True) -> Script:
        """Stand still until `until_ms`, reporting every idle interval unless told not to."""
        interval = self.env.idle_interval_ms
        while heartbeat and self.now + interval < until_ms:
            yield self.now + interval
            self._point()
        yield max(until_ms, self.now)
        if heartbeat:
            self._point()

    def _minutes(self, low: float, high: float) -> int:
        return self.now + round(self.rng.uniform(low, high) * MINUTE_MS)

    def _idle_spell(self) -> Script:
        """Stand until a rider (or an order) comes along."""
        while True:
            appeal = LOW_BATTERY_APPEAL if self.battery < SERVICE_BATTERY else 1.0
            per_hour = demand.trips_per_hour(
                self.now, self.env.tz, self.env.trips_per_day, self.env.steady
            )
            rate_per_ms = max(per_hour * appeal, 1e-6) / 3_600_000
            wait = round(self.rng.expovariate(rate_per_ms))
            if wait <= SPELL_MS:
                yield from self._wait(self.now + wait)
                return
            yield from self._wait(self.now + SPELL_MS)
            if self.mode is Mode.MICROMOBILITY and self._needs_rebalancing():
                yield from self._rebalance()

    def _needs_rebalancing(self) -> bool:
        hour = demand.local_time(self.now, self.env.tz).hour
        far = min(distance(self.xy, h) for h in self.env.cmap.hotspot_xy) > 700
        return 2 <= hour < 5 and far and self.rng.random() < 0.2

    def _maybe_lose_comms(self) -> None:
        if self.rng.random() < self.env.rates.comms_loss:
            self.silent_until = self._minutes(3, 15)
            self._out.note("comms_loss")

    def _ride(
        self,
        path: LineString,
        misbehaviour: Misbehaviour | None,
        trip_ids: list[str],
        journey_id: str | None = None,
        until: Callable[[], bool] | None = None,
    ) -> Script:
        """Ride along a path, reporting every trip interval; `until`: stop on the way
        once it is true."""
        reckless = misbehaviour is Misbehaviour.SPEEDING
        motion = Motion(path, self.cruise_ms * self.rng.uniform(0.88, 1.1), reckless)
        watch_border = misbehaviour is Misbehaviour.LEAVE_AREA
        area = self.env.cmap.service_area
        inside = True
        while not motion.done and not (until is not None and until()):
            motion.cap_ms = self.controls.cap_ms()
            if self.rng.random() < 0.03:
                # A red light, a crowd: stand for a moment.
                yield self.now + round(self.rng.uniform(8, 30) * 1000)
                self._point(0.0, None, trip_ids, journey_id)
            step = motion.step(self.env.cmap, self.env.trip_interval_ms)
            yield self.now + step.dt_ms
            ridden = distance(self.xy, step.xy)
            self.xy = step.xy
            self.battery = max(0.0, self.battery - ridden * self.drain_per_m)
            if watch_border and inside != area.contains(Point(self.xy)):
                inside = not inside
                self._cross_border(inside, trip_ids[0])
            speed = reported_speed(step, self.rng)
            self._point(speed, step.heading, trip_ids, journey_id)
        if misbehaviour is not None:
            self._out.note(f"misbehaviour:{misbehaviour}")

    def _cross_border(self, inside: bool, trip_id: str) -> None:
        if inside:
            self._event("on_trip", ["trip_enter_jurisdiction"], trip_id)
        else:
            self._event("elsewhere", ["trip_leave_jurisdiction"], trip_id)

    def _plan(self, origin: XY) -> rides.Ride | None:
        return rides.plan_ride(
            self.env.cmap,
            origin,
            self.now,
            self.env.tz,
            self.rng,
            self.reach,
            self.env.rates,
            self.allowed,
        )

    # --- lives ----------------------------------------------------------------------

    def _life(self) -> Script:
        if self.mode is Mode.MICROMOBILITY:
            yield from self._micromobility()
        else:
            yield from self._journeys()

    def _micromobility(self) -> Script:
        self._event("available", ["provider_drop_off"])
        self._point()
        yield from self._in_service()

    def _in_service(self) -> Script:
        while True:
            yield from self._idle_spell()
            if self.rng.random() < 0.004:
                yield from self._maintenance()
                continue
            yield from self._micromobility_trip()
            if self.state == "non_operational":
                yield from self._recharge()

    def _micromobility_trip(self) -> Script:
        if self.controls.locked:
            # A locked vehicle cannot be hired; it waits to be unlocked.
            self._out.note("trips_refused_locked")
            return
        ride = self._plan(self.xy)
        if ride is None:
            return
        self._maybe_lose_comms()
        if self.rng.random() < 0.15:
            self._event("reserved", ["reservation_start"])
            yield from self._wait(self._minutes(1, 10))
            if self.rng.random() < 0.2:
                self._event("available", ["reservation_cancel"])
                return
        trip_id = payloads.random_uuid(self.rng)
        self._event("on_trip", ["trip_start"], trip_id)
        self._out.note("trips_started")
        if self.rng.random() < 0.03:
            # Changed their mind before setting off.
            yield from self._wait(self.now + round(self.rng.uniform(15, 60) * 1000), False)
            self._event("available", ["trip_cancel"], trip_id)
            self._out.note("trips_cancelled")
            return
        yield from self._ride(ride.path, ride.misbehaviour, [trip_id])
        self._event("available", ["trip_end"], trip_id)
        self._out.note("trips_ended")
        if self.battery < LOW_BATTERY:
            # Two events rather than one with [trip_end, battery_low]: fleetbed takes
            # either, the official model only the single types.
            yield self.now + 1_000
            self._event("non_operational", ["battery_low"])

    def _recharge(self) -> Script:
        if self.rng.random() < 0.6:
            yield from self._wait(self._minutes(20, 120))
            self.battery = self.rng.uniform(92, 100)
            self._event("available", ["battery_charged"])
            return
        yield from self._wait(self._minutes(10, 60))
        self._event("removed", ["maintenance_pick_up"])
        yield from self._wait(self._minutes(60, 180), heartbeat=False)
        self.battery = 100.0
        self._drop_off()

    def _rebalance(self) -> Script:
        self._event("removed", ["rebalance_pick_up"])
        self._out.note("rebalanced")
        yield from self._wait(self._minutes(30, 90), heartbeat=False)
        self._drop_off()

    def _drop_off(self, xy: XY | None = None) -> None:
        """Back on the street at `xy`, or at a parking spot the operator chooses."""
        self.xy = demand.parking_spot(self.env.cmap, self.rng) if xy is None else xy
        self._event("available", ["provider_drop_off"])
        self._point()

    def _in_van(self, move: VanMove) -> Script:
        """On board, silent, until the van leaves the vehicle where its plan says."""
        yield from self._wait(move.dropped_ms, heartbeat=False)
        if move.swapped:
            self.battery = self.rng.uniform(92, 100)
        if move.at_depot:
            # Charged there, and put out again where the operator sees fit.
            yield from self._wait(self._minutes(60, 180), heartbeat=False)
            self.battery = 100.0
            self._drop_off()
        else:
            place = self.env.cmap.frame.to_xy(move.lat, move.lng)
            spot = demand.near(self.rng, place, VAN_SPREAD_M)
            # The plan's place is one fleetbed allows; the spread must keep it allowed.
            self._drop_off(spot if self.env.cmap.can_park(spot) else place)
        yield from self._in_service()

    def _maintenance(self) -> Script:
        self._event("non_operational", ["maintenance"])
        yield from self._wait(self._minutes(30, 120))
        self._event("available", ["maintenance"])

    # --- pods: passenger services and delivery robots -------------------------------

    def _journeys(self) -> Script:
        shift_id = payloads.random_uuid(self.rng)
        self._event("available", ["service_start"])
        self._point()
        while True:
            yield from self._idle_spell()
            if self.battery < SERVICE_BATTERY:
                yield from self._service_break()
                shift_id = payloads.random_uuid(self.rng)
                continue
            if self.controls.locked:
                self._out.note("trips_refused_locked")
                continue
            yield from self._order(shift_id)

    def _service_break(self) -> Script:
        self._event("non_operational", ["service_end"])
        if self.rng.random() < 0.15:
            self._event("non_operational", ["maintenance"])
            yield from self._wait(self._minutes(20, 60))
            self._event("non_operational", ["maintenance_end"])
        yield from self._wait(self._minutes(60, 120))
        self.battery = 100.0
        self._event("available", ["service_start"])

    def _order(self, shift_id: str) -> Script:
        passengers = self.mode is Mode.PASSENGER_SERVICES
        pickup_reach = rides.Reach(700.0, 2_000.0) if passengers else rides.Reach(500.0, 1_200.0)
        raw = demand.destination(
            self.env.cmap,
            self.xy,
            self.now,
            self.env.tz,
            self.rng,
            pickup_reach.median_m,
            pickup_reach.max_m,
        )
        pickup = self.env.cmap.parking_instead(raw, self.rng)
        if pickup is None:
            return
        approach = paths.ride(self.env.cmap, self.xy, pickup, self.rng)
        ride = self._plan(pickup)
        if approach is None or ride is None:
            return
        cancel = "passenger_cancellation" if passengers else "customer_cancellation"
        trip_id, journey_id = payloads.random_uuid(self.rng), payloads.random_uuid(self.rng)
        requested = self.now - round(self.rng.uniform(20, 180) * 1000)
        self._maybe_lose_comms()
        self._event("reserved", ["reservation_start"], trip_id)
        dispatched = self.last_event_ms
        if self.rng.random() < 0.04:
            yield from self._wait(self._minutes(0.5, 3))
            self._event("available", [cancel], trip_id)
            self._out.note("trips_cancelled")
            return
        yield from self._ride(approach, None, [trip_id], journey_id)
        self._event("stopped", ["reservation_stop"], trip_id)
        yield from self._wait(self.now + round(self.rng.uniform(20, 90) * 1000), False)
        if self.rng.random() < 0.04:
            self._event("available", [cancel], trip_id)
            self._out.note("trips_cancelled")
            return
        start = self.xy
        self._event("on_trip", ["trip_start"], trip_id)
        started = self.last_event_ms
        self._out.note("trips_started")
        yield from self._ride(ride.path, ride.misbehaviour, [trip_id], journey_id)
        self._event("stopped", ["trip_stop" if passengers else "order_drop_off"], trip_id)
        yield from self._wait(self.now + round(self.rng.uniform(15, 60) * 1000), False)
        self._event("available", ["trip_end"], trip_id)
        self._out.note("trips_ended")
        self._report(
            trip_id, journey_id, shift_id, ride.path.length, start, (requested, dispatched, started)
        )

    def _report(
        self,
        trip_id: str,
        journey_id: str,
        shift_id: str,
        length: float,
        start: XY,
        times: tuple[int, int, int],
    ) -> None:
        """The pod operator's own record of a finished trip, with its mode's attributes."""
        requested, dispatched, started = times
        passengers = self.mode is Mode.PASSENGER_SERVICES
        price = 2_500 + round(length * 1.2) if passengers else 3_900  # öre
        trip_attributes: dict[str, Any]
        if passengers:
            trip_attributes = {
                "hail_type": self.rng.choice(["app", "app", "app", "phone_dispatch"]),
                "app_name": "PrintPod",
                "passenger_count": self.rng.choice([1, 1, 1, 2, 2, 3]),
                "requested_time": requested,
                "quoted_trip_start_time": dispatched + 4 * MINUTE_MS,
                "dispatch_time": dispatched,
                "requested_trip_start_location": payloads.gps(*self._latlng(start)),
                "wheelchair_transported": False,
            }
            fare_attributes: dict[str, Any] = {
                "payment_type": "mobile_app",
                "fare_type": "upfront_pricing",
                "meter_fare_amount": price,
                "base_rate": 2_500,
            }
        else:
            trip_attributes = {
                "driver_type": "autonomous",
                "app_name": "PrintPod Goods",
                "requested_time": requested,
                "has_payload": True,
            }
            fare_attributes = {"payment_type": "mobile_app", "price": price}
        self._out.trips.append(
            payloads.agency_trip(
                provider_id=self.provider_id,
                device_id=self.device_id,
                trip_id=trip_id,
                journey_id=journey_id,
                trip_type="private" if passengers else "delivery",
                start_ms=started,
                end_ms=self.last_event_ms,
                start=payloads.gps(*self._latlng(start)),
                end=payloads.gps(*self._latlng(self.xy)),
                distance_m=length,
                trip_attributes=trip_attributes,
                fare_attributes=fare_attributes,
                journey_attributes={"shift_id": shift_id} if passengers else None,
                cost=price,
            )
        )
