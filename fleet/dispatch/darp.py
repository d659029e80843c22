"""Cordeau's dial-a-ride benchmark instances, solved by the pods' own planner.

An instance becomes a dispatch `Problem`: every vehicle a pod at the depot, every request
a pickup node `i` and a drop-off node `i + r`. Times and distances are Euclidean in the
plane, so they are scaled to whole planner units and rounded so that a plan feasible in
units is feasible in exact numbers: travel and service up, window starts up, window ends
and ride times down. The route duration bound becomes the route end (the depot's
earliest departure plus the bound, if that is sooner than the depot's latest return),
which is exact whenever a pod need not leave its depot late, as in the published
instances. The routes found are verified, and costed, again in floating point.
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from fleet.dispatch.model import (
    DispatchError,
    Load,
    Pod,
    Problem,
    Request,
    Schedule,
    ScheduledStop,
    StopKind,
    Window,
)
from fleet.dispatch.planner import reoptimise
from fleet.rebalancing.model import Place
from fleet.rebalancing.travel import Matrix

SCALE = 1_000_000  # planner units per instance unit of time and distance
TOLERANCE = 1e-6  # of the floating-point verification, in instance units
UNLIMITED_M = 10**15  # the instances have no battery
MARGIN_S = 0.2  # of the solver's time limit, left for setting up and verifying


@dataclass(frozen=True, slots=True)
class Node:
    """A line of the instance: `id x y d q e l`."""

    node_id: int
    x: float
    y: float
    service: float
    load: int
    earliest: float
    latest: float


@dataclass(frozen=True, slots=True)
class Instance:
    """A Cordeau instance: the depot, the request nodes 1..2r, and the bounds."""

    vehicles: int
    max_route: float  # longest route, from leaving the depot to returning
    capacity: int
    max_ride: float  # longest ride, from the end of pickup to the start of drop-off
    depot: Node
    end: Node  # the depot as the routes' end (its copy `2r + 1`, if the file has one)
    nodes: tuple[Node, ...]  # 1..2r: pickups, then their drop-offs in the same order

    @property
    def requests(self) -> int:
        """How many requests the instance holds."""
        return len(self.nodes) // 2


def parse(text: str) -> Instance:
    """An instance from the text of its file; the header's node count is not trusted."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or len(lines[0]) < 5:
        raise DispatchError("instance", "a header line and node lines are needed")
    try:
        vehicles, max_route, capacity, max_ride = (
            int(lines[0][0]),
            float(lines[0][2]),
            int(lines[0][3]),
            float(lines[0][4]),
        )
        nodes = [_node(fields) for fields in lines[1:]]
    except (ValueError, IndexError) as exc:
        raise DispatchError("instance", f"unreadable: {exc}") from None
    depot, rest = nodes[0], nodes[1:]
    # A copy of the depot closes the list when the remaining count is odd.
    end, rest = (rest[-1], rest[:-1]) if len(rest) % 2 else (depot, rest)
    if [n.node_id for n in rest] != list(range(1, len(rest) + 1)):
        raise DispatchError("instance", "request nodes are not numbered 1..2r in order")
    return Instance(vehicles, max_route, capacity, max_ride, depot, end, tuple(rest))


def _node(fields: list[str]) -> Node:
    node_id, x, y, service, load, earliest, latest = fields[:7]
    return Node(
        int(node_id),
        float(x),
        float(y),
        float(service),
        int(float(load)),
        float(earliest),
        float(latest),
    )


def to_problem(instance: Instance) -> Problem:
    """The instance as the pods' planner sees it, in scaled whole units."""
    r = instance.requests
    places = {n.node_id: _place(n) for n in (instance.depot, *instance.nodes)}
    known = list(dict.fromkeys([*places.values(), _place(instance.end)]))
    distances = np.array(
        [[math.dist((a.lng, a.lat), (b.lng, b.lat)) for b in known] for a in known]
    )
    requests = {}
    for pickup, dropoff in zip(instance.nodes[:r], instance.nodes[r:], strict=True):
        request_id = str(pickup.node_id)
        requests[request_id] = Request(
            request_id=request_id,
            pickup=places[pickup.node_id],
            dropoff=places[dropoff.node_id],
            load=Load(seats=pickup.load),
            pickup_window=_window(pickup),
            dropoff_window=_window(dropoff),
            max_ride_s=math.floor(instance.max_ride * SCALE),
            pickup_service_s=math.ceil(pickup.service * SCALE),
            dropoff_service_s=math.ceil(dropoff.service * SCALE),
        )
    depot = instance.depot
    route_end = min(instance.end.latest, depot.earliest + instance.max_route)
    pods = tuple(
        Pod(
            pod_id=str(k),
            place=places[depot.node_id],
            free_at_s=math.ceil(depot.earliest * SCALE),
            capacity=Load(seats=instance.capacity),
            route_end_s=math.floor(route_end * SCALE),
            range_m=UNLIMITED_M,
            depot=_place(instance.end),
        )
        for k in range(instance.vehicles)
    )
    return Problem(
        pods=pods,
        requests=requests,
        orders={},
        travel=Matrix(tuple(known), np.ceil(distances * SCALE).astype(np.int64)),
        metres_per_second=1.0,
    )


def _place(node: Node) -> Place:
    # The plane's coordinates stand in for a place; only the matrix gives the travel.
    return Place(lat=node.y, lng=node.x)


def _window(node: Node) -> Window:
    return Window(math.ceil(node.earliest * SCALE), math.floor(node.latest * SCALE))


def solve(instance: Instance | str, *, seconds: float) -> dict[str, Any]:
    """Routes of an instance (or of its file's text) found in about `seconds`, costed and
    verified in floating point."""
    began = time.perf_counter()
    parsed = parse(instance) if isinstance(instance, str) else instance
    problem = to_problem(parsed)
    limit = max(0.1, seconds - (time.perf_counter() - began) - MARGIN_S)
    schedules = [s for s in reoptimise(problem, time_limit_s=limit).values() if s.stops]
    routes = [[0, *(_node_id(parsed, s.request_id, s.kind) for s in x.stops), 0] for x in schedules]
    return {
        "cost": round(sum(_route_cost(parsed, route) for route in routes), 2),
        "feasible": _verified(parsed, schedules),
        "routes": routes,
        "seconds": round(time.perf_counter() - began, 2),
    }


def _node_id(instance: Instance, request_id: str, kind: StopKind) -> int:
    pickup = int(request_id)
    return pickup if kind is StopKind.PICKUP else pickup + instance.requests


def _by_id(instance: Instance, node_id: int) -> Node:
    return instance.nodes[node_id - 1] if node_id else instance.depot


def _distance(a: Node, b: Node) -> float:
    return math.dist((a.x, a.y), (b.x, b.y))


def _route_cost(instance: Instance, route: list[int]) -> float:
    nodes = [_by_id(instance, n) for n in route[:-1]] + [instance.end]
    return sum(_distance(a, b) for a, b in pairwise(nodes))


def _verified(instance: Instance, schedules: list[Schedule]) -> bool:
    """True when the routes, at their scheduled service starts, keep every rule of the
    instance in floating point, and serve every request once."""
    served = sorted(_node_id(instance, s.request_id, s.kind) for x in schedules for s in x.stops)
    if served != list(range(1, 2 * instance.requests + 1)) or len(schedules) > instance.vehicles:
        return False
    return all(_route_kept(instance, schedule.stops) for schedule in schedules)


def _route_kept(instance: Instance, stops: Sequence[ScheduledStop]) -> bool:
    nodes = [_by_id(instance, _node_id(instance, s.request_id, s.kind)) for s in stops]
    starts = [s.start_s / SCALE for s in stops]
    depot, end = instance.depot, instance.end
    # The vehicle leaves as late as its first start allows: the shortest duration.
    leave = min(starts[0] - _distance(depot, nodes[0]), depot.latest)
    back = starts[-1] + nodes[-1].service + _distance(nodes[-1], end)
    if leave < depot.earliest - TOLERANCE or back > end.latest + TOLERANCE:
        return False
    if back - leave > instance.max_route + TOLERANCE:
        return False
    load, pickup_ends = 0, {}
    for k, (node, start) in enumerate(zip(nodes, starts, strict=True)):
        if not node.earliest - TOLERANCE <= start <= node.latest + TOLERANCE:
            return False
        if k and start < starts[k - 1] + nodes[k - 1].service + _distance(nodes[k - 1], node) - (
            TOLERANCE
        ):
            return False
        load += node.load
        if load > instance.capacity:
            return False
        if node.node_id <= instance.requests:
            pickup_ends[node.node_id] = start + node.service
            continue
        pickup_end = pickup_ends.get(node.node_id - instance.requests)
        if pickup_end is None or start - pickup_end > instance.max_ride + TOLERANCE:
            return False
    return True
