"""A booking stream replayed against simulated pods, with one dispatcher or another.

Time is whole seconds from the replay's start. At each booking the pods first carry out
what their schedules hold until then: a stop counts as done once the pod has left for
it (a pod is not turned round mid-leg), its place and departure become the pod's, a
pickup puts the request on board (its ride-time promise then bounds the drop-off) and a
drop-off completes it. The dispatcher then answers the booking; fleetbed's also
re-optimises every schedule at a fixed period. At the end every schedule runs out.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from fleet.dispatch import greedy, planner
from fleet.dispatch.booking import promise_of
from fleet.dispatch.model import (
    Assignment,
    Planned,
    Pod,
    Problem,
    Request,
    Schedule,
    StopKind,
    Window,
)
from fleet.dispatch.schedules import timed
from fleet.dispatch.schemas import DispatchSettingsBody
from fleet.rebalancing.model import Place
from fleet.rebalancing.travel import TravelTimes

END_S = 10**9  # the end of the replay: every schedule runs out before it


@dataclass(frozen=True)
class Booking:
    """A request as it is booked: when, and the request with its own windows."""

    at_s: int
    request: Request
    direct_s: int


@dataclass
class Outcome:
    """What became of the bookings."""

    booked: int = 0
    refused: int = 0
    waits_s: list[int] = field(default_factory=list)  # pickup start - earliest pickup
    ride_ratios: list[float] = field(default_factory=list)  # ride time / direct time
    drive_s: int = 0  # the pods' driving, all of it

    @property
    def served(self) -> int:
        """Bookings delivered."""
        return len(self.ride_ratios)


@dataclass
class Fleet:
    """The replay's state: pods as they are, requests not yet delivered, their orders."""

    pods: dict[str, Pod]
    requests: dict[str, Request]
    orders: dict[str, tuple[Planned, ...]]
    travel: TravelTimes
    metres_per_second: float
    picked_at: dict[str, int] = field(default_factory=dict)

    def problem(self) -> Problem:
        """The planning problem as of now."""
        return Problem(
            pods=tuple(self.pods.values()),
            requests=dict(self.requests),
            orders=dict(self.orders),
            travel=self.travel,
            metres_per_second=self.metres_per_second,
        )


Dispatcher = Callable[[Fleet, Request, int], Assignment | None]


def insert_fleetbed(fleet: Fleet, request: Request, now_s: int) -> Assignment | None:
    """fleetbed's cheapest feasible insertion."""
    found = planner.insert(fleet.problem(), request)
    return found if isinstance(found, Assignment) else None


def insert_greedy(fleet: Fleet, request: Request, now_s: int) -> Assignment | None:
    """The baseline: appended to the pod that can pick it up soonest."""
    problem = fleet.problem()
    extended = replace(problem, requests={**problem.requests, request.request_id: request})
    schedules = greedy.plan(extended)
    for pod_id, schedule in schedules.items():
        stops = [s for s in schedule.stops if s.request_id == request.request_id]
        if stops:
            return Assignment(
                request.request_id, pod_id, (schedule,), stops[0].start_s, stops[1].start_s, 0
            )
    return None


def advance(fleet: Fleet, now_s: int, outcome: Outcome, bookings: dict[str, Booking]) -> None:
    """Carry out every stop a pod has left for by `now_s`."""
    problem = fleet.problem()
    for pod_id, pod in list(fleet.pods.items()):
        order = fleet.orders[pod_id]
        schedule = timed(problem, pod, order)
        left_at, done = pod.free_at_s, 0
        place, onboard = pod.place, list(pod.onboard)
        for stop in schedule.stops:
            if left_at > now_s:
                break
            outcome.drive_s += int(fleet.travel.seconds([place], [stop.place])[0, 0])
            place, left_at, done = stop.place, stop.depart_s, done + 1
            _carry_out(fleet, stop.request_id, stop.kind, stop.start_s, onboard, outcome, bookings)
        fleet.orders[pod_id] = order[done:]
        # An idle pod leaves from where it is when it is next sent.
        free_at = left_at if fleet.orders[pod_id] else max(left_at, now_s)
        fleet.pods[pod_id] = replace(
            pod, place=place, free_at_s=free_at, onboard=tuple(onboard), pinned=tuple(onboard)
        )


def _carry_out(
    fleet: Fleet,
    request_id: str,
    kind: StopKind,
    start_s: int,
    onboard: list[str],
    outcome: Outcome,
    bookings: dict[str, Booking],
) -> None:
    request = fleet.requests[request_id]
    if kind == StopKind.PICKUP:
        onboard.append(request_id)
        fleet.picked_at[request_id] = start_s
        outcome.waits_s.append(start_s - bookings[request_id].request.pickup_window.earliest_s)
        ride_end = start_s + request.pickup_service_s + request.max_ride_s
        latest = min(request.dropoff_window.latest_s, ride_end)
        fleet.requests[request_id] = replace(
            request, dropoff_window=Window(request.dropoff_window.earliest_s, latest)
        )
        return
    onboard.remove(request_id)
    ride = start_s - fleet.picked_at.pop(request_id) - request.pickup_service_s
    outcome.ride_ratios.append(ride / max(1, bookings[request_id].direct_s))
    del fleet.requests[request_id]


def replay(
    pods: Sequence[Pod],
    bookings: Sequence[Booking],
    *,
    travel: TravelTimes,
    settings: DispatchSettingsBody,
    dispatcher: Dispatcher,
    reoptimise_every_s: int | None = None,
    reoptimise_s: float = 1.0,
) -> Outcome:
    """The bookings, in time order, against the pods; what became of them."""
    fleet = Fleet(
        {p.pod_id: p for p in pods},
        {},
        {p.pod_id: () for p in pods},
        travel,
        settings.speed_kmh / 3.6,
    )
    by_id = {b.request.request_id: b for b in bookings}
    outcome = Outcome()
    next_reopt = reoptimise_every_s or END_S
    for booking in sorted(bookings, key=lambda b: b.at_s):
        while next_reopt <= booking.at_s:
            advance(fleet, next_reopt, outcome, by_id)
            _reoptimise(fleet, reoptimise_s)
            next_reopt += reoptimise_every_s or END_S
        advance(fleet, booking.at_s, outcome, by_id)
        outcome.booked += 1
        found = dispatcher(fleet, booking.request, booking.at_s)
        if found is None:
            outcome.refused += 1
            continue
        pickup, dropoff = promise_of(booking.request, found, settings)
        fleet.requests[booking.request.request_id] = replace(
            booking.request, pickup_window=pickup, dropoff_window=dropoff
        )
        for schedule in found.schedules:
            fleet.orders[schedule.pod_id] = tuple(
                Planned(s.request_id, s.kind) for s in schedule.stops
            )
    advance(fleet, END_S, outcome, by_id)
    return outcome


def _reoptimise(fleet: Fleet, seconds: float) -> None:
    schedules: dict[str, Schedule] = planner.reoptimise(fleet.problem(), time_limit_s=seconds)
    for pod_id, schedule in schedules.items():
        fleet.orders[pod_id] = tuple(Planned(s.request_id, s.kind) for s in schedule.stops)


def pods_at(places: Sequence[Place], template: Pod) -> list[Pod]:
    """Idle pods like `template`, one at each place."""
    return [replace(template, pod_id=f"pod-{k}", place=p) for k, p in enumerate(places)]
