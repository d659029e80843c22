"""Moving along a path: speed by zone, position, heading, GPS jitter (pure)."""

import math
import random
from dataclasses import dataclass

from shapely.geometry import LineString

from demo.simulator.citymap import XY, CityMap

# Well-behaved riders keep under this share of a slow zone's limit; reckless ones go at
# least `RECKLESS` times the limit through it.
CAREFUL = 0.8
RECKLESS = 1.4
KPH = 1 / 3.6


@dataclass(frozen=True)
class Step:
    """Where a step ends, how long it took and how fast it went."""

    xy: XY
    dt_ms: int
    speed_ms: float
    heading: float
    limit_kph: float | None


@dataclass
class Motion:
    """Progress along a path at a rider's cruising speed (m/s)."""

    path: LineString
    cruise_ms: float
    reckless: bool = False
    travelled: float = 0.0
    # A top speed set by a command (m/s); it binds the reckless too.
    cap_ms: float | None = None

    @property
    def done(self) -> bool:
        """Whether the end of the path is reached."""
        return bool(self.travelled >= self.path.length)

    @property
    def xy(self) -> XY:
        """The current position."""
        p = self.path.interpolate(self.travelled)
        return (p.x, p.y)

    def step(self, cmap: CityMap, dt_ms: int) -> Step:
        """Ride on for up to `dt_ms` (less when the path ends sooner)."""
        start = self.xy
        ahead = self.path.interpolate(self.travelled + self.cruise_ms * dt_ms / 1000)
        limit = cmap.slow_limit_kph(start, (ahead.x, ahead.y))
        speed = self.cruise_ms
        if limit is not None:
            speed = (
                max(speed, RECKLESS * limit * KPH)
                if self.reckless
                else min(speed, CAREFUL * limit * KPH)
            )
        if self.cap_ms is not None:
            speed = min(speed, self.cap_ms)
        remaining = self.path.length - self.travelled
        dt = dt_ms
        # The last step takes the rest of the path when less than half a step would be
        # left: a tail of a few milliseconds would make jitter look like a jump.
        if speed * dt_ms / 1000 * 1.5 >= remaining:
            dt = max(1, math.ceil(remaining / speed * 1000))
            self.travelled = self.path.length
        else:
            self.travelled += speed * dt_ms / 1000
        end = self.xy
        return Step(end, dt, speed, heading(start, end), limit)


def heading(a: XY, b: XY) -> float:
    """Degrees clockwise from north of the direction a→b (0 when a = b)."""
    if a == b:
        return 0.0
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360


def jitter(p: XY, rng: random.Random, sigma_m: float) -> XY:
    """A GPS reading of `p`: normal error per axis, clipped at 2.5 sigma."""
    limit = 2.5 * sigma_m
    return (
        p[0] + max(-limit, min(limit, rng.gauss(0, sigma_m))),
        p[1] + max(-limit, min(limit, rng.gauss(0, sigma_m))),
    )


def reported_speed(step: Step, rng: random.Random) -> float:
    """The speed a gateway reports: a little noise, never over a limit it kept to."""
    speed = step.speed_ms * rng.uniform(0.97, 1.03)
    if step.limit_kph is not None and step.speed_ms < step.limit_kph * KPH:
        speed = min(speed, 0.9 * step.limit_kph * KPH)
    return round(max(0.0, speed), 2)
