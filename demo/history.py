"""Past trips of the demo fleet, as the simulator's riders would have ridden them (pure).

A fresh demo database has no trip history, so the rebalancing forecast would expect
almost nothing and the vans would find no cell short of vehicles. `fleetbed demo seed`
writes weeks of past trips drawn from the simulator's own demand model: a parked vehicle
is hired at the rate of `demand.trips_per_hour` (local hour and weekday), its rider goes
where `demand.destination` sends them and parks where the city map allows, and the
vehicle waits there for the next rider. Only a trip's ends are kept (no path, no
telemetry): its distance is the straight line between them, its duration that distance
at the vehicle's cruising speed. Batteries, reservations and misbehaviour are left out.
"""

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import shapely

from app.core.auth import Mode
from demo.city import DEMO_TRIPS_PER_DAY
from demo.fleet_plan import PlannedVehicle
from demo.simulator import demand, payloads, rides
from demo.simulator.citymap import XY, CityMap, distance
from demo.simulator.clock import DEFAULT_LEAD_MS
from demo.simulator.vehicle import SPELL_MS, reach_of

HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS
SEEDED = {"seeded": True}


@dataclass(frozen=True)
class HistoryOptions:
    """How much history to write: weeks (0: none), trips per vehicle and day, the seed."""

    weeks: int = 4
    # As busy as `fleetbed demo run` makes its riders, so that the forecast expects what
    # the running demo then does.
    trips_per_day: float = DEMO_TRIPS_PER_DAY
    seed: int = 1

    def __post_init__(self) -> None:
        if self.weeks < 0 or self.trips_per_day <= 0:
            raise ValueError("history needs weeks >= 0 and trips per day > 0")


@dataclass(frozen=True, slots=True)
class PastTrip:
    """A closed trip of one vehicle: its ends (lat, lng), times and measured figures."""

    trip_id: uuid.UUID
    device_id: uuid.UUID
    start_ms: int
    start: tuple[float, float]
    end_ms: int
    end: tuple[float, float]
    distance_m: int
    parking_category: str

    @property
    def duration_s(self) -> int:
        """Whole seconds: a trip's times are a whole number of seconds apart."""
        return (self.end_ms - self.start_ms) // 1000


def history_window(now_ms: int, weeks: int) -> tuple[int, int]:
    """[since, until) of the history: `weeks` of whole hours up to the simulator's lead
    before `now_ms`. So no trip falls in the hour in progress, which the Provider API has
    yet to serve, nor in the hours a demo's simulator replays as it starts (no vehicle is
    on a seeded and a simulated trip at once)."""
    until = now_ms - DEFAULT_LEAD_MS
    until -= until % HOUR_MS
    return until - weeks * WEEK_MS, until


def past_trips(
    cmap: CityMap,
    tz: ZoneInfo,
    vehicles: Sequence[PlannedVehicle],
    mode: Mode,
    *,
    since_ms: int,
    until_ms: int,
    options: HistoryOptions,
) -> Iterator[PastTrip]:
    """Trips of `vehicles` (of one operator, of `mode`) within [since_ms, until_ms),
    vehicle by vehicle, each one's in time order."""
    riders = _Riders(cmap, tz, options)
    for vehicle in vehicles:
        # Simulation, not secrets: seeded by vehicle, so each one's past is its own.
        rng = random.Random(f"history/{options.seed}/{vehicle.device_id}")  # noqa: S311
        yield from riders.trips(vehicle, mode, rng, since_ms, until_ms)


class _Riders:
    """The city's riders over one history: what every vehicle's past shares."""

    def __init__(self, cmap: CityMap, tz: ZoneInfo, options: HistoryOptions) -> None:
        self.cmap = cmap
        self.tz = tz
        self.hubs = shapely.union_all(cmap.hubs)
        shapely.prepare(self.hubs)
        self.trips_per_day = options.trips_per_day
        self._per_hour: dict[int, float] = {}

    def per_hour(self, ts_ms: int) -> float:
        """`demand.trips_per_hour` at `ts_ms`, computed once per minute (its resolution)."""
        minute = ts_ms // 60_000
        rate = self._per_hour.get(minute)
        if rate is None:
            rate = demand.trips_per_hour(minute * 60_000, self.tz, self.trips_per_day)
            self._per_hour[minute] = rate
        return rate

    def trips(
        self,
        vehicle: PlannedVehicle,
        mode: Mode,
        rng: random.Random,
        since_ms: int,
        until_ms: int,
    ) -> Iterator[PastTrip]:
        """One vehicle's trips, from a parking spot where its operator left it."""
        cmap = self.cmap
        reach = reach_of(mode, vehicle.vehicle_type)
        xy = demand.parking_spot(cmap, rng)
        now = since_ms
        while now < until_ms:
            # As a simulated vehicle waits: the rate of the moment, drawn again every spell.
            wait = rng.expovariate(self.per_hour(now) / HOUR_MS)
            if wait > SPELL_MS:
                now += SPELL_MS
                continue
            now += round(wait)
            end = _parked_at(cmap, xy, now, self.tz, rng, reach)
            if end is None:
                continue
            length = distance(xy, end)
            # Riders differ in pace about as the simulator's do, slow zones aside.
            speed_mps = vehicle.cruise_kph / 3.6 * rng.uniform(0.85, 1.1)
            end_ms = now + 1000 * max(1, round(length / speed_mps))
            if end_ms >= until_ms:
                return
            # fleetbed's verdict on a legal spot: corral in a hub, else other_valid.
            in_hub = shapely.contains_xy(self.hubs, *end)
            yield PastTrip(
                trip_id=uuid.UUID(payloads.random_uuid(rng)),
                device_id=vehicle.device_id,
                start_ms=now,
                start=cmap.frame.to_latlng(*xy),
                end_ms=end_ms,
                end=cmap.frame.to_latlng(*end),
                distance_m=round(length),
                parking_category="corral" if in_hub else "other_valid",
            )
            xy, now = end, end_ms


def _parked_at(
    cmap: CityMap, origin: XY, ts_ms: int, tz: ZoneInfo, rng: random.Random, reach: rides.Reach
) -> XY | None:
    """Where a well-behaved rider leaving `origin` parks, chosen as `rides.plan_ride`
    chooses it (without its path, the costly part); None: nobody rides now."""
    for _ in range(rides.TRIES):
        raw = demand.destination(cmap, origin, ts_ms, tz, rng, reach.median_m, reach.max_m)
        end = cmap.parking_instead(raw, rng)
        if end is not None and distance(origin, end) >= rides.MIN_RIDE_M:
            return end
    return None
