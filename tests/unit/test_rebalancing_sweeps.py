"""The sweep tours (pure) and the split of deficits they and the search work on: feasible
by the planner's rules, and better than greedy where surplus is thin and deficits are few."""

import random

from hypothesis import given
from hypothesis import strategies as st

from fleet.rebalancing import greedy
from fleet.rebalancing.model import Problem, Site, Van
from fleet.rebalancing.routes import _binary, build_plan, graph_of, split_deficits
from fleet.rebalancing.sweeps import _subset, sweep_sequences
from tests.unit.test_rebalancing_planner import (
    DEPOT,
    PROPERTY,
    assert_feasible,
    near,
    problem_of,
    problems,
    vehicles,
)


@given(total=st.integers(0, 200))
def test_binary_parts_sum_to_every_number_up_to_the_total(total: int) -> None:
    sizes = _binary(total)
    assert sum(sizes) == total
    assert all(size > 0 for size in sizes)
    sums = {0}
    for size in sizes:
        sums |= {s + size for s in sums}
    assert sums == set(range(total + 1))


@given(sizes=st.lists(st.integers(1, 20), max_size=8), most=st.integers(0, 60))
def test_subset_reaches_the_largest_sum_within_the_limit(sizes: list[int], most: int) -> None:
    sums = {0}
    for size in sizes:
        sums |= {s + size for s in sums}
    chosen = _subset(sizes, most)
    assert len(set(chosen)) == len(chosen)
    assert sum(sizes[i] for i in chosen) == max(s for s in sums if s <= most)


@PROPERTY
@given(problem=problems())
def test_split_deficits_keeps_every_chunk_as_its_parts(problem: Problem) -> None:
    whole = graph_of(problem)
    graph, parts = split_deficits(whole)
    assert sorted(p for group in parts for p in group) == list(range(len(graph.chunks)))
    for chunk, group in zip(whole.chunks, parts, strict=True):
        pieces = [graph.chunks[p] for p in group]
        assert {p.site for p in pieces} == {chunk.site}
        assert sum(p.moved for p in pieces) == chunk.moved
        assert len(pieces) == 1 or all(p.moved < 0 for p in pieces)
    for van in range(len(problem.vans)):
        for node in (whole.start(van), whole.end(van)):
            assert whole.travel[node][: len(whole.chunks)] == [
                graph.travel[node - len(whole.chunks) + len(graph.chunks)][group[0]]
                for group in parts
            ]


@PROPERTY
@given(problem=problems(), split=st.booleans())
def test_sweep_plans_of_random_problems_are_feasible(problem: Problem, split: bool) -> None:
    graph = graph_of(problem)
    if split:
        graph, _ = split_deficits(graph)
    assert_feasible(problem, build_plan(graph, sweep_sequences(graph), "search"))


def thin_surplus_city(seed: int = 3) -> Problem:
    """A grid of sites 300 m apart: one or two vehicles to pick up at most of them, a few
    large deficits by the depot."""
    rng = random.Random(seed)
    sites = []
    for i in range(-6, 7):
        for j in range(-6, 7):
            name = f"c{i}_{j}"
            if abs(i) <= 1 and abs(j) <= 1 and (i + j) % 2 == 0:
                sites.append(Site(name, near(0.0027 * i, 0.0048 * j), -rng.randint(15, 30)))
            elif rng.random() < 0.8:
                surplus = rng.choice((1, 1, 1, 2))
                low = int(rng.random() < 0.1)
                place = near(0.0027 * i, 0.0048 * j)
                sites.append(Site(name, place, surplus, vehicles(name, surplus, low)))
    vans = [
        Van(f"v{k}", DEPOT, DEPOT, capacity=10, shift_end_s=2 * 3600, batteries=3 * (k % 2))
        for k in range(3)
    ]
    return problem_of(vans, sites, stop_s=120, handle_s=30, swap_s=90, unserved_penalty_s=1800)


def test_sweeps_beat_greedy_where_surplus_is_thin_and_deficits_few() -> None:
    problem = thin_surplus_city()
    graph, _ = split_deficits(graph_of(problem))
    found = build_plan(graph, sweep_sequences(graph), "search")
    assert_feasible(problem, found)
    baseline = greedy.plan(problem)
    assert found.objective < 0.9 * baseline.objective
    # Whole loads go to the deficits: most vehicles picked up are dropped again.
    dropped = sum(len(s.dropped) for r in found.routes for s in r.stops if s.kind == "dropoff")
    picked = sum(len(s.picked) for r in found.routes for s in r.stops)
    assert dropped >= 0.8 * picked
