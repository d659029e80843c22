"""A rebalancing van as the simulator plays it (pure): the plan it asks for, and a
dispatched plan turned into its field agent's actions and the vehicles' moves.

A plan is timed on the server's clock; the simulator replays it on its own, from the
simulated time the plan reached the van (`start_ms`), so that the vehicles move in the
data as the plan has them move. The agent starts a stop's tasks when the van sets out for
it, loads the vehicles on arrival and completes the tasks on leaving; each vehicle is left
when the van arrives where the plan drops it, never before it was loaded.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.mstime import from_ms
from demo.city import Operator

MINUTE_MS = 60_000
PICKUP = "rebalance_pickup"
DROPOFF = "rebalance_dropoff"


@dataclass(frozen=True)
class VanOptions:
    """How often each operator plans its van's shift, and what the plan asks for."""

    # Minutes of simulated time between plans, and the length of a shift (0: no vans).
    every_min: float = 60.0
    capacity: int = 15
    batteries: int = 10
    horizon_h: int = 4
    service_level: float = 0.9
    resolution: int = 8
    time_limit_s: float = 5.0

    def __post_init__(self) -> None:
        if self.every_min < 0:
            raise ValueError("the rebalancing interval must be 0 (no vans) or more")


def plan_request(
    operator: Operator, agent_id: str, options: VanOptions, now_ms: int
) -> dict[str, Any]:
    """The body of `POST /v1/rebalancing/plans`: one van from the operator's depot, its
    shift ending (on the server's clock, `now_ms`) when the next plan is due."""
    if operator.depot is None:
        raise ValueError(f"{operator.key} has no depot")
    depot = {"lat": operator.depot.lat, "lng": operator.depot.lng}
    shift_end = from_ms(now_ms + round(options.every_min * MINUTE_MS))
    return {
        "vans": [
            {
                "van_id": f"{operator.key}-van",
                "agent_id": agent_id,
                "start": depot,
                "depot": depot,
                "capacity": options.capacity,
                "shift_end": shift_end.isoformat(),
                "batteries": options.batteries,
            }
        ],
        "vehicle_type": operator.main_vehicle_type.value,
        "horizon_h": options.horizon_h,
        "service_level": options.service_level,
        "resolution": options.resolution,
        "time_limit_s": options.time_limit_s,
    }


@dataclass(frozen=True)
class VanMove:
    """A vehicle the van carries: loaded at one stop, left at a later one."""

    device_id: str
    picked_ms: int
    dropped_ms: int
    lat: float
    lng: float
    at_depot: bool  # left at the depot: off the street for a while
    swapped: bool  # its battery swapped on board
    to_charge: bool  # taken in for its low battery (the plan's `to_depot`)


@dataclass(frozen=True)
class StartTasks:
    """The agent starts a stop's tasks as the van sets out for it."""

    at_ms: int
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class Load:
    """The van loads a vehicle (if it is still there, idle)."""

    move: VanMove

    @property
    def at_ms(self) -> int:
        """When: the van's arrival at the pick-up."""
        return self.move.picked_ms


@dataclass(frozen=True)
class FinishStop:
    """The agent closes a stop's tasks as the van leaves it: each pick-up of a vehicle
    loaded, the drop-off if it left vehicles; the others are not done."""

    at_ms: int
    van_id: str
    lat: float
    lng: float
    pickups: tuple[tuple[str, str], ...]  # (task id, device id)
    dropoff: tuple[str, tuple[str, ...]] | None  # (task id, device ids to leave)


Action = StartTasks | Load | FinishStop


def worth_driving(plan: Mapping[str, Any]) -> bool:
    """Whether the manager dispatches a plan: it brings vehicles to cells short of them.
    A van that only took surplus to its depot would empty the streets of a young demo,
    whose short trip history forecasts little demand anywhere."""
    before, after = plan.get("before") or {}, plan.get("after") or {}
    return int(after.get("deficit", 0)) < int(before.get("deficit", 0))


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _moves(route: Mapping[str, Any], at: Callable[[str], int]) -> dict[str, VanMove]:
    """The route's vehicles that are loaded and then left at a later stop, by device."""
    loaded: dict[str, tuple[int, bool, bool]] = {}
    moves: dict[str, VanMove] = {}
    for stop in route["stops"]:
        arrive = at(stop["arrive_at"])
        # Drops first: a vehicle is only ever left at a stop after the one it was loaded at.
        for device in stop["dropped"]:
            if device in loaded and device not in moves:
                picked_ms, swapped, to_charge = loaded[device]
                depot = stop["kind"] == "depot"
                place = (stop["lat"], stop["lng"])
                moves[device] = VanMove(
                    device, picked_ms, arrive, *place, depot, swapped, to_charge
                )
        for device in stop["picked"]:
            how = (arrive, device in stop["swapped"], device in stop["to_depot"])
            loaded.setdefault(device, how)
    return moves


def _route_actions(
    route: Mapping[str, Any],
    pickup_tasks: Mapping[str, str],
    dropoff_tasks: Iterator[Mapping[str, Any]],
    at: Callable[[str], int],
) -> list[Action]:
    moves = _moves(route, at)
    actions: list[Action] = []
    set_out: int | None = None
    for stop in route["stops"]:
        arrive, depart = at(stop["arrive_at"]), at(stop["depart_at"])
        leaves = bool(stop["dropped"]) or stop["dropped_stock"] > 0
        if stop["kind"] != "start" and (stop["picked"] or leaves):
            # Drop-off tasks follow the stops that leave vehicles, in order (`plan_stop`).
            task = next(dropoff_tasks, None) if leaves else None
            pickups = tuple((pickup_tasks[d], d) for d in stop["picked"] if d in pickup_tasks)
            task_ids = (*(t for t, _ in pickups), *([task["task_id"]] if task else []))
            if task_ids:
                actions.append(StartTasks(arrive if set_out is None else set_out, task_ids))
            actions += [Load(moves[d]) for d in stop["picked"] if d in moves]
            if task_ids:
                dropoff = (task["task_id"], tuple(stop["dropped"])) if task else None
                actions.append(
                    FinishStop(depart, route["van_id"], stop["lat"], stop["lng"], pickups, dropoff)
                )
        set_out = depart
    return actions


def van_actions(
    plan: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], start_ms: int
) -> list[Action]:
    """A dispatched plan (`GET /v1/rebalancing/plans/{id}`) and its agent's tasks
    (`GET /v1/tasks`) as the actions to take, in time order, the plan starting at the
    simulated time `start_ms`. Tasks of other plans are ignored."""
    routes = plan.get("routes") or []
    arrivals = [_ms(s["arrive_at"]) for r in routes for s in r["stops"]]
    if not arrivals:
        return []
    origin = min(arrivals)

    def at(text: str) -> int:
        return start_ms + _ms(text) - origin

    mine = [t for t in tasks if t.get("plan_id") == plan["plan_id"]]
    pickup_tasks = {t["device_id"]: t["task_id"] for t in mine if t["kind"] == PICKUP}
    dropoffs = sorted(
        (t for t in mine if t["kind"] == DROPOFF), key=lambda t: (t["plan_stop"], t["task_id"])
    )
    ordered = iter(dropoffs)
    actions = [a for route in routes for a in _route_actions(route, pickup_tasks, ordered, at)]
    # Stable: the actions of one route keep their order; the vans drive side by side.
    return sorted(actions, key=lambda a: a.at_ms)
