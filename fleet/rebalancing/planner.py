"""Van routes that rebalance a fleet: exact on tiny instances, else OR-Tools routing or a
ruin-and-recreate search (pure).

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
Beyond, under `must_balance`, OR-Tools: guided local search until the time limit from a
path-cheapest-arc first solution. Otherwise most sites are optional and the shifts bind,
where OR-Tools' moves barely help (nearly every one breaks a shift): a ruin-and-recreate
search instead, on the chunks with each deficit split into parts of 1, 2, 4, ... vehicles
(so a van drops what it holds, and a repair keeps the drops its pickups still feed). It
starts from the best of the greedy plans, the sweep tours (`fleet.rebalancing.sweeps`:
cycles of surplus sites swept until a deficit's load is on board) and of inserting, again
and again, the option (a chunk, swapped or carried) that gains the most per second of
shift it adds, rated for every position of every route at once. Then, until the time
limit (the starts' time included), it removes strings of visits near a random one from a
few routes, inserts the best rated options back until none fits, and keeps the result by
simulated annealing, among the chunks that can matter (those the starts visit, then the
best rated alone).
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
)

from fleet.rebalancing.greedy import greedy_sequences
from fleet.rebalancing.model import Plan, PlanningError, Problem, Van
from fleet.rebalancing.routes import (
    NO_SITE,
    Graph,
    Leg,
    Sequences,
    Visit,
    build_plan,
    extend,
    finish,
    graph_of,
    legs_of,
    repaired,
    split_deficits,
    start_leg,
    visits_of,
)
from fleet.rebalancing.sweeps import sweep_sequences

EXACT_MAX_CHUNKS = 8
# Routes the exact enumeration may extend at most (about a second): with swaps to choose
# and vans that differ, eight chunks can be too many.
EXACT_MAX_EXTENSIONS = 300_000
# Per subset of chunks (a bit mask): the least travel of a route over it and its visits.
BestRoutes = list[tuple[int, tuple[Visit, ...]] | None]
# Ruin and recreate: routes ruined at most, visits removed from each at most, the jitter of
# the insertion rates, the starting temperature in vehicles of imbalance, and how many times
# the units the starts serve the candidates hold. Measured at city scale: the result is
# flat around these values; fewer candidates mean faster iterations.
RUIN_ROUTES = 3
RUIN_LENGTH = 10
NOISE = 0.1
TEMPERATURE = 1.0
CANDIDATES = 2.0


def plan(problem: Problem, *, exact_up_to: int = EXACT_MAX_CHUNKS) -> Plan:
    """The routes that serve the most imbalance for the least driving; exact up to
    `exact_up_to` chunks (0: always a search)."""
    graph = graph_of(problem)
    if len(graph.chunks) <= exact_up_to and _extensions(graph) <= EXACT_MAX_EXTENSIONS:
        sequences, solver = _exact(graph), "exact"
    elif problem.must_balance:
        sequences, solver = _search(graph), "ortools"
    else:
        deadline = time.monotonic() + problem.time_limit_s
        # With deficits split, a van drops what it holds and a repair keeps what is fed.
        whole, (graph, parts) = graph, split_deficits(graph)
        sequences = _ruin_and_recreate(graph, _warm_start(whole, graph, parts), deadline)
        solver = "search"
    if sequences is None:
        raise PlanningError(
            "sites", "no plan balances every site within the vans' capacities and shifts"
        )
    return build_plan(graph, sequences, solver)


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
    """OR-Tools' routes that balance every site, or None if it found none in time."""
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
    for chunk in range(len(graph.chunks)):
        nodes = [manager.NodeToIndex(n) for n in versions.of_chunk[chunk]]
        if len(nodes) > 1:
            routing.AddDisjunction(nodes)
    for node, others in enumerate(versions.barred):
        if others:
            # SetAllowedVehiclesForIndex's binding takes no list in 9.15: restrict the var.
            routing.VehicleVar(manager.NodeToIndex(node)).RemoveValues(others)
    solution = routing.SolveWithParameters(_parameters(problem.time_limit_s))
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


# --- ruin and recreate: optional sites ------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Options:
    """Every way to visit a chunk (swapping its low-battery vehicles or carrying them), as
    arrays over the options, for insertions worked out for all of them at once."""

    visits: tuple[Visit, ...]
    chunk: npt.NDArray[np.int64]
    site: npt.NDArray[np.int64]
    load: npt.NDArray[np.int64]  # change of the load
    usable: npt.NDArray[np.int64]  # change of the usable vehicles on board
    batteries: npt.NDArray[np.int64]  # batteries used
    service: npt.NDArray[np.int64]  # seconds of handling and swapping
    value: npt.NDArray[np.int64]  # the objective's gain of serving it: the unserved penalty
    node_site: npt.NDArray[np.int64]  # per graph node: its site, NO_SITE at starts and ends
    # Per graph node and option: the travel to the option and from it, rows contiguous.
    to_option: npt.NDArray[np.int64]
    from_option: npt.NDArray[np.int64]


def _options(graph: Graph, chunks: Sequence[int]) -> _Options:
    visits = tuple(
        Visit(i, swap) for i in chunks for swap in (False, True)[: 1 + (graph.chunks[i].low > 0)]
    )
    of = [graph.chunks[v.chunk] for v in visits]
    swapped = np.array([c.low if v.swap else 0 for v, c in zip(visits, of, strict=True)])
    moved = np.array([c.moved for c in of], dtype=np.int64)
    units = np.array([c.units for c in of], dtype=np.int64)
    chunk = np.array([v.chunk for v in visits], dtype=np.int64)
    return _Options(
        visits=visits,
        chunk=chunk,
        site=np.array([c.site for c in of], dtype=np.int64),
        load=moved + np.array([c.low for c in of], dtype=np.int64),
        usable=moved + swapped,
        batteries=swapped,
        service=np.array([graph.service_s(v) for v in visits], dtype=np.int64),
        value=graph.problem.unserved_penalty_s * units,
        node_site=np.array(graph.site_of, dtype=np.int64),
        to_option=np.ascontiguousarray(graph.travel_array[:, chunk]),
        from_option=np.ascontiguousarray(graph.travel_array[chunk, :].T),
    )


@dataclass(frozen=True, slots=True, eq=False)
class _Route:
    """A van's feasible visits, what they cost and gain, and its best insertion of each option."""

    visits: tuple[Visit, ...]
    travel_s: int
    value: int  # the unserved penalty its visits save
    rate: npt.NDArray[np.float64]  # per option: best gain per second added; -inf if none fits
    position: npt.NDArray[np.int64]  # per option: where that insertion goes


def _route_of(graph: Graph, options: _Options, van: int, visits: tuple[Visit, ...]) -> _Route:
    """A route and its insertions: each option at each position at once (positions x options)."""
    problem, v = graph.problem, graph.problem.vans[van]
    legs = legs_of(graph, van, visits)
    nodes = np.array([graph.start(van), *(x.chunk for x in visits), graph.end(van)])
    before, after = nodes[:-1], nodes[1:]
    travel, site = graph.travel_array, options.node_site
    # An empty route is no route: the van stays, so it drives and spends nothing yet.
    base = travel[before, after] if visits else np.zeros(1, dtype=np.int64)
    duration = finish(graph, van, legs[-1]) if visits else 0
    assert duration is not None  # legs_of checked the shift
    driven = options.to_option[before] + options.from_option[after] - base[:, None]
    parks_in = site[before][:, None] != options.site[None, :]
    parks_out = (site[after][:, None] != options.site[None, :]) & (site[after][:, None] != NO_SITE)
    parked = (site[before] != site[after]) & (site[after] != NO_SITE)
    seconds = (
        driven
        + options.service[None, :]
        + problem.stop_s * (parks_in.astype(np.int64) + parks_out - parked[:, None])
    )
    fits = (duration + seconds <= v.shift_end_s) & (
        legs[-1].batteries + options.batteries <= v.batteries
    )[None, :]
    fits &= _loads_fit(graph, van, legs, options)
    gain = options.value[None, :] - driven
    rate = np.where(fits & (gain > 0), gain / np.maximum(seconds, 1), -np.inf)
    position = rate.argmax(axis=0)
    return _Route(
        visits,
        legs[-1].travel_s + int(travel[nodes[-2], nodes[-1]]) if visits else 0,
        problem.unserved_penalty_s * sum(graph.chunks[x.chunk].units for x in visits),
        rate[position, np.arange(len(position))],
        position,
    )


def _loads_fit(graph: Graph, van: int, legs: list[Leg], options: _Options) -> npt.NDArray[np.bool_]:
    """Per position and option: some start load keeps the van within its capacity and its
    usable vehicles at or above none, with the option inserted there."""
    v = graph.problem.vans[van]
    load = np.array([leg.load for leg in legs])
    usable = np.array([leg.usable for leg in legs])
    # Before the insertion the totals are as they were; from it on, shifted by the option's.
    highest = np.maximum(
        np.maximum.accumulate(load)[:, None],
        np.maximum.accumulate(load[::-1])[::-1][:, None] + options.load[None, :],
    )
    lowest = np.minimum(
        np.minimum.accumulate(usable)[:, None],
        np.minimum.accumulate(usable[::-1])[::-1][:, None] + options.usable[None, :],
    )
    least, most = np.maximum(0, -lowest), v.capacity - highest
    if graph.problem.free_start_load:
        return least <= most
    return (least <= v.start_load) & (v.start_load <= most)


class _Search:
    """Ruin and recreate: remove strings of visits near a random one, insert back the best
    rated options (gain per second) until none fits, keep the result by simulated annealing."""

    def __init__(self, graph: Graph, chunks: Sequence[int]) -> None:
        self.graph = graph
        self.options = _options(graph, chunks)
        # Seeded: a problem searched for as many iterations gets the same plan.
        self.rng = np.random.default_rng(0)
        self.total = graph.problem.unserved_penalty_s * sum(c.units for c in graph.chunks)

    def objective(self, routes: list[_Route]) -> int:
        """Driving plus the penalty of what is left."""
        return self.total + sum(r.travel_s - r.value for r in routes)

    def route(self, van: int, visits: Sequence[Visit]) -> _Route:
        """The route of these visits."""
        return _route_of(self.graph, self.options, van, tuple(visits))

    def recreate(self, routes: list[_Route], noise: float) -> list[_Route]:
        """Insert the best rated option (rates jittered by `noise`) until none fits."""
        routes = list(routes)
        open_chunks = np.ones(len(self.graph.chunks), dtype=bool)
        for r in routes:
            open_chunks[[x.chunk for x in r.visits]] = False
        while self.options.visits:
            rates = np.stack([r.rate for r in routes])
            rates[:, ~open_chunks[self.options.chunk]] = -np.inf
            if noise:
                rates *= self.rng.uniform(1 - noise, 1 + noise, rates.shape)
            van, option = np.unravel_index(int(rates.argmax()), rates.shape)
            if rates[van, option] == -np.inf:
                break
            visits = list(routes[van].visits)
            visits.insert(int(routes[van].position[option]), self.options.visits[option])
            routes[van] = self.route(int(van), visits)
            open_chunks[self.options.chunk[option]] = False
        return routes

    def ruin(self, routes: list[_Route]) -> list[_Route]:
        """Remove a string of visits from each of a few routes nearest a random served chunk."""
        where = {x.chunk: (van, i) for van, r in enumerate(routes) for i, x in enumerate(r.visits)}
        if not where:
            return routes
        seed = list(where)[int(self.rng.integers(len(where)))]
        nearest = np.argsort(self.graph.travel_array[seed, : len(self.graph.chunks)], kind="stable")
        ruined, done = list(routes), set[int]()
        wanted = int(self.rng.integers(1, RUIN_ROUTES + 1))
        for chunk in nearest.tolist():
            if chunk not in where or where[chunk][0] in done:
                continue
            van, i = where[chunk]
            done.add(van)
            length = int(self.rng.integers(1, RUIN_LENGTH + 1))
            first = max(0, i - int(self.rng.integers(length)))
            visits = routes[van].visits
            kept = repaired(self.graph, van, visits[:first] + visits[first + length :])
            ruined[van] = self.route(van, kept)
            if len(done) == wanted:
                break
        return ruined


def _ruin_and_recreate(graph: Graph, start: Sequences, deadline: float) -> Sequences:
    """The best routes found by `deadline` (monotonic) from the better of `start` and a
    best-rated insertion from empty routes, searched among the chunks that can matter."""
    began = time.monotonic()
    seconds = max(deadline - began, 1e-9)
    vans = range(len(graph.problem.vans))
    search = _Search(graph, range(len(graph.chunks)))
    built = search.recreate([search.route(van, ()) for van in vans], noise=0.0)
    search = _Search(graph, _candidates(graph, [*start, *(r.visits for r in built)]))
    starts = [
        [search.route(van, s) for van, s in enumerate(sequences)]
        for sequences in (start, [r.visits for r in built])
    ]
    current = best = min(starts, key=search.objective)
    while (now := time.monotonic()) < began + seconds:
        temperature = TEMPERATURE * graph.problem.unserved_penalty_s * (1 - (now - began) / seconds)
        candidate = search.recreate(search.ruin(current), NOISE)
        worse = search.objective(candidate) - search.objective(current)
        if worse <= 0 or search.rng.random() < math.exp(-worse / max(temperature, 1e-9)):
            current = candidate
            if search.objective(current) < search.objective(best):
                best = current
    return [list(r.visits) for r in best]


def _warm_start(whole: Graph, graph: Graph, parts: list[list[int]]) -> Sequences:
    """The best of the sweep tours and the greedy plans, these made on `whole`, the graph
    before its deficits were split (`parts`: per chunk of it, its parts in `graph`)."""
    plans = [
        [[Visit(p, v.swap) for v in s for p in parts[v.chunk]] for s in sequences]
        for sequences in (greedy_sequences(whole, per_unit=per_unit) for per_unit in (False, True))
    ]
    plans.append(sweep_sequences(graph))
    return min(plans, key=lambda s: build_plan(graph, s, "greedy").objective)


def _candidates(graph: Graph, routes: Sequence[Sequence[Visit]]) -> list[int]:
    """The chunks the routes visit, then the best rated alone (units per second of parking,
    handling and the round trip to the nearest other site) until the candidates hold
    `CANDIDATES` times the units the routes serve: the search's time goes where it can pay."""
    chunks = graph.chunks
    visited = {x.chunk for r in routes for x in r}
    served = sum(chunks[i].units for i in visited)
    site = np.array(graph.site_of[: len(chunks)])
    apart = np.where(
        site[:, None] == site[None, :], np.inf, graph.travel_array[: len(chunks), : len(chunks)]
    )
    nearest = apart.min(axis=1, initial=np.inf)
    nearest[np.isinf(nearest)] = 0  # the only site: no other to drive from
    units = np.array([c.units for c in chunks])
    handled = np.array([graph.service_s(Visit(i, False)) for i in range(len(chunks))])
    rate = units / np.maximum(graph.problem.stop_s + handled + 2 * nearest, 1)
    kept, total = set(visited), served
    for i in np.argsort(-rate, kind="stable").tolist():
        if total >= CANDIDATES * served:
            break
        if i not in kept:
            kept.add(i)
            total += int(units[i])
    return sorted(kept)
