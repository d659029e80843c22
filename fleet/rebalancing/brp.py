"""The bike-sharing rebalancing benchmark (Dell'Amico et al. 2014 format) for the planner.

An instance file holds, whitespace separated: `n`; the `n` imbalances `q_i` (node 0 is
the depot); the van capacity `Q`; the `n x n` cost matrix, row by row (`1e+009` on the
diagonal). The published problem is the planner's with `must_balance` and
`free_start_load`, no service times, and as many identical vans as stations.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleet.rebalancing.model import Place, Plan, Problem, Site, Van, Vehicle
from fleet.rebalancing.travel import Matrix

DEPOT = 0


@dataclass(frozen=True, slots=True)
class Instance:
    """A parsed instance."""

    imbalance: tuple[int, ...]  # q_i per node: > 0 vehicles too many, < 0 lacking; q_0 = 0
    capacity: int  # Q, of every van
    cost: tuple[tuple[int, ...], ...]  # n x n travel cost, as in the file


def parse(text: str) -> Instance:
    """An instance from the text of its file."""
    tokens = text.split()
    if not tokens:
        raise ValueError("the instance is empty")
    n = _integer(tokens[0], "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    expected = 2 + n + n * n
    if len(tokens) != expected:
        raise ValueError(f"expected {expected} numbers for n = {n}, found {len(tokens)}")
    imbalance = tuple(_integer(t, f"q_{i}") for i, t in enumerate(tokens[1 : 1 + n]))
    capacity = _integer(tokens[1 + n], "Q")
    if imbalance[DEPOT] != 0:
        raise ValueError(f"q_0 (the depot) must be 0, not {imbalance[DEPOT]}")
    if capacity < 1:
        raise ValueError(f"Q must be at least 1, not {capacity}")
    values = [_integer(t, "cost") for t in tokens[2 + n :]]
    if min(values) < 0:
        raise ValueError("costs must not be negative")
    cost = tuple(tuple(values[row * n : (row + 1) * n]) for row in range(n))
    return Instance(imbalance, capacity, cost)


def _integer(token: str, name: str) -> int:
    """A whole number, written as an integer or in exponent form (`1e+009`)."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"{name}: {token!r} is not a number") from None
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{name}: {token!r} is not a whole number")
    return int(value)


def to_problem(instance: Instance, *, seconds: float) -> Problem:
    """The planner's problem of an instance, searched for `seconds`."""
    n = len(instance.imbalance)
    # The instance has no coordinates: stand-in places only tell the nodes apart.
    places = tuple(Place(0.0, i / 1000) for i in range(n))
    cost = np.array(instance.cost, dtype=np.int64)
    sites = tuple(
        Site(str(i), places[i], q, tuple(Vehicle(f"{i}/{k}", False) for k in range(q)))
        for i, q in enumerate(instance.imbalance)
        if i != DEPOT and q != 0
    )
    np.fill_diagonal(cost, 0)
    # A route has at most one arc more than there are stations: this shift never binds.
    shift_s = int(cost.max()) * n
    depot = places[DEPOT]
    vans = tuple(
        Van(str(k), depot, depot, instance.capacity, shift_s) for k in range(max(1, len(sites)))
    )
    return Problem(
        vans=vans,
        sites=sites,
        travel=Matrix(places, cost),
        stop_s=0,
        handle_s=0,
        swap_s=0,
        unserved_penalty_s=0,
        must_balance=True,
        free_start_load=True,
        time_limit_s=seconds,
    )


def result(plan: Plan, *, seconds: float) -> dict[str, Any]:
    """The plan as the benchmark reports it: total cost and the routes' node numbers."""
    routes = [
        [DEPOT, *(int(s.site_id) for s in route.stops if s.site_id is not None), DEPOT]
        for route in plan.routes
        if route.stops
    ]
    return {"cost": plan.travel_s, "routes": routes, "seconds": round(seconds, 3)}
