"""From cells to the planner's sites, from a plan back to the cells' balance, and from a
stored plan to the tasks of its dispatch."""

import uuid
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3

from fleet.rebalancing.model import Place, Plan, Route, Stop, Vehicle
from fleet.rebalancing.service import planned_tasks
from fleet.rebalancing.sites import (
    Parked,
    balance,
    balance_after,
    cell_of_site,
    site_id,
    sites_of,
)
from fleet.tasks.kinds import TaskKind

RES = 8
NORTH = (56.0600, 12.7100)
SOUTH = (56.0465, 12.6945)
HUB = (56.0470, 12.6950)
N, S = (h3.latlng_to_cell(*p, RES) for p in (NORTH, SOUTH))


def parked(name: str, place: tuple[float, float], charged: bool = True) -> Parked:
    return Parked(name, place[0], place[1], charged)


def test_a_surplus_lists_the_charged_vehicles_and_the_flat_ones_to_collect() -> None:
    fleet = [parked("a", NORTH), parked("b", NORTH), parked("c", NORTH), parked("x", NORTH, False)]
    (site,) = sites_of({N: 2}, fleet, {}, RES)
    assert site.site_id == site_id(N)
    assert cell_of_site(site.site_id) == N
    assert site.surplus == 2
    assert site.vehicles == (
        Vehicle("a", False),
        Vehicle("b", False),
        Vehicle("c", False),
        Vehicle("x", True),
    )
    assert abs(site.place.lat - NORTH[0]) < 1e-9


def test_a_surplus_is_never_more_than_the_charged_vehicles_there() -> None:
    (site,) = sites_of({N: 5}, [parked("a", NORTH), parked("x", NORTH, False)], {}, RES)
    assert site.surplus == 1


def test_a_deficit_is_filled_at_the_cells_place_and_skipped_without_one() -> None:
    sites = sites_of({S: -3, N: -2}, [], {S: HUB}, RES)
    assert [(s.site_id, s.surplus, s.place) for s in sites] == [(site_id(S), -3, Place(*HUB))]


def test_flat_vehicles_alone_make_a_site_and_a_balanced_cell_none() -> None:
    sites = sites_of({N: 0, S: 0}, [parked("x", SOUTH, False), parked("a", NORTH)], {}, RES)
    assert [(s.site_id, s.surplus, s.vehicles) for s in sites] == [
        (site_id(S), 0, (Vehicle("x", True),))
    ]


def stop(kind: str, cell: int | None, **fields: object) -> Stop:
    place = Place(*h3.cell_to_latlng(cell)) if cell else Place(*NORTH)
    return Stop(site_id(cell) if cell else None, kind, place, 0, 0, **fields)  # type: ignore[arg-type]


def test_the_balance_after_a_plan_moves_charged_vehicles_and_counts_swapped_ones_dropped() -> None:
    plan = Plan(
        routes=(
            Route(
                "van",
                (
                    stop("start", None),
                    stop("pickup", N, picked=("a", "b", "x"), swapped=("x",), load_after=3),
                    stop("dropoff", S, dropped=("a", "b", "x"), load_after=0),
                    stop("depot", None),
                ),
            ),
        ),
        travel_s=600,
        unserved=0,
        objective=600,
        solver="exact",
    )
    after = balance_after({N: 2, S: -4}, plan, charged={"a", "b"})
    assert after == {N: 0, S: -1}
    assert balance({N: 2, S: -4}) == {"cells_in_deficit": 1, "deficit": 4, "surplus": 2}
    assert balance(after) == {"cells_in_deficit": 1, "deficit": 1, "surplus": 0}


def test_a_dispatch_makes_a_pickup_per_vehicle_and_a_drop_off_per_place_in_route_order() -> None:
    started = datetime(2026, 12, 4, 12, tzinfo=UTC)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))

    def stored(kind: str, arrive_s: int, **fields: object) -> dict[str, object]:
        return {
            "kind": kind,
            "cell": None,
            "lat": 56.0,
            "lng": 12.7,
            "arrive_s": arrive_s,
            "depart_s": arrive_s + 60,
            "picked": [],
            "dropped": [],
            "dropped_stock": 0,
            "swapped": [],
            "to_depot": [],
            "load_after": 0,
            **fields,
        }

    result = {
        "started_at": started.isoformat(),
        "routes": [
            {
                "van_id": "v1",
                "stops": [
                    stored("start", 0),
                    stored("pickup", 300, picked=[a, b], swapped=[b]),
                    stored("dropoff", 900, dropped=[a]),
                    stored("depot", 1500, dropped=[b]),
                ],
            },
            {
                "van_id": "v2",
                "stops": [
                    stored("start", 0),
                    stored("pickup", 200, picked=[c]),
                    stored("depot", 400),
                ],
            },
        ],
    }
    planned = planned_tasks(result, {"v1": "agent-1", "v2": None})
    summary = [
        (p.new.kind, p.new.device_id, p.plan_stop, p.quantity, p.assignee, p.new.due_at)
        for p in planned
    ]
    at = [started + timedelta(seconds=s) for s in (300, 900, 1500, 200)]
    assert summary == [
        (TaskKind.REBALANCE_PICKUP, uuid.UUID(a), 1, None, "agent-1", at[0]),
        (TaskKind.REBALANCE_PICKUP, uuid.UUID(b), 1, None, "agent-1", at[0]),
        (TaskKind.REBALANCE_DROPOFF, None, 2, 1, "agent-1", at[1]),
        (TaskKind.REBALANCE_DROPOFF, None, 3, 1, "agent-1", at[2]),
        (TaskKind.REBALANCE_PICKUP, uuid.UUID(c), 4, None, None, at[3]),
    ]
    assert "swap its battery" in (planned[1].new.note or "")
    assert "swap" not in (planned[0].new.note or "")
