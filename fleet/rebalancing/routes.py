"""Routes as the planners see them: chunks, the travel between them, and running totals.

Every planner (the exact enumeration, the searches, the greedy baseline) builds its routes
from these pieces, so their plans are feasible by the same rules and scored by the same
objective. The model is described in `fleet.rebalancing.planner`.
"""

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from fleet.rebalancing.model import Plan, PlanningError, Problem, Route, Site, Stop, StopKind

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


# --- the graph ------------------------------------------------------------------------


def graph_of(problem: Problem) -> Graph:
    """Chunks, nodes and the node-to-node travel matrix of a problem."""
    largest = max(v.capacity for v in problem.vans)
    chunks = tuple(
        c for i, site in enumerate(problem.sites) for c in _chunks(problem, i, site, largest)
    )
    return _graph(problem, chunks)


def split_deficits(graph: Graph) -> tuple[Graph, list[list[int]]]:
    """The graph with each deficit chunk split into parts of 1, 2, 4, ... vehicles and the
    rest, so that a van can drop any number of them; and per chunk, its parts' indices."""
    chunks: list[Chunk] = []
    parts: list[list[int]] = []
    for c in graph.chunks:
        sizes = _binary(-c.moved) if c.moved < 0 else [c.moved]
        parts.append(list(range(len(chunks), len(chunks) + len(sizes))))
        moved = [-k for k in sizes] if c.moved < 0 else sizes
        chunks.extend(Chunk(c.site, m, c.low, c.charged_ids, c.low_ids) for m in moved)
    return _graph(graph.problem, tuple(chunks)), parts


def _binary(total: int) -> list[int]:
    """1, 2, 4, ... while they fit, then the rest: every number up to `total` is a sum of some."""
    sizes: list[int] = []
    size = 1
    while size <= total - sum(sizes):
        sizes.append(size)
        size *= 2
    rest = total - sum(sizes)
    return [*sizes, rest] if rest else sizes


def _graph(problem: Problem, chunks: tuple[Chunk, ...]) -> Graph:
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
    # Nodes at one place share their row: chunks of one site are many, the rows large.
    rows = between[:, nodes].tolist()
    no_site = (NO_SITE,) * (2 * len(problem.vans))
    return Graph(
        problem,
        chunks,
        [rows[n] for n in nodes],
        travel,
        tuple(c.site for c in chunks) + no_site,
    )


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


def repaired(graph: Graph, van: int, visits: Sequence[Visit]) -> list[Visit]:
    """The visits a van can still make in this order, those it no longer can skipped."""
    kept, leg = [], start_leg(graph, van)
    for visit in visits:
        nxt = extend(graph, van, leg, visit)
        if nxt is not None:
            kept.append(visit)
            leg = nxt
    if kept and finish(graph, van, leg) is None:
        # Only where travel breaks the triangle inequality can a shortcut take longer.
        return repaired(graph, van, kept[:-1])
    return kept
