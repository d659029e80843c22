"""Dial-a-ride plans for pilot pods: a new request's cheapest insertion, and every pod's
order re-optimised with OR-Tools (pure).

A pod that takes no new requests (charging, out of service) serves what it has on board
or pinned, and whatever else it carries until another pod can take it; nothing new goes
to it.

Insertion answers an HTTP request, so it rates every pickup and drop-off position pair of
every pod taking new requests from running figures of the pod's current schedule (its
departures, waits, and how much delay the later windows and the route end still absorb),
keeps the pairs these do not rule out, and times only those, cheapest first, until one
keeps every constraint: that one is the cheapest feasible insertion. The figures only
rule out pairs that break a window, the route end, a load or the range outright; ride
times, which a pair can break by moving another request's drop-off, are left to the
timing. They assume that a detour never saves time (the triangle inequality): a matrix
breaking it by a second may miss an insertion that fits by that second, never accept one
that does not fit.

Re-optimisation models pickups and drop-offs as OR-Tools pickup-and-delivery pairs: a
time dimension (service and driving, waiting allowed) with the windows and the ride times
as bounds on its cumul variables, one capacity dimension per load dimension in use
(starting at what is on board), the range as a driving dimension, requests on board or
pinned bound to their pod, and the others to the pods taking new requests, or to the pod
taking none that carries them at a cost outweighing any detour. Guided local search
starts from the current orders, with any request not in them, or carried by a pod taking
no new ones, inserted first where it fits, and the result replaces them only if it keeps
every constraint and leaves fewer requests on such pods, or as many and drives no more.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from itertools import pairwise

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from fleet.dispatch.model import (
    Assignment,
    DispatchError,
    Load,
    Planned,
    Pod,
    Problem,
    Reason,
    Refusal,
    Request,
    Schedule,
    StopKind,
    Window,
)
from fleet.dispatch.schedules import (
    check,
    feasible,
    onboard_load,
    place_of,
    timed,
    total_drive_s,
    window_of,
)

SHIFT_STEP_S = 300  # the search for a later pickup tries windows this much later...
SHIFT_FINE_S = 60  # ...then narrows down to this
MAX_SHIFT_S = 3 * 3600  # and gives up beyond this
UNSERVED_PENALTY = 100  # per request OR-Tools leaves out, in longest drives
# Per request a pod taking no new ones keeps though it need not, in longest drives: more
# than moving it to another pod adds (four at most), less than leaving it out.
STUCK_PENALTY = 10
LOADS = ("seats", "wheelchairs", "weight_g", "volume_l")
NEVER = 2**62  # no deadline

Orders = dict[str, tuple[Planned, ...]]


class _Stage(IntEnum):
    """How far a refused insertion got: the farthest names the refusal's reason."""

    TIME = 0
    SHIFT = 1
    RANGE = 2


_REASONS = {_Stage.TIME: Reason.NO_TIME, _Stage.SHIFT: Reason.SHIFT, _Stage.RANGE: Reason.RANGE}


# --- insertion ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Route:
    """A pod's current route with the running figures that rate insertions into it.

    Nodes: 0 the pod's place, 1..n its stops, n + 1 its end (arrival at the depot, or the
    last departure), n + 2 the new pickup, n + 3 the new drop-off.
    """

    pod: Pod
    order: tuple[Planned, ...]
    drive_s: int
    range_s: float  # driving its battery allows
    travel: list[list[int]]  # node to node; 0 into the end when the pod has no depot
    depart: list[int]  # leaving node x, x in 0..n
    start: list[int]  # service start at node x, x in 1..n + 1 (the end: arrival)
    wait: list[int]  # before service at node x
    window_slack: list[int]  # delay at node x that the windows from x on absorb
    end_slack: list[int]  # delay at node x that the route end absorbs
    spare: list[int]  # room left after node x, x in 0..n, with the request aboard


def insert(problem: Problem, request: Request) -> Assignment | Refusal:
    """The cheapest feasible insertion of a new request into the order of a pod that takes
    new requests, or a refusal."""
    request_id = request.request_id
    if any(p.request_id == request_id for order in problem.orders.values() for p in order):
        raise DispatchError("request_id", f"{request_id} is planned already")
    takers = [pod for pod in problem.pods if pod.takes_new]
    if not takers:
        return Refusal(request_id, Reason.NO_PODS, None)
    if not any(request.load.fits(pod.capacity) for pod in takers):
        return Refusal(request_id, Reason.TOO_BIG, None)
    extended = _with_request(problem, request)
    routes = _routes(extended, request, takers)
    found, stage = _cheapest(extended, request, routes)
    if found is not None:
        return found
    return Refusal(request_id, _REASONS[stage], _earliest_pickup(extended, request, routes))


def _with_request(problem: Problem, request: Request) -> Problem:
    return replace(problem, requests={**problem.requests, request.request_id: request})


def _routes(problem: Problem, request: Request, pods: Iterable[Pod]) -> list[_Route]:
    """The routes of those `pods` that keep every constraint now, rated for the request."""
    routes = [_route(problem, pod, request) for pod in pods]
    return [r for r in routes if r is not None]


def _route(problem: Problem, pod: Pod, request: Request) -> _Route | None:
    order = tuple(problem.orders.get(pod.pod_id, ()))
    n = len(order)
    places = [pod.place, *(place_of(problem.requests[p.request_id], p.kind) for p in order)]
    places += [pod.depot or pod.place, request.pickup, request.dropoff]
    travel: list[list[int]] = problem.travel.seconds(places, places).tolist()
    if pod.depot is None:
        for row in travel:
            row[n + 1] = 0
    schedule = feasible(problem, pod, order, [travel[x][x + 1] for x in range(n + 1)])
    if schedule is None:
        # A pod already late for a promise takes nothing more until it is re-planned.
        return None
    stops = schedule.stops
    start = [pod.free_at_s, *(s.start_s for s in stops), schedule.end_s]
    wait = [0, *(s.start_s - s.arrive_s for s in stops), 0]
    latest = [NEVER, *(window_of(problem.requests[s.request_id], s.kind).latest_s for s in stops)]
    window_slack, end_slack = [NEVER] * (n + 2), [pod.route_end_s - schedule.end_s] * (n + 2)
    for x in range(n, 0, -1):
        window_slack[x] = min(latest[x] - start[x], window_slack[x + 1] + wait[x + 1])
        end_slack[x] = end_slack[x + 1] + wait[x + 1]
    loads = [onboard_load(problem, pod), *(s.load_after for s in stops)]
    return _Route(
        pod=pod,
        order=order,
        drive_s=schedule.drive_s,
        range_s=pod.range_m / problem.metres_per_second,
        travel=travel,
        depart=[pod.free_at_s, *(s.depart_s for s in stops)],
        start=start,
        wait=wait,
        window_slack=window_slack,
        end_slack=end_slack,
        spare=[min(_dimensions(pod.capacity - load - request.load)) for load in loads],
    )


def _dimensions(load: Load) -> tuple[int, ...]:
    return (load.seats, load.wheelchairs, load.weight_g, load.volume_l)


def tightened(request: Request, direct_s: int) -> tuple[Window, Window] | None:
    """The request's windows narrowed by what its ride implies, or None if none is left."""
    pickup, dropoff = request.pickup_window, request.dropoff_window
    boarding, ride = request.pickup_service_s, request.max_ride_s
    narrowed_pickup = Window(
        max(pickup.earliest_s, dropoff.earliest_s - boarding - ride),
        min(pickup.latest_s, dropoff.latest_s - boarding - direct_s),
    )
    narrowed_dropoff = Window(
        max(dropoff.earliest_s, pickup.earliest_s + boarding + direct_s),
        min(dropoff.latest_s, pickup.latest_s + boarding + ride),
    )
    if direct_s > ride or any(
        w.earliest_s > w.latest_s for w in (narrowed_pickup, narrowed_dropoff)
    ):
        return None
    return narrowed_pickup, narrowed_dropoff


def _cheapest(
    problem: Problem, request: Request, routes: Sequence[_Route]
) -> tuple[Assignment | None, _Stage]:
    """The cheapest feasible insertion, or None and how far the best refused one got."""
    candidates: list[tuple[int, int, int, int]] = []
    farthest = _Stage.TIME
    for number, route in enumerate(routes):
        n = len(route.order)
        windows = tightened(request, route.travel[n + 2][n + 3])
        if windows is None:
            continue
        rated, stage = _rate(route, request, *windows)
        candidates += [(cost, number, a, b) for cost, a, b in rated]
        farthest = max(farthest, stage)
    candidates.sort()
    for _, number, a, b in candidates:
        route = routes[number]
        n = len(route.order)
        nodes = [*range(a + 1), n + 2, *range(a + 1, b + 1), n + 3, *range(b + 1, n + 2)]
        order = (
            *route.order[:a],
            Planned(request.request_id, StopKind.PICKUP),
            *route.order[a:b],
            Planned(request.request_id, StopKind.DROPOFF),
            *route.order[b:],
        )
        driven = [route.travel[x][y] for x, y in pairwise(nodes)]
        schedule = feasible(problem, route.pod, order, driven)
        if schedule is not None:
            return _assignment(request, route, schedule, a, b + 1), farthest
    return None, farthest


def _rate(
    route: _Route, request: Request, pickup: Window, dropoff: Window
) -> tuple[list[tuple[int, int, int]], _Stage]:
    """(added driving, a, b) of every pair the figures allow: the pickup after node a, the
    drop-off after node b >= a; and the farthest stage a refused pair got to."""
    n, t = len(route.order), route.travel
    p, d = n + 2, n + 3
    spare = route.spare
    boarding, alighting = request.pickup_service_s, request.dropoff_service_s
    rated: list[tuple[int, int, int]] = []
    farthest = _Stage.TIME

    def rate(cost: int, a: int, b: int, arrive_next: int) -> None:
        nonlocal farthest
        stage = _delay_stage(route, b + 1, arrive_next - route.start[b + 1])
        if stage is None and route.drive_s + cost > route.range_s:
            stage = _Stage.RANGE
        if stage is None:
            rated.append((cost, a, b))
        else:
            farthest = max(farthest, stage)

    for a in range(n + 1):
        if spare[a] < 0:
            continue
        pickup_start = max(route.depart[a] + t[a][p], pickup.earliest_s)
        if pickup_start > pickup.latest_s:
            continue
        pickup_end = pickup_start + boarding
        dropoff_start = max(pickup_end + t[p][d], dropoff.earliest_s)
        if dropoff_start <= dropoff.latest_s:
            cost = t[a][p] + t[p][d] + t[d][a + 1] - t[a][a + 1]
            rate(cost, a, a, dropoff_start + alighting + t[d][a + 1])
        if a == n:
            continue
        delay = max(0, pickup_end + t[p][a + 1] - route.start[a + 1])
        stage = _delay_stage(route, a + 1, delay)
        if stage is not None:
            farthest = max(farthest, stage)
            continue
        pickup_cost = t[a][p] + t[p][a + 1] - t[a][a + 1]
        for b in range(a + 1, n + 1):
            if spare[b] < 0:
                break
            leave = route.depart[b] + delay
            if leave > dropoff.latest_s:
                break
            dropoff_start = max(leave + t[b][d], dropoff.earliest_s)
            if dropoff_start <= dropoff.latest_s:
                cost = pickup_cost + t[b][d] + t[d][b + 1] - t[b][b + 1]
                rate(cost, a, b, dropoff_start + alighting + t[d][b + 1])
            delay = max(0, delay - route.wait[b + 1])
    return rated, farthest


def _delay_stage(route: _Route, node: int, delay: int) -> _Stage | None:
    """None if the route absorbs `delay` at `node`; else what it breaks."""
    if delay <= 0:
        return None
    if delay > route.window_slack[node]:
        return _Stage.TIME
    if delay > route.end_slack[node]:
        return _Stage.SHIFT
    return None


def _assignment(
    request: Request, route: _Route, schedule: Schedule, pickup: int, dropoff: int
) -> Assignment:
    return Assignment(
        request_id=request.request_id,
        pod_id=route.pod.pod_id,
        schedules=(schedule,),
        pickup_start_s=schedule.stops[pickup].start_s,
        dropoff_start_s=schedule.stops[dropoff].start_s,
        added_drive_s=schedule.drive_s - route.drive_s,
    )


def _earliest_pickup(problem: Problem, request: Request, routes: Sequence[_Route]) -> int | None:
    """The earliest start of the pickup window, up to `MAX_SHIFT_S` later, at which some pod
    takes the request with both its windows shifted alike; None if there is none."""
    last_end = max((r.pod.route_end_s for r in routes), default=-1)

    def taken(shift: int) -> bool:
        moved = replace(
            request,
            pickup_window=_shifted(request.pickup_window, shift),
            dropoff_window=_shifted(request.dropoff_window, shift),
        )
        return _cheapest(_with_request(problem, moved), moved, routes)[0] is not None

    earliest = request.pickup_window.earliest_s
    tried = 0
    for shift in range(SHIFT_STEP_S, MAX_SHIFT_S + 1, SHIFT_STEP_S):
        if earliest + shift > last_end:
            return None
        if taken(shift):
            finer = range(tried + SHIFT_FINE_S, shift, SHIFT_FINE_S)
            return earliest + next((s for s in finer if taken(s)), shift)
        tried = shift
    return None


def _shifted(window: Window, shift: int) -> Window:
    return Window(window.earliest_s + shift, window.latest_s + shift)


# --- re-optimisation ---------------------------------------------------------------------


def reoptimise(problem: Problem, *, time_limit_s: float) -> dict[str, Schedule]:
    """Every pod's schedule after re-planning all orders.

    Requests in no order go only to pods that take new requests (or to the pod they are
    pinned to). So do the requests a pod that takes no new ones carries without having them
    on board or pinned, except one that no pod taking new requests can take feasibly: it
    stays where it is rather than go unserved (the search charges more for keeping it
    there than any detour costs). The current orders are kept unless a plan keeps every
    constraint and leaves fewer requests on pods that take no new ones, or as many and
    drives no more.
    """
    current = _orders(problem)
    start = _placed(problem, current)
    solved = _solve(problem, start, time_limit_s)
    plans = [
        (orders, _schedules(problem, orders))
        for orders in (solved, start, current)
        if orders is not None
    ]
    # Ties go to the first: the search's plan, then the start, then the current orders.
    return min(plans, key=lambda plan: _rank(problem, *plan))[1]


def _orders(problem: Problem) -> Orders:
    return {pod.pod_id: tuple(problem.orders.get(pod.pod_id, ())) for pod in problem.pods}


def _schedules(problem: Problem, orders: Mapping[str, Sequence[Planned]]) -> dict[str, Schedule]:
    return {pod.pod_id: timed(problem, pod, orders[pod.pod_id]) for pod in problem.pods}


def _rank(
    problem: Problem, orders: Orders, schedules: Mapping[str, Schedule]
) -> tuple[int, int, int]:
    return len(check(problem, schedules)), len(_stuck(problem, orders)), total_drive_s(schedules)


def _stuck(problem: Problem, orders: Mapping[str, Sequence[Planned]]) -> dict[str, str]:
    """The requests that pods taking no new ones have in `orders` though neither on board
    nor pinned, each with its pod."""
    kept = {r for pod in problem.pods for r in (*pod.onboard, *pod.pinned)}
    return {
        p.request_id: pod.pod_id
        for pod in problem.pods
        if not pod.takes_new
        for p in orders.get(pod.pod_id, ())
        if p.request_id not in kept
    }


def _placed(problem: Problem, orders: Orders) -> Orders:
    """`orders` with each request in none, and each `_stuck` one, inserted where it fits
    best on a pod that takes new requests (or the one it is pinned to), soonest due first;
    a stuck one that fits on none stays where it is."""
    planned = {p.request_id for order in orders.values() for p in order}
    onboard = {r for pod in problem.pods for r in pod.onboard}
    pinned = {r: pod.pod_id for pod in problem.pods for r in pod.pinned}
    stuck = _stuck(problem, orders)
    moving = [
        r
        for r in problem.requests.values()
        if r.request_id in stuck or r.request_id not in planned | onboard
    ]  # a missing drop-off of a request on board is left to the search
    moving.sort(key=lambda r: min(r.pickup_window.latest_s, r.dropoff_window.latest_s))
    takers = [pod for pod in problem.pods if pod.takes_new]
    placed = dict(orders)
    for request in moving:
        request_id = request.request_id
        without = dict(placed)
        if request_id in stuck:
            carrier = stuck[request_id]
            without[carrier] = tuple(p for p in placed[carrier] if p.request_id != request_id)
        working = replace(problem, orders=without)
        pods = takers
        if request_id in pinned:
            pods = [pod for pod in problem.pods if pod.pod_id == pinned[request_id]]
        found, _ = _cheapest(working, request, _routes(working, request, pods))
        if found is not None:
            placed = without
            placed[found.pod_id] = tuple(
                Planned(s.request_id, s.kind) for s in found.schedules[0].stops
            )
    return placed


def _solve(problem: Problem, start: Orders, time_limit_s: float) -> Orders | None:
    """OR-Tools' orders from `start` under the time limit, or None if it found none."""
    pods = problem.pods
    if not pods or not all(_can_start(problem, pod) for pod in pods):
        # Every plan breaks that pod's route end or capacity: the current one is kept.
        return None
    onboard = {r for pod in pods for r in pod.onboard}
    stops = [
        Planned(r, kind)
        for r in problem.requests
        for kind in StopKind
        if kind is StopKind.DROPOFF or r not in onboard
    ]
    travel = _node_travel(problem, stops)
    first = 2 * len(pods)  # stop k is node first + k
    manager = pywrapcp.RoutingIndexManager(
        first + len(stops), len(pods), list(range(len(pods))), list(range(len(pods), first))
    )
    routing = pywrapcp.RoutingModel(manager)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(travel.tolist()))
    stuck = _stuck(problem, problem.orders)
    for v, pod in enumerate(pods):
        # An idle pod still drives to its depot, as its schedule says.
        routing.SetVehicleUsedWhenEmpty(pod.depot is not None, v)
        carried = [
            first + k
            for k, s in enumerate(stops)
            if s.kind is StopKind.PICKUP and stuck.get(s.request_id) == pod.pod_id
        ]
        if carried:
            # So a request stays on a pod taking no new ones only when no other can take it.
            costs = travel.copy()
            costs[:, carried] += STUCK_PENALTY * (int(travel.max()) + 1)
            routing.SetArcCostEvaluatorOfVehicle(routing.RegisterTransitMatrix(costs.tolist()), v)
    index = {stop: manager.NodeToIndex(first + k) for k, stop in enumerate(stops)}
    complete = sum(map(len, start.values())) == len(stops)
    model = _Model(problem, routing, index, travel[first:, first:])
    model.add_time(travel)
    model.add_loads()
    model.add_range(travel)
    model.add_requests(None if complete else UNSERVED_PENALTY * (int(travel.max()) + 1))
    parameters = _parameters(time_limit_s)
    routing.CloseModelWithParameters(parameters)
    initial = routing.ReadAssignmentFromRoutes(
        [[index[s] for s in start[pod.pod_id]] for pod in pods], True
    )
    if initial is None:
        solution = routing.SolveWithParameters(parameters)
    else:
        solution = routing.SolveFromAssignmentWithParameters(initial, parameters)
    if solution is None:
        return None
    return {
        pod.pod_id: tuple(
            stops[manager.IndexToNode(i) - first] for i in _visits(routing, solution, v)
        )
        for v, pod in enumerate(pods)
    }


def _can_start(problem: Problem, pod: Pod) -> bool:
    return pod.free_at_s <= pod.route_end_s and onboard_load(problem, pod).fits(pod.capacity)


def _node_travel(problem: Problem, stops: Sequence[Planned]) -> np.ndarray:
    """Driving seconds between routing nodes; nothing into an end without depot, or out of
    any end."""
    pods = problem.pods
    node_places = [p.place for p in pods] + [p.depot or p.place for p in pods]
    node_places += [place_of(problem.requests[s.request_id], s.kind) for s in stops]
    places = list(dict.fromkeys(node_places))
    position = {p: i for i, p in enumerate(places)}
    rows = [position[p] for p in node_places]
    between = np.asarray(problem.travel.seconds(places, places), dtype=np.int64)
    travel = between[np.ix_(rows, rows)]
    for v, pod in enumerate(pods):
        if pod.depot is None:
            travel[:, len(pods) + v] = 0
    travel[len(pods) : 2 * len(pods), :] = 0
    return travel


@dataclass(frozen=True, slots=True, eq=False)
class _Model:
    """Adds the dimensions and constraints of a problem to a routing model."""

    problem: Problem
    routing: pywrapcp.RoutingModel
    index: dict[Planned, int]  # the routing index of each stop
    between: np.ndarray  # driving seconds between stops, in `index` order

    def add_time(self, travel: np.ndarray) -> None:
        """Service then driving, any wait; pods leave when free and end by their route end."""
        pods, requests = self.problem.pods, self.problem.requests
        service = [0] * (2 * len(pods)) + [
            _service_s(requests[s.request_id], s.kind) for s in self.index
        ]
        seconds = travel + np.array(service, dtype=np.int64)[:, None]
        horizon = max(
            [pod.route_end_s for pod in pods]
            + [w.latest_s for r in requests.values() for w in (r.pickup_window, r.dropoff_window)]
        )
        transit = self.routing.RegisterTransitMatrix(seconds.tolist())
        self.routing.AddDimension(transit, horizon, horizon, False, "time")
        time = self.routing.GetDimensionOrDie("time")
        for v, pod in enumerate(pods):
            time.CumulVar(self.routing.Start(v)).SetRange(pod.free_at_s, pod.route_end_s)
            time.CumulVar(self.routing.End(v)).SetMax(pod.route_end_s)

    def add_loads(self) -> None:
        """One capacity dimension per load dimension some request uses."""
        pods, requests = self.problem.pods, self.problem.requests
        starts = [_dimensions(onboard_load(self.problem, pod)) for pod in pods]
        capacities = [_dimensions(pod.capacity) for pod in pods]
        changes = [
            _dimensions(requests[s.request_id].load)
            if s.kind is StopKind.PICKUP
            else tuple(-x for x in _dimensions(requests[s.request_id].load))
            for s in self.index
        ]
        for k, name in enumerate(LOADS):
            if not any(change[k] for change in changes):
                continue
            demands = [0] * (2 * len(pods)) + [change[k] for change in changes]
            transit = self.routing.RegisterUnaryTransitVector(demands)
            self.routing.AddDimensionWithVehicleCapacity(
                transit, 0, [c[k] for c in capacities], False, name
            )
            dimension = self.routing.GetDimensionOrDie(name)
            for v, load in enumerate(starts):
                dimension.CumulVar(self.routing.Start(v)).SetValue(load[k])

    def add_range(self, travel: np.ndarray) -> None:
        """Driving within each pod's range, unless no route could drive that far."""
        pods, mps = self.problem.pods, self.problem.metres_per_second
        limits = [int(pod.range_m / mps) for pod in pods]
        if min(limits) >= int(travel.max(axis=1).sum()):
            return
        transit = self.routing.RegisterTransitMatrix(travel.tolist())
        self.routing.AddDimensionWithVehicleCapacity(transit, 0, limits, True, "range")

    def add_requests(self, penalty: int | None) -> None:
        """Windows, pickup before drop-off on one pod, ride times, the pods each request may
        ride; with a `penalty`, requests may be left out at that cost each."""
        routing = self.routing
        solver = routing.solver()
        time = routing.GetDimensionOrDie("time")
        allowed = _vehicles(self.problem)
        position = {stop: k for k, stop in enumerate(self.index)}
        for request_id, request in self.problem.requests.items():
            dropoff = Planned(request_id, StopKind.DROPOFF)
            pickup = Planned(request_id, StopKind.PICKUP)
            nodes = [self.index[s] for s in (pickup, dropoff) if s in self.index]
            windows: tuple[Window, ...] = (request.dropoff_window,)
            if len(nodes) == 2:
                direct = int(self.between[position[pickup], position[dropoff]])
                windows = tightened(request, direct) or (
                    request.pickup_window,
                    request.dropoff_window,
                )
                p, d = nodes
                routing.AddPickupAndDelivery(p, d)
                solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
                solver.Add(time.CumulVar(p) <= time.CumulVar(d))
                gap = request.max_ride_s + request.pickup_service_s
                solver.Add(time.CumulVar(d) - time.CumulVar(p) <= gap)
                if penalty is not None:
                    solver.Add(routing.ActiveVar(p) == routing.ActiveVar(d))
            for node, window in zip(nodes, windows, strict=True):
                time.CumulVar(node).SetRange(window.earliest_s, window.latest_s)
                if request_id in allowed:
                    routing.VehicleVar(node).SetValues([-1, *allowed[request_id]])
                if penalty is not None:
                    routing.AddDisjunction([node], penalty)


def _vehicles(problem: Problem) -> dict[str, list[int]]:
    """The vehicles a request may ride, where not any: its pod's if on board or pinned;
    else, when some pod takes no new requests, those that do and the pod it is `_stuck` on."""
    pods = problem.pods
    allowed = {r: [v] for v, pod in enumerate(pods) for r in (*pod.pinned, *pod.onboard)}
    if all(pod.takes_new for pod in pods):
        return allowed
    takers = [v for v, pod in enumerate(pods) if pod.takes_new]
    vehicle = {pod.pod_id: v for v, pod in enumerate(pods)}
    stuck = _stuck(problem, problem.orders)
    for request_id in problem.requests:
        if request_id not in allowed:
            carrier = [vehicle[stuck[request_id]]] if request_id in stuck else []
            allowed[request_id] = takers + carrier
    return allowed


def _service_s(request: Request, kind: StopKind) -> int:
    return request.pickup_service_s if kind is StopKind.PICKUP else request.dropoff_service_s


def _parameters(time_limit_s: float) -> object:
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    parameters.time_limit.FromMilliseconds(max(1, round(time_limit_s * 1000)))
    return parameters


def _visits(
    routing: pywrapcp.RoutingModel, solution: pywrapcp.Assignment, vehicle: int
) -> list[int]:
    """The routing indices a vehicle visits, in order, between its start and its end."""
    visits = []
    index = solution.Value(routing.NextVar(routing.Start(vehicle)))
    while not routing.IsEnd(index):
        visits.append(index)
        index = solution.Value(routing.NextVar(index))
    return visits
