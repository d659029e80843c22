"""The simulator's rebalancing vans offline: a plan turned into the agent's actions and the
vehicles' moves (pure), and the simulated vehicles a van carries.

Plans are written in the server's stored form and read as the API shows them; their tasks
come from the server's own dispatch (`planned_tasks`), so both sides read one contract.
"""

import asyncio
import dataclasses
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from app.core.mstime import from_ms
from demo.city import OPERATORS
from demo.fleet_plan import plan_fleet
from demo.simulator import crew
from demo.simulator.batches import Batch, Endpoint
from demo.simulator.citymap import distance
from demo.simulator.crew import Crew
from demo.simulator.misbehaviour import Rates
from demo.simulator.rebalancing import (
    FinishStop,
    Load,
    StartTasks,
    VanMove,
    VanOptions,
    plan_request,
    van_actions,
    worth_driving,
)
from demo.simulator.report import Report
from demo.simulator.vans import Vans
from demo.simulator.vehicle import Environment
from demo.simulator.world import Provider, World
from fleet.events.state_machines import STATE_MACHINES
from fleet.rebalancing.schemas import PlanCreate
from fleet.rebalancing.service import planned_tasks
from tests.unit.city_maps import CMAP

STARTED = datetime(2026, 5, 12, 8, 0, tzinfo=UTC)
START_MS = 1_778_580_000_000  # 2026-05-12 10:00 UTC: the simulated time the plan starts at
MINUTE_MS = 60_000
DEPOT = (56.0295, 12.7105)
NORTH, EAST, CENTRE = (56.0545, 12.7080), (56.0255, 12.7290), (56.0440, 12.6940)
AGENT = "a1b2c3d4e5f60708"


def stop(
    kind: str,
    minute: int,
    place: tuple[float, float] = DEPOT,
    *,
    picked: tuple[str, ...] = (),
    dropped: tuple[str, ...] = (),
    swapped: tuple[str, ...] = (),
    to_depot: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A stop as the server stores it: arriving `minute` minutes into the plan, 2 min long."""
    return {
        "kind": kind,
        "cell": None if kind in ("start", "depot") else "881f1d4887fffff",
        "lat": place[0],
        "lng": place[1],
        "arrive_s": minute * 60,
        "depart_s": (minute + 2) * 60 if kind != "start" else minute * 60,
        "picked": list(picked),
        "dropped": list(dropped),
        "dropped_stock": 0,
        "swapped": list(swapped),
        "to_depot": list(to_depot),
        "load_after": 0,
    }


def result(*routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "started_at": STARTED.isoformat(),
        "routes": [{"van_id": f"van-{i}", "stops": s} for i, s in enumerate(routes, 1)],
    }


def as_read(stored: dict[str, Any], plan_id: str) -> dict[str, Any]:
    """The plan as `GET /v1/rebalancing/plans/{id}` shows it: times as RFC 3339."""

    def shown(s: dict[str, Any]) -> dict[str, Any]:
        at = {k: v for k, v in s.items() if k not in ("arrive_s", "depart_s")}
        at["arrive_at"] = (STARTED + timedelta(seconds=s["arrive_s"])).isoformat()
        at["depart_at"] = (STARTED + timedelta(seconds=s["depart_s"])).isoformat()
        return at

    routes = [
        {"van_id": r["van_id"], "agent_id": AGENT, "stops": [shown(s) for s in r["stops"]]}
        for r in stored["routes"]
    ]
    return {
        "plan_id": plan_id,
        "state": "ready",
        "routes": routes,
        "before": {"cells_in_deficit": 3, "deficit": 5, "surplus": 7},
        "after": {"cells_in_deficit": 1, "deficit": 1, "surplus": 2},
    }


def dispatched(*routes: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A plan and the tasks the server's dispatch opens for it, as the agent lists them."""
    stored = result(*routes)
    plan_id = str(uuid.uuid4())
    agents: dict[str, str | None] = {r["van_id"]: AGENT for r in stored["routes"]}
    tasks = [
        {
            "task_id": f"task-{i}",
            "kind": p.new.kind.value,
            "device_id": None if p.new.device_id is None else str(p.new.device_id),
            "plan_id": plan_id,
            "plan_stop": p.plan_stop,
            "quantity": p.quantity,
            "state": "assigned",
        }
        for i, p in enumerate(planned_tasks(stored, agents))
    ]
    return as_read(stored, plan_id), tasks


def devices(n: int) -> tuple[str, ...]:
    return tuple(str(uuid.uuid4()) for _ in range(n))


def task_of(tasks: list[dict[str, Any]], device: str) -> str:
    return next(str(t["task_id"]) for t in tasks if t["device_id"] == device)


def at(minute: int) -> int:
    return START_MS + minute * MINUTE_MS


def test_each_stop_starts_its_tasks_on_the_way_loads_on_arrival_and_finishes_on_leaving() -> None:
    a, b, c = devices(3)
    plan, tasks = dispatched(
        [
            stop("start", 0),
            stop("pickup", 10, NORTH, picked=(a, b)),
            stop("pickup", 20, EAST, picked=(c,)),
            stop("dropoff", 35, CENTRE, dropped=(a, b, c)),
            stop("depot", 50),
        ]
    )
    [drop] = [str(t["task_id"]) for t in tasks if t["kind"] == "rebalance_dropoff"]
    actions = van_actions(plan, tasks, START_MS)

    def move(device: str, picked: int) -> VanMove:
        return VanMove(device, at(picked), at(35), *CENTRE, False, False, False)

    assert actions == [
        StartTasks(at(0), (task_of(tasks, a), task_of(tasks, b))),
        Load(move(a, 10)),
        Load(move(b, 10)),
        FinishStop(at(12), "van-1", *NORTH, ((task_of(tasks, a), a), (task_of(tasks, b), b)), None),
        StartTasks(at(12), (task_of(tasks, c),)),
        Load(move(c, 20)),
        FinishStop(at(22), "van-1", *EAST, ((task_of(tasks, c), c),), None),
        StartTasks(at(22), (drop,)),
        FinishStop(at(37), "van-1", *CENTRE, (), (drop, (a, b, c))),
    ]
    assert worth_driving(plan)
    # Only surplus to take away (a young demo forecasts little demand): the van stays.
    assert not worth_driving({**plan, "after": plan["before"]})


def test_only_vehicles_picked_up_are_moved_and_only_to_a_later_stop() -> None:
    a, b, stray, same = devices(4)
    plan, tasks = dispatched(
        [
            stop("start", 0),
            stop("dropoff", 5, CENTRE, dropped=(stray,)),
            stop("pickup", 10, NORTH, picked=(a, b, same), dropped=(same,)),
            stop("dropoff", 30, EAST, dropped=(a,)),
            stop("depot", 45, dropped=(b,)),
        ]
    )
    actions = van_actions(plan, tasks, START_MS)
    moves = {x.move.device_id: x.move for x in actions if isinstance(x, Load)}
    assert set(moves) == {a, b}
    assert all(m.dropped_ms > m.picked_ms for m in moves.values())
    assert (moves[a].lat, moves[a].lng, moves[a].at_depot) == (*EAST, False)
    assert (moves[b].lat, moves[b].lng, moves[b].at_depot) == (*DEPOT, True)
    # Every task of the plan is started before it is finished, each once.
    started = [t for x in actions if isinstance(x, StartTasks) for t in x.task_ids]
    finishes = [x for x in actions if isinstance(x, FinishStop)]
    finished = [t for f in finishes for t, _ in f.pickups] + [
        f.dropoff[0] for f in finishes if f.dropoff
    ]
    assert sorted(started) == sorted(finished) == sorted(str(t["task_id"]) for t in tasks)
    times = [x.at_ms for x in actions]
    assert times == sorted(times)


def test_vehicles_swapped_on_board_or_taken_in_to_charge_say_so() -> None:
    low, flat = devices(2)
    plan, tasks = dispatched(
        [
            stop("start", 0),
            stop("pickup", 8, NORTH, picked=(low, flat), swapped=(low,), to_depot=(flat,)),
            stop("dropoff", 20, CENTRE, dropped=(low,)),
            stop("depot", 40, dropped=(flat,)),
        ]
    )
    actions = van_actions(plan, tasks, START_MS)
    moves = {x.move.device_id: x.move for x in actions if isinstance(x, Load)}
    assert (moves[low].swapped, moves[low].to_charge, moves[low].at_depot) == (True, False, False)
    assert (moves[flat].swapped, moves[flat].to_charge, moves[flat].at_depot) == (False, True, True)


def test_an_empty_plan_does_nothing() -> None:
    for routes in ([], [[stop("start", 0), stop("depot", 0)]]):
        plan, tasks = dispatched(*routes)
        assert tasks == []
        assert van_actions(plan, tasks, START_MS) == []
    assert van_actions({"plan_id": "p", "routes": None}, [], START_MS) == []


def test_tasks_of_another_plan_are_not_worked() -> None:
    (a,) = devices(1)
    route = [
        stop("start", 0),
        stop("pickup", 10, NORTH, picked=(a,)),
        stop("dropoff", 30, CENTRE, dropped=(a,)),
    ]
    plan, _ = dispatched(route)
    _, others = dispatched(route)
    actions = van_actions(plan, others, START_MS)
    assert [type(x) for x in actions] == [Load]


def test_two_vans_drive_side_by_side_each_in_its_order() -> None:
    a, b = devices(2)
    plan, tasks = dispatched(
        [
            stop("start", 0),
            stop("pickup", 20, NORTH, picked=(a,)),
            stop("dropoff", 40, CENTRE, dropped=(a,)),
        ],
        [
            stop("start", 0),
            stop("pickup", 5, EAST, picked=(b,)),
            stop("dropoff", 30, CENTRE, dropped=(b,)),
        ],
    )
    actions = van_actions(plan, tasks, START_MS)
    assert [x.at_ms for x in actions] == sorted(x.at_ms for x in actions)
    for van in ("van-1", "van-2"):
        kinds = [bool(f.pickups) for f in actions if isinstance(f, FinishStop) and f.van_id == van]
        assert kinds == [True, False]
    drops = sorted((f.at_ms, f.dropoff) for f in actions if isinstance(f, FinishStop) and f.dropoff)
    # Each van's drop-off task is the one the server numbered for that van's stop.
    assert [d[1][1] for d in drops] == [(b,), (a,)]


def test_the_plan_asked_for_is_one_van_from_the_depot_until_the_next_plan() -> None:
    operator = OPERATORS[0]
    options = VanOptions(every_min=45, capacity=12, time_limit_s=2)
    body = plan_request(operator, AGENT, options, START_MS)
    parsed = PlanCreate.model_validate(body)
    [van] = parsed.vans
    assert operator.depot is not None
    assert van.start == van.depot
    assert (van.start.lat, van.start.lng) == (operator.depot.lat, operator.depot.lng)
    assert (van.agent_id, van.capacity) == (AGENT, 12)
    assert van.shift_end == datetime.fromtimestamp(START_MS / 1000, UTC) + timedelta(minutes=45)
    assert parsed.vehicle_type is operator.main_vehicle_type
    pods = next(op for op in OPERATORS if op.depot is None)
    with pytest.raises(ValueError, match="no depot"):
        plan_request(pods, AGENT, options, START_MS)
    with pytest.raises(ValueError, match="0 \\(no vans\\) or more"):
        VanOptions(every_min=-1)


# --- the simulated vehicles a van carries ---------------------------------------------

OPERATOR = OPERATORS[0]
PROVIDER = Provider(OPERATOR.key, str(OPERATOR.provider_id), OPERATOR.mode)
DROP = (56.0440, 12.6960)


def idle_world(trips_per_day: float = 0.01) -> World:
    """One micromobility operator's vehicles, hardly ever rented."""
    env = Environment(CMAP, ZoneInfo("Europe/Stockholm"), Rates.uniform(0.0), trips_per_day)
    fleet = plan_fleet(12, [OPERATOR])
    return World(fleet, [PROVIDER], env, seed=3, start_ms=START_MS, max_batch=5000)


def run(world: World, moves: list[VanMove], until_min: int) -> list[Batch]:
    """The world advanced minute by minute, each move handed over when its time comes."""
    batches: list[Batch] = []
    pending = sorted(moves, key=lambda m: m.picked_ms)
    for t in range(at(1), at(until_min) + 1, MINUTE_MS):
        while pending and pending[0].picked_ms <= t:
            world.carry(pending.pop(0))
        batches += world.advance(t)
    return batches


def items(batches: list[Batch], endpoint: Endpoint, device: str) -> list[dict[str, Any]]:
    found = [i for b in batches if b.endpoint is endpoint for i in b.items]
    return sorted((i for i in found if i["device_id"] == device), key=lambda i: i["timestamp"])


def metres(item: dict[str, Any], place: tuple[float, float]) -> float:
    x, y = CMAP.frame.to_xy(item["location"]["lat"], item["location"]["lng"])
    px, py = CMAP.frame.to_xy(*place)
    return float(((x - px) ** 2 + (y - py) ** 2) ** 0.5)


def follows_the_state_machine(events: list[dict[str, Any]]) -> bool:
    machine = STATE_MACHINES[OPERATOR.mode]
    prior = None
    for event in events:
        if not machine.transition_allowed(prior, event["event_types"], event["vehicle_state"]):
            return False
        prior = event["vehicle_state"]
    return True


def test_a_loaded_vehicle_leaves_the_street_and_reappears_at_its_drop_off() -> None:
    world = idle_world()
    device = world.vehicles[0].device_id
    move = VanMove(device, at(20), at(45), *DROP, at_depot=False, swapped=False, to_charge=False)
    batches = run(world, [move], 60)
    events = items(batches, Endpoint.EVENTS, device)
    picked = next(e for e in events if e["event_types"] == ["rebalance_pick_up"])
    dropped = next(
        e for e in events if e["event_types"] == ["provider_drop_off"] and e is not events[0]
    )
    assert (picked["timestamp"], picked["vehicle_state"]) == (at(20), "removed")
    assert (dropped["timestamp"], dropped["vehicle_state"]) == (at(45), "available")
    assert metres(dropped, DROP) < 20
    points = items(batches, Endpoint.TELEMETRY, device)
    assert not [p for p in points if at(20) < p["timestamp"] < at(45)]
    assert all(metres(p, DROP) < 25 for p in points if p["timestamp"] >= at(45))
    assert follows_the_state_machine(events)


def test_vehicles_the_van_does_not_load_live_as_if_it_never_came() -> None:
    device = idle_world().vehicles[0].device_id
    move = VanMove(device, at(20), at(45), *DROP, at_depot=False, swapped=False, to_charge=False)
    with_van, without = run(idle_world(), [move], 60), run(idle_world(), [], 60)
    others = {v.device_id for v in idle_world().vehicles} - {device}
    for endpoint in (Endpoint.EVENTS, Endpoint.TELEMETRY):
        for other in others:
            assert items(with_van, endpoint, other) == items(without, endpoint, other)


def test_a_vehicle_on_a_trip_is_not_loaded() -> None:
    world = idle_world(trips_per_day=400)
    world.advance(at(30))
    riding = next(v for v in world.vehicles if v.state == "on_trip")
    move = VanMove(riding.device_id, at(30), at(50), *DROP, False, False, False)
    assert not world.carry(move)
    assert riding.state == "on_trip"
    assert not world.carry(dataclasses.replace(move, device_id=str(uuid.uuid4())))


@pytest.mark.parametrize(
    ("to_charge", "pick_up"), [(True, "maintenance_pick_up"), (False, "rebalance_pick_up")]
)
def test_a_vehicle_left_at_the_depot_comes_back_charged_later(
    to_charge: bool, pick_up: str
) -> None:
    world = idle_world()
    device = world.vehicles[1].device_id
    move = VanMove(
        device, at(15), at(40), *DEPOT, at_depot=True, swapped=False, to_charge=to_charge
    )
    events = items(run(world, [move], 260), Endpoint.EVENTS, device)
    kinds = [(e["event_types"], e["vehicle_state"]) for e in events]
    back = events[kinds.index(([pick_up], "removed")) + 1]
    assert back["event_types"] == ["provider_drop_off"]
    assert at(40) + 60 * MINUTE_MS <= back["timestamp"] <= at(40) + 180 * MINUTE_MS
    assert back["battery_percent"] == 100
    assert follows_the_state_machine(events)


# --- the vans on the simulated clock, against a peer answering like fleetbed ----------

CREW = Crew(manager_key="fbk_0000000000000001.manager", agent_key=f"fbk_{AGENT}.agent")
REAL_MS = 1_800_000_000_000


class Crewbed:
    """Answers the crew's requests as fleetbed would, with one plan, and records them."""

    def __init__(
        self,
        plan: dict[str, Any],
        tasks: list[dict[str, Any]],
        *,
        refusals: int = 0,
        computing_polls: int = 0,
        leftovers: list[dict[str, Any]] | None = None,
    ) -> None:
        self.plan, self.tasks = plan, tasks
        self.refusals, self.computing_polls = refusals, computing_polls
        self.leftovers = leftovers or []
        self.dispatched = False
        self.calls: list[str] = []
        self.asked: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.calls.append(f"{method} {path}")
        plan_path = f"/v1/rebalancing/plans/{self.plan['plan_id']}"
        if method == "POST" and path == "/v1/rebalancing/plans":
            if self.refusals:
                self.refusals -= 1
                return httpx.Response(422, json={"title": "Invalid input", "detail": "vans.0"})
            self.asked.append(orjson.loads(request.content))
            computing = self.computing_polls > 0
            body = {**self.plan, "state": "computing" if computing else "ready"}
            return httpx.Response(
                202 if computing else 201, json=body, headers={"Location": plan_path}
            )
        if method == "GET" and path == plan_path:
            self.computing_polls -= 1
            return httpx.Response(
                200, json={**self.plan, "state": "computing" if self.computing_polls else "ready"}
            )
        if method == "POST" and path == f"{plan_path}/dispatch":
            self.dispatched = True
            return httpx.Response(200, json={**self.plan, "state": "dispatched"})
        if method == "GET" and path == "/v1/tasks":
            assert request.url.params["assignee"] == AGENT
            state = request.url.params["state"]
            found = self.tasks if state == "assigned" and self.dispatched else []
            found = found + [t for t in self.leftovers if t["state"] == state]
            return httpx.Response(200, json={"data": found, "links": {"next": None}})
        if method == "POST" and path.startswith("/v1/tasks/"):
            key = request.headers["authorization"].removeprefix("Bearer ")
            action = path.rsplit("/", 1)[1]
            assert key == (CREW.manager_key if action == "cancel" else CREW.agent_key)
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"title": "Not found"})

    def task_calls(self) -> list[str]:
        """The task moves asked for, as `action task_id`."""
        moves = [c.split("/v1/tasks/")[1].split("/") for c in self.calls if "/v1/tasks/" in c]
        return [f"{action} {task_id}" for task_id, action in moves]


async def drive(
    peer: Crewbed, world: World, minutes: int, background: bool = False
) -> tuple[Report, list[int]]:
    """The vans advanced minute by minute with the world; the report, and the minutes at
    which a plan was asked for."""
    report = Report()
    asked_at: list[int] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(peer), base_url="http://t") as c:
        vans = Vans(
            c, [OPERATOR], {OPERATOR.key: CREW}, VanOptions(), report, lambda: REAL_MS, background
        )
        for minute in range(1, minutes + 1):
            before = len(peer.asked)
            await vans.advance(at(minute), world)
            world.advance(at(minute))
            # As a run as fast as possible does: a plan asked for beside it gets its turn.
            for _ in range(20):
                await asyncio.sleep(0)
            if len(peer.asked) > before:
                asked_at.append(minute)
        await vans.close()
    return report, asked_at


def shift(world: World) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """A plan that loads two of the world's vehicles and one that is not there, and leaves
    them in the centre; the devices: the two, then the missing one."""
    a, b = world.vehicles[0].device_id, world.vehicles[1].device_id
    (gone,) = devices(1)
    plan, tasks = dispatched(
        [
            stop("start", 0),
            stop("pickup", 10, NORTH, picked=(a, gone)),
            stop("pickup", 20, EAST, picked=(b,)),
            stop("dropoff", 35, CENTRE, dropped=(a, gone, b)),
            stop("depot", 50),
        ]
    )
    return plan, tasks, [a, b, gone]


async def test_a_computing_plan_is_polled_then_dispatched_and_worked_stop_by_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(crew, "POLL_S", 0.0)
    world = idle_world()
    plan, tasks, (a, b, gone) = shift(world)
    peer = Crewbed(plan, tasks, computing_polls=2)
    report, asked_at = await drive(peer, world, 70)
    assert asked_at == [11]  # the first tick (minute 1) and 10 minutes
    body = peer.asked[0]
    assert body["vans"][0]["agent_id"] == AGENT
    assert body["vans"][0]["shift_end"] == from_ms(REAL_MS + 60 * MINUTE_MS).isoformat()
    assert peer.calls.count(f"GET /v1/rebalancing/plans/{plan['plan_id']}") == 2
    drop = next(t["task_id"] for t in tasks if t["kind"] == "rebalance_dropoff")
    assert peer.task_calls() == [
        f"start {task_of(tasks, a)}",
        f"start {task_of(tasks, gone)}",
        f"complete {task_of(tasks, a)}",
        f"cancel {task_of(tasks, gone)}",
        f"start {task_of(tasks, b)}",
        f"complete {task_of(tasks, b)}",
        f"start {drop}",
        f"complete {drop}",
    ]
    assert report.rebalancing == Counter(
        plans=1, dispatched=1, vehicles_moved=2, vehicles_not_found=1, shifts_done=1
    )
    for device in (a, b):
        vehicle = world.by_device[device]
        assert vehicle.state == "available"
        assert distance(vehicle.xy, CMAP.frame.to_xy(*CENTRE)) < 20


async def test_a_refused_plan_is_reported_and_asked_for_again_at_the_next_hour() -> None:
    world = idle_world()
    plan, tasks, _ = shift(world)
    peer = Crewbed(plan, tasks, refusals=1)
    report, asked_at = await drive(peer, world, 80, background=True)
    assert asked_at == [71]  # refused at 11, asked again an hour later
    assert report.rebalancing["problems"] == 1
    assert "HTTP 422" in report.rebalancing_problems[0]
    assert report.ok  # a van's failure is not the gateways'


async def test_tasks_an_earlier_run_left_are_cancelled_before_the_next_plan() -> None:
    world = idle_world()
    plan, tasks, _ = shift(world)
    left: list[dict[str, Any]] = [
        {
            "task_id": "old-1",
            "state": "in_progress",
            "plan_id": "earlier",
            "kind": "rebalance_pickup",
        },
        {"task_id": "mine", "state": "assigned", "plan_id": None, "kind": "inspect"},
    ]
    peer = Crewbed(plan, tasks, leftovers=left)
    await drive(peer, world, 11)
    first = peer.calls.index("POST /v1/rebalancing/plans")
    assert "POST /v1/tasks/old-1/cancel" in peer.calls[:first]
    assert not [c for c in peer.calls if "/mine/" in c]


async def test_a_plan_that_brings_no_vehicle_where_some_lack_is_not_dispatched() -> None:
    world = idle_world()
    plan, tasks, _ = shift(world)
    peer = Crewbed({**plan, "after": plan["before"]}, tasks)
    report, asked_at = await drive(peer, world, 30)
    assert asked_at == [11]
    assert not peer.dispatched
    assert peer.task_calls() == []
    assert report.rebalancing == Counter(plans=1)


async def test_only_operators_with_a_depot_and_a_crew_have_a_van_unless_turned_off() -> None:
    crews = {op.key: CREW for op in OPERATORS[1:]}
    async with httpx.AsyncClient() as client:

        def vans(options: VanOptions) -> list[str]:
            made = Vans(client, OPERATORS, crews, options, Report(), lambda: REAL_MS)
            return [v.operator.key for v in made.vans]

        assert vans(VanOptions()) == [op.key for op in OPERATORS[1:] if op.depot is not None]
        assert vans(VanOptions(every_min=0)) == []
