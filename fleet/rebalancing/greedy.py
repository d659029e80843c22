"""The baseline planner: van after van drives to the nearest chunk it can serve (pure).

It uses the planners' graph and constraints, so its plans are feasible by the same rules
and scored by the same objective; a benchmark compares the two. It does not look ahead,
so under `must_balance` it may leave sites unserved where a plan exists.
"""

import numpy as np
import numpy.typing as npt

from fleet.rebalancing.model import Plan, Problem
from fleet.rebalancing.routes import (
    Graph,
    Leg,
    Sequences,
    Visit,
    build_plan,
    extend,
    finish,
    graph_of,
    start_leg,
    visits_of,
)


def plan(problem: Problem) -> Plan:
    """The nearest-feasible-next-stop plan."""
    graph = graph_of(problem)
    return build_plan(graph, greedy_sequences(graph), "greedy")


def greedy_sequences(graph: Graph, *, per_unit: bool = False) -> Sequences:
    """Van after van, each drives to its first-ranked feasible open chunk until none is left.

    Chunks rank by travel from where the van is (the baseline), or with `per_unit` by
    travel and parking per vehicle of imbalance resolved (the planner's warm start).
    """
    units = np.array([c.units for c in graph.chunks], dtype=np.float64) if per_unit else None
    open_chunks = np.ones(len(graph.chunks), dtype=bool)
    sequences: Sequences = []
    for van in range(len(graph.problem.vans)):
        sequence: list[Visit] = []
        leg = start_leg(graph, van)
        while (step := _next(graph, van, leg, open_chunks, units)) is not None:
            visit, leg = step
            sequence.append(visit)
            open_chunks[visit.chunk] = False
        sequences.append(sequence)
    return sequences


def _next(
    graph: Graph,
    van: int,
    leg: Leg,
    open_chunks: npt.NDArray[np.bool_],
    units: npt.NDArray[np.float64] | None,
) -> tuple[Visit, Leg] | None:
    """The first-ranked open chunk the van can serve and still reach its depot in time,
    swapping its low-battery vehicles if it can."""
    candidates = np.flatnonzero(open_chunks)
    rank = graph.travel_array[leg.node, candidates].astype(np.float64)
    if units is not None:
        rank = (rank + graph.problem.stop_s) / units[candidates]
    for chunk in candidates[np.argsort(rank, kind="stable")].tolist():
        for visit in visits_of(graph, van, chunk):
            nxt = extend(graph, van, leg, visit)
            if nxt is not None and finish(graph, van, nxt) is not None:
                return visit, nxt
    return None
