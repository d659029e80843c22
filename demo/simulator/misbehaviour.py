"""Misbehaviour at configurable rates, so that the city's rules have something to catch.

Per trip, at most one rule is broken: parking in a no-parking zone, speeding through a
slow zone, riding into a no-ride zone, or leaving the service area. Comms loss silences
a vehicle's telemetry for minutes; late and duplicated batches are the gateway's doing.
"""

import random
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from shapely.geometry import Point, Polygon

from demo.simulator.citymap import PARKING_MARGIN_M, XY, CityMap, distance, point_in


class Misbehaviour(StrEnum):
    """The kinds of misbehaviour, as named on the command line."""

    PARKING = "parking"
    SPEEDING = "speeding"
    NO_RIDE = "no_ride"
    LEAVE_AREA = "leave_area"
    COMMS_LOSS = "comms_loss"
    LATE_BATCH = "late_batch"
    DUPLICATE_BATCH = "duplicate_batch"


TRIP_KINDS = (
    Misbehaviour.PARKING,
    Misbehaviour.SPEEDING,
    Misbehaviour.NO_RIDE,
    Misbehaviour.LEAVE_AREA,
)


@dataclass(frozen=True)
class Rates:
    """Probabilities: per trip for the riding kinds and comms loss, per batch for batches."""

    # Defaults high enough for a demo to show every kind of alert within minutes.
    parking: float = 0.06
    speeding: float = 0.08
    no_ride: float = 0.03
    leave_area: float = 0.03
    comms_loss: float = 0.02
    late_batch: float = 0.02
    duplicate_batch: float = 0.02

    @classmethod
    def parse(cls, text: str) -> "Rates":
        """`0.1` (every kind) or `parking=0.2,speeding=0.1` (the others keep their default)."""
        text = text.strip()
        try:
            rate = float(text)
        except ValueError:
            pass
        else:
            return cls.uniform(rate)
        values: dict[str, float] = {}
        known = {f.name for f in fields(cls)}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise ValueError(
                    f"bad misbehaviour rate {part.strip()!r}: expected RATE or KIND=RATE "
                    f"with KIND one of {', '.join(sorted(known))}"
                )
            values[name] = _probability(value)
        return replace(cls(), **values)

    @classmethod
    def uniform(cls, rate: float) -> "Rates":
        """The same rate for every kind."""
        p = _probability(str(rate))
        return cls(**{f.name: p for f in fields(cls)})

    def of(self, kind: Misbehaviour) -> float:
        """The rate of one kind."""
        value: float = getattr(self, kind.value)
        return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(f"a misbehaviour rate is a probability in [0, 1], not {text.strip()}")
    return value


def trip_misbehaviour(
    rates: Rates, rng: random.Random, allowed: frozenset[Misbehaviour]
) -> Misbehaviour | None:
    """Which rule a trip breaks, if any (one draw; rates summing past 1 are scaled down)."""
    kinds = [k for k in TRIP_KINDS if k in allowed]
    total = sum(rates.of(k) for k in kinds)
    scale = max(1.0, total)
    u = rng.random() * scale
    for kind in kinds:
        u -= rates.of(kind)
        if u < 0:
            return kind
    return None


def parking_target(cmap: CityMap, origin: XY, rng: random.Random, reach_m: float) -> XY | None:
    """A spot inside a no-parking zone within reach, well inside so jitter cannot hide it."""
    zones = [z for z in cmap.no_parking if z.distance(Point(origin)) <= reach_m]
    if not zones:
        return None
    return point_in(rng.choice(zones).buffer(-PARKING_MARGIN_M), rng)


def slow_zone_crossing(cmap: CityMap, origin: XY, rng: random.Random, reach_m: float) -> XY | None:
    """A point well inside a slow zone within reach."""
    zones = [z for z in cmap.slow_zones if z.shape.distance(Point(origin)) <= reach_m]
    if not zones:
        return None
    return point_in(rng.choice(zones).shape.buffer(-10.0), rng)


def no_ride_target(cmap: CityMap, origin: XY, rng: random.Random, reach_m: float) -> XY | None:
    """A point well inside a no-ride zone within reach."""
    zones = [z for z in cmap.no_ride if distance(origin, _centre(z)) <= reach_m]
    if not zones:
        return None
    zone = rng.choice(zones)
    core = zone.buffer(-12.0)
    return point_in(core if not core.is_empty else zone, rng)


def _centre(shape: Polygon) -> XY:
    c = shape.centroid
    return (c.x, c.y)
