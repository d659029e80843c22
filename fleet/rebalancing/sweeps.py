"""Sweep tours: a constructive start for the van-route search (pure).

Where surplus is spread thin (a vehicle or two a site) and deficits are concentrated, a
van serves the most imbalance per second of its shift by sweeping nearby surplus sites
until it holds what one deficit chunk lacks, dropping them there, and again; when no such
cycle fits its shift any more, it sweeps what it can still carry on its way to the depot.
Each sweep is built by cheapest insertion (seconds per vehicle of imbalance), every site
with an open deficit is tried as the cycle's target (dropping as many as its open chunks
can take, so split deficits let a short last cycle drop what it holds), and the cycle
serving the most per second is taken; the van whose clock is earliest goes next, so the
vans share the best clusters.
"""

from dataclasses import dataclass, field

import numpy as np

from fleet.rebalancing.routes import (
    Graph,
    Sequences,
    Visit,
    repaired,
)

# Pickup sites a sweep considers: the ones its drive would detour least to reach. Measured
# at city scale: 120 serve 1.2 % less, 250 no more, and each costs time.
NEAREST_PICKUPS = 200


@dataclass(slots=True)
class _VanState:
    """Where a van is after its visits so far and what it has on board."""

    van: int
    node: int
    clock: int  # departure from `node`
    load: int
    usable: int
    batteries: int  # left
    visits: list[Visit] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Sweep:
    """A candidate continuation of a van's route and what it serves per second."""

    visits: tuple[Visit, ...]
    seconds: int
    units: int
    load: int  # change of the load
    usable: int  # change of the usable vehicles
    batteries: int  # used
    node: int  # where it ends

    @property
    def rate(self) -> float:
        return self.units / max(self.seconds, 1)


class _Sites:
    """The open work, per site: its next charged chunk and its low-battery chunks."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        chunks = graph.chunks
        sites = sorted({c.site for c in chunks if c.moved > 0 or c.low})
        self.index = {s: i for i, s in enumerate(sites)}
        self.charged: list[list[int]] = [[] for _ in sites]  # open charged chunks
        self.low: list[list[int]] = [[] for _ in sites]  # open low-battery chunks
        node = np.zeros(len(sites), dtype=np.int64)
        for i, c in reversed(list(enumerate(chunks))):
            if c.site in self.index:
                k = self.index[c.site]
                node[k] = i
                if c.moved > 0:
                    self.charged[k].insert(0, i)
                elif c.low:
                    self.low[k].append(i)
        self.node = node
        self.next_charged = np.array(
            [chunks[c[0]].moved if c else 0 for c in self.charged], dtype=np.int64
        )
        self.low_left = np.array([len(x) for x in self.low], dtype=np.int64)
        self.deficits = {i for i, c in enumerate(chunks) if c.moved < 0}

    def take(self, visits: tuple[Visit, ...]) -> None:
        """Close the chunks of committed visits."""
        for visit in visits:
            c = self.graph.chunks[visit.chunk]
            if c.moved < 0:
                self.deficits.discard(visit.chunk)
                continue
            k = self.index[c.site]
            if c.moved > 0:
                self.charged[k].remove(visit.chunk)
                nxt = self.charged[k]
                self.next_charged[k] = self.graph.chunks[nxt[0]].moved if nxt else 0
            else:
                self.low[k].remove(visit.chunk)
                self.low_left[k] -= 1


def sweep_sequences(graph: Graph) -> Sequences:
    """Each van's visits: cycles of a sweep and a drop, then a sweep on the way home."""
    problem = graph.problem
    sites = _Sites(graph)
    # A free start load is taken empty: the sweeps fill the van.
    stock = [0 if problem.free_start_load else van.start_load for van in problem.vans]
    states = [
        _VanState(v, graph.start(v), 0, stock[v], stock[v], van.batteries)
        for v, van in enumerate(problem.vans)
    ]
    active = list(range(len(states)))
    while active:
        state = states[min(active, key=lambda v: states[v].clock)]
        cycle = _best_cycle(graph, sites, state)
        if cycle is None:
            home = _sweep(graph, sites, state, None)
            _commit(sites, state, home)
            active.remove(state.van)
        else:
            _commit(sites, state, cycle)
    return [repaired(graph, s.van, s.visits) for s in states]


def _commit(sites: _Sites, state: _VanState, sweep: _Sweep | None) -> None:
    if sweep is None:
        return
    sites.take(sweep.visits)
    state.visits.extend(sweep.visits)
    state.clock += sweep.seconds
    state.load += sweep.load
    state.usable += sweep.usable
    state.batteries -= sweep.batteries
    state.node = sweep.node


def _best_cycle(graph: Graph, sites: _Sites, state: _VanState) -> _Sweep | None:
    """The best-rated sweep and drop over the sites with open deficit chunks."""
    by_site: dict[int, list[int]] = {}
    for i in sorted(sites.deficits):
        by_site.setdefault(graph.chunks[i].site, []).append(i)
    best = None
    for parts in by_site.values():
        cycle = _sweep(graph, sites, state, parts)
        if cycle is not None and (best is None or cycle.rate > best.rate):
            best = cycle
    return best


def _sweep(graph: Graph, sites: _Sites, state: _VanState, parts: list[int] | None) -> _Sweep | None:
    """Pickups inserted, cheapest per unit first, into the drive from the van to the deficit
    site of the chunks `parts`, until the van holds what they lack or no more fit the shift,
    then the drop of as many as it can; or (`parts` None) into the drive to the depot until
    no more fit. None if it serves nothing."""
    problem, van = graph.problem, graph.problem.vans[state.van]
    travel = graph.travel_array
    depot = graph.end(state.van)
    home = parts is None
    end = depot if parts is None else parts[0]
    sizes = [] if parts is None else [-graph.chunks[i].moved for i in parts]
    room = van.capacity - state.load
    need = min(sum(sizes), state.usable + room)
    # A low-battery vehicle not swapped stays on board to the end: only on the way home.
    swaps_left = state.batteries
    lows = home or swaps_left > 0
    detour = travel[state.node, sites.node] + travel[sites.node, end] - travel[state.node, end]
    has_work = (sites.next_charged > 0) | ((sites.low_left > 0) & lows)
    pool = np.flatnonzero(has_work)
    if len(pool) > NEAREST_PICKUPS:
        pool = pool[np.argpartition(detour[pool], NEAREST_PICKUPS)[:NEAREST_PICKUPS]]
    path = [state.node, end]
    picked: list[list[Visit]] = []
    # Seconds so far, without the drop's handling (it depends on how many are dropped).
    seconds = int(travel[state.node, end]) + (0 if home else problem.stop_s)
    tail = 0 if home else int(travel[end, depot])
    units = loaded = usable = swapped = 0
    taken = np.zeros(len(pool), dtype=bool)
    while len(pool) and (home or state.usable + usable < need):
        charged = sites.next_charged[pool]
        charged = np.where(charged <= room - loaded, charged, 0)
        low = np.minimum(sites.low_left[pool] if lows else 0, room - loaded - charged)
        swap = np.minimum(low, swaps_left - swapped)
        if not home:
            low = swap  # in a cycle, only what becomes usable
        gained = charged + swap  # usable vehicles
        dropped = 0 if home else np.minimum(need, state.usable + usable + gained)
        served = charged + low + (0 if home else gained)  # imbalance, the drop included
        service = problem.handle_s * (charged + low) + problem.swap_s * swap
        nodes = np.array(path)
        added = (
            travel[nodes[:-1, None], sites.node[pool][None, :]]
            + travel[sites.node[pool][None, :], nodes[1:, None]]
            - travel[nodes[:-1], nodes[1:]][:, None]
            + problem.stop_s
            + service[None, :]
        )
        ends = state.clock + seconds + tail + problem.handle_s * dropped
        fits = (ends + added <= van.shift_end_s) & (
            (~taken) & (served > 0) & ((gained > 0) | home)
        )[None, :]
        if not fits.any():
            break
        cost = np.where(fits, added / np.maximum(served, 1)[None, :], np.inf)
        at, k = np.unravel_index(int(cost.argmin()), cost.shape)
        site = int(pool[k])
        group = [Visit(c, False) for c in sites.charged[site][: int(charged[k] > 0)]]
        group += [Visit(c, bool(j < swap[k])) for j, c in enumerate(sites.low[site][: int(low[k])])]
        picked.insert(int(at), group)
        path.insert(int(at) + 1, int(sites.node[site]))
        taken[k] = True
        seconds += int(added[at, k])
        units += int(charged[k] + low[k])
        loaded += int(charged[k] + low[k])
        usable += int(gained[k])
        swapped += int(swap[k])
    visits = tuple(v for group in picked for v in group)
    if home:
        if not visits:
            return None
        return _Sweep(visits, seconds, units, loaded, usable, swapped, path[-2])
    assert parts is not None
    drop = _subset(sizes, state.usable + usable)
    if not drop:
        return None
    dropped = sum(sizes[i] for i in drop)
    if state.clock + seconds + problem.handle_s * dropped + tail > van.shift_end_s:
        return None
    return _Sweep(
        (*visits, *(Visit(parts[i], False) for i in drop)),
        seconds + problem.handle_s * dropped,
        units + dropped,
        loaded - dropped,
        usable - dropped,
        swapped,
        end,
    )


def _subset(sizes: list[int], most: int) -> list[int]:
    """The indices of sizes summing to the most they can without passing `most`."""
    reach: dict[int, list[int]] = {0: []}
    for i, size in enumerate(sizes):
        for total, chosen in list(reach.items()):
            if total + size <= most and total + size not in reach:
                reach[total + size] = [*chosen, i]
    return reach[max(reach)]
