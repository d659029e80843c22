"""Pod schedules: the times of an order of stops, and an independent checker of plans (pure).

A pod leaves `pod.place` at `pod.free_at_s`, drives to each stop, waits there for the
stop's window if it is early, serves it and drives on; its route ends on arriving at its
depot, or after its last stop when it has none. A ride time bounds how long a request
rides from the end of its pickup to the start of its drop-off, so waiting before a pickup
is sometimes needed: the schedule of an order is its *earliest* one, where every service
starts as soon as every window, ride time and the route end allow. Those are difference
constraints between start times, so their earliest solution, when any exists, is
simultaneously the earliest for every stop, and it is found by raising pickups that make a
ride too long and passing forward again until nothing moves.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleet.dispatch.model import (
    DispatchError,
    Load,
    Planned,
    Pod,
    Problem,
    Request,
    Schedule,
    ScheduledStop,
    StopKind,
    Violation,
    Window,
)
from fleet.rebalancing.model import Place

NOTHING = Load()


@dataclass(frozen=True, slots=True)
class _Stop:
    """A planned stop with what timing it needs."""

    request: Request
    kind: StopKind
    place: Place
    window: Window
    service_s: int
    change: Load  # on board after the stop, less before it


def legs(problem: Problem, pod: Pod, order: Sequence[Planned]) -> list[int]:
    """Driving seconds into each stop of `order`, then to the route's end (0 without depot)."""
    places = [pod.place, *(place_of(problem.requests[p.request_id], p.kind) for p in order)]
    ends = [*places[1:], pod.depot or places[-1]]
    between = problem.travel.seconds(places, ends)
    driven = [int(between[k, k]) for k in range(len(places))]
    if pod.depot is None:
        driven[-1] = 0
    return driven


def place_of(request: Request, kind: StopKind) -> Place:
    """Where a request's stop of this kind is."""
    return request.pickup if kind is StopKind.PICKUP else request.dropoff


def window_of(request: Request, kind: StopKind) -> Window:
    """When a request's stop of this kind may start."""
    return request.pickup_window if kind is StopKind.PICKUP else request.dropoff_window


def feasible(
    problem: Problem, pod: Pod, order: Sequence[Planned], driven: Sequence[int] | None = None
) -> Schedule | None:
    """The earliest schedule of `order` keeping every constraint on the pod, or None.

    `driven` are the order's `legs`, when the caller has them already.
    """
    driven = legs(problem, pod, order) if driven is None else driven
    stops = _stops(problem, order)
    pairs = _ride_pairs(pod, stops)
    if pairs is None:
        return None
    starts = _earliest_starts(pod, stops, driven, pairs)
    if starts is None:
        return None
    schedule = _schedule(problem, pod, stops, driven, starts)
    if not all(s.load_after.fits(pod.capacity) for s in schedule.stops):
        return None
    if schedule.drive_s * problem.metres_per_second > pod.range_m:
        return None
    return schedule


def timed(problem: Problem, pod: Pod, order: Sequence[Planned]) -> Schedule:
    """The schedule of `order`: its earliest feasible one, or, when it has none, the pod
    serving each stop as soon as it is there and the window opens (for the checker)."""
    driven = legs(problem, pod, order)
    schedule = feasible(problem, pod, order, driven)
    if schedule is not None:
        return schedule
    stops = _stops(problem, order)
    starts = _forward(pod, stops, driven, [s.window.earliest_s for s in stops], bounded=False)
    assert starts is not None  # unbounded passes always finish
    return _schedule(problem, pod, stops, driven, starts)


def onboard_load(problem: Problem, pod: Pod) -> Load:
    """What the pod carries now."""
    load = NOTHING
    for request_id in pod.onboard:
        load = load + problem.requests[request_id].load
    return load


def total_drive_s(schedules: Mapping[str, Schedule]) -> int:
    """Driving seconds of every schedule."""
    return sum(s.drive_s for s in schedules.values())


def _stops(problem: Problem, order: Sequence[Planned]) -> list[_Stop]:
    stops = []
    for planned in order:
        request = problem.requests.get(planned.request_id)
        if request is None:
            raise DispatchError("orders", f"{planned.request_id} is unknown")
        pickup = planned.kind is StopKind.PICKUP
        stops.append(
            _Stop(
                request,
                planned.kind,
                place_of(request, planned.kind),
                window_of(request, planned.kind),
                request.pickup_service_s if pickup else request.dropoff_service_s,
                request.load if pickup else NOTHING - request.load,
            )
        )
    return stops


def _ride_pairs(pod: Pod, stops: Sequence[_Stop]) -> list[tuple[int, int, int]] | None:
    """(pickup index, drop-off index, the most their starts may differ) of each request
    picked up on this order; None when the order is not a valid sequence of stops."""
    picked: dict[str, int] = {}
    dropped: set[str] = set()
    pairs = []
    for index, stop in enumerate(stops):
        request_id = stop.request.request_id
        if request_id in dropped or (request_id in picked and stop.kind is StopKind.PICKUP):
            return None
        if stop.kind is StopKind.PICKUP:
            if request_id in pod.onboard:
                return None
            picked[request_id] = index
            continue
        dropped.add(request_id)
        if request_id in picked:
            gap = stop.request.max_ride_s + stop.request.pickup_service_s
            pairs.append((picked[request_id], index, gap))
        elif request_id not in pod.onboard:
            return None
    return pairs if picked.keys() <= dropped else None


def _earliest_starts(
    pod: Pod, stops: Sequence[_Stop], driven: Sequence[int], pairs: Sequence[tuple[int, int, int]]
) -> list[int] | None:
    floors = [s.window.earliest_s for s in stops]
    # A start raised by a ride can lengthen another ride only through a later pickup, so
    # without an impossible cycle every raise settles within one pass per pair.
    for _ in range(len(pairs) + 1):
        starts = _forward(pod, stops, driven, floors, bounded=True)
        if starts is None:
            return None
        raised = False
        for pickup, dropoff, gap in pairs:
            if starts[dropoff] - starts[pickup] > gap:
                floors[pickup] = starts[dropoff] - gap
                raised = True
        if not raised:
            return starts
    return None


def _forward(
    pod: Pod, stops: Sequence[_Stop], driven: Sequence[int], floors: Sequence[int], *, bounded: bool
) -> list[int] | None:
    """Service starts, each as early as travel and `floors` allow; None when `bounded`
    and a window or the route end is missed."""
    depart = pod.free_at_s
    starts = []
    for stop, leg, floor in zip(stops, driven, floors, strict=False):
        start = max(depart + leg, floor)
        if bounded and start > stop.window.latest_s:
            return None
        starts.append(start)
        depart = start + stop.service_s
    if bounded and depart + driven[-1] > pod.route_end_s:
        return None
    return starts


def _schedule(
    problem: Problem,
    pod: Pod,
    stops: Sequence[_Stop],
    driven: Sequence[int],
    starts: Sequence[int],
) -> Schedule:
    depart = pod.free_at_s
    load = onboard_load(problem, pod)
    timed_stops = []
    for stop, leg, start in zip(stops, driven, starts, strict=False):
        arrive = depart + leg
        depart = start + stop.service_s
        load = load + stop.change
        timed_stops.append(
            ScheduledStop(
                stop.request.request_id, stop.kind, stop.place, arrive, start, depart, load
            )
        )
    drive_s = sum(driven)
    end_s = depart + driven[-1]
    drive_m = round(drive_s * problem.metres_per_second)
    return Schedule(pod.pod_id, tuple(timed_stops), drive_s, drive_m, end_s)


# --- the checker -----------------------------------------------------------------------


def check(problem: Problem, schedules: Mapping[str, Schedule]) -> list[Violation]:
    """Every constraint the schedules break, trusting none of their figures."""
    pods = {pod.pod_id: pod for pod in problem.pods}
    found: list[Violation] = []
    for pod_id, schedule in schedules.items():
        pod = pods.get(pod_id)
        if pod is None or schedule.pod_id != pod_id:
            found.append(Violation(pod_id, None, "pod", "no such pod, or keyed by another id"))
        else:
            found += _check_pod(problem, pod, schedule)
    for pod in problem.pods:
        found += _check_kept(problem, pod, schedules.get(pod.pod_id))
    return found + _check_served(problem, schedules)


def _check_pod(problem: Problem, pod: Pod, schedule: Schedule) -> list[Violation]:
    unknown = [s.request_id for s in schedule.stops if s.request_id not in problem.requests]
    if unknown:
        return [Violation(pod.pod_id, r, "request", "not in the problem") for r in unknown]
    order = [Planned(s.request_id, s.kind) for s in schedule.stops]
    driven = legs(problem, pod, order)
    return [
        *_check_times(problem, pod, schedule, driven),
        *_check_loads(problem, pod, schedule),
        *_check_sequence(problem, pod, schedule),
        *_check_route(problem, pod, schedule, driven),
    ]


def _check_times(
    problem: Problem, pod: Pod, schedule: Schedule, driven: Sequence[int]
) -> list[Violation]:
    found = []
    depart = pod.free_at_s
    for stop, leg in zip(schedule.stops, driven, strict=False):
        request = problem.requests[stop.request_id]
        pickup = stop.kind is StopKind.PICKUP
        service = request.pickup_service_s if pickup else request.dropoff_service_s
        window = window_of(request, stop.kind)
        broken = [
            (stop.place != place_of(request, stop.kind), "place", f"at {stop.place}"),
            (
                stop.arrive_s < depart + leg,
                "travel",
                f"arrives at {stop.arrive_s}, {depart + leg} at the earliest",
            ),
            (stop.start_s < stop.arrive_s, "travel", f"starts at {stop.start_s}, before arriving"),
            (
                stop.depart_s < stop.start_s + service,
                "service",
                f"leaves at {stop.depart_s}, within its {service} s of service",
            ),
            (
                not window.earliest_s <= stop.start_s <= window.latest_s,
                "window",
                f"starts at {stop.start_s}, outside {window}",
            ),
        ]
        found += [
            Violation(pod.pod_id, stop.request_id, constraint, f"{stop.kind}: {detail}")
            for hit, constraint, detail in broken
            if hit
        ]
        depart = stop.depart_s
    return found


def _check_loads(problem: Problem, pod: Pod, schedule: Schedule) -> list[Violation]:
    found = []
    load = onboard_load(problem, pod)
    if not load.fits(pod.capacity):
        detail = f"{load} on board from the start, capacity {pod.capacity}"
        found.append(Violation(pod.pod_id, None, "capacity", detail))
    for stop in schedule.stops:
        request = problem.requests[stop.request_id]
        load = load + request.load if stop.kind is StopKind.PICKUP else load - request.load
        if not load.fits(pod.capacity):
            detail = f"{load} on board, capacity {pod.capacity}"
            found.append(Violation(pod.pod_id, stop.request_id, "capacity", detail))
        if stop.load_after != load:
            detail = f"says {stop.load_after} on board, holds {load}"
            found.append(Violation(pod.pod_id, stop.request_id, "load", detail))
    return found


def _check_sequence(problem: Problem, pod: Pod, schedule: Schedule) -> list[Violation]:
    """Pickups before their drop-offs, on this pod, and rides no longer than allowed."""
    found = []
    picked: dict[str, ScheduledStop] = {}
    for stop in schedule.stops:
        request = problem.requests[stop.request_id]
        if stop.kind is StopKind.PICKUP:
            if stop.request_id in pod.onboard:
                detail = "picked up again while on board"
                found.append(Violation(pod.pod_id, stop.request_id, "precedence", detail))
            picked[stop.request_id] = stop
            continue
        pickup = picked.pop(stop.request_id, None)
        if pickup is None:
            if stop.request_id not in pod.onboard:
                detail = "dropped off without a pickup before it on this pod"
                found.append(Violation(pod.pod_id, stop.request_id, "precedence", detail))
            continue
        ride = stop.start_s - (pickup.start_s + request.pickup_service_s)
        if ride > request.max_ride_s:
            detail = f"rides {ride} s, at most {request.max_ride_s} s"
            found.append(Violation(pod.pod_id, stop.request_id, "ride_time", detail))
    for request_id in picked:
        detail = "picked up and not dropped off by this pod"
        found.append(Violation(pod.pod_id, request_id, "precedence", detail))
    return found


def _check_route(
    problem: Problem, pod: Pod, schedule: Schedule, driven: Sequence[int]
) -> list[Violation]:
    found = []

    def broken(constraint: str, detail: str) -> None:
        found.append(Violation(pod.pod_id, None, constraint, detail))

    last_depart = schedule.stops[-1].depart_s if schedule.stops else pod.free_at_s
    if schedule.end_s < last_depart + driven[-1]:
        broken("travel", f"ends at {schedule.end_s}, {last_depart + driven[-1]} at the earliest")
    if schedule.end_s > pod.route_end_s:
        broken("route_end", f"ends at {schedule.end_s}, after {pod.route_end_s}")
    drive_s = sum(driven)
    if schedule.drive_s != drive_s:
        broken("drive", f"says {schedule.drive_s} s of driving, drives {drive_s} s")
    metres = drive_s * problem.metres_per_second
    if metres > pod.range_m:
        broken("range", f"drives {metres:.0f} m, range {pod.range_m} m")
    return found


def _check_kept(problem: Problem, pod: Pod, schedule: Schedule | None) -> list[Violation]:
    """Requests on board, or pinned, stay on their pod; a pod that takes no new requests
    gets none beyond those and the others in its order now (which it may keep)."""
    stops = schedule.stops if schedule is not None else ()
    here = {s.request_id for s in stops}
    found = [
        Violation(pod.pod_id, r, "onboard", "on board, not dropped off by this pod")
        for r in pod.onboard
        if r not in here
    ]
    found += [
        Violation(pod.pod_id, r, "pinned", "pinned to this pod, served by another")
        for r in pod.pinned
        if r not in here
    ]
    if not pod.takes_new:
        carried = {*pod.onboard, *pod.pinned}
        carried |= {p.request_id for p in problem.orders.get(pod.pod_id, ())}
        found += [
            Violation(pod.pod_id, r, "takes_new", "new to a pod that takes no new requests")
            for r in dict.fromkeys(s.request_id for s in stops)
            if r not in carried
        ]
    return found


def _check_served(problem: Problem, schedules: Mapping[str, Schedule]) -> list[Violation]:
    """Every request picked up (unless on board) and dropped off exactly once."""
    onboard = {r for pod in problem.pods for r in pod.onboard}
    counts: dict[tuple[str, StopKind], list[str]] = {}
    for schedule in schedules.values():
        for stop in schedule.stops:
            counts.setdefault((stop.request_id, stop.kind), []).append(schedule.pod_id)
    found = []
    for request_id in problem.requests:
        for kind in StopKind:
            pods = counts.get((request_id, kind), [])
            wanted = 0 if kind is StopKind.PICKUP and request_id in onboard else 1
            if len(pods) != wanted:
                detail = f"{kind} {len(pods)} times ({', '.join(pods) or 'nowhere'}), not {wanted}"
                found.append(Violation(pods[0] if pods else "", request_id, "served", detail))
    return found
