"""Van routes that rebalance a fleet: OR-Tools routing, exact on tiny instances (pure).

The model. Every site becomes one or more *chunks*: nodes at the site's place, zero travel
apart. A chunk moves `moved` usable vehicles (+ picked up, - dropped off) and collects
`low` low-battery ones. Under `must_balance` a site is one chunk, visited once. Otherwise
a surplus or deficit larger than the largest van is split into chunks no larger than it,
and each low-battery vehicle is a chunk of its own, so part of a site can be served. Each
van starts at its start node and ends at its depot node; a van with nothing to do stays
where it is, at no cost and in no time.

Low-battery vehicles. A van *visits* a chunk either swapping its low-battery vehicles on
board (one battery each, `swap_s` each; they become usable and may be dropped at a
deficit) or carrying them to its depot (they take room until the route ends and are never
dropped at a site). Only a van with a battery left for each can swap. In OR-Tools the two
are two versions of the chunk's node in one disjunction, so every transit is the same for
every van: `load` (everything on board), `usable` (load less the vehicles carried for the
depot; never below 0, so only usable vehicles are dropped) and `batteries` (swaps so far,
at most the van's batteries). A dimension that cannot bind is left out.

Time: travel, plus `stop_s` on arriving at a site from elsewhere, plus `handle_s` per
vehicle loaded or unloaded and `swap_s` per swap; arrival at the depot by `shift_end_s`.
Objective: travel seconds plus `unserved_penalty_s` per vehicle of imbalance (surplus,
deficit, low-battery vehicles) left where it is.

Solvers. Up to `EXACT_MAX_CHUNKS` chunks (and `EXACT_MAX_EXTENSIONS` partial routes), an
exact enumeration (every feasible visit order of every subset per van, then the best split
among the vans) guarantees the optimum.
Beyond, OR-Tools: guided local search until the time limit, from a path-cheapest-arc first
solution under `must_balance`, otherwise from the better of two greedy plans (OR-Tools'
own first solutions stall on a city's thousands of optional nodes).
"""

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
)

from fleet.rebalancing.model import (
    Plan,
    PlanningError,
    Problem,
    Route,
    Site,
    Stop,
    StopKind,
    Van,
)

EXACT_MAX_CHUNKS = 8
# Routes the exact enumeration may extend at most (about a second): with swaps to choose
# and vans that differ, eight chunks can be too many.
EXACT_MAX_EXTENSIONS = 300_000
NO_SITE = -1


@dataclass(frozen=True, slots=True)
class Chunk:
    """A part of a site's work that one van does in one go."""

    site: int  # index into problem.sites
    moved: int  # usable vehicles: > 0 picked up, < 0 dropped off
    low: int  # low-battery vehicles collected
    charged_ids: tuple[str, ...]  # the charged vehicles it picks up
    low_ids: tuple[str, ...]  # the low-battery vehicles it collects

    @property
    def units(self) -> int:
        """Vehicles of imbalance it resolves."""
        return abs(self.moved) + self.low


class Visit(NamedTuple):
    """A chunk served by a van, swapping its low-battery vehicles or carrying them."""

    chunk: int
    swap: bool


Sequences = list[list[Visit]]
# Per subset of chunks (a bit mask): the least travel of a route over it and its visits.
BestRoutes = list[tuple[int, tuple[Visit, ...]] | None]


@dataclass(frozen=True, slots=True, eq=False)
class Graph:
    """The nodes (chunks, then van starts, then van ends) and the travel between them."""

    problem: Problem
    chunks: tuple[Chunk, ...]
    travel: list[list[int]]  # node x node seconds; 0 between nodes at one place
    travel_array: npt.NDArray[np.int64]  # the same, for vectorised work
    site_of: tuple[int, ...]  # per node: its site, NO_SITE at starts and ends

    def start(self, van: int) -> int:
        """The start node of a van."""
        return len(self.chunks) + van

    def end(self, van: int) -> int:
        """The end (depot) node of a van."""
        return len(self.chunks) + len(self.problem.vans) + van

    def service_s(self, visit: Visit) -> int:
        """Seconds spent handling and swapping at a chunk (parking excluded)."""
        c = self.chunks[visit.chunk]
        swapped = c.low if visit.swap else 0
        return self.problem.handle_s * c.units + self.problem.swap_s * swapped


class Leg(NamedTuple):
    """A van's route so far: where it is and the running totals that bound it."""

    node: int
    depart_s: int
    travel_s: int
    load: int  # change of the load since the start
    max_load: int  # highest change of the load so far
    usable: int  # change of the usable vehicles on board since the start
    min_usable: int  # lowest change of the usable vehicles so far
    batteries: int  # batteries used


def plan(problem: Problem, *, exact_up_to: int = EXACT_MAX_CHUNKS) -> Plan:
    """The routes that serve the most imbalance for the least driving; exact up to
    `exact_up_to` chunks (0: always the OR-Tools search)."""
    graph = graph_of(problem)
    if len(graph.chunks) <= exact_up_to and _extensions(graph) <= EXACT_MAX_EXTENSIONS:
        sequences, solver = _exact(graph), "exact"
    else:
        sequences, solver = _search(graph), "ortools"
    if sequences is None:
        raise PlanningError(
            "sites", "no plan balances every site within the vans' capacities and shifts"
        )
    return build_plan(graph, sequences, solver)


# --- the graph ------------------------------------------------------------------------


def graph_of(problem: Problem) -> Graph:
    """Chunks, nodes and the node-to-node travel matrix of a problem."""
    largest = max(v.capacity for v in problem.vans)
    chunks = tuple(
        c for i, site in enumerate(problem.sites) for c in _chunks(problem, i, site, largest)
    )
    node_places = [problem.sites[c.site].place for c in chunks]
    node_places += [v.start for v in problem.vans] + [v.depot for v in problem.vans]
    places = list(dict.fromkeys(node_places))
    position = {p: i for i, p in enumerate(places)}
    between = np.array(problem.travel.seconds(places, places), dtype=np.int64)
    if between.shape != (len(places), len(places)) or (between < 0).any():
        raise PlanningError("travel", "travel times must be a non-negative square matrix")
    np.fill_diagonal(between, 0)
    nodes = [position[p] for p in node_places]
    travel = between[np.ix_(nodes, nodes)]
    no_site = (NO_SITE,) * (2 * len(problem.vans))
    return Graph(problem, chunks, travel.tolist(), travel, tuple(c.site for c in chunks) + no_site)


def _chunks(problem: Problem, index: int, site: Site, largest: int) -> list[Chunk]:
    charged = tuple(v.device_id for v in site.vehicles if not v.low_battery)
    low = tuple(v.device_id for v in site.vehicles if v.low_battery)
    picked = charged[: max(site.surplus, 0)]
    if problem.must_balance:
        if abs(site.surplus) > largest:
            raise PlanningError(
                f"sites[{index}].surplus", "larger than every van, and the site is visited once"
            )
        if not site.surplus and not low:
            return []
        return [Chunk(index, site.surplus, len(low), picked, low)]
    sign = 1 if site.surplus > 0 else -1
    moves = [
        # Deficits pick nothing: `picked` is empty there.
        Chunk(
            index, sign * min(largest, abs(site.surplus) - start), 0, picked[start:][:largest], ()
        )
        for start in range(0, abs(site.surplus), largest)
    ]
    return moves + [Chunk(index, 0, 1, (), (device,)) for device in low]


# --- routes as running totals, shared by every solver ---------------------------------


def start_leg(graph: Graph, van: int) -> Leg:
    """A van at its start, nothing done yet."""
    return Leg(graph.start(van), 0, 0, 0, 0, 0, 0, 0)


def visits_of(graph: Graph, van: int, chunk: int) -> list[Visit]:
    """The ways a van may serve a chunk: swapping first, where it can."""
    can_swap = graph.chunks[chunk].low and graph.problem.vans[van].batteries > 0
    return [Visit(chunk, True), Visit(chunk, False)] if can_swap else [Visit(chunk, False)]


def extend(graph: Graph, van: int, leg: Leg, visit: Visit) -> Leg | None:
    """The route `leg` continued by `visit`, or None if the van cannot do that."""
    problem, c, v = graph.problem, graph.chunks[visit.chunk], graph.problem.vans[van]
    swapped = c.low if visit.swap else 0
    batteries = leg.batteries + swapped
    if batteries > v.batteries:
        return None
    travel = graph.travel[leg.node][visit.chunk]
    parking = problem.stop_s if graph.site_of[leg.node] != c.site else 0
    depart = leg.depart_s + travel + parking + graph.service_s(visit)
    if depart > v.shift_end_s:
        return None
    load = leg.load + c.moved + c.low
    usable = leg.usable + c.moved + swapped
    nxt = Leg(
        visit.chunk,
        depart,
        leg.travel_s + travel,
        load,
        max(leg.max_load, load),
        usable,
        min(leg.min_usable, usable),
        batteries,
    )
    return nxt if start_load(graph, van, nxt) is not None else None


def start_load(graph: Graph, van: int, leg: Leg) -> int | None:
    """The least load the van can start with to drive `leg`, or None if there is none."""
    v = graph.problem.vans[van]
    # Usable vehicles never outnumber those on board, so they bound the load from below.
    lowest = max(0, -leg.min_usable)
    highest = v.capacity - leg.max_load
    if not graph.problem.free_start_load:
        lowest = highest = v.start_load if lowest <= v.start_load <= highest else -1
    return lowest if 0 <= lowest <= highest else None


def finish(graph: Graph, van: int, leg: Leg) -> int | None:
    """The arrival at the depot after `leg`, or None if it is after the shift."""
    arrive = leg.depart_s + graph.travel[leg.node][graph.end(van)]
    return arrive if arrive <= graph.problem.vans[van].shift_end_s else None


def legs_of(graph: Graph, van: int, sequence: Sequence[Visit]) -> list[Leg]:
    """The legs of a van's visits; a sequence a solver returned is feasible."""
    legs = [start_leg(graph, van)]
    for visit in sequence:
        nxt = extend(graph, van, legs[-1], visit)
        if nxt is None:
            raise RuntimeError(f"the solver's route of van {van} breaks a constraint")
        legs.append(nxt)
    if sequence and finish(graph, van, legs[-1]) is None:
        raise RuntimeError(f"the solver's route of van {van} ends after the shift")
    return legs


# --- from visits to a plan ------------------------------------------------------------


def build_plan(graph: Graph, sequences: Sequences, solver: str) -> Plan:
    """The concrete plan of each van's visits."""
    problem = graph.problem
    routes, travel = [], 0
    for van, sequence in enumerate(sequences):
        route, driven = _route(graph, van, sequence)
        routes.append(route)
        travel += driven
    served = {visit.chunk for sequence in sequences for visit in sequence}
    unserved = sum(c.units for i, c in enumerate(graph.chunks) if i not in served)
    return Plan(
        routes=tuple(routes),
        travel_s=travel,
        unserved=unserved,
        objective=travel + problem.unserved_penalty_s * unserved,
        solver=solver,
    )


class _OnBoard:
    """What a van carries: anonymous start load, usable vehicles, vehicles for the depot."""

    def __init__(self, stock: int) -> None:
        self.stock = stock
        self.usable: deque[str] = deque()
        self.for_depot: list[str] = []

    @property
    def load(self) -> int:
        return self.stock + len(self.usable) + len(self.for_depot)

    def take(self, chunk: Chunk, swap: bool) -> None:
        """Load a chunk's vehicles; swapped ones become usable."""
        self.usable.extend(chunk.charged_ids)
        (self.usable if swap else self.for_depot).extend(chunk.low_ids)

    def drop(self, count: int) -> tuple[list[str], int]:
        """Unload `count` usable vehicles, those loaded first first: ids, and how many of
        them came from the start load."""
        from_stock = min(self.stock, count)
        self.stock -= from_stock
        return [self.usable.popleft() for _ in range(count - from_stock)], from_stock


def _route(graph: Graph, van: int, sequence: list[Visit]) -> tuple[Route, int]:
    v = graph.problem.vans[van]
    if not sequence:
        return Route(v.van_id, ()), 0
    legs = legs_of(graph, van, sequence)
    load, arrive = start_load(graph, van, legs[-1]), finish(graph, van, legs[-1])
    # legs_of checked both.
    assert load is not None
    assert arrive is not None
    board = _OnBoard(load)
    stops = [Stop(None, "start", v.start, 0, 0, load_after=load)]
    for visits, depart in _by_site(graph, sequence, legs):
        stops.append(_site_stop(graph, visits, depart, board))
    unloaded = (*board.usable, *board.for_depot)
    stops.append(Stop(None, "depot", v.depot, arrive, arrive, (), unloaded, board.stock))
    driven = legs[-1].travel_s + graph.travel[legs[-1].node][graph.end(van)]
    return Route(v.van_id, tuple(stops)), driven


def _by_site(graph: Graph, sequence: list[Visit], legs: list[Leg]) -> list[tuple[list[Visit], int]]:
    """Runs of visits to one site, each with the departure after its last: one stop each."""
    runs: list[tuple[list[Visit], int]] = []
    for visit, leg in zip(sequence, legs[1:], strict=True):
        if runs and graph.chunks[runs[-1][0][-1].chunk].site == graph.chunks[visit.chunk].site:
            runs[-1] = ([*runs[-1][0], visit], leg.depart_s)
        else:
            runs.append(([visit], leg.depart_s))
    return runs


def _site_stop(graph: Graph, visits: list[Visit], depart: int, board: _OnBoard) -> Stop:
    """The stop of a run of visits: vehicles are loaded (and swapped), then dropped."""
    problem = graph.problem
    site = problem.sites[graph.chunks[visits[0].chunk].site]
    picked: list[str] = []
    dropped: list[str] = []
    swapped: list[str] = []
    to_depot: list[str] = []
    from_stock = 0
    for visit in visits:
        c = graph.chunks[visit.chunk]
        picked += [*c.charged_ids, *c.low_ids]
        (swapped if visit.swap else to_depot).extend(c.low_ids)
        board.take(c, visit.swap)
        if c.moved < 0:
            ids, stock = board.drop(-c.moved)
            dropped += ids
            from_stock += stock
    return Stop(
        site_id=site.site_id,
        kind=_kind(site),
        place=site.place,
        arrive_s=depart - problem.stop_s - sum(graph.service_s(v) for v in visits),
        depart_s=depart,
        picked=tuple(picked),
        dropped=tuple(dropped),
        dropped_stock=from_stock,
        swapped=tuple(swapped),
        to_depot=tuple(to_depot),
        load_after=board.load,
    )


def _kind(site: Site) -> StopKind:
    return "dropoff" if site.surplus < 0 else "pickup"


# --- exact enumeration ----------------------------------------------------------------


def _exact(graph: Graph) -> Sequences | None:
    """The optimum by enumeration: best route per van and subset, then the best split."""
    problem, n = graph.problem, len(graph.chunks)
    units = [sum(c.units for i, c in enumerate(graph.chunks) if m >> i & 1) for m in range(1 << n)]
    # The cost of leaving a subset unserved; under must_balance only the empty one may be.
    cost: list[int | None] = [
        (None if mask else 0) if problem.must_balance else problem.unserved_penalty_s * u
        for mask, u in enumerate(units)
    ]
    chosen: list[list[int]] = []
    by_van: dict[tuple[object, ...], BestRoutes] = {}
    for van, v in enumerate(problem.vans):
        # Identical vans have identical best routes: enumerate them once.
        if _van_key(v) not in by_van:
            by_van[_van_key(v)] = _best_routes(graph, van)
        cost, picks = _split(cost, by_van[_van_key(v)])
        chosen.append(picks)
    if cost[-1] is None:
        return None
    return _unsplit(graph, chosen, by_van)


def _extensions(graph: Graph) -> int:
    """How many routes the exact enumeration extends at most."""
    n = len(graph.chunks)
    orders = sum(math.perm(n, k) for k in range(1, n + 1))
    choices = 2 ** sum(1 for c in graph.chunks if c.low)
    distinct = {_van_key(v): v for v in graph.problem.vans}.values()
    return sum(orders * (choices if v.batteries > 0 else 1) for v in distinct)


def _van_key(van: Van) -> tuple[object, ...]:
    """What a van's best routes depend on."""
    return (van.start, van.depot, van.capacity, van.shift_end_s, van.batteries, van.start_load)


def _best_routes(graph: Graph, van: int) -> BestRoutes:
    """Per subset of chunks: the least travel of a feasible route over it, and its visits."""
    n = len(graph.chunks)
    best: BestRoutes = [None] * (1 << n)
    best[0] = (0, ())
    stack: list[tuple[Leg, int, tuple[Visit, ...]]] = [(start_leg(graph, van), 0, ())]
    while stack:
        leg, mask, path = stack.pop()
        for chunk in range(n):
            if mask >> chunk & 1:
                continue
            for visit in visits_of(graph, van, chunk):
                nxt = extend(graph, van, leg, visit)
                if nxt is None:
                    continue
                visited, longer = mask | 1 << chunk, (*path, visit)
                if finish(graph, van, nxt) is not None:
                    travel = nxt.travel_s + graph.travel[chunk][graph.end(van)]
                    known = best[visited]
                    if known is None or travel < known[0]:
                        best[visited] = (travel, longer)
                stack.append((nxt, visited, longer))
    return best


def _split(before: list[int | None], routes: BestRoutes) -> tuple[list[int | None], list[int]]:
    """Best cost per subset with one more van, and the subset that van takes."""
    after: list[int | None] = list(before)
    picks = [0] * len(before)
    for mask in range(len(before)):
        sub = mask
        while sub:
            route, rest = routes[sub], before[mask ^ sub]
            if route is not None and rest is not None:
                total = rest + route[0]
                current = after[mask]
                if current is None or total < current:
                    after[mask], picks[mask] = total, sub
            sub = (sub - 1) & mask
    return after, picks


def _unsplit(
    graph: Graph, chosen: list[list[int]], by_van: dict[tuple[object, ...], BestRoutes]
) -> Sequences:
    """Each van's visits, read back from the subsets the split chose."""
    vans = graph.problem.vans
    sequences: Sequences = [[] for _ in vans]
    mask = (1 << len(graph.chunks)) - 1
    for van in reversed(range(len(vans))):
        sub = chosen[van][mask]
        route = by_van[_van_key(vans[van])][sub]
        assert route is not None  # _split picks only feasible routes
        sequences[van] = list(route[1])
        mask ^= sub
    return sequences


# --- OR-Tools routing -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Versions:
    """The routing model's nodes: one per way to visit a chunk, then the starts and ends.

    A chunk with low-battery vehicles has a carrying version, open to every van, and, if
    some van has the batteries, a swapping one barred to the others, in one disjunction.
    So no transit depends on the van: OR-Tools 9.15 restores no partial solution of a
    dimension whose per-van transits are unary vectors.
    """

    graph_node: list[int]  # per routing node: the chunk, start or end it stands for
    moved: list[int]  # per routing node: usable vehicles picked up (> 0) or dropped (< 0)
    swapped: list[int]  # per routing node: low-battery vehicles collected and swapped
    carried: list[int]  # per routing node: low-battery vehicles collected for the depot
    barred: list[list[int]]  # per routing node: the vans that may not serve it
    of_chunk: list[list[int]]  # per chunk: its routing nodes

    def node_of(self, visit: Visit) -> int:
        """The routing node of a visit."""
        return next(n for n in self.of_chunk[visit.chunk] if (self.swapped[n] > 0) == visit.swap)

    def visit_at(self, node: int) -> Visit:
        """The visit a routing node stands for."""
        return Visit(self.graph_node[node], self.swapped[node] > 0)


def _versions(graph: Graph) -> _Versions:
    vans = graph.problem.vans
    versions = _Versions([], [], [], [], [], [])
    for i, c in enumerate(graph.chunks):
        short = [k for k, v in enumerate(vans) if v.batteries < c.low]
        swaps = [False, True] if c.low and len(short) < len(vans) else [False]
        versions.of_chunk.append([])
        for swap in swaps:
            versions.of_chunk[i].append(len(versions.graph_node))
            versions.graph_node.append(i)
            versions.moved.append(c.moved)
            versions.swapped.append(c.low if swap else 0)
            versions.carried.append(0 if swap else c.low)
            versions.barred.append(short if swap else [])
    ends = range(len(graph.chunks), len(graph.travel))
    versions.graph_node.extend(ends)
    for vector in (versions.moved, versions.swapped, versions.carried):
        vector.extend(0 for _ in ends)
    versions.barred.extend([] for _ in ends)
    return versions


def _search(graph: Graph) -> Sequences | None:
    """OR-Tools' routes, or None if it found none within the time limit."""
    problem = graph.problem
    vans = len(problem.vans)
    versions = _versions(graph)
    first_start = len(versions.graph_node) - 2 * vans
    manager = pywrapcp.RoutingIndexManager(
        len(versions.graph_node),
        vans,
        [first_start + v for v in range(vans)],
        [first_start + vans + v for v in range(vans)],
    )
    routing = pywrapcp.RoutingModel(manager)
    origin = np.array(versions.graph_node)
    travel = graph.travel_array[np.ix_(origin, origin)]
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(travel.tolist()))
    _add_loads(graph, versions, routing)
    _add_time(graph, versions, travel, routing)
    for chunk, c in enumerate(graph.chunks):
        nodes = [manager.NodeToIndex(n) for n in versions.of_chunk[chunk]]
        if not problem.must_balance:
            routing.AddDisjunction(nodes, problem.unserved_penalty_s * c.units)
        elif len(nodes) > 1:
            routing.AddDisjunction(nodes)
    for node, others in enumerate(versions.barred):
        if others:
            # SetAllowedVehiclesForIndex's binding takes no list in 9.15: restrict the var.
            routing.VehicleVar(manager.NodeToIndex(node)).RemoveValues(others)
    parameters = _parameters(problem.time_limit_s)
    if problem.must_balance:
        solution = routing.SolveWithParameters(parameters)
    else:
        solution = _improve(routing, manager, versions, _warm_start(graph), parameters)
    if solution is None:
        return None
    return [
        [versions.visit_at(n) for n in _route_nodes(routing, manager, solution, v)]
        for v in range(vans)
    ]


def _add_loads(graph: Graph, versions: _Versions, routing: pywrapcp.RoutingModel) -> None:
    vans = graph.problem.vans
    capacities = [v.capacity for v in vans]
    usable = [m + s for m, s in zip(versions.moved, versions.swapped, strict=True)]
    on_board = [u + c for u, c in zip(usable, versions.carried, strict=True)]
    load = _dimension(routing, on_board, capacities, "load")
    starts = [routing.Start(van) for van in range(len(vans))]
    if any(versions.carried):
        on_hand = _dimension(routing, usable, capacities, "usable")
        for start in starts:
            routing.solver().Add(on_hand.CumulVar(start) == load.CumulVar(start))
    if any(versions.swapped):
        used = _dimension(routing, versions.swapped, [v.batteries for v in vans], "batteries")
        for start in starts:
            used.CumulVar(start).SetValue(0)
    if not graph.problem.free_start_load:
        for start, v in zip(starts, vans, strict=True):
            load.CumulVar(start).SetValue(v.start_load)


def _dimension(
    routing: pywrapcp.RoutingModel, transits: list[int], capacities: list[int], name: str
) -> pywrapcp.RoutingDimension:
    """A dimension whose transit is the value of the node left, the same for every van."""
    index = routing.RegisterUnaryTransitVector(transits)
    routing.AddDimensionWithVehicleCapacity(index, 0, capacities, False, name)
    return routing.GetDimensionOrDie(name)


def _add_time(
    graph: Graph,
    versions: _Versions,
    travel: npt.NDArray[np.int64],
    routing: pywrapcp.RoutingModel,
) -> None:
    problem, vans = graph.problem, graph.problem.vans
    swapped, carried = np.array(versions.swapped), np.array(versions.carried)
    handled = np.abs(versions.moved) + swapped + carried
    service = problem.handle_s * handled + problem.swap_s * swapped
    site = np.array(graph.site_of)[versions.graph_node]
    parks = (site[None, :] != NO_SITE) & (site[None, :] != site[:, None])
    seconds = travel + service[:, None] + problem.stop_s * parks
    # A van with nothing to do stays where it is: its empty route takes no time.
    starts = len(versions.graph_node) - 2 * len(vans) + np.arange(len(vans))
    seconds[starts, starts + len(vans)] = 0
    # A shift no route can outlast needs no dimension; leaving it out speeds the search.
    if int(seconds.max()) * (len(graph.chunks) + 1) <= min(v.shift_end_s for v in vans):
        return
    transit = routing.RegisterTransitMatrix(seconds.tolist())
    routing.AddDimensionWithVehicleCapacity(transit, 0, [v.shift_end_s for v in vans], True, "time")


def _warm_start(graph: Graph) -> Sequences:
    """The better of the greedy plans."""
    # Imported here: the greedy baseline builds on this module.
    from fleet.rebalancing.greedy import greedy_sequences

    plans = [greedy_sequences(graph, per_unit=per_unit) for per_unit in (False, True)]
    return min(plans, key=lambda s: build_plan(graph, s, "greedy").objective)


def _improve(
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    versions: _Versions,
    start: Sequences,
    parameters: object,
) -> pywrapcp.Assignment:
    """The local search's best solution from a feasible start."""
    routing.CloseModelWithParameters(parameters)
    routes = [[manager.NodeToIndex(versions.node_of(v)) for v in visits] for visits in start]
    assignment = routing.ReadAssignmentFromRoutes(routes, True)
    if assignment is None:
        raise RuntimeError("OR-Tools rejects the greedy start: the two models disagree")
    return routing.SolveFromAssignmentWithParameters(assignment, parameters)


def _parameters(time_limit_s: float) -> object:
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    parameters.time_limit.FromMilliseconds(max(1, round(time_limit_s * 1000)))
    return parameters


def _route_nodes(
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    solution: pywrapcp.Assignment,
    van: int,
) -> list[int]:
    """The routing nodes a van visits, in order, between its start and its end."""
    nodes = []
    index = solution.Value(routing.NextVar(routing.Start(van)))
    while not routing.IsEnd(index):
        nodes.append(manager.IndexToNode(index))
        index = solution.Value(routing.NextVar(index))
    return nodes
