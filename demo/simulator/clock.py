"""The simulated clock: ahead of real time while catching up, never ahead of the real clock.

fleetbed refuses timestamps in the future, and every vehicle's timeline must move forward.
So a run faster than real time (`speed` S > 1) starts its simulated clock in the past, by
a lead; the simulated clock then runs S times faster than the real one until it reaches
the real time, and from then on keeps pace with it. With a duration D (simulated
seconds), the lead is D x (S - 1) / S: the run ends at the real "now" after D / S real
seconds. A run "as fast as possible" covers a fixed simulated span ending when it starts.
"""

from dataclasses import dataclass

HOUR_MS = 3_600_000
# Without a duration, a run faster than real time starts this far in the past.
DEFAULT_LEAD_MS = 2 * HOUR_MS


def lead_ms(speed: float, duration_s: float | None) -> int:
    """How far in the past a paced run at `speed` starts, so it never overtakes real time."""
    if speed <= 1:
        return 0
    if duration_s is None:
        return DEFAULT_LEAD_MS
    return round(duration_s * 1000 * (speed - 1) / speed)


@dataclass
class PacedClock:
    """Simulated time running `speed` times faster than real time, capped at real time.

    `advance` takes the real time; a real step longer than `max_step_ms` (the simulator fell
    behind: a slow server, a rate cap) counts as `max_step_ms`, so the simulation slows down
    rather than piling up a backlog.
    """

    sim_ms: int
    speed: float
    last_real_ms: int
    max_step_ms: int = 2_000

    @classmethod
    def starting(
        cls, real_ms: int, speed: float, duration_s: float | None, max_step_ms: int = 2_000
    ) -> "PacedClock":
        """A clock started at real time `real_ms`, its lead chosen by `lead_ms`."""
        return cls(real_ms - lead_ms(speed, duration_s), speed, real_ms, max_step_ms)

    def advance(self, real_ms: int) -> int:
        """The simulated time at real time `real_ms` (never decreasing, never past `real_ms`)."""
        step = min(max(0, real_ms - self.last_real_ms), self.max_step_ms)
        self.last_real_ms = max(self.last_real_ms, real_ms)
        self.sim_ms = max(self.sim_ms, min(self.sim_ms + round(step * self.speed), real_ms))
        return self.sim_ms


@dataclass
class SteppedClock:
    """As fast as possible: fixed simulated steps over a span that ends at `end_ms`."""

    sim_ms: int
    step_ms: int
    end_ms: int

    @classmethod
    def ending(cls, end_ms: int, duration_s: float, step_s: float) -> "SteppedClock":
        """A span of `duration_s` simulated seconds ending at `end_ms`."""
        return cls(end_ms - round(duration_s * 1000), round(step_s * 1000), end_ms)

    def advance(self) -> int:
        """The next step's simulated time (at most `end_ms`)."""
        self.sim_ms = min(self.sim_ms + self.step_ms, self.end_ms)
        return self.sim_ms
