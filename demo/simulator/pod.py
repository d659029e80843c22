"""A dispatched pod (pure): instead of finding its own riders or orders, it drives the
stops of the newest route its operator's dispatcher sent it, in order, with the events
of `pods.visit`, and idles where its last stop left it until the next route comes.

A route reaches the pod with its times on the simulated clock (`follow`). A newer route
takes over on the way to a stop, or while waiting there for the stop's start; a stop
once served is done whatever a later route still lists (the server may not have had its
event when it planned). A pod serves a stop no earlier than the route's start time, for
as long as the route's service time, and reports the stops it served in `served`.
"""

from dataclasses import dataclass, field

from shapely.geometry import LineString

from app.core.auth import Mode
from demo.fleet_plan import PlannedVehicle
from demo.simulator import paths
from demo.simulator.citymap import distance
from demo.simulator.pods import PICKUP, Route, Stop, visit
from demo.simulator.vehicle import SERVICE_BATTERY, Environment, Script, VehicleSim

# Closer than this to a stop, the pod is there.
ARRIVED_M = 5.0


@dataclass(frozen=True)
class Served:
    """A stop served: when its service started and ended, and what the pod carries after."""

    stop: Stop
    start_ms: int
    end_ms: int
    aboard: int


@dataclass
class Work:
    """What the pod is doing: the route it follows, what it did of it and carries."""

    route: Route = field(default_factory=lambda: Route(0, ()))
    done: set[tuple[str, str]] = field(default_factory=set)
    aboard: set[str] = field(default_factory=set)  # trip ids
    reserved_for: str | None = None  # the trip its reservation_start named

    def next_stop(self) -> Stop | None:
        """The route's first stop not yet served."""
        return next((s for s in self.route.stops if s.key not in self.done), None)


class DispatchedPod(VehicleSim):
    """A pod whose work comes from the dispatcher."""

    def __init__(
        self,
        planned: PlannedVehicle,
        provider_id: str,
        mode: Mode,
        env: Environment,
        seed: int,
        start_ms: int,
    ) -> None:
        super().__init__(planned, provider_id, mode, env, seed, start_ms)
        self.work = Work()
        self.served: list[Served] = []
        self._idle = False

    @property
    def version(self) -> int:
        """The version of the route the pod follows (0: none yet)."""
        return self.work.route.version

    def follow(self, route: Route, at_ms: int) -> None:
        """Take a newer route at the simulated time `at_ms`; an idle pod sets out then."""
        self.work.route = route
        if self._idle:
            self.due = min(self.due, max(self.now, at_ms))

    def _life(self) -> Script:
        self._event("available", ["service_start"])
        self._point()
        while True:
            stop = self.work.next_stop()
            if stop is not None:
                yield from self._serve(stop)
            elif self.battery < SERVICE_BATTERY:
                yield from self._service_break()
            else:
                if self.state == "reserved" and self.work.reserved_for is not None:
                    # The request it set out for was cancelled: the pod is free again.
                    self._event("available", ["provider_cancellation"], self.work.reserved_for)
                self._idle = True
                yield self.now + self.env.idle_interval_ms
                self._idle = False
                self._point()

    def _rerouted(self, version: int) -> bool:
        return self.version != version

    def _trips(self, stop: Stop) -> list[str]:
        return sorted(self.work.aboard) or [stop.trip_id]

    def _serve(self, stop: Stop) -> Script:
        """Drive to the stop and serve it; back early when a newer route comes."""
        version = self.version
        steps = visit(self.mode, self.state, stop.kind)
        if steps.set_out is not None:
            self._event(steps.set_out.state, [steps.set_out.event_type], stop.trip_id)
            self.work.reserved_for = stop.trip_id
        target = self.env.cmap.frame.to_xy(stop.lat, stop.lng)
        if distance(self.xy, target) > ARRIVED_M:
            # The straight line when no well-behaved path is found: the pod must get there.
            path = paths.ride(self.env.cmap, self.xy, target, self.rng) or LineString(
                [self.xy, target]
            )
            yield from self._ride(
                path, None, self._trips(stop), until=lambda: self._rerouted(version)
            )
        while self.now < stop.start_ms and not self._rerouted(version):
            yield min(stop.start_ms, self.now + self.env.idle_interval_ms)
            self._point()
        if self._rerouted(version):
            return
        if steps.arrive is not None:
            self._event(steps.arrive.state, [steps.arrive.event_type], stop.trip_id)
        start = self.now
        yield from self._wait(start + max(0, stop.depart_ms - stop.start_ms), heartbeat=False)
        self._event(steps.serve.state, [steps.serve.event_type], stop.trip_id)
        self.work.done.add(stop.key)
        self.work.reserved_for = None
        if stop.kind == PICKUP:
            self.work.aboard.add(stop.trip_id)
            self._out.note("trips_started")
        else:
            self.work.aboard.discard(stop.trip_id)
            self._out.note("trips_ended")
        self.served.append(Served(stop, start, self.now, len(self.work.aboard)))
